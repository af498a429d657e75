"""An unmodified matrix-nio client against a real socket: register, login, whoami, logout."""

from __future__ import annotations

from typing import Any

import nio

from homeserver.app import create_app
from homeserver.services import Homeserver


async def test_nio_register_login_whoami_logout(
    homeserver: Homeserver, aiohttp_server: Any
) -> None:
    server = await aiohttp_server(create_app(homeserver), host="127.0.0.1")
    base = f"http://127.0.0.1:{server.port}"

    client = nio.AsyncClient(base, "alice")
    try:
        registered = await client.register("alice", "s3cret-pass", device_name="nio test")
        assert isinstance(registered, nio.RegisterResponse), registered
        assert registered.user_id == "@alice:test.local"
        await client.logout()
    finally:
        await client.close()

    client = nio.AsyncClient(base, "@alice:test.local")
    try:
        logged_in = await client.login("s3cret-pass", device_name="second")
        assert isinstance(logged_in, nio.LoginResponse), logged_in
        who = await client.whoami()
        assert isinstance(who, nio.WhoamiResponse), who
        assert (who.user_id, who.device_id) == ("@alice:test.local", logged_in.device_id)
        token = client.access_token
        assert isinstance(await client.logout(), nio.LogoutResponse)
        client.access_token = token  # nio forgets it; the server must refuse it too
        after = await client.whoami()
        assert isinstance(after, nio.WhoamiError)
        assert after.status_code == "M_UNKNOWN_TOKEN"
    finally:
        await client.close()

    wrong = nio.AsyncClient(base, "alice")
    try:
        failed = await wrong.login("wrong")
        assert isinstance(failed, nio.LoginError)
        assert failed.status_code == "M_FORBIDDEN"
    finally:
        await wrong.close()
