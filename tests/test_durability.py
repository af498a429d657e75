"""An acknowledged send survives the server being killed with SIGKILL."""

from __future__ import annotations

import json
import signal
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


def _no_limits(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text("rate_limits:\n  enabled: false\n")
    return config


async def test_sigterm_closes_open_sockets_instead_of_waiting_for_them(tmp_path: Path) -> None:
    import time

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
