"""The ``homeserver`` command as a user runs it: start, serve, stop, refuse bad config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

START_TIMEOUT = 20


def start(cwd: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "homeserver", "--port", "0", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("homeserver: listening on http://127.0.0.1:"), line
    base = line.split()[3]
    return proc, base


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def test_starts_with_defaults_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc, base = start(tmp_path)
    try:
        assert "v1.1" in get_json(base + "/_matrix/client/versions")["versions"]
        assert (tmp_path / "data" / "homeserver.db").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=START_TIMEOUT)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    proc, _ = start(tmp_path, "--data-dir", str(tmp_path / "elsewhere"))
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=START_TIMEOUT)
    assert proc.returncode == 0
    assert (tmp_path / "elsewhere" / "homeserver.db").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--config", "missing.yaml"], "cannot read config file"),
        (["--database", "mysql://x/y"], "config key database"),
        (["--database", "postgresql://postgres@127.0.0.1:1/none"], "cannot connect to PostgreSQL"),
        (["--redis", "redis://127.0.0.1:1/0"], "cannot reach Redis"),
        (["--server-name", "bad name"], "config key server_name"),
    ],
)
def test_bad_start_is_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "homeserver", "--port", "0", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=START_TIMEOUT,
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_config_key_exits_2(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("listen: {hots: 127.0.0.1}\n")
    result = subprocess.run(
        [sys.executable, "-m", "homeserver", "--config", "c.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=START_TIMEOUT,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "homeserver: config key listen.hots: unknown key"


def test_port_in_use_exits_2(tmp_path: Path) -> None:
    proc, base = start(tmp_path)
    try:
        port = base.rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, "-m", "homeserver", "--port", port, "--data-dir", "other"],
            cwd=tmp_path, capture_output=True, text=True, timeout=START_TIMEOUT,
            env={**os.environ},
        )
        assert result.returncode == 2
        assert "cannot listen" in result.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=START_TIMEOUT)
