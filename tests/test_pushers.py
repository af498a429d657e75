"""Pushers on both backends: set and list them, and delivery to a push gateway running in
the test on 127.0.0.1 (retries on the fake clock, rejected pushkeys, the user's rules),
and the attack: a pusher must not reach the server's own network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import Homeserver, build_homeserver
from tests.conftest import Account, Api, make_config, register
from tests.waiting import GUARD_SECONDS

V3 = "/_matrix/client/v3"
NOTIFY = "/_matrix/push/v1/notify"
DM = "/_matrix/client/unstable/dm"


class Gateway:
    """A push gateway: answers each request with the next planned answer (else 200 {})."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{NOTIFY}"

    async def handle(self, request: web.Request) -> web.Response:
        await self.received.put(await request.json())
        status, body = self.answers.pop(0) if self.answers else (200, {"rejected": []})
        return web.json_response(body, status=status)

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(GUARD_SECONDS):
            return (await self.received.get())["notification"]


async def serve_gateway(gw: Gateway, aiohttp_server: Any) -> None:
    """Start ``gw`` on a loopback port of its own."""
    app = web.Application()
    app.router.add_post(NOTIFY, gw.handle)
    gw.port = (await aiohttp_server(app, host="127.0.0.1")).port


@pytest.fixture
async def gateway(aiohttp_server: Any) -> Gateway:
    gw = Gateway()
    await serve_gateway(gw, aiohttp_server)
    return gw


@pytest.fixture
async def pushing(tmp_path: Any, database_url: str, clock: FakeClock,
                  aiohttp_client: Any) -> AsyncIterator[tuple[Homeserver, Api]]:
    """A server that may push to gateways on this host (as a deployment would allow
    its own gateway)."""
    config = make_config(tmp_path, database_url, **{"push.allowed_gateway_ips": ["127.0.0.1/32"]})
    server = await build_homeserver(config, clock)
    client = await aiohttp_client(create_app(server))
    yield server, Api(client)


async def idle(server: Homeserver) -> None:
    """Until every push handed over has been sent or given up."""
    async with asyncio.timeout(GUARD_SECONDS):
        await server.push_delivery.changed.until(lambda: server.push_delivery.idle)


async def backing_off(server: Homeserver) -> None:
    """Until a pusher waits out a back-off (its timer is set on the fake clock)."""
    async with asyncio.timeout(GUARD_SECONDS):
        await server.push_delivery.changed.until(lambda: server.push_delivery.backing_off > 0)


def pusher(url: str, pushkey: str = "key-1", **extra: Any) -> dict[str, Any]:
    return {"pushkey": pushkey, "kind": "http", "app_id": "com.example.app",
            "app_display_name": "Example", "device_display_name": "Phone", "lang": "en",
            "data": {"url": url, **extra.pop("data", {})}, **extra}


async def dm(api: Api) -> tuple[Account, Account, str]:
    alice, bob = await register(api.client, "alice"), await register(api.client, "bob")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    await api.join(bob, room)
    return alice, bob, room


async def test_pushers_are_set_listed_and_deleted(api: Api) -> None:
    alice, bob = await register(api.client, "alice"), await register(api.client, "bob")
    url = f"https://push.example.com{NOTIFY}"
    await api.call("POST", f"{V3}/pushers/set", alice, pusher(url, profile_tag="work"))
    listed = (await api.call("GET", f"{V3}/pushers", alice))["pushers"]
    assert listed == [{"app_id": "com.example.app", "pushkey": "key-1", "kind": "http",
                       "app_display_name": "Example", "device_display_name": "Phone",
                       "profile_tag": "work", "lang": "en", "data": {"url": url}}]
    assert (await api.call("GET", f"{V3}/pushers", bob))["pushers"] == []
    await api.call("POST", f"{V3}/pushers/set", alice, pusher(url, lang="de"))
    assert [p["lang"] for p in (await api.call("GET", f"{V3}/pushers", alice))["pushers"]] == [
        "de"]
    # the same key set by bob without append takes it over
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(url))
    assert (await api.call("GET", f"{V3}/pushers", alice))["pushers"] == []
    await api.call("POST", f"{V3}/pushers/set", alice, pusher(url, append=True))
    assert len((await api.call("GET", f"{V3}/pushers", bob))["pushers"]) == 1
    await api.call("POST", f"{V3}/pushers/set", bob, {**pusher(url), "kind": None})
    assert (await api.call("GET", f"{V3}/pushers", bob))["pushers"] == []
    assert len((await api.call("GET", f"{V3}/pushers", alice))["pushers"]) == 1


async def test_a_message_is_pushed_to_the_gateway(pushing: tuple[Homeserver, Api],
                                                  gateway: Gateway) -> None:
    server, api = pushing
    alice, bob, room = await dm(api)
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(gateway.url, data={"x": 1}))
    event_id = await api.send(alice, room, "hello")
    got = await gateway.next()
    assert got == {
        "event_id": event_id, "room_id": room, "type": "m.room.message",
        "sender": alice.user_id, "content": {"msgtype": "m.text", "body": "hello"},
        "prio": "high", "counts": {"unread": 1},
        "devices": [{"app_id": "com.example.app", "pushkey": "key-1",
                     "pushkey_ts": got["devices"][0]["pushkey_ts"], "data": {"x": 1},
                     "tweaks": {"sound": "default"}}]}
    assert isinstance(got["devices"][0]["pushkey_ts"], int)
    await api.send(bob, room, "my own message is not pushed to me")
    second = await api.send(alice, room, "second")
    got = await gateway.next()
    assert (got["event_id"], got["counts"]) == (second, {"unread": 2})
    await idle(server)
    assert gateway.received.empty()


