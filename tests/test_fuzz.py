"""A seeded, bounded fuzzer over every client route and both WebSockets, on both backends.

Property: whatever arrives, no answer is a 5xx; every error is a JSON body
``{"errcode": "M_...", "error": "..."}``; every bad frame gets exactly one
answer (an error frame) or a close with 4xxx, 1003, 1007 or 1009; the server
stays up; and a message sent before the fuzz is still in /messages after it.

Routes are read from the app's router, so a new route is fuzzed without
editing this file: each is called once, then random ones until the budget is
spent. Requests come from an ordinary joined account (recreated if the fuzz
logs it out); the room's creator only checks the result.

CI runs ``HS_FUZZ_BUDGET`` cases per backend (default 300, a few seconds). A
longer run by hand, with another seed::

    HS_FUZZ_BUDGET=20000 HS_FUZZ_SEED=7 pytest -q tests/test_fuzz.py

A failure prints the request or frame that broke the property; rerun with
the same seed to repeat it. URLs stay under aiohttp's 8190-byte request line,
which its HTTP parser refuses in plain text before any handler runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient
from yarl import URL

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import build_homeserver
from tests.conftest import Api, make_config, register
from tests.fuzz_values import Junk

BUDGET = int(os.environ.get("HS_FUZZ_BUDGET", "300"))
SEED = int(os.environ.get("HS_FUZZ_SEED", "12"))
FRAME_SHARE = 0.3
MAX_FRAME = 16_384
ALLOWED_CLOSES = {1003, 1007, 1009}
PUSHED = {"ready", "sync", "message", "typing", "presence"}  # sent by the server unasked
SILENT_OK = {("typing", "start"), ("typing", "stop"), ("presence", "online"),
             ("presence", "unavailable")}
TIMEOUT = 10
MAX_URL = 8000  # aiohttp's parser refuses a longer request line in plain text
V3 = "/_matrix/client/v3"


class World:
    """The accounts and rooms the fuzz acts on, and the message it must not lose."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.accounts = 0

    async def build(self) -> None:
        self.alice = await register(self.api.client, "alice")
        self.bob = await register(self.api.client, "bob")
        self.room = await self.api.create_room(self.alice, preset="public_chat")
        self.kept = await self.api.send(self.alice, self.room, "sent before the fuzz")
        await self.new_mallory()

    async def new_mallory(self) -> None:
        self.accounts += 1
        self.mallory = await register(self.api.client, f"mallory{self.accounts}")
        await self.api.join(self.mallory, self.room)
        self.dm = (await self.api.call("POST", f"/_matrix/client/unstable/dm/{self.bob.user_id}",
                                       self.mallory))["room_id"]

    def known(self) -> dict[str, list[str]]:
        users = [self.mallory.user_id] * 3 + [self.alice.user_id, self.bob.user_id,
                                               "@ghost:test.local", "@someone:other.example"]
        rooms = [self.room, self.dm, "!nope:test.local"]
        return {
            "room_id": rooms, "room_id_or_alias": [*rooms, "#alias:test.local"],
            "user_id": users, "event_id": [self.kept, "$nope"], "device_id":
            [self.mallory.device_id, "NOPE"], "event_type": ["m.room.message", "m.room.name",
                                                             "m.room.power_levels", "x.y"],
            "state_key": ["", self.mallory.user_id], "field": ["displayname", "avatar_url"],
            "type": ["m.direct", "x.y"], "receipt_type": ["m.read", "m.read.private", "x"],
            "filter_id": ["0", "1", "nope"], "txn_id": ["t1", "t2"],
            "name": ["app.js", "index.html", "nope.js", "..%2Fweb_page.py"],
        }

    async def keep_mallory_in(self, path: str, method: str) -> None:
        """Undo what the fuzz did to its own account: a logout, or leaving the room."""
        if "logout" in path or "session" in path or method == "DELETE":
            resp = await self.api.client.get(f"{V3}/account/whoami", headers=self.mallory.auth)
            if resp.status == 401:
                await self.new_mallory()
        elif path.endswith(("/leave", "/forget")):
            await self.api.client.post(f"{V3}/rooms/{self.room}/join", json={},
                                       headers=self.mallory.auth)


