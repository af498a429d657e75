"""Event hashes, redaction, event IDs and event signing (Server-Server API, "Signing Events").

* Content hash: sha256 of the canonical event minus ``unsigned``, ``signatures``, ``hashes``;
  stored unpadded-Base64 at ``hashes.sha256``.
* Redaction: the room version 10 algorithm (identical to v9's).
* Reference hash: sha256 of the canonical *redacted* event minus ``signatures``, ``unsigned``
  and the legacy top-level ``age_ts``; the event ID ("$" + URL-safe unpadded Base64) for
  room versions 4 and later.
* ``sign_event``: add the content hash, sign the redacted form, attach the signature to the
  full event. ``sign_and_name`` also gives the signed event's ID: the signature and the
  reference hash cover the same bytes, so they are encoded once.

Redaction rules for room version 10 (spec rooms/v10 says redactions are unchanged from v9;
v9 is v8 plus ``join_authorised_via_users_server``; v8 added ``allow`` to join rules). The
``invite`` power-levels key, keeping all of ``m.room.create``'s content, ``redacts`` in
``m.room.redaction`` content, ``third_party_invite.signed`` in member events, and dropping
the top-level ``origin``/``membership``/``prev_state`` all arrived in room version 11, so
they are NOT applied here. ``m.room.aliases`` lost its protection in room version 6.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

from homeserver.events.canonical import (
    canonical_json,
    decode_base64,
    encode_base64,
    encode_base64_urlsafe,
)
from homeserver.events.keys import SigningKey
from homeserver.events.signing import with_signature

SUPPORTED_ROOM_VERSIONS = frozenset({"10"})

_KEPT_TOP_LEVEL = frozenset({
    "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
    "depth", "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts",
    "membership",
})

_KEPT_CONTENT: dict[str, frozenset[str]] = {
    "m.room.member": frozenset({"membership", "join_authorised_via_users_server"}),
    "m.room.create": frozenset({"creator"}),
    "m.room.join_rules": frozenset({"join_rule", "allow"}),
    "m.room.power_levels": frozenset({
        "ban", "events", "events_default", "kick", "redact", "state_default", "users",
        "users_default",
    }),
    "m.room.history_visibility": frozenset({"history_visibility"}),
}

_CONTENT_HASH_EXCLUDED = ("unsigned", "signatures", "hashes")
_REFERENCE_HASH_EXCLUDED = ("signatures", "unsigned", "age_ts")


def _require_version(room_version: str) -> None:
    if room_version not in SUPPORTED_ROOM_VERSIONS:
        raise ValueError(f"unsupported room version {room_version!r}")


def _content_hash_bytes(event: dict[str, Any]) -> bytes:
    stripped = {k: v for k, v in event.items() if k not in _CONTENT_HASH_EXCLUDED}
    return hashlib.sha256(canonical_json(stripped)).digest()


def compute_content_hash(event: dict[str, Any]) -> str:
    """The unpadded-Base64 sha256 content hash of ``event``."""
    return encode_base64(_content_hash_bytes(event))


def add_content_hash(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``event`` with ``hashes.sha256`` set to its content hash."""
    hashes = event.get("hashes")
    others = hashes if isinstance(hashes, dict) else {}
    return {**event, "hashes": {**others, "sha256": compute_content_hash(event)}}


def check_content_hash(event: dict[str, Any]) -> bool:
    """Whether ``hashes.sha256`` matches the event (False if missing or malformed)."""
    hashes = event.get("hashes")
    claimed = hashes.get("sha256") if isinstance(hashes, dict) else None
    if not isinstance(claimed, str):
        return False
    try:
        claimed_bytes = decode_base64(claimed)
    except ValueError:
        return False
    return hmac.compare_digest(claimed_bytes, _content_hash_bytes(event))


def redact(event: dict[str, Any], room_version: str = "10") -> dict[str, Any]:
    """The redacted form of ``event``: a new dict holding only the protected keys."""
    return copy.deepcopy(_redacted_view(event, room_version))


def _redacted_view(event: dict[str, Any], room_version: str) -> dict[str, Any]:
    """The redacted form as new top-level and content dicts whose values are still
    ``event``'s own: enough to encode for a hash or a signature, without copying."""
    _require_version(room_version)
    redacted = {k: v for k, v in event.items() if k in _KEPT_TOP_LEVEL}
    content = event.get("content")
    kept = _KEPT_CONTENT.get(str(event.get("type")), frozenset())
    if isinstance(content, dict):
        redacted["content"] = {k: v for k, v in content.items() if k in kept}
    else:
        redacted["content"] = {}
    return redacted


def _reference_bytes(event: dict[str, Any], room_version: str) -> bytes:
    """What the reference hash covers: the canonical redacted event without
    ``signatures``, ``unsigned`` and ``age_ts``. The redacted form never keeps
    ``unsigned`` or ``age_ts``, so these are also the bytes a signature covers."""
    redacted = _redacted_view(event, room_version)
    for key in _REFERENCE_HASH_EXCLUDED:
        redacted.pop(key, None)
    return canonical_json(redacted)


def compute_reference_hash(event: dict[str, Any], room_version: str = "10") -> bytes:
    """The raw sha256 reference hash of ``event``."""
    return hashlib.sha256(_reference_bytes(event, room_version)).digest()


def compute_event_id(event: dict[str, Any], room_version: str = "10") -> str:
    """The event ID for room versions 4+: ``$`` + URL-safe unpadded Base64 reference hash."""
    return "$" + encode_base64_urlsafe(compute_reference_hash(event, room_version))


def sign_event(event: dict[str, Any], server_name: str, key: SigningKey,
               room_version: str = "10") -> dict[str, Any]:
    """A copy of ``event`` with its content hash and this server's signature added."""
    return sign_and_name(event, server_name, key, room_version)[0]


def sign_and_name(event: dict[str, Any], server_name: str, key: SigningKey,
                  room_version: str = "10") -> tuple[dict[str, Any], str]:
    """:func:`sign_event`, and the signed event's ID (:func:`compute_event_id`)."""
    hashed = add_content_hash(event)
    covered = _reference_bytes(hashed, room_version)  # signing and naming: one encoding
    event_id = "$" + encode_base64_urlsafe(hashlib.sha256(covered).digest())
    return with_signature(hashed, server_name, key, covered), event_id
