"""An acknowledged send survives SIGKILL; SIGTERM stops at once, waiting for no client."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.test_cli import START_TIMEOUT, start


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def test_acknowledged_messages_survive_kill_9(tmp_path: Path) -> None:
    proc, base = start(tmp_path, "--config", str(_no_limits(tmp_path)))
    try:
        alice = call(base, "POST", "/_matrix/client/v3/register", {
            "username": "alice", "password": "hunter2!", "auth": {"type": "m.login.dummy"}})
        token = alice["access_token"]
        room = call(base, "POST", "/_matrix/client/v3/createRoom", {}, token)["room_id"]
        sent = [call(base, "PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/t{n}",
                     {"msgtype": "m.text", "body": f"kept {n}"}, token)["event_id"]
                for n in range(20)]
    finally:
        proc.send_signal(signal.SIGKILL)  # no shutdown, no flush: as a crash
        proc.communicate(timeout=START_TIMEOUT)
    proc, base = start(tmp_path, "--config", str(_no_limits(tmp_path)))
    try:
        history = call(base, "GET", f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50",
                       token=token)
        found = [e["event_id"] for e in history["chunk"] if e["type"] == "m.room.message"]
        assert found == list(reversed(sent))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=START_TIMEOUT)


async def test_sigterm_ends_long_polls_at_once_even_when_their_client_has_gone(
    tmp_path: Path,
) -> None:
    import aiohttp

    proc, base = start(tmp_path, "--config", str(_no_limits(tmp_path)))
    try:
        token = call(base, "POST", "/_matrix/client/v3/register", {
            "username": "alice", "password": "hunter2!",
            "auth": {"type": "m.login.dummy"}})["access_token"]
        since = call(base, "GET", "/_matrix/client/v3/sync?set_presence=offline",
                     token=token)["next_batch"]
        poll = f"/_matrix/client/v3/sync?since={since}&timeout=60000&set_presence=offline"
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as gone:  # sends, then hangs up
            gone.sendall(f"GET {poll} HTTP/1.1\r\nHost: {host}\r\n"
                         f"Authorization: Bearer {token}\r\n\r\n".encode())
            call(base, "GET", "/_matrix/client/v3/account/whoami", token=token)
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session:
            waiting = asyncio.ensure_future(session.get(base + poll, headers=auth))
            # Authenticated round trips after both polls were sent: they are waiting now.
            for _ in range(2):
                whoami = await session.get(base + "/_matrix/client/v3/account/whoami",
                                           headers=auth)
                assert whoami.status == 200
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            answer = await asyncio.wait_for(waiting, 5)
            assert answer.status == 200  # the client still there gets its (empty) answer
            assert (await answer.json())["next_batch"]
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: proc.wait(timeout=START_TIMEOUT))
        stopped = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=START_TIMEOUT)
    assert proc.returncode == 0
    assert stopped < 3, stopped  # the shutdown grace is 10 s: nothing waited for it


def _no_limits(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text("rate_limits:\n  enabled: false\n")
    return config


async def test_sigterm_closes_open_sockets_instead_of_waiting_for_them(tmp_path: Path) -> None:
    import aiohttp

    proc, base = start(tmp_path, "--config", str(_no_limits(tmp_path)))
    try:
        token = call(base, "POST", "/_matrix/client/v3/register", {
            "username": "alice", "password": "hunter2!",
            "auth": {"type": "m.login.dummy"}})["access_token"]
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"{base}/_matrix/client/unstable/ws",
                                          headers={"Authorization": f"Bearer {token}"})
            await ws.receive_json()  # the first sync frame
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            await ws.receive()  # the server says goodbye
            assert ws.close_code == 1001
    finally:
        proc.communicate(timeout=START_TIMEOUT)
    assert proc.returncode == 0
    assert time.monotonic() - started < 5
