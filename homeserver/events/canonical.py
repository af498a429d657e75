"""Canonical JSON and the unpadded Base64 the Matrix spec uses for keys, hashes and signatures.

Owns the byte-level encodings every other crypto module builds on:

* ``canonical_json``: the spec's "Canonical JSON" (sorted keys, no insignificant
  whitespace, UTF-8), delegated to the ``canonicaljson`` library.
* ``encode_base64`` / ``decode_base64``: "Unpadded Base64" (RFC 4648 standard alphabet,
  no ``=``). Decoding is lenient as the spec asks: padded or unpadded, standard or URL-safe.
* ``encode_base64_urlsafe``: unpadded URL-safe Base64, used for event IDs (room v4+).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from canonicaljson import encode_canonical_json

_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def canonical_json(obj: Any) -> bytes:
    """The Canonical JSON encoding of ``obj`` as UTF-8 bytes."""
    return encode_canonical_json(obj)


def encode_base64(data: bytes) -> str:
    """Unpadded standard Base64."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def encode_base64_urlsafe(data: bytes) -> str:
    """Unpadded URL-safe Base64 (``-`` and ``_`` instead of ``+`` and ``/``)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode_base64(text: str) -> bytes:
    """Decode padded or unpadded, standard or URL-safe Base64; ValueError if malformed."""
    if not isinstance(text, str):
        raise ValueError("base64 input must be a string")
    stripped = text.rstrip("=").translate(_URLSAFE_TO_STANDARD)
    if len(stripped) % 4 == 1:
        raise ValueError("invalid base64 length")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"invalid base64: {exc}") from None
