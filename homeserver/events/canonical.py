"""Canonical JSON and the unpadded Base64 the Matrix spec uses for keys, hashes and signatures.

Owns the byte-level encodings every other crypto module builds on:

* ``canonical_json``: the spec's "Canonical JSON" (sorted keys, no insignificant
  whitespace, UTF-8), delegated to the ``canonicaljson`` library.
* ``encode_base64`` / ``decode_base64``: "Unpadded Base64" (RFC 4648 standard alphabet,
  no ``=``). Decoding is lenient as the spec asks: padded or unpadded, standard or URL-safe.
* ``encode_base64_urlsafe``: unpadded URL-safe Base64, used for event IDs (room v4+).
* ``check_canonical``: whether a value can be Canonical JSON at all (integers within
  ±(2^53-1), no floats, bounded nesting, strings that are valid Unicode). Everything
  received from another server or a client passes it before it is signed, hashed or stored:
  a value that breaks it would be stored and then break every later write that reads it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from canonicaljson import encode_canonical_json

_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
MAX_SAFE_INTEGER = 2**53 - 1
# Real events nest a handful of levels; the bound keeps recursive code (redaction,
# hashing, encoding) far from Python's recursion limit.
MAX_NESTING = 64


class NotCanonical(ValueError):
    """The value cannot be Canonical JSON; the message says where and why."""


# Where a value sits, as a linked list of steps (parent, key or index): cheap to make for
# every child, spelt out as "content.a[2]" only when an error names it.
_Path = tuple[Any, str | int] | None


def check_canonical(value: Any, max_nesting: int = MAX_NESTING) -> None:
    """Raise NotCanonical unless ``value`` is a JSON value the spec's Canonical JSON allows.

    Integers must lie within ±(2^53-1), floats (including NaN and infinities) are
    refused, objects and arrays nest at most ``max_nesting`` deep, object keys are
    strings and every string is valid Unicode (no lone surrogates). Iterative, so
    any nesting depth is refused without recursion; memory stays proportional to the
    value, however long its keys.
    """
    stack: list[tuple[Any, _Path, int]] = [(value, None, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            _check_nesting(path, depth, max_nesting)
            for key, child in item.items():
                if not isinstance(key, str):
                    raise NotCanonical(f"{_where(path)}: object keys must be strings")
                _check_string(key, path)
                stack.append((child, (path, key), depth + 1))
        elif isinstance(item, list):
            _check_nesting(path, depth, max_nesting)
            stack.extend((child, (path, n), depth + 1) for n, child in enumerate(item))
        elif isinstance(item, str):
            _check_string(item, path)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                raise NotCanonical(f"{_where(path)}: integer out of range "
                                   f"(beyond ±(2^53-1))")
        elif isinstance(item, float):
            raise NotCanonical(f"{_where(path)}: floats are not allowed, only integers")
        else:
            raise NotCanonical(f"{_where(path)}: not a JSON value")


def _where(path: _Path) -> str:
    steps: list[str | int] = []
    while path is not None:
        path, step = path
        steps.append(step)
    text = ""
    for step in reversed(steps):
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text or "the value"


def _check_nesting(path: _Path, depth: int, max_nesting: int) -> None:
    if depth >= max_nesting:
        raise NotCanonical(f"{_where(path)}: nested more than {max_nesting} deep")


def _check_string(text: str, path: _Path) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NotCanonical(f"{_where(path)}: string is not valid Unicode "
                           "(lone surrogate)") from None


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
