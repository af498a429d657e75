"""The spec's "Checking for validity" of a received PDU, before the auth rules.

A PDU passes when it is well formed, canonical JSON (integers within
±(2^53-1), no floats, bounded nesting; ``depth`` and ``origin_server_ts`` not
negative), signed by its sender's server (with a
key valid when it was sent), its content hash matches and its event ID is
its reference hash. A PDU that fails is rejected outright: it is never
stored, so no client ever sees it.
"""

from __future__ import annotations

from typing import Any

from federation.keyring import KeyRing, UnknownKey
from homeserver.events.canonical import NotCanonical, check_canonical
from homeserver.events.hashing import check_content_hash, compute_event_id, redact
from homeserver.events.signing import SignatureError, check_json_signature
from homeserver.ids import server_of

REQUIRED = {"room_id": str, "sender": str, "type": str, "content": dict,
            "origin_server_ts": int, "depth": int, "prev_events": list, "auth_events": list}


MAX_REFS = 20


class InvalidPdu(Exception):
    """The PDU fails a validity check; the message says which."""


async def check_pdu(pdu: Any, keyring: KeyRing) -> str:
    """The PDU's event ID, once every validity check passes; InvalidPdu otherwise."""
    _check_shape(pdu)
    sender_server = server_of(pdu["sender"])
    signed = redact(pdu)  # signatures cover the redacted form
    key_ids = list((pdu.get("signatures") or {}).get(sender_server) or {})
    if not key_ids:
        raise InvalidPdu(f"not signed by the sender's server {sender_server}")
    for key_id in key_ids:
        try:
            verify_key = await keyring.verify_key(sender_server, key_id,
                                                  pdu["origin_server_ts"])
            check_json_signature(signed, sender_server, key_id, verify_key)
        except (UnknownKey, SignatureError) as exc:
            raise InvalidPdu(str(exc)) from None
    if not check_content_hash(pdu):
        raise InvalidPdu("content hash mismatch")
    return compute_event_id(pdu)


def _check_shape(pdu: Any) -> None:
    if not isinstance(pdu, dict):
        raise InvalidPdu("a PDU must be an object")
    for name, kind in REQUIRED.items():
        if not isinstance(pdu.get(name), kind) or isinstance(pdu.get(name), bool):
            raise InvalidPdu(f"{name} is missing or of the wrong type")
    for name in ("prev_events", "auth_events"):
        if not all(isinstance(e, str) for e in pdu[name]) or len(pdu[name]) > MAX_REFS:
            raise InvalidPdu(f"{name} must be at most {MAX_REFS} event IDs")
    if "state_key" in pdu and not isinstance(pdu["state_key"], str):
        raise InvalidPdu("state_key must be a string")
    if ":" not in pdu["sender"] or not pdu["sender"].startswith("@"):
        raise InvalidPdu("sender is not a user ID")
    try:
        # Checked before any key is fetched: a value out of range would be stored and
        # then break every later write in the room (depth + 1, the database's integers).
        check_canonical(pdu)
    except NotCanonical as exc:
        raise InvalidPdu(f"not canonical JSON: {exc}") from None
    for name in ("depth", "origin_server_ts"):
        if pdu[name] < 0:
            raise InvalidPdu(f"{name} must not be negative")
