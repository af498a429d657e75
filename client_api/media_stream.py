"""Answering with media content: streamed a chunk at a time, one byte range if asked.

The content comes from the repository whatever keeps it (a local path, an S3
bucket), so no whole file is ever read into memory. One ``Range: bytes=...``
is honoured (206); several ranges, or a header we cannot read, get the whole
content (RFC 9110 lets a server ignore Range); a range past the end is 416.
"""

from __future__ import annotations

import re

from aiohttp import hdrs, web

from client_api.media_headers import media_headers
from homeserver.media.repository import StoredMedia
from homeserver.web.http import hs, json_response

_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")
MAX_RANGE_HEADER = 200


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes, inclusive, a Range header asks for; None: all of them.

    Raises ValueError when the range is well-formed but lies past the end.
    """
    if header is None or len(header) > MAX_RANGE_HEADER:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    start, end = match.group(1), match.group(2)
    if start == "":  # the last N bytes
        suffix = int(end)
        if suffix == 0:
            raise ValueError("empty suffix range")
        return max(size - suffix, 0), size - 1
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    if first >= size or last < first:
        raise ValueError("range past the end")
    return first, last


async def send_content(request: web.Request, found: StoredMedia,
                       filename: str | None) -> web.StreamResponse:
    headers = {**media_headers(found.content_type, filename), hdrs.ACCEPT_RANGES: "bytes"}
    try:
        wanted = byte_range(request.headers.get(hdrs.RANGE), found.size)
    except ValueError:
        refused = json_response({"errcode": "M_UNKNOWN", "error": "Range not satisfiable"}, 416)
        refused.headers[hdrs.CONTENT_RANGE] = f"bytes */{found.size}"
        return refused
    first, last = wanted or (0, found.size - 1)
    response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
    if wanted:
        response.headers[hdrs.CONTENT_RANGE] = f"bytes {first}-{last}/{found.size}"
    response.content_length = last - first + 1
    async with hs(request).media.read(found, first, last) as chunks:
        await response.prepare(request)  # after opening: a missing content is still a 404
        async for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response
