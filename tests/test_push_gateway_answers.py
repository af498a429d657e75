"""Attacks by a hostile push gateway (its URL is the user's choice): an answer that is
a gzip bomb, or nested too deep for the JSON parser, must cost a bounded read and be
taken as "delivered", never exhaust the worker or kill the pusher's sender. Both
backends."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from aiohttp import web

from homeserver.push.delivery import MAX_ANSWER_BYTES
from homeserver.services import Homeserver
from tests.conftest import Api
from tests.test_pushers import (  # noqa: F401
    V3,
    Gateway,
    dm,
    idle,
    pusher,
    pushing,
    serve_gateway,
)


class RawGateway(Gateway):
    """A push gateway that answers each request with the next planned raw body."""

    def __init__(self) -> None:
        super().__init__()
        self.raw_answers: list[tuple[bytes, dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        await self.received.put(await request.json())
        body, headers = self.raw_answers.pop(0) if self.raw_answers else (b"{}", {})
        return web.Response(body=body, headers={"Content-Type": "application/json", **headers})


@pytest.fixture
async def raw_gateway(aiohttp_server: Any) -> RawGateway:
    gw = RawGateway()
    await serve_gateway(gw, aiohttp_server)
    return gw


def gzipped(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def rejecting(pushkey: str, padding: int) -> bytes:
    """A valid answer rejecting ``pushkey``, followed by ``padding`` bytes of whitespace."""
    return json.dumps({"rejected": [pushkey]}).encode() + b" " * padding


async def pushers_of(api: Api, who: Any) -> list[dict[str, Any]]:
    return (await api.call("GET", f"{V3}/pushers", who))["pushers"]


async def test_a_small_compressed_answer_is_understood(
        pushing: tuple[Homeserver, Api], raw_gateway: RawGateway) -> None:  # noqa: F811
    server, api = pushing
    alice, bob, room = await dm(api)
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(raw_gateway.url))
    raw_gateway.raw_answers = [(gzipped(rejecting("key-1", 1000)), {"Content-Encoding": "gzip"})]
    await api.send(alice, room, "hello")
    await raw_gateway.next()
    await idle(server)
    assert await pushers_of(api, bob) == []  # the gzip answer was read and obeyed


async def test_a_gzip_bomb_answer_is_not_inflated(
        pushing: tuple[Homeserver, Api], raw_gateway: RawGateway) -> None:  # noqa: F811
    """Attack: 16 MiB of answer in a few KiB of gzip. Inflating it whole is the bomb;
    the server stops at MAX_ANSWER_BYTES and takes the push as delivered, so the
    rejection hidden at the front is ignored and nothing is retried."""
    server, api = pushing
    alice, bob, room = await dm(api)
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(raw_gateway.url))
    bomb = gzipped(rejecting("key-1", 16 * 1024 * 1024))
    assert len(bomb) < MAX_ANSWER_BYTES  # the compressed body alone passes the read bound
    raw_gateway.raw_answers = [(bomb, {"Content-Encoding": "gzip"})]
    await api.send(alice, room, "hello")
    await raw_gateway.next()
    await idle(server)
    assert len(await pushers_of(api, bob)) == 1
    assert raw_gateway.received.empty()  # delivered once, not retried


async def test_an_oversized_plain_answer_is_not_read(
        pushing: tuple[Homeserver, Api], raw_gateway: RawGateway) -> None:  # noqa: F811
    server, api = pushing
    alice, bob, room = await dm(api)
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(raw_gateway.url))
    raw_gateway.raw_answers = [(rejecting("key-1", MAX_ANSWER_BYTES), {})]
    await api.send(alice, room, "hello")
    await raw_gateway.next()
    await idle(server)
    assert len(await pushers_of(api, bob)) == 1
    assert raw_gateway.received.empty()


@pytest.mark.parametrize("answer", [
    b"[" * 30_000 + b"]" * 30_000,  # deeper than the parser's recursion limit
    b"not json", b"\xff\xfe", b"[1, 2",
])
async def test_a_malformed_answer_is_taken_as_delivered(
        pushing: tuple[Homeserver, Api], raw_gateway: RawGateway,  # noqa: F811
        answer: bytes) -> None:
    """Attack: an answer that breaks the JSON parser (a RecursionError escaping would
    kill this pusher's sender); later pushes must still go out."""
    server, api = pushing
    alice, bob, room = await dm(api)
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(raw_gateway.url))
    raw_gateway.raw_answers = [(answer, {}), (gzipped(answer), {"Content-Encoding": "gzip"})]
    first = await api.send(alice, room, "one")
    assert (await raw_gateway.next())["event_id"] == first
    await idle(server)
    second = await api.send(alice, room, "two")
    assert (await raw_gateway.next())["event_id"] == second
    await idle(server)
    third = await api.send(alice, room, "three")
    assert (await raw_gateway.next())["event_id"] == third
    await idle(server)
    assert raw_gateway.received.empty()
    assert len(await pushers_of(api, bob)) == 1
