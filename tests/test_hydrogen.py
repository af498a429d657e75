"""Hydrogen, Element's lightweight client, unmodified, in a real Chromium.

Bob starts a DM with Alice through the standard ``createRoom`` flow and says
hello. Alice signs in to Hydrogen's own web app (hydrogen-view-sdk from npm,
bundled by tests/js_clients.py), sees the invite under Bob's display name,
accepts it, reads Bob's message under the DM's name, and answers; Bob's
``/sync`` receives the answer. Every assertion is on what a person sees.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import unused_port

from homeserver.app import create_app
from homeserver.clock import Clock
from homeserver.services import build_homeserver
from tests.conftest import ARTIFACTS, Account, Api, make_config, register
from tests.js_clients import hydrogen_site

GUARD_S = 30


async def _static_site(aiohttp_server: Any) -> str:
    app = web.Application()
    app.router.add_static("/", hydrogen_site())
    site = await aiohttp_server(app, host="127.0.0.1")
    return f"http://127.0.0.1:{site.port}"


async def _bob_starts_a_dm(api: Api, bob: Account, alice: Account) -> str:
    await api.call("PUT", f"/_matrix/client/v3/profile/{bob.user_id}/displayname", bob,
                   {"displayname": "Bob Builder"})
    room_id = await api.create_room(bob, is_direct=True, preset="trusted_private_chat",
                                    invite=[alice.user_id])
    await api.send(bob, room_id, "hello from bob")
    return room_id


async def _received(api: Api, who: Account, room_id: str, body: str) -> None:
    """Until ``who``'s long-polling /sync carries ``body`` in the room."""
    since = (await api.sync(who))["next_batch"]
    async with asyncio.timeout(GUARD_S):
        while True:
            data = await api.sync(who, since, timeout="10000")
            since = data["next_batch"]
            timeline = data["rooms"]["join"].get(room_id, {}).get("timeline", {})
            if any(e["content"].get("body") == body for e in timeline.get("events", [])):
                return


async def test_hydrogen_accepts_a_dm_and_chats(browser: Any, tmp_path: Path, database_url: str,
                                               aiohttp_server: Any, aiohttp_client: Any) -> None:
    from playwright.async_api import expect

    # Hydrogen follows /.well-known/matrix/client, so the server must know its own address.
    port = unused_port()
    config = make_config(tmp_path, database_url, public_baseurl=f"http://127.0.0.1:{port}")
    homeserver = await build_homeserver(config, Clock())
    server = await aiohttp_server(create_app(homeserver), host="127.0.0.1", port=port)
    api = Api(await aiohttp_client(server))
    alice = await register(api.client, "alice", "alice-secret-1")
    bob = await register(api.client, "bob", "bob-secret-1")
    room_id = await _bob_starts_a_dm(api, bob, alice)
    site = await _static_site(aiohttp_server)

    context = await browser.new_context(viewport={"width": 1200, "height": 800})
    page = await context.new_page()
    await page.goto(f"{site}/index.html?homeserver=http://127.0.0.1:{server.port}")
    await page.fill("#username", "alice")
    await page.fill("#password", "alice-secret-1")
    await page.click("button:text('Log In')")
    invite = page.locator(".RoomList li", has_text="Bob Builder")
    await expect(invite).to_be_visible(timeout=GUARD_S * 1000)
    await invite.click()
    await page.locator("button", has_text="Accept").click()
    hello = page.locator(".Timeline", has_text="hello from bob")
    await expect(hello).to_be_visible(timeout=GUARD_S * 1000)
    await expect(page.locator(".RoomHeader", has_text="Bob Builder")).to_be_visible()
    answered = asyncio.ensure_future(_received(api, bob, room_id, "hello from hydrogen"))
    composer = page.locator(".MessageComposer textarea, .MessageComposer input").first
    await composer.fill("hello from hydrogen")
    await composer.press("Enter")
    await answered
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "hydrogen-dm.png"))
    await context.close()
