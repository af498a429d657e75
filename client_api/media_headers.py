"""The headers every media answer carries, so that no upload can act as a web page.

As Synapse: a sandboxing Content-Security-Policy, ``nosniff``, and a
Content-Disposition that shows only types a browser renders harmlessly inline
(images, audio, video, plain text); anything else (HTML, SVG, scripts) is an
attachment. The file name goes in ``filename*`` (RFC 5987) unless it is plain
ASCII, so no name can break out of the header.
"""

from __future__ import annotations

import re
from urllib.parse import quote

CSP = ("sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf;"
       " style-src 'unsafe-inline'; media-src 'self'; object-src 'self';")
INLINE_TYPES = frozenset({
    "text/css", "text/plain", "text/csv", "application/json", "application/ld+json",
    "image/jpeg", "image/gif", "image/png", "image/apng", "image/webp", "image/avif",
    "video/mp4", "video/webm", "video/ogg", "video/quicktime",
    "audio/mp4", "audio/webm", "audio/aac", "audio/mpeg", "audio/ogg", "audio/wave",
    "audio/wav", "audio/x-wav", "audio/x-pn-wav", "audio/flac", "audio/x-flac",
})
# Printable ASCII but the quote and backslash: safe inside filename="...".
_PLAIN_NAME = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]+")


def disposition(content_type: str, filename: str | None) -> str:
    base = content_type.partition(";")[0].strip().lower()
    kind = "inline" if base in INLINE_TYPES else "attachment"
    if not filename:
        return kind
    if _PLAIN_NAME.fullmatch(filename):
        return f'{kind}; filename="{filename}"'
    return f"{kind}; filename*=utf-8''{quote(filename, safe='')}"


def media_headers(content_type: str, filename: str | None) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "Content-Disposition": disposition(content_type, filename),
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
        # Content never changes under its media ID.
        "Cache-Control": "public, max-age=86400, immutable",
    }
