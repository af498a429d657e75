"""A socket's access token: checked at the handshake, then held until it is revoked.

A logout, a device's deletion, a password change that logs out the other
devices, or a deactivation revokes tokens on every worker (AccountService's
HeldTokens). A socket opened with such a token, by bearer token or by the web
page's session cookie, is closed with 4001 like an unknown token, and no frame
of its is acted on after the revocation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from client_api.http import request_token
from client_api.ws_frames import close_code
from homeserver.accounts import HeldSession
from homeserver.errors import UnknownToken
from homeserver.web.http import hs


@contextlib.asynccontextmanager
async def socket_session(request: web.Request,
                         ws: web.WebSocketResponse) -> AsyncIterator[HeldSession]:
    """Who opened the socket; the socket closes (4001) when their token is revoked."""
    token = await request_token(request)
    async with hs(request).accounts.hold(token) as session:
        closer = asyncio.create_task(_close_when_revoked(ws, session.revoked))
        try:
            yield session
        finally:
            if not session.revoked.is_set():
                closer.cancel()
            # Once revoked, the close handshake it began is let finish: cut short, the
            # client would see 1006 instead of 4001. ws.close bounds its own wait.
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                await closer


async def _close_when_revoked(ws: web.WebSocketResponse, revoked: asyncio.Event) -> None:
    await revoked.wait()
    gone = UnknownToken("The access token was revoked")
    await ws.close(code=close_code(gone), message=gone.errcode.encode())
