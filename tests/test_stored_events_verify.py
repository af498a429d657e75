"""Every event the server stores is a valid PDU: signedjson (a third-party oracle)
verifies its signature, its content hash holds and its ID is its reference hash."""

from __future__ import annotations

import json

import signedjson.key
import signedjson.sign

from homeserver.events.hashing import check_content_hash, compute_event_id, redact
from homeserver.services import Homeserver
from tests.conftest import Api, register


async def test_every_stored_event_verifies(api: Api, homeserver: Homeserver) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    room = (await api.call("POST", f"/_matrix/client/unstable/dm/{bob.user_id}", alice))["room_id"]
    await api.join(bob, room)
    event_id = await api.send(bob, room, "signed")
    await api.call("PUT", f"/_matrix/client/v3/rooms/{room}/redact/{event_id}/r", bob, {})
    await api.create_room(alice, name="group", invite=[bob.user_id])

    key = homeserver.signing_key
    verify_key = signedjson.key.decode_verify_key_bytes(key.key_id, key.public_key_bytes)
    rows = await homeserver.db.fetch("SELECT event_id, pdu FROM events")
    assert len(rows) > 10
    for row in rows:
        pdu = json.loads(row["pdu"])
        signedjson.sign.verify_signed_json(redact(pdu), "test.local", verify_key)
        assert check_content_hash(pdu)
        assert compute_event_id(pdu) == row["event_id"]
