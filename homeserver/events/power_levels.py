"""Power levels for room version 10, as pure functions over a room's auth state.

This module owns the level defaults, who has which level, what an event needs
(``power_level_of``, ``named_level``, ``required_level_for``) and authorization
rule 9 (``check_power_levels``: v10 integer-only values, no granting or changing
levels above your own). ``auth_rules`` builds the other rules on top of it;
:class:`AuthError` lives here so both modules can raise it without an import cycle
(import it from either).

``auth_state`` maps ``(event_type, state_key)`` to PDU dicts, as in ``auth_rules``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.ids import is_valid_user_id

Event = Mapping[str, Any]
AuthState = Mapping[tuple[str, str], Event]

CREATE = ("m.room.create", "")
POWER_LEVELS = ("m.room.power_levels", "")

# Defaults when m.room.power_levels exists but omits the key.
LEVEL_DEFAULTS = {"users_default": 0, "events_default": 0, "state_default": 50,
                  "ban": 50, "kick": 50, "redact": 50, "invite": 0}
# Without any m.room.power_levels event: state_default is 0, the creator has 100.
NO_POWER_LEVELS_STATE_DEFAULT = 0
CREATOR_DEFAULT_LEVEL = 100
MAX_INT = 2**53 - 1  # canonical JSON's integer range


class AuthError(Exception):
    """The event is not allowed by the room's authorization rules."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def content_of(event: Event | None) -> Mapping[str, Any]:
    """An event's content, or {} when the event or its content is missing or malformed."""
    content = event.get("content") if event else None
    return content if isinstance(content, Mapping) else {}


def creator_of(auth_state: AuthState) -> str | None:
    """The room creator: ``content.creator`` of m.room.create (room versions before 11)."""
    create = auth_state.get(CREATE)
    creator = content_of(create).get("creator")
    return creator if isinstance(creator, str) else None


def power_level_of(user_id: str, auth_state: AuthState) -> int:
    """A user's power level; without m.room.power_levels, the creator 100 and others 0."""
    levels = _levels(auth_state)
    if levels is None:
        return CREATOR_DEFAULT_LEVEL if user_id == creator_of(auth_state) else 0
    users = _section(levels, "users")
    if user_id in users:
        return _stored_int(users[user_id])
    return _stored_int(levels.get("users_default", 0))


def named_level(name: str, auth_state: AuthState) -> int:
    """One of ``ban kick redact invite state_default events_default users_default``."""
    levels = _levels(auth_state)
    if levels is None and name == "state_default":
        return NO_POWER_LEVELS_STATE_DEFAULT
    return _stored_int((levels or {}).get(name, LEVEL_DEFAULTS[name]))


def required_level_for(event: Event, auth_state: AuthState) -> int:
    """The level needed to send ``event``: ``events[type]``, else state/events default."""
    events = _section(_levels(auth_state) or {}, "events")
    if event["type"] in events:
        return _stored_int(events[event["type"]])
    default = "state_default" if "state_key" in event else "events_default"
    return named_level(default, auth_state)


def check_power_levels(event: Event, auth_state: AuthState) -> None:
    """Rule 9: an m.room.power_levels event's shape, and what its sender may change."""
    new = content_of(event)
    _check_shape(new)
    old = _levels(auth_state)
    if old is None:
        return  # the room's first power levels: anything well-formed goes
    sender = event["sender"]
    mine = power_level_of(sender, auth_state)
    for key in LEVEL_DEFAULTS:
        _check_altered(key, old.get(key), new.get(key), mine)
    for section in ("events", "notifications"):
        before, after = _section(old, section), _section(new, section)
        for name in before.keys() | after.keys():
            _check_altered(f"{section}.{name}", before.get(name), after.get(name), mine)
    _check_users(_section(old, "users"), _section(new, "users"), sender, mine)


def _check_shape(content: Mapping[str, Any]) -> None:
    """Rules 9.1-9.3 (v10): every level is an integer, ``users`` keys are user IDs."""
    for key in LEVEL_DEFAULTS:
        if key in content and not _is_int(content[key]):
            raise AuthError(f"power level {key!r} must be an integer")
    for section in ("events", "notifications", "users"):
        values = content.get(section, {})
        if not isinstance(values, Mapping) or not all(map(_is_int, values.values())):
            raise AuthError(f"power levels {section!r} must map to integers")
    if not all(isinstance(u, str) and is_valid_user_id(u) for u in content.get("users", {})):
        raise AuthError("power levels 'users' keys must be user IDs")


def _check_altered(name: str, before: Any, after: Any, mine: int) -> None:
    """Rules 9.5-9.7: neither the old nor the new value of a change may exceed yours."""
    if before == after:
        return
    if before is not None and _stored_int(before) > mine:
        raise AuthError(f"cannot change {name}: its current level is above yours")
    if after is not None and after > mine:
        raise AuthError(f"cannot set {name} above your own level")


def _check_users(before: Mapping[str, Any], after: Mapping[str, Any], sender: str,
                 mine: int) -> None:
    """Rules 9.8-9.9: others at or above you are untouchable; nobody goes above you."""
    for user in before.keys() | after.keys():
        old_level, new_level = before.get(user), after.get(user)
        if old_level == new_level:
            continue
        if user != sender and old_level is not None and _stored_int(old_level) >= mine:
            raise AuthError(f"cannot change the level of {user}, who is at or above yours")
        if new_level is not None and new_level > mine:
            raise AuthError(f"cannot give {user} a level above your own")


def _levels(auth_state: AuthState) -> Mapping[str, Any] | None:
    event = auth_state.get(POWER_LEVELS)
    return content_of(event) if event is not None else None


def _section(levels: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = levels.get(name)
    return value if isinstance(value, Mapping) else {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT


def _stored_int(value: Any) -> int:
    """A level read from accepted state; v10 only accepts integers, so anything else is bad."""
    if not _is_int(value):
        raise AuthError(f"malformed power level {value!r} in the room state")
    return int(value)
