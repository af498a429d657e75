"""The E2E endpoints under the same malformed-body corpus as tests/test_bad_input.py:
every answer a Matrix error (or success), never a 500, on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import register
from tests.test_bad_input import (
    BAD_JSON_BODIES,
    JUNK_VALUES,
    NOT_JSON_BODIES,
    check_matrix_error,
)

# method, path, the body fields that endpoint reads
ENDPOINTS: list[tuple[str, str, list[str]]] = [
    ("POST", "/_matrix/client/v3/keys/upload",
     ["device_keys", "one_time_keys", "fallback_keys", "org.matrix.msc2732.fallback_keys"]),
    ("POST", "/_matrix/client/v3/keys/query", ["device_keys", "timeout"]),
    ("POST", "/_matrix/client/v3/keys/claim", ["one_time_keys", "timeout"]),
    ("POST", "/_matrix/client/v3/keys/device_signing/upload",
     ["master_key", "self_signing_key", "user_signing_key", "auth"]),
    ("POST", "/_matrix/client/v3/keys/signatures/upload", ["@alice:test.local", "@x:y"]),
    ("PUT", "/_matrix/client/v3/sendToDevice/m.test/t1", ["messages"]),
    ("POST", "/_matrix/client/v3/room_keys/version", ["algorithm", "auth_data"]),
    ("PUT", "/_matrix/client/v3/room_keys/version/1", ["algorithm", "auth_data", "version"]),
    ("PUT", "/_matrix/client/v3/room_keys/keys?version=1", ["rooms"]),
    ("PUT", "/_matrix/client/v3/room_keys/keys/!r:test.local/s?version=1",
     ["first_message_index", "forwarded_count", "is_verified", "session_data"]),
    ("POST", "/_matrix/client/v3/delete_devices", ["devices", "auth"]),
]


@pytest.mark.parametrize(("method", "path", "fields"), ENDPOINTS)
async def test_not_json_bodies(client: Any, method: str, path: str, fields: list[str]) -> None:
    alice = await register(client, "alice")
    for body in NOT_JSON_BODIES:
        resp = await client.request(method, path, data=body, headers=alice.auth)
        data = await check_matrix_error(resp)
        assert (resp.status, data["errcode"]) == (400, "M_NOT_JSON"), body[:20]
    for body in BAD_JSON_BODIES:
        resp = await client.request(method, path, data=body, headers=alice.auth)
        data = await check_matrix_error(resp)
        assert (resp.status, data["errcode"]) == (400, "M_BAD_JSON"), body[:20]


@pytest.mark.parametrize(("method", "path", "fields"), ENDPOINTS)
async def test_junk_field_values(client: Any, method: str, path: str,
                                 fields: list[str]) -> None:
    alice = await register(client, "alice")
    await client.post("/_matrix/client/v3/room_keys/version", headers=alice.auth,
                      json={"algorithm": "a", "auth_data": {}})
    for field in fields:
        for value in JUNK_VALUES:
            resp = await client.request(method, path, data=json.dumps({field: value}),
                                        headers=alice.auth)
            if resp.status == 401 and "flows" in await resp.json():
                continue  # the user-interactive auth challenge: not an error
            await check_matrix_error(resp)
    who = await client.get("/_matrix/client/v3/account/whoami", headers=alice.auth)
    assert who.status == 200