async def test_a_failing_gateway_is_retried_with_back_off(
        pushing: tuple[Homeserver, Api], gateway: Gateway, clock: FakeClock) -> None:
    server, api = pushing
    alice, bob, room = await dm(api)
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(gateway.url))
    gateway.answers = [(500, {}), (503, {})]
    event_id = await api.send(alice, room, "hello")
    assert (await gateway.next())["event_id"] == event_id
    await backing_off(server)
    clock.advance(0.99)
    assert gateway.received.empty()  # nothing before the back-off has passed
    clock.advance(0.01)
    assert (await gateway.next())["event_id"] == event_id
    await backing_off(server)
    clock.advance(1.99)  # doubled
    assert gateway.received.empty()
    clock.advance(0.01)
    assert (await gateway.next())["event_id"] == event_id
    await idle(server)
    assert gateway.received.empty()  # delivered once it succeeded


async def test_a_rejected_pushkey_removes_the_pusher(pushing: tuple[Homeserver, Api],
                                                     gateway: Gateway) -> None:
    server, api = pushing
    alice, bob, room = await dm(api)
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(gateway.url))
    gateway.answers = [(200, {"rejected": ["key-1"]})]
    await api.send(alice, room, "hello")
    await gateway.next()
    await idle(server)
    assert (await api.call("GET", f"{V3}/pushers", bob))["pushers"] == []


async def test_pushes_follow_the_users_rules_and_format(pushing: tuple[Homeserver, Api],
                                                        gateway: Gateway) -> None:
    server, api = pushing
    alice, bob, room = await dm(api)
    await api.call("POST", f"{V3}/pushers/set", bob,
                   pusher(gateway.url, data={"format": "event_id_only"}))
    rules = f"{V3}/pushrules/global/override/.m.rule.master/enabled"
    await api.call("PUT", rules, bob, {"enabled": True})  # bob silences everything
    await api.send(alice, room, "silenced")
    await api.call("PUT", rules, bob, {"enabled": False})
    heard = await api.send(alice, room, "heard")
    got = await gateway.next()
    assert got["event_id"] == heard
    assert "content" not in got and "sender" not in got  # event_id_only
    assert got["devices"][0]["data"] == {"format": "event_id_only"}
    await idle(server)
    assert gateway.received.empty()


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.8", "169.254.169.254", "[::1]",
                                  "0.0.0.0", "[::ffff:127.0.0.1]"])
async def test_pushers_cannot_aim_at_internal_addresses(api: Api, host: str) -> None:
    """Attack: a user sets a pusher to make the server call its own network."""
    alice = await register(api.client, "alice")
    body = pusher(f"http://{host}:8008{NOTIFY}")
    error = await api.call("POST", f"{V3}/pushers/set", alice, body, status=400)
    assert error["errcode"] == "M_INVALID_PARAM"
    assert (await api.call("GET", f"{V3}/pushers", alice))["pushers"] == []


async def test_a_name_for_an_internal_address_is_refused_at_connection(
        homeserver: Homeserver, api: Api, gateway: Gateway) -> None:
    """Attack: a name resolving to loopback passes the set-time check, but no connection
    is opened to it (checked on each socket, so DNS rebinding cannot help either)."""
    alice, bob, room = await dm(api)
    url = f"http://localhost:{gateway.port}{NOTIFY}"
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(url))
    await api.send(alice, room, "hello")
    await idle(homeserver)
    assert gateway.received.empty()


@pytest.mark.parametrize(("body", "errcode"), [
    ({"app_id": "a", "kind": "http", "data": {}}, "M_BAD_JSON"),  # no pushkey
    ({**pusher(f"https://p.example{NOTIFY}"), "pushkey": "k" * 513}, "M_BAD_JSON"),
    ({**pusher(f"https://p.example{NOTIFY}"), "pushkey": ""}, "M_BAD_JSON"),
    ({**pusher(f"https://p.example{NOTIFY}"), "app_id": "a" * 65}, "M_BAD_JSON"),
    ({**pusher(f"https://p.example{NOTIFY}"), "kind": 7}, "M_BAD_JSON"),
    ({**pusher(f"https://p.example{NOTIFY}"), "kind": "email"}, "M_INVALID_PARAM"),
    ({**pusher(f"https://p.example{NOTIFY}"), "lang": "x" * 17}, "M_BAD_JSON"),
    ({**pusher(f"https://p.example{NOTIFY}"), "append": "yes"}, "M_BAD_JSON"),
    ({**pusher(f"https://p.example{NOTIFY}"), "data": []}, "M_BAD_JSON"),
    ({**pusher(f"https://p.example{NOTIFY}"), "data": {}}, "M_MISSING_PARAM"),
    ({**pusher(f"https://p.example{NOTIFY}"), "data": {"url": 5}}, "M_MISSING_PARAM"),
    (pusher(f"https://p.example{NOTIFY}", data={"big": "x" * 5000}), "M_INVALID_PARAM"),
    (pusher(f"https://p.example{NOTIFY}", data={"format": "full"}), "M_INVALID_PARAM"),
    (pusher("https://p.example/notify"), "M_INVALID_PARAM"),
    (pusher(f"ftp://p.example{NOTIFY}"), "M_INVALID_PARAM"),
    (pusher(f"http://{NOTIFY}"), "M_INVALID_PARAM"),
    ([1], "M_BAD_JSON"),
])
async def test_bad_pusher_input(api: Api, body: Any, errcode: str) -> None:
    alice = await register(api.client, "alice")
    error = await api.call("POST", f"{V3}/pushers/set", alice, body, status=400)
    assert error["errcode"] == errcode
    await api.call("GET", f"{V3}/pushers", None, status=401)
    await api.call("POST", f"{V3}/pushers/set", None, pusher(f"https://p.example{NOTIFY}"),
                   status=401)
