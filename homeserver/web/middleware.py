"""Cross-cutting HTTP concerns: Matrix error bodies, CORS, body limits, access log.

This is the one place a :class:`MatrixError` (or anything unexpected) becomes
a response; no request ever answers a traceback.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from urllib.parse import unquote_plus

from aiohttp import WSCloseCode, web

from homeserver.errors import InvalidParam, MatrixError, TooLarge
from homeserver.web.http import REQUEST_ID, UPGRADED_SOCKET, json_response

log = logging.getLogger("homeserver.access")
error_log = logging.getLogger("homeserver.errors")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization, Date",
    "Access-Control-Max-Age": "86400",
}
_STATUS_ERRCODES = {
    400: "M_BAD_JSON", 401: "M_UNAUTHORIZED", 403: "M_FORBIDDEN", 404: "M_UNRECOGNIZED",
    405: "M_UNRECOGNIZED", 413: "M_TOO_LARGE", 429: "M_LIMIT_EXCEEDED",
}
# A query key naming a secret, judged on the key as the server decodes it: aiohttp
# reads ``access%5Ftoken`` as ``access_token``, so the log must too.
_SECRET_KEY = re.compile(r"token|password|secret", re.IGNORECASE)


def _decoded(key: str) -> str:
    for _ in range(3):  # repeated encoding never authenticates, but is redacted too
        once = unquote_plus(key)
        if once == key:
            break
        key = once
    return key


def redact_path(path_qs: str) -> str:
    """The path and query with the value of every secret-bearing query key hidden."""
    path, sep, query = path_qs.partition("?")
    if not sep:
        return path_qs
    pairs = []
    for pair in query.split("&"):
        key, _, _ = pair.partition("=")
        pairs.append(f"{key}=<redacted>" if _SECRET_KEY.search(_decoded(key)) else pair)
    return f"{path}?{'&'.join(pairs)}"


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Only tells log lines apart, so it need not be unpredictable: Python's own
    # generator spares every request the system call behind ``secrets``.
    request[REQUEST_ID] = f"{random.getrandbits(32):08x}"
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        if log.isEnabledFor(logging.INFO):  # skip redacting the path for a line not written
            log.info(
                "%s %s %s %d %.1fms", request[REQUEST_ID], request.method,
                redact_path(request.path_qs), status, (time.perf_counter() - start) * 1000,
            )


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Preflights are answered here; every other answer gets the headers as it is
    prepared (``add_cors_headers``), so streamed ones (media, key backups) do too."""
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=CORS_HEADERS)
    return await handler(request)


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An ``on_response_prepare`` signal: runs for every response just before its
    headers are sent, whoever prepared it."""
    response.headers.update(CORS_HEADERS)


# A federation transaction may carry 50 PDUs of up to 64 KiB each, plus EDUs.
FEDERATION_MAX_BODY_BYTES = 8 * 1024 * 1024


# Media uploads: POST /_matrix/media/{v3,r0,v1}/upload and PUT .../upload/{server}/{id}.
_UPLOAD_PATH = re.compile(r"/_matrix/media/(?:v3|r0|v1)/upload(?:/[^/]+/[^/]+)?")


def request_guard(max_bytes: int, upload_max_bytes: int = 0) -> Callable:
    """Refuse, before any handler runs, bodies over the limit and NULs in the URL.

    Uploads have a limit of their own (``media.max_upload_bytes``); their handler
    streams the body to disk and stops reading past it, whatever the header said.
    """

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        limit = max_bytes
        if request.path.startswith("/_matrix/federation/"):
            limit = max(max_bytes, FEDERATION_MAX_BODY_BYTES)
            request = request.clone(client_max_size=limit)
        elif upload_max_bytes and _UPLOAD_PATH.fullmatch(request.path):
            limit = upload_max_bytes
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge("Request body too large")
        if "\x00" in request.path or "\x00" in request.query_string or "%00" in request.raw_path:
            raise InvalidParam("NUL characters are not allowed in a URL")
        return await handler(request)

    return guard


@web.middleware
async def matrix_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except MatrixError as exc:
        return json_response(exc.to_json(), exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        errcode = _STATUS_ERRCODES.get(exc.status, "M_UNKNOWN")
        message = "Unrecognized request" if errcode == "M_UNRECOGNIZED" else exc.reason
        return json_response({"errcode": errcode, "error": message}, exc.status)
    except Exception:
        error_log.exception("request %s failed", request.get(REQUEST_ID, "?"))
        return json_response({"errcode": "M_UNKNOWN", "error": "Internal server error"}, 500)


@web.middleware
async def upgraded_sockets(request: web.Request, handler: Handler) -> web.StreamResponse:
    """After a WebSocket handshake an error must not become an HTTP answer in the socket."""
    try:
        return await handler(request)
    except Exception:
        socket = request.get(UPGRADED_SOCKET)
        if socket is None:
            raise
        error_log.exception("socket %s failed", request.get(REQUEST_ID, "?"))
        await socket.close(code=WSCloseCode.INTERNAL_ERROR)
        return socket


def middlewares(max_body_bytes: int, upload_max_bytes: int = 0) -> list:
    """Outermost first: log everything, answer CORS, then map errors."""
    return [access_log, cors, matrix_errors, upgraded_sockets,
            request_guard(max_body_bytes, upload_max_bytes)]
