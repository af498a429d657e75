"""Password hashing runs on the server's own bounded pool, which closes with the server."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from typing import Any

import pytest

from homeserver.app import create_app
from homeserver.passwords import THREAD_NAME
from homeserver.services import build_homeserver
from tests.conftest import make_config, register

LOGIN = "/_matrix/client/v3/login"


@pytest.fixture
def hashing_threads(monkeypatch: pytest.MonkeyPatch) -> set[threading.Thread]:
    """Every thread scrypt runs on from here on."""
    seen: set[threading.Thread] = set()
    scrypt = hashlib.scrypt

    def recording(*args: Any, **kwargs: Any) -> bytes:
        seen.add(threading.current_thread())
        return scrypt(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", recording)
    return seen


async def login(client: Any, user: str, password: str) -> int:
    body = {"type": "m.login.password", "password": password,
            "identifier": {"type": "m.id.user", "user": user}}
    return (await client.post(LOGIN, json=body)).status


async def test_many_logins_at_once_hash_on_at_most_the_configured_threads(
    tmp_path: Any, aiohttp_client: Any, hashing_threads: set[threading.Thread]
) -> None:
    config = make_config(tmp_path, **{"limits.password_hash_threads": 2})
    client = await aiohttp_client(create_app(await build_homeserver(config)))
    names = [f"user{n}" for n in range(12)]
    await asyncio.gather(*(register(client, name, f"pw-{name}") for name in names))
    statuses = await asyncio.gather(*(login(client, name, f"pw-{name}") for name in names))
    assert statuses == [200] * len(names)
    assert await login(client, "user0", "pw-user1") == 403
    assert 1 <= len(hashing_threads) <= 2
    assert all(thread.name.startswith(THREAD_NAME) for thread in hashing_threads)


async def test_closing_the_server_ends_its_hashing_threads(
    tmp_path: Any, hashing_threads: set[threading.Thread]
) -> None:
    server = await build_homeserver(make_config(tmp_path))
    user_id = await server.accounts.register("alice", "secret-pass")
    assert await server.accounts.login_with_password(user_id, "secret-pass") == user_id
    (thread,) = hashing_threads
    assert thread.name.startswith(THREAD_NAME)
    await server.close()
    thread.join(timeout=10)
    assert not thread.is_alive()
    with pytest.raises(RuntimeError):
        await server.accounts.hasher.hash("too late")
