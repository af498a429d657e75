"""matrix-js-sdk, the library under Element Web, with its Rust crypto, unmodified.

Two users start an encrypted DM the way Element does, each decrypts the other's
message, a receipt clears the unread count, one finds the other by display name,
a picture goes through authenticated media, and an edit and a reaction come back
aggregated. The server runs on a real socket with the real clock; the client is
tests/js/element_dm.mjs under node from PyPI (tests/js_clients.py).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from homeserver.app import create_app
from homeserver.clock import Clock
from homeserver.services import build_homeserver
from tests.conftest import Account, make_config, register
from tests.js_clients import run_script, steps


def _picture(path: Path) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 90)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


async def _registered(client: Any) -> tuple[Account, Account]:
    alice = await register(client, "alice", "alice-secret-1")
    bob = await register(client, "bob", "bob-secret-1")
    resp = await client.put(f"/_matrix/client/v3/profile/{bob.user_id}/displayname",
                            json={"displayname": "Bob Builder"}, headers=bob.auth)
    assert resp.status == 200, await resp.text()
    return alice, bob


async def test_element_style_encrypted_dm(tmp_path: Path, database_url: str,
                                          aiohttp_server: Any, aiohttp_client: Any) -> None:
    homeserver = await build_homeserver(make_config(tmp_path, database_url), Clock())
    server = await aiohttp_server(create_app(homeserver), host="127.0.0.1")
    client = await aiohttp_client(server)
    alice, bob = await _registered(client)
    _picture(tmp_path / "picture.png")
    config = {"alice": {"user": "alice", "password": "alice-secret-1"},
              "bob": {"user": "bob", "password": "bob-secret-1"},
              "bobName": "Bob Build", "image": str(tmp_path / "picture.png")}
    lines = await run_script("element_dm.mjs", f"http://127.0.0.1:{server.port}",
                             json.dumps(config))
    facts = steps(lines)

    assert facts["dm"]["encrypted"] is True
    assert facts["bob-decrypts"]["body"] == "secret hello"
    assert facts["bob-decrypts"]["unread"] == 1
    assert facts["alice-decrypts"]["body"] == "secret reply"
    assert bob.user_id in facts["directory"]["userIds"]
    assert facts["media"]["sameBytes"] is True
    assert facts["media"]["thumbnailStatus"] == 200
    assert facts["media"]["thumbnailType"].startswith("image/")
    assert facts["edit-and-reaction"]["editedBody"] == "secret hello (edited)"
    assert facts["edit-and-reaction"]["reactions"] == [["👍", 1]]
    room_id, hello = facts["dm"]["roomId"], facts["bob-decrypts"]["eventId"]
    await _server_saw_no_plaintext(client, alice, room_id)
    await _server_aggregates(client, alice, room_id, hello)


async def _server_saw_no_plaintext(client: Any, alice: Account, room_id: str) -> None:
    """What the server holds of the room's messages is ciphertext.

    matrix-js-sdk sends reactions in the clear (their key is all they say), and
    relations stay readable in encrypted events so that the server can aggregate."""
    resp = await client.get(f"/_matrix/client/v3/rooms/{room_id}/messages",
                            params={"dir": "b", "limit": "50"}, headers=alice.auth)
    assert resp.status == 200, await resp.text()
    assert "secret" not in await resp.text()
    sent = [e for e in (await resp.json())["chunk"] if "state_key" not in e]
    assert sorted(e["type"] for e in sent) == ["m.reaction"] + ["m.room.encrypted"] * 3


async def _server_aggregates(client: Any, alice: Account, room_id: str, hello: str) -> None:
    """The edit is bundled with the message it replaces; the reaction is its relation."""
    resp = await client.get(f"/_matrix/client/v3/rooms/{room_id}/event/{hello}",
                            headers=alice.auth)
    assert resp.status == 200, await resp.text()
    replace = (await resp.json())["unsigned"]["m.relations"]["m.replace"]
    assert replace["sender"] == alice.user_id
    resp = await client.get(
        f"/_matrix/client/v1/rooms/{room_id}/relations/{hello}/m.annotation",
        headers=alice.auth)
    assert resp.status == 200, await resp.text()
    keys = [e["content"]["m.relates_to"]["key"] for e in (await resp.json())["chunk"]]
    assert keys == ["👍"]
