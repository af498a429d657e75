"""Transaction IDs are scoped by device and request path, as the spec says.

The attack (here an honest client suffers it): a client numbers its
transactions per room, so ``t1`` comes again in a second room. The server
answered with the first room's event and sent nothing: silent message loss.
"""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.storage import connect
from homeserver.storage import migrations as migrations_module
from homeserver.storage.migrations import upgrade
from tests.conftest import Api, register
from tests.test_ws_dm import connect as connect_dm
from tests.test_ws_dm import next_frame

V3 = "/_matrix/client/v3"


async def put_event(api: Api, who: Any, room: str, event_type: str, txn: str,
                    body: str) -> str:
    path = f"{V3}/rooms/{room}/send/{event_type}/{txn}"
    return (await api.call("PUT", path, who, {"msgtype": "m.text", "body": body}))["event_id"]


async def bodies(api: Api, who: Any, room: str) -> list[str]:
    page = await api.call("GET", f"{V3}/rooms/{room}/messages?dir=f&limit=50", who)
    return [e["content"].get("body") for e in page["chunk"] if e["type"] != "m.room.create"
            and "body" in e["content"]]


async def test_the_same_txn_id_in_another_room_or_type_is_another_message(api: Api) -> None:
    alice = await register(api.client, "alice")
    room_a, room_b = await api.create_room(alice), await api.create_room(alice)
    in_a = await put_event(api, alice, room_a, "m.room.message", "t1", "to A")
    in_b = await put_event(api, alice, room_b, "m.room.message", "t1", "to B")
    other_type = await put_event(api, alice, room_a, "org.example.note", "t1", "note in A")
    assert len({in_a, in_b, other_type}) == 3
    assert await bodies(api, alice, room_b) == ["to B"]
    assert await bodies(api, alice, room_a) == ["to A", "note in A"]
    # A retry is still the same request: same event, nothing new in either room.
    assert await put_event(api, alice, room_a, "m.room.message", "t1", "to A") == in_a
    assert await put_event(api, alice, room_b, "m.room.message", "t1", "to B") == in_b
    assert await bodies(api, alice, room_b) == ["to B"]
    # The sender's sync shows each event with its own transaction ID.
    synced = await api.call("GET", f"{V3}/sync", alice)
    timeline = synced["rooms"]["join"][room_b]["timeline"]["events"]
    assert [e["unsigned"].get("transaction_id") for e in timeline if e["event_id"] == in_b] \
        == ["t1"]


async def test_another_device_reusing_a_txn_id_sends_its_own_message(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    login = await api.call("POST", f"{V3}/login", None, {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
        "password": "hunter2!"})
    phone = type(alice)(alice.user_id, login["access_token"], login["device_id"])
    first = await put_event(api, alice, room, "m.room.message", "t1", "from laptop")
    second = await put_event(api, phone, room, "m.room.message", "t1", "from phone")
    assert first != second
    assert await bodies(api, alice, room) == ["from laptop", "from phone"]


async def test_the_same_txn_id_redacting_two_events_redacts_both(api: Api) -> None:
    alice = await register(api.client, "alice")
    room = await api.create_room(alice)
    one, two = (await api.send(alice, room, "one"), await api.send(alice, room, "two"))
    first = await api.call("PUT", f"{V3}/rooms/{room}/redact/{one}/r1", alice, {})
    second = await api.call("PUT", f"{V3}/rooms/{room}/redact/{two}/r1", alice, {})
    assert first["event_id"] != second["event_id"]
    for event_id in (one, two):
        got = await api.call("GET", f"{V3}/rooms/{room}/event/{event_id}", alice)
        assert got["content"] == {}
    again = await api.call("PUT", f"{V3}/rooms/{room}/redact/{one}/r1", alice, {})
    assert again["event_id"] == first["event_id"]


async def test_dm_socket_frames_stay_idempotent_per_room(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob, carol = await register(api.client, "bob"), await register(api.client, "carol")
    to_bob, to_carol = await connect_dm(api, alice, bob.user_id), \
        await connect_dm(api, alice, carol.user_id)
    await to_bob.send_json({"type": "message", "body": "hi bob", "txn_id": "t1"})
    for_bob = await next_frame(to_bob, "ack")
    await to_carol.send_json({"type": "message", "body": "hi carol", "txn_id": "t1"})
    for_carol = await next_frame(to_carol, "ack")
    assert for_bob["event_id"] != for_carol["event_id"]
    await to_carol.send_json({"type": "message", "body": "hi carol", "txn_id": "t1"})
    assert (await next_frame(to_carol, "ack"))["event_id"] == for_carol["event_id"]
    carol_room = (await api.call("POST", f"/_matrix/client/unstable/dm/{carol.user_id}",
                                 alice))["room_id"]
    await api.join(carol, carol_room)
    assert await bodies(api, carol, carol_room) == ["hi carol"]
    await to_bob.close()
    await to_carol.close()


async def test_upgrade_keeps_earlier_transaction_ids(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows from before the scope keep marking their event; the key gains the scope."""
    db = await connect(database_url)
    everything = migrations_module.migrations_for
    monkeypatch.setattr(migrations_module, "migrations_for",
                        lambda dialect: [m for m in everything(dialect) if m.version < 5])
    try:
        assert await upgrade(db, 1) == 4
        await db.execute("INSERT INTO txn_ids (user_id, device_id, txn_id, event_id, created_ts)"
                         " VALUES ('@a:x', 'D', 't1', '$old', 1)")
        monkeypatch.setattr(migrations_module, "migrations_for", everything)
        assert await upgrade(db, 2) >= 5
        row = await db.fetchrow("SELECT scope, txn_id, event_id FROM txn_ids")
        assert (row["scope"], row["txn_id"], row["event_id"]) == ("", "t1", "$old")
        await db.execute("INSERT INTO txn_ids (user_id, device_id, scope, txn_id, event_id,"
                         " created_ts) VALUES ('@a:x', 'D', 'send/!r:x/m.room.message', 't1',"
                         " '$new', 2)")
    finally:
        await db.close()
