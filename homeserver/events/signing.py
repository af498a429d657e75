"""Signing and verifying JSON objects (spec Appendices, "Signing JSON").

The signed bytes are the Canonical JSON of the object without its ``signatures`` and
``unsigned`` members. Signatures live at ``signatures.<server_name>.<key_id>`` as unpadded
Base64; signing keeps every signature already present. Nothing here mutates its input.
"""

from __future__ import annotations

from typing import Any

from homeserver.events.canonical import canonical_json, encode_base64
from homeserver.events.keys import SigningKey, verify_signature

UNSIGNED_MEMBERS = ("signatures", "unsigned")


class SignatureError(Exception):
    """A required signature is missing, malformed or does not verify."""


def signable_bytes(obj: dict[str, Any]) -> bytes:
    """The bytes a signature covers: canonical JSON minus ``signatures`` and ``unsigned``."""
    if not isinstance(obj, dict):
        raise TypeError("only JSON objects can be signed")
    return canonical_json({k: v for k, v in obj.items() if k not in UNSIGNED_MEMBERS})


def sign_json(obj: dict[str, Any], server_name: str, key: SigningKey) -> dict[str, Any]:
    """A copy of ``obj`` carrying this server's signature alongside any existing ones."""
    return with_signature(obj, server_name, key, signable_bytes(obj))


def with_signature(obj: dict[str, Any], server_name: str, key: SigningKey,
                   signed_bytes: bytes) -> dict[str, Any]:
    """A copy of ``obj`` carrying this server's signature of ``signed_bytes`` alongside
    any existing ones (an event carries the signature of its redacted form)."""
    signature = encode_base64(key.sign(signed_bytes))
    existing = obj.get("signatures") or {}
    if not isinstance(existing, dict):
        raise TypeError("'signatures' must be a JSON object")
    ours = {**(existing.get(server_name) or {}), key.key_id: signature}
    return {**obj, "signatures": {**existing, server_name: ours}}


def get_signature(obj: dict[str, Any], server_name: str, key_id: str) -> str | None:
    """The Base64 signature ``obj`` carries for (server, key), or None if absent or malformed."""
    signatures = obj.get("signatures")
    if not isinstance(signatures, dict):
        return None
    by_key = signatures.get(server_name)
    if not isinstance(by_key, dict):
        return None
    signature = by_key.get(key_id)
    return signature if isinstance(signature, str) else None


def check_json_signature(obj: dict[str, Any], server_name: str, key_id: str,
                         public_key_b64: str) -> None:
    """Raise SignatureError unless ``obj`` is validly signed by ``server_name``'s ``key_id``."""
    signature = get_signature(obj, server_name, key_id)
    if signature is None:
        raise SignatureError(f"no signature from {server_name} with key {key_id}")
    if not verify_signature(public_key_b64, signable_bytes(obj), signature):
        raise SignatureError(f"invalid signature from {server_name} with key {key_id}")


def verify_json_signature(obj: dict[str, Any], server_name: str, key_id: str,
                          public_key_b64: str) -> bool:
    """Whether ``obj`` is validly signed by ``server_name``'s ``key_id``."""
    try:
        check_json_signature(obj, server_name, key_id, public_key_b64)
    except SignatureError:
        return False
    return True
