"""The built-in page in a real headless Chromium: two people, two browser contexts.

Screenshots of both windows go to ``test-artifacts/`` (not committed). Without a
browser the tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from client_api.ws_frames import OPEN_SOCKETS
from homeserver.app import create_app
from homeserver.services import build_homeserver
from tests.conftest import ARTIFACTS, make_config


async def open_page(browser: Any, base: str, username: str,
                    width: int = 1000) -> tuple[Any, Any]:
    context = await browser.new_context(viewport={"width": width, "height": 700})
    page = await context.new_page()
    await page.goto(base)
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", "hunter2!")
    await page.click("button[value=register]")
    await page.wait_for_selector(f"#me:text('@{username}:test.local')")
    return context, page


async def start_dm(page: Any, user_id: str) -> str:
    await page.fill("#start-user", user_id)
    await page.click("#start-form button")
    await page.wait_for_selector("#conversation[data-room]")
    return await page.get_attribute("#conversation", "data-room")


async def test_two_people_chat_live_in_the_browser(browser: Any, tmp_path: Path,
                                                   aiohttp_client: Any) -> None:
    from playwright.async_api import expect

    config = make_config(tmp_path, None, **{"presence.offline_grace_ms": 300})
    client = await aiohttp_client(create_app(await build_homeserver(config)))
    base = str(client.make_url("/"))
    alice_context, alice = await open_page(browser, base, "alice")
    bob_context, bob = await open_page(browser, base, "bob", width=390)

    room = await start_dm(alice, "@bob:test.local")
    await alice.fill("#compose", "hello bob")
    await alice.press("#compose", "Enter")
    await expect(alice.locator("#messages li.mine", has_text="hello bob")).not_to_have_class(
        "pending")

    assert await start_dm(bob, "@alice:test.local") == room  # from his side: the same room
    await expect(bob.locator("#messages li", has_text="hello bob")).to_be_visible()
    await bob.click("#back")  # on a phone the list and the conversation take turns

    await alice.fill("#compose", "are you there?")
    await alice.press("#compose", "Enter")
    thread = bob.locator('.thread[data-user="@alice:test.local"]')  # shown as "alice"
    await expect(thread.locator(".badge")).to_have_text("1")
    await expect(thread.locator(".last")).to_have_text("are you there?")
    await thread.click()
    await expect(bob.locator("#messages li", has_text="are you there?")).to_be_visible()
    await bob.click("#back")
    await expect(thread.locator(".badge")).to_have_text("")  # read: the badge clears
    await thread.click()
    await bob.wait_for_selector("#conversation[data-room]")

    await bob.locator("#compose").press_sequentially("hi al")
    await expect(alice.locator("#typing")).to_have_text("@bob:test.local is typing…")
    await bob.locator("#compose").press_sequentially("ice")
    await bob.press("#compose", "Enter")
    await expect(alice.locator("#messages li", has_text="hi alice")).to_be_visible()
    await expect(alice.locator("#typing")).to_have_text("")

    await expect(bob.locator("#peer-dot")).to_have_class("dot online")

    # The connection drops; while it is down alice writes from another client.
    login = await client.post("/_matrix/client/v3/login", json={
        "type": "m.login.password", "user": "alice", "password": "hunter2!"})
    token = (await login.json())["access_token"]
    for ws in list(client.app[OPEN_SOCKETS]):
        await ws.close()
    await expect(bob.locator("#banner")).to_have_text("Offline: reconnecting…")
    sent = await client.put(f"/_matrix/client/v3/rooms/{room}/send/m.room.message/gap1",
                            json={"msgtype": "m.text", "body": "sent while you were away"},
                            headers={"Authorization": f"Bearer {token}"})
    assert sent.status == 200
    await expect(bob.locator("#messages li", has_text="sent while you were away")).to_be_visible()
    await expect(bob.locator("#banner")).to_be_hidden()

    ARTIFACTS.mkdir(exist_ok=True)
    await alice.screenshot(path=ARTIFACTS / "alice.png")
    await bob.screenshot(path=ARTIFACTS / "bob.png")
    await alice_context.close()  # alice closes her last tab
    await expect(bob.locator("#peer-dot")).to_have_class("dot offline")
    await bob_context.close()


async def test_an_encrypted_message_shows_as_a_notice(browser: Any, tmp_path: Path,
                                                      aiohttp_client: Any) -> None:
    """The page holds no keys: an m.room.encrypted event is a clear one-line notice, in the
    conversation and in the list, never a blank bubble or a broken page."""
    from playwright.async_api import expect

    client = await aiohttp_client(create_app(await build_homeserver(make_config(tmp_path))))
    base = str(client.make_url("/"))
    alice_context, alice = await open_page(browser, base, "alice")
    errors: list[str] = []
    alice.on("pageerror", lambda exc: errors.append(str(exc)))
    bob_context = (await open_page(browser, base, "bob"))[0]  # bob must exist first
    room = await start_dm(alice, "@bob:test.local")
    login = await client.post("/_matrix/client/v3/login", json={
        "type": "m.login.password", "user": "bob", "password": "hunter2!"})
    token = (await login.json())["access_token"]
    await client.post(f"/_matrix/client/v3/rooms/{room}/join", json={},
                      headers={"Authorization": f"Bearer {token}"})
    sent = await client.put(
        f"/_matrix/client/v3/rooms/{room}/send/m.room.encrypted/e1",
        json={"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnAC...",
              "sender_key": "k", "device_id": "D", "session_id": "s"},
        headers={"Authorization": f"Bearer {token}"})
    assert sent.status == 200
    notice = "Encrypted message — open it in an app with your keys"
    await expect(alice.locator("#messages li.encrypted", has_text=notice)).to_be_visible()
    await expect(alice.locator(".thread .last")).to_have_text(notice)
    await alice.reload()  # from history too, not only live
    await alice.wait_for_selector("#me:text('@alice:test.local')")
    await alice.click(".thread")
    await expect(alice.locator("#messages li.encrypted", has_text=notice)).to_be_visible()
    assert errors == []
    await alice_context.close()
    await bob_context.close()
