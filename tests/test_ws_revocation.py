"""Open sockets end with their token: a logout (of that device or of all), the device's
deletion, a password change that logs out the other devices and a deactivation each
close a socket opened with a revoked token (4001), on bearer tokens and the web page's
cookie alike, and across workers. Written as the attack: a stolen token's socket must
not keep receiving the victim's DM. Both backends."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import WSMsgType

from homeserver.services import HOMESERVER
from tests.conftest import Account, Api, register
from tests.test_account_settings import login, password_auth
from tests.test_web_session import web_login
from tests.test_workers import dm_across, worker
from tests.test_ws_dm import connect, next_frame

V3 = "/_matrix/client/v3"
STREAM = "/_matrix/client/unstable/ws"
TIMEOUT = 5


async def closed_with(ws: Any) -> int:
    """Read past any frames until the server's close frame; its code."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        if msg.type == WSMsgType.CLOSE:
            # Its code, not ws.close_code: the client's reply may find the connection
            # gone already, and aiohttp then reports 1006 there.
            return int(msg.data)
        assert msg.type == WSMsgType.TEXT, msg


async def open_sockets(api: Api, who: Account, peer: Account) -> tuple[Any, Any]:
    """A DM socket and a general stream socket of ``who``, both live."""
    dm = await connect(api, who, peer.user_id)
    stream = await api.client.ws_connect(STREAM, headers=who.auth)
    assert (await next_frame(stream))["type"] == "sync"
    return dm, stream


async def stolen_device(api: Api) -> tuple[Account, Account, Account]:
    """Alice's own device, the device whose token an attacker holds, and Bob."""
    alice = await register(api.client, "alice")
    session = await login(api, "alice")
    stolen = Account(alice.user_id, session["access_token"], session["device_id"])
    bob = await register(api.client, "bob")
    return alice, stolen, bob


async def revoke(api: Api, how: str, alice: Account, stolen: Account) -> None:
    if how == "logout":
        await api.call("POST", f"{V3}/logout", stolen, {})
    elif how == "logout_all":
        await api.call("POST", f"{V3}/logout/all", alice, {})
    elif how == "delete_device":
        await api.call("DELETE", f"{V3}/devices/{stolen.device_id}", alice,
                       {"auth": password_auth(alice)})
    elif how == "password":
        await api.call("POST", f"{V3}/account/password", alice,
                       {"new_password": "a new one", "auth": password_auth(alice)})
    else:
        await api.call("POST", f"{V3}/account/deactivate", alice,
                       {"auth": password_auth(alice)})


@pytest.mark.parametrize("how", ["logout", "logout_all", "delete_device", "password",
                                 "deactivate"])
async def test_a_revoked_tokens_sockets_are_closed(api: Api, how: str) -> None:
    alice, stolen, bob = await stolen_device(api)
    room = (await api.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}",
                           alice))["room_id"]
    await api.join(bob, room)
    dm, stream = await open_sockets(api, stolen, bob)
    await revoke(api, how, alice, stolen)
    assert await closed_with(dm) == 4001
    assert await closed_with(stream) == 4001
    # Nor can the attacker open new ones.
    again = await connect(api, stolen, bob.user_id, expect_ready=False)
    assert await closed_with(again) == 4001
    assert api.client.app[HOMESERVER].accounts.held_tokens.held() == []


@pytest.mark.parametrize("how", ["delete_device", "password"])
async def test_the_devices_that_stay_keep_their_sockets(api: Api, how: str) -> None:
    alice, stolen, bob = await stolen_device(api)
    mine, _ = await open_sockets(api, alice, bob)
    theirs, _ = await open_sockets(api, stolen, bob)
    await revoke(api, how, alice, stolen)
    assert await closed_with(theirs) == 4001
    # Alice's own device was not logged out: her socket still works both ways.
    await mine.send_json({"type": "message", "body": "still here", "txn_id": "t1"})
    assert (await next_frame(mine, "ack"))["txn_id"] == "t1"
    await mine.close()


async def test_the_stolen_socket_hears_no_more_of_the_dm(api: Api) -> None:
    alice, stolen, bob = await stolen_device(api)
    dm, _ = await open_sockets(api, stolen, bob)
    await api.call("POST", f"{V3}/logout/all", alice, {})
    room = (await api.call("POST", f"/_matrix/client/unstable/dm/{alice.user_id}",
                           bob))["room_id"]
    await api.send(bob, room, "secret after the logout")
    bodies = []
    while True:
        msg = await asyncio.wait_for(dm.receive(), TIMEOUT)
        if msg.type != WSMsgType.TEXT:
            break
        frame = json.loads(msg.data)
        if frame["type"] == "message":
            bodies.append(frame["event"]["content"].get("body"))
    assert "secret after the logout" not in bodies
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, 4001)


async def test_the_web_pages_cookie_socket_is_closed_by_a_logout_elsewhere(
        api: Api) -> None:
    client = api.client
    bob = await register(client, "bob")
    await web_login(client, "alice", register_first=True)
    origin = {"Origin": f"http://{client.host}:{client.port}"}
    dm = await client.ws_connect(f"/ws/dm/{bob.user_id}", headers=origin)
    assert (await next_frame(dm))["type"] == "ready"
    stream = await client.ws_connect(STREAM, headers=origin)
    assert (await next_frame(stream))["type"] == "sync"
    session = await login(api, "alice")
    other = Account(session["user_id"], session["access_token"], session["device_id"])
    await api.call("POST", f"{V3}/logout/all", other, {})
    assert await closed_with(dm) == 4001
    assert await closed_with(stream) == 4001


async def test_a_logout_on_one_worker_closes_the_socket_on_another(
        tmp_path: Any, postgres_url: str, redis_url: str, aiohttp_client: Any) -> None:
    one = await worker(tmp_path, "one", postgres_url, aiohttp_client, redis_url)
    two = await worker(tmp_path, "two", postgres_url, aiohttp_client, redis_url)
    alice, bob, _, _ = await dm_across(one, two)
    dm, stream = await open_sockets(two, bob, alice)
    await one.call("POST", f"{V3}/logout/all", bob, {})
    assert await closed_with(dm) == 4001
    assert await closed_with(stream) == 4001
