"""The initial state of a new room: presets and default power levels, as plain data."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, str]] = {
    "private_chat": {"join_rule": "invite", "history": "shared", "guest": "can_join"},
    "trusted_private_chat": {"join_rule": "invite", "history": "shared", "guest": "can_join"},
    "public_chat": {"join_rule": "public", "history": "shared", "guest": "forbidden"},
}
# Created by the server itself in this order; initial_state may not replace them.
RESERVED_INITIAL_STATE = {"m.room.create", "m.room.member", "m.room.power_levels"}


def power_levels(creator: str, preset: str, invitees: list[str],
                 override: dict[str, Any] | None) -> dict[str, Any]:
    users = {creator: 100}
    if preset == "trusted_private_chat":
        users.update({user: 100 for user in invitees})
    content: dict[str, Any] = {
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 50 if preset == "public_chat" else 0,
        "notifications": {"room": 50},
    }
    content.update(override or {})
    return content


def initial_state(preset: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, content) of the state events every room of this preset starts with."""
    rules = PRESETS[preset]
    return [
        ("m.room.join_rules", {"join_rule": rules["join_rule"]}),
        ("m.room.history_visibility", {"history_visibility": rules["history"]}),
        ("m.room.guest_access", {"guest_access": rules["guest"]}),
    ]
