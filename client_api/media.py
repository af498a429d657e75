"""The content repository's routes: upload, create, download, thumbnail, config, preview.

Authenticated downloads live under /_matrix/client/v1/media (spec v1.11); the
legacy /_matrix/media/v3 (and r0) downloads and thumbnails answer without a
token, as older clients expect. Content is streamed by media_stream, from
wherever the repository keeps it. Uploads stream their body to the repository
chunk by chunk; the request guard lets them past limits.max_body_bytes up to
media.max_upload_bytes. URL previews are not made (fetching URLs for clients
invites SSRF): preview_url answers an empty preview.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from aiohttp import hdrs, web

from client_api.http import requester
from client_api.media_stream import send_content
from homeserver.errors import InvalidParam, MissingParam
from homeserver.media.repository import MAX_THUMBNAIL_SIDE
from homeserver.web.http import hs, json_response, path_param, query_int

routes = web.RouteTableDef()

CHUNK_BYTES = 64 * 1024
MAX_FILENAME = 255
MAX_PREVIEW_URL = 2048
# type "/" subtype, then parameters: what a Content-Type header may be to be stored.
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,127}/[A-Za-z0-9!#$&^_.+-]{1,127}"
                           r"(\s*;\s*[\x20-\x7e]{0,200})?")
LEGACY = ("/_matrix/media/v3", "/_matrix/media/r0")
CLIENT_V1 = "/_matrix/client/v1/media"


def _content_type(request: web.Request) -> str:
    value = request.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream").strip()
    if not _CONTENT_TYPE.fullmatch(value):
        raise InvalidParam("Content-Type is not a media type")
    return value


def _filename(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > MAX_FILENAME or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise InvalidParam(f"filename must be at most {MAX_FILENAME} printable characters")
    return value


async def _chunks(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(CHUNK_BYTES):
        yield chunk


async def upload(request: web.Request) -> web.Response:
    who = await requester(request)
    await hs(request).ratelimiter.check("upload", who.user_id)
    mxc = await hs(request).media.upload(
        who.user_id, _content_type(request), _filename(request.query.get("filename")),
        _chunks(request), request.content_length)
    return json_response({"content_uri": str(mxc)})


async def create(request: web.Request) -> web.Response:
    who = await requester(request)
    mxc, expires = await hs(request).media.create(who.user_id)
    return json_response({"content_uri": str(mxc), "unused_expires_at": expires})


async def fill(request: web.Request) -> web.Response:
    who = await requester(request)
    await hs(request).ratelimiter.check("upload", who.user_id)
    await hs(request).media.fill(
        who.user_id, path_param(request, "server_name"), path_param(request, "media_id"),
        _content_type(request), _filename(request.query.get("filename")), _chunks(request),
        request.content_length)
    return json_response({})


async def download(request: web.Request) -> web.StreamResponse:
    found = await hs(request).media.download(path_param(request, "server_name"),
                                             path_param(request, "media_id"))
    name = request.match_info.get("file_name")
    return await send_content(request, found, _filename(name) if name else found.upload_name)


async def download_authenticated(request: web.Request) -> web.StreamResponse:
    await requester(request)
    return await download(request)


async def thumbnail(request: web.Request) -> web.StreamResponse:
    width = query_int(request, "width", 0, 1, MAX_THUMBNAIL_SIDE)
    height = query_int(request, "height", 0, 1, MAX_THUMBNAIL_SIDE)
    if not width or not height:
        raise MissingParam("width and height are required")
    method = request.query.get("method", "scale")
    found = await hs(request).media.thumbnail(
        path_param(request, "server_name"), path_param(request, "media_id"), width, height,
        method)
    return await send_content(request, found, None)


async def thumbnail_authenticated(request: web.Request) -> web.StreamResponse:
    await requester(request)
    return await thumbnail(request)


async def config(request: web.Request) -> web.Response:
    await requester(request)
    return json_response({"m.upload.size": hs(request).media.max_upload_bytes})


async def preview_url(request: web.Request) -> web.Response:
    await requester(request)
    url = request.query.get("url")
    if not url:
        raise MissingParam("url is required")
    if len(url) > MAX_PREVIEW_URL or not url.startswith(("http://", "https://")):
        raise InvalidParam("url must be an http(s) URL")
    return json_response({})


def _add_routes() -> None:
    media = "{server_name}/{media_id}"
    for prefix in LEGACY:
        routes.post(f"{prefix}/upload")(upload)
        routes.put(f"{prefix}/upload/{media}")(fill)
        routes.get(f"{prefix}/download/{media}")(download)
        routes.get(f"{prefix}/download/{media}/{{file_name}}")(download)
        routes.get(f"{prefix}/thumbnail/{media}")(thumbnail)
        routes.get(f"{prefix}/config")(config)
        routes.get(f"{prefix}/preview_url")(preview_url)
    routes.post("/_matrix/media/v1/create")(create)
    routes.get(f"{CLIENT_V1}/download/{media}")(download_authenticated)
    routes.get(f"{CLIENT_V1}/download/{media}/{{file_name}}")(download_authenticated)
    routes.get(f"{CLIENT_V1}/thumbnail/{media}")(thumbnail_authenticated)
    routes.get(f"{CLIENT_V1}/config")(config)
    routes.get(f"{CLIENT_V1}/preview_url")(preview_url)


_add_routes()
