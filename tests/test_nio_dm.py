"""The product's promise with an unmodified matrix-nio client over a real socket:
a DM is one room, whoever starts it, and everything a client needs shows up."""

from __future__ import annotations

from typing import Any

import aiohttp
import nio

from homeserver.app import create_app
from homeserver.services import Homeserver


async def nio_user(base: str, name: str) -> nio.AsyncClient:
    client = nio.AsyncClient(base, name)
    response = await client.register(name, f"{name}-password")
    assert isinstance(response, nio.RegisterResponse), response
    return client


async def raw_get(base: str, client: nio.AsyncClient, path: str) -> Any:
    """What nio has no call for (our DM list, reading account data), with its token."""
    headers = {"Authorization": f"Bearer {client.access_token}"}
    async with aiohttp.ClientSession() as http, http.get(base + path, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def dm_list(base: str, client: nio.AsyncClient) -> list[dict[str, Any]]:
    return (await raw_get(base, client, "/_matrix/client/unstable/dm"))["dms"]


async def test_nio_dm_flow(homeserver: Homeserver, aiohttp_server: Any) -> None:
    server = await aiohttp_server(create_app(homeserver), host="127.0.0.1")
    base = f"http://127.0.0.1:{server.port}"
    alice, bob = await nio_user(base, "alice"), await nio_user(base, "bob")
    try:
        await alice.sync(timeout=0)
        await bob.sync(timeout=0)
        created = await alice.room_create(is_direct=True, invite=[bob.user_id])
        assert isinstance(created, nio.RoomCreateResponse), created
        room_id = created.room_id

        synced = await bob.sync(timeout=5000)
        assert room_id in synced.rooms.invite
        assert isinstance(await bob.join(room_id), nio.JoinResponse)

        for i in range(3):
            await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text",
                                                              "body": f"a{i}"})
            await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text",
                                                            "body": f"b{i}"})
        synced = await bob.sync(timeout=5000)
        bodies = [getattr(e, "body", None) for e in synced.rooms.join[room_id].timeline.events]
        assert bodies[-6:] == ["a0", "b0", "a1", "b1", "a2", "b2"]

        page = await bob.room_messages(room_id, start=synced.next_batch, limit=4)
        assert isinstance(page, nio.RoomMessagesResponse), page
        assert [e.body for e in page.chunk] == ["b2", "a2", "b1", "a1"]
        older = await bob.room_messages(room_id, start=page.end, limit=2)
        assert [e.body for e in older.chunk] == ["b0", "a0"]

        again = await bob.room_create(is_direct=True, invite=[alice.user_id])
        assert isinstance(again, nio.RoomCreateResponse)
        assert again.room_id == room_id

        for client, other in ((alice, bob), (bob, alice)):
            path = f"/_matrix/client/v3/user/{client.user_id}/account_data/m.direct"
            assert await raw_get(base, client, path) == {other.user_id: [room_id]}

        listing = await dm_list(base, alice)
        assert [d["room_id"] for d in listing] == [room_id]
        assert listing[0]["latest_event"]["content"]["body"] == "b2"
        assert listing[0]["unread_count"] == 3
        last_from_bob = page.chunk[0].event_id
        receipt = await alice.room_read_markers(room_id, last_from_bob, last_from_bob)
        assert isinstance(receipt, nio.RoomReadMarkersResponse), receipt
        assert (await dm_list(base, alice))[0]["unread_count"] == 0
    finally:
        await alice.close()
        await bob.close()
