"""No secret reaches the access log, however its query key is percent-encoded."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from homeserver.app import create_app
from homeserver.services import build_homeserver
from homeserver.web.middleware import redact_path
from tests.conftest import make_config, register

# Each spelling names the key aiohttp decodes as access_token, so each one logs in.
TOKEN_KEYS = ["access_token", "access%5Ftoken", "%61ccess_token", "%61ccess%5f%74oken",
              "access_t%6Fken"]


@pytest.mark.parametrize("key", TOKEN_KEYS)
async def test_an_encoded_token_key_authenticates_but_is_never_logged(
    client: Any, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    alice = await register(client, "alice")
    with caplog.at_level(logging.INFO, logger="homeserver.access"):
        resp = await client.get(f"/_matrix/client/v3/account/whoami?{key}={alice.access_token}")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["user_id"] == alice.user_id
    logged = [r.getMessage() for r in caplog.records if r.name == "homeserver.access"]
    assert any("/account/whoami?" in line for line in logged)
    assert not any(alice.access_token in line for line in logged), logged
    assert any("=<redacted>" in line for line in logged)


@pytest.mark.parametrize("query", [
    "password=hunter2", "new_password=hunter2", "login_token=hunter2", "loginToken=hunter2",
    "client_secret=hunter2", "refresh%5Ftoken=hunter2", "%2561ccess_token=hunter2",
])
def test_other_secret_like_query_keys_are_redacted(query: str) -> None:
    redacted = redact_path(f"/_matrix/client/v3/sync?since=s1&{query}&timeout=0")
    assert "hunter2" not in redacted
    assert redacted.startswith("/_matrix/client/v3/sync?since=s1&")
    assert redacted.endswith("=<redacted>&timeout=0")


def test_ordinary_queries_are_logged_as_they_are() -> None:
    path = "/_matrix/client/v3/rooms/!r:x/messages?dir=b&limit=10&from=s5"
    assert redact_path(path) == path


async def test_a_refused_federation_request_logs_no_query(
    tmp_path: Any, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, None, **{"federation.enabled": True})
    client = await aiohttp_client(create_app(await build_homeserver(config)))
    forged = 'X-Matrix origin="evil.test",destination="test.local",key="ed25519:k",sig="c2ln"'
    with caplog.at_level(logging.DEBUG):
        resp = await client.get("/_matrix/federation/v1/query/profile?user_id=@a:test.local"
                                "&access_token=hunter2",
                                headers={"Authorization": forged})
    assert resp.status == 401
    # aiohttp.access is the test server's own log; the real server turns it off.
    ours = [r.getMessage() for r in caplog.records if r.name != "aiohttp.access"]
    assert any("refused federation request" in line for line in ours)
    assert not any("hunter2" in line for line in ours), ours
