"""The built-in web page at ``/``: static files, no build step.

The page (``client_api/static``) is a framework-free ES module that talks to
the server only through its public endpoints. It is served with a strict
Content-Security-Policy: scripts, styles and connections from this origin only.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from homeserver.errors import NotFound

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


# A fixed list rather than a directory: no path a client names reaches the file system,
# and an unknown name is a Matrix 404 like any other.
FILES = frozenset(path.name for path in STATIC.iterdir() if path.is_file())


@routes.get("/static/{name}")
async def static_file(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in FILES:
        raise NotFound("No such file")
    return web.FileResponse(STATIC / name, headers=SECURITY_HEADERS)
