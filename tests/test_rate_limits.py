"""Rate limits hold across workers, per account as well as per address, behind proxies.

The attacks: spread password guesses over every worker (each had its own
buckets), or over many addresses (limits were per address only), or name a
fresh address in ``X-Forwarded-For`` on every request.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from client_api.proxies import real_client, trusted_networks
from homeserver import ratelimit
from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.config import Rate
from homeserver.redis_ratelimit import RedisBuckets
from homeserver.services import build_homeserver
from tests.conftest import make_config, register
from tests.test_workers import free_port

LOGIN = "/_matrix/client/v3/login"


async def server(tmp_path: Any, aiohttp_client: Any, clock: FakeClock, name: str = "one",
                 database: str | None = None, **overrides: Any) -> TestClient:
    config = make_config(tmp_path / name, database, **{"rate_limits.enabled": True, **overrides})
    return await aiohttp_client(create_app(await build_homeserver(config, clock)))


async def login(client: TestClient, user: str, password: str = "wrong",
                forwarded_for: str | None = None) -> int:
    body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
            "password": password}
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return (await client.post(LOGIN, json=body, headers=headers)).status


async def test_two_workers_share_one_bucket(
    tmp_path: Any, postgres_url: str, redis_url: str, aiohttp_client: Any, clock: FakeClock
) -> None:
    limits = {"redis": redis_url, "rate_limits.login": {"per_second": 0.1, "burst": 3},
              "rate_limits.login_failures": {"per_second": 1.0, "burst": 100}}
    one = await server(tmp_path, aiohttp_client, clock, "one", postgres_url, **limits)
    two = await server(tmp_path, aiohttp_client, clock, "two", postgres_url, **limits)
    statuses = [await login(worker, "nobody") for worker in (one, two, one, two, one)]
    assert statuses == [403, 403, 403, 429, 429]
    clock.advance(10)  # one token back, for both workers
    assert [await login(two, "nobody"), await login(one, "nobody")] == [403, 429]


async def test_password_guesses_are_limited_per_account_from_any_address(
    tmp_path: Any, aiohttp_client: Any, clock: FakeClock
) -> None:
    client = await server(tmp_path, aiohttp_client, clock, **{
        "listen.trusted_proxies": ["127.0.0.1/32"],
        "rate_limits.login_failures": {"per_second": 0.1, "burst": 3}})
    await register(client, "alice", "right-password")
    await register(client, "bob", "right-password")
    guesses = [await login(client, "alice", forwarded_for=f"10.0.0.{i}") for i in range(1, 4)]
    assert guesses == [403, 403, 403]
    # Even the right password waits now, from a fresh address; other accounts do not.
    assert await login(client, "ALICE", "right-password", "10.0.0.9") == 429
    assert await login(client, "bob", "right-password", "10.0.0.9") == 200
    clock.advance(10)
    # A success spends nothing: the one token back serves every right login.
    for i in range(4):
        assert await login(client, "alice", "right-password", f"10.0.1.{i}") == 200
    assert await login(client, "alice", forwarded_for="10.0.2.1") == 403
    assert await login(client, "alice", forwarded_for="10.0.2.2") == 429


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    tmp_path: Any, aiohttp_client: Any, clock: FakeClock
) -> None:
    per_address = {"rate_limits.login": {"per_second": 0.1, "burst": 2}}
    direct = await server(tmp_path, aiohttp_client, clock, "direct", **per_address)
    spoofed = [await login(direct, "nobody", forwarded_for=f"10.0.0.{i}") for i in range(3)]
    assert spoofed == [403, 403, 429]

    proxied = await server(tmp_path, aiohttp_client, clock, "proxied", **per_address, **{
        "listen.trusted_proxies": ["127.0.0.1/32", "192.168.0.0/16"]})
    clients = [await login(proxied, "nobody", forwarded_for=f"10.0.0.{i}") for i in range(3)]
    assert clients == [403, 403, 403]  # three people behind the proxy
    # One client inventing left-hand entries is still the address our proxies saw.
    lies = [await login(proxied, "nobody", forwarded_for=f"6.6.6.{i}, 10.9.9.9, 192.168.1.1")
            for i in range(3)]
    assert lies == [403, 403, 429]


def test_the_client_is_the_rightmost_address_not_a_trusted_proxy() -> None:
    nets = trusted_networks(("10.0.0.0/8", "::1/128"))
    assert real_client("8.8.8.8", ["1.1.1.1"], nets) == "8.8.8.8"  # not from a proxy
    assert real_client("10.0.0.1", ["1.1.1.1, 2.2.2.2"], nets) == "2.2.2.2"
    assert real_client("10.0.0.1", ["1.1.1.1", "2.2.2.2, 10.0.0.5"], nets) == "2.2.2.2"
    assert real_client("::1", ["2001:db8::7"], nets) == "2001:db8::7"
    assert real_client("10.0.0.1", ["10.0.0.7, 10.0.0.8"], nets) == "10.0.0.7"
    assert real_client("10.0.0.1", ["junk, 10.0.0.8"], nets) == "10.0.0.8"
    assert real_client("10.0.0.1", [], nets) == "10.0.0.1"


async def test_without_redis_a_worker_still_limits_on_its_own(clock: FakeClock) -> None:
    buckets = RedisBuckets(f"redis://127.0.0.1:{free_port()}/0", clock)
    try:
        rate = Rate(per_second=0.0, burst=2)
        assert [await buckets.take("login:1.2.3.4", rate, 1.0) for _ in range(3)] \
            == [None, None, 0.0]
    finally:
        await buckets.close()


async def test_a_flood_of_fresh_keys_does_not_reset_a_spent_bucket(
    clock: FakeClock, monkeypatch: Any
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 10)
    buckets = ratelimit.MemoryBuckets(clock)
    rate = Rate(per_second=0.0, burst=2)
    assert [await buckets.take("login_failures:@alice:x", rate, 1.0) for _ in range(3)] \
        == [None, None, 0.0]
    for n in range(50):  # the attacker's fresh addresses, interleaved with guesses
        await buckets.take(f"login:2001:db8::{n}", rate, 1.0)
        assert await buckets.take("login_failures:@alice:x", rate, 1.0) == 0.0


async def test_profile_flips_uploads_and_searches_are_limited_per_user(
        tmp_path: Any, aiohttp_client: Any, clock: FakeClock) -> None:
    """The attack: flip one's display name in a loop, each flip a join event in every
    room one is in; or upload and search without end."""
    one = {"per_second": 0.1, "burst": 1}
    client = await server(tmp_path, aiohttp_client, clock, **{
        "rate_limits.profile": one, "rate_limits.upload": one, "rate_limits.search": one})
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    name = f"/_matrix/client/v3/profile/{alice.user_id}/displayname"
    calls = [
        ("PUT", name, {"json": {"displayname": "A"}}),
        ("POST", "/_matrix/media/v3/upload", {"data": b"x"}),
        ("POST", "/_matrix/client/v3/search",
         {"json": {"search_categories": {"room_events": {"search_term": "x"}}}}),
    ]
    for method, path, body in calls:
        first = await client.request(method, path, headers=alice.auth, **body)
        assert first.status == 200, await first.text()
        second = await client.request(method, path, headers=alice.auth, **body)
        assert second.status == 429
        assert (await second.json())["errcode"] == "M_LIMIT_EXCEEDED"
        other = await client.request(method, path.replace(alice.user_id, bob.user_id),
                                     headers=bob.auth, **body)
        assert other.status == 200, await other.text()  # per user: bob is not held back
    clock.advance(10)
    again = await client.request("PUT", name, headers=alice.auth, json={"displayname": "B"})
    assert again.status == 200
