"""Request bodies as the client encoded them: decoded here, never past the body limit.

The app reads bodies undecoded (``auto_decompress`` is off, see
homeserver/app.py), so a ``Content-Encoding`` is undone here, where its
output is bounded by the request's body limit like any other body: a gzip
bomb stops at the limit (413 ``M_TOO_LARGE``), and a corrupt, truncated or
unsupported encoding is 400 ``M_NOT_JSON`` (the bytes as sent are not JSON).
aiohttp's own decoder would answer some of these with a plain-text 400 or a
500 from inside ``request.read()``.
"""

from __future__ import annotations

import zlib

from homeserver.errors import NotJson, TooLarge

MAX_LAYERS = 2
_GZIP = 16 + zlib.MAX_WBITS


def decode_body(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo each listed encoding (last applied first); the result is at most ``limit`` bytes."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    if len(codings) > MAX_LAYERS:
        raise NotJson("Too many content encodings")
    for coding in reversed(codings):
        raw = _decode_one(raw, coding, limit)
    return raw


def _decode_one(raw: bytes, coding: str, limit: int) -> bytes:
    if coding == "identity":
        return raw
    if coding in ("gzip", "x-gzip"):
        wbits = _GZIP
    elif coding == "deflate":
        # RFC 9110 means zlib-wrapped; some clients send a raw deflate stream.
        wbits = zlib.MAX_WBITS if raw[:1] and raw[0] & 0x0F == 8 else -zlib.MAX_WBITS
    else:
        raise NotJson(f"Unsupported Content-Encoding {coding[:40]!r}")
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(raw, limit + 1)
    except zlib.error:
        raise NotJson(f"Body is not valid {coding}") from None
    if len(out) > limit or decoder.unconsumed_tail:
        raise TooLarge("Request body too large once decoded")
    if not decoder.eof or decoder.unused_data:
        raise NotJson(f"Body is not valid {coding}")
    return out
