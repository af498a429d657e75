"""The built-in web page at ``/``: static files, no build step.

The page (``client_api/static``) is a framework-free ES module that talks to
the server only through its public endpoints. It is served with a strict
Content-Security-Policy: scripts, styles and connections from this origin only.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

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


def setup_static(app: web.Application) -> None:
    app.router.add_static("/static", STATIC, append_version=False)
