"""Cookie authentication for the web page: the encrypted session and its checks.

The cookie is Fernet-encrypted with a key derived from the server's signing
key (so every worker sharing the key reads it), HttpOnly, SameSite=Strict,
and Secure when the public URL is https. It holds an access token and a
CSRF token. A request authenticated by the cookie alone is held to more: a
state-changing HTTP request must echo the CSRF token in ``X-CSRF-Token``,
and a WebSocket must come from this server's own origin. Logging in sets the
cookie, so a login must be JSON (a cross-site HTML form can only send
``text/plain`` or form types without a CORS preflight) and, when the browser
names its ``Origin``, come from this server's own.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp_session import get_session
from aiohttp_session import setup as setup_session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from homeserver.errors import Forbidden, NotJson
from homeserver.services import HOMESERVER, Homeserver

COOKIE = "hs_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_AGE_SECONDS = 30 * 24 * 3600
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def setup_sessions(app: web.Application, server: Homeserver) -> None:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"homeserver web session cookie").derive(server.signing_key.seed)
    secure = urlsplit(server.config.base_url).scheme == "https"
    storage = EncryptedCookieStorage(key, cookie_name=COOKIE, max_age=MAX_AGE_SECONDS,
                                     httponly=True, samesite="Strict", secure=secure)
    setup_session_middleware(app, storage)


async def session_token(request: web.Request) -> str | None:
    """The cookie's access token, once the request passes the CSRF or origin check."""
    session = await get_session(request)
    token = session.get("token")
    if token is None:
        return None
    if request.headers.get(hdrs.UPGRADE, "").lower() == "websocket":
        if not _same_origin(request):
            raise Forbidden("Cross-origin socket refused")
    elif request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.get("csrf", "").encode()):
            raise Forbidden(f"{CSRF_HEADER} is missing or wrong")
    return token


def check_login_request(request: web.Request) -> None:
    """Refuse a login another site's page could have made (login CSRF)."""
    if request.content_type != "application/json":
        raise NotJson("Content-Type must be application/json")
    if not _same_origin(request):
        raise Forbidden("Cross-origin login refused")


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return True  # not a browser: no ambient-cookie attack to fear
    ours = {request.host, urlsplit(request.app[HOMESERVER].config.base_url).netloc}
    return urlsplit(origin).netloc in ours