def client_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route a client can reach, HEAD aside."""
    routes = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method != "HEAD" and not path.startswith(("/_matrix/federation",
                                                            "/_matrix/key")):
            routes.append((route.method, path))
    return sorted(set(routes))


def fill(template: str, junk: Junk) -> str:
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: junk.segment(m.group(1)), template)


async def check_answer(resp: Any, what: str) -> None:
    raw = await resp.read()
    assert resp.status < 500, (what, resp.status, raw[:300])
    if resp.status >= 400:
        assert resp.content_type == "application/json", (what, resp.status, raw[:300])
        body = json.loads(raw)
        assert isinstance(body, dict), (what, raw[:300])
        if resp.status == 401 and "flows" in body:
            return  # user-interactive auth: the spec's 401 carries the flows, no errcode
        assert str(body.get("errcode", "")).startswith("M_"), (what, resp.status, raw[:300])
        assert isinstance(body.get("error"), str), (what, raw[:300])


async def fuzz_http(world: World, junk: Junk, routes: list[tuple[str, str]], cases: int) -> None:
    client = world.api.client
    plan = routes + [junk.pick(routes) for _ in range(max(0, cases - len(routes)))]
    for method, template in plan:
        url = URL(fill(template, junk), encoded=True).update_query(junk.query())
        while len(str(url)) > MAX_URL:
            url = URL(fill(template, junk), encoded=True).update_query(junk.query())
        body, headers = junk.body()
        auth = junk.pick([world.mallory.auth] * 10 + [{}, {"Authorization": "Bearer junk"}])
        what = f"{method} {str(url)[:300]} {headers} {body[:300]!r}"
        resp = await client.request(method, url, data=body, headers={**headers, **auth},
                                    skip_auto_headers={"Content-Type"})
        await check_answer(resp, what)
        await world.keep_mallory_in(url.path, method)
        junk.known = world.known()


async def connect(world: World, path: str) -> Any:
    ws = await world.api.client.ws_connect(path, headers=world.mallory.auth)
    first = json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)
    assert first["type"] in ("ready", "sync"), first
    return ws


def silent_ok(frame: str | bytes) -> bool:
    """A well-formed typing or presence frame may go unanswered."""
    try:
        data = json.loads(frame)
    except ValueError:
        return False
    return isinstance(data, dict) and (data.get("type"), data.get("status")) in SILENT_OK


async def answers_until(ws: Any, marker: str) -> list[dict] | int:
    """The ack and error frames before the marker's error frame, or the close code."""
    answers = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        if msg.type == WSMsgType.CLOSE:
            return msg.data  # the server's code (ws.close_code is ours if our reply fails)
        if msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
            return ws.close_code
        frame = json.loads(msg.data)
        if frame["type"] in PUSHED:
            continue
        assert frame["type"] in ("ack", "error"), frame
        if frame["type"] == "error":
            assert frame["errcode"].startswith("M_"), frame
            if marker in frame["error"]:
                return answers
        answers.append(frame)


async def fuzz_socket(world: World, junk: Junk, path: str, cases: int) -> None:
    ws = await connect(world, path)
    for n in range(cases):
        if junk.rng.random() < 0.05:
            ws = await oversized_frame(world, ws, path)
            continue
        frame = junk.frame([world.room, world.dm, "!nope:test.local"])
        marker = f"marker{n}"
        await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        await ws.send_str(json.dumps({"type": marker}))
        got = await answers_until(ws, marker)
        if isinstance(got, int) or got is None:
            assert got in ALLOWED_CLOSES or 4000 <= (got or 0) < 5000, (path, frame[:300], got)
            ws = await connect(world, path)
            continue
        assert len(got) <= 1, (path, frame[:300], got)
        assert got or silent_ok(frame), (path, frame[:300], "no answer")
    await ws.close()


async def oversized_frame(world: World, ws: Any, path: str) -> Any:
    """Just over the limit: refused unread with 1009. (A client that keeps sending after
    such a frame may see its connection reset before the close frame arrives.)"""
    await ws.send_str(json.dumps({"type": "message", "body": "x" * MAX_FRAME, "txn_id": "b"}))
    assert await answers_until(ws, "no marker") == 1009
    return await connect(world, path)


async def test_no_input_breaks_the_server(tmp_path: Any, database_url: str,
                                          aiohttp_client: Any) -> None:
    config = make_config(tmp_path, database_url,
                         **{"limits.socket_max_frame_bytes": MAX_FRAME})
    app = create_app(await build_homeserver(config, FakeClock()))
    client: TestClient = await aiohttp_client(app)
    world = World(Api(client))
    await world.build()
    junk = Junk(random.Random(SEED), world.known())
    frames = int(BUDGET * FRAME_SHARE)
    for path in (f"/ws/dm/{world.bob.user_id}", "/_matrix/client/unstable/ws"):
        await fuzz_socket(world, junk, path, frames // 2)
    await fuzz_http(world, junk, client_routes(app), BUDGET - frames)

    # Still up, and nothing sent before the fuzz was lost.
    assert (await client.get("/_matrix/client/versions")).status == 200
    history = await world.api.call("GET", f"{V3}/rooms/{world.room}/messages?dir=f&limit=1000",
                                   world.alice)
    assert world.kept in [e["event_id"] for e in history["chunk"]]
    await world.api.send(world.alice, world.room, "after the fuzz")
    assert (await world.api.sync(world.alice))["next_batch"]
