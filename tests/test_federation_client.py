"""Our federation client reads another server's answers within a written bound."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from federation import client as federation_client
from federation.client import FederationClient, FederationError
from homeserver.events.keys import generate_signing_key
from tests.conftest import make_config


async def test_an_answer_past_the_bound_is_refused_not_buffered(
    tmp_path: Any, aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(federation_client, "MAX_RESPONSE_BYTES", 2**20)

    async def endless(request: web.Request) -> web.StreamResponse:
        # No Content-Length: the size shows only while reading, as a hostile server sends it.
        answer = web.StreamResponse()
        await answer.prepare(request)
        await answer.write(b'{"pad": "')
        for _ in range(64):
            await answer.write(b"x" * 65536)
        await answer.write(b'"}')
        return answer

    async def small(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/_matrix/key/v2/server", endless)
    app.router.add_get("/small", small)
    peer = await aiohttp_server(app)
    config = make_config(tmp_path, None, **{
        "federation.enabled": True,
        "federation.endpoints": {"peer.test": str(peer.make_url("/"))}})
    client = FederationClient(config, generate_signing_key())
    try:
        with pytest.raises(FederationError, match="over 1048576"):
            await client.request("GET", "peer.test", "/_matrix/key/v2/server", signed=False)
        assert await client.request("GET", "peer.test", "/small", signed=False) == {"ok": True}
    finally:
        await client.close()
