"""Room version 10 authorization rules, as pure functions over an event and its auth state.

``auth_state`` maps ``(type, state_key)`` to the PDUs of the room's current
m.room.create, m.room.power_levels, m.room.join_rules and the m.room.member
events of the sender and target. Knocking, restricted joins and third-party
invites are refused (this server never makes them).
"""

from __future__ import annotations

from typing import Any

AuthState = dict[tuple[str, str], dict[str, Any]]
CREATE = ("m.room.create", "")
POWER = ("m.room.power_levels", "")
JOIN_RULES = ("m.room.join_rules", "")
LEVEL_KEYS = ("users_default", "events_default", "state_default", "ban", "redact", "kick",
              "invite")


class AuthError(Exception):
    """The event is not allowed by the room's rules."""


def auth_types_for_event(event: dict[str, Any]) -> list[tuple[str, str]]:
    """The state keys an event's auth_events come from (the spec's auth events selection)."""
    if event["type"] == "m.room.create":
        return []
    keys = [CREATE, POWER, ("m.room.member", event["sender"])]
    if event["type"] == "m.room.member":
        keys.append(("m.room.member", event["state_key"]))
        if event["content"].get("membership") in ("join", "invite"):
            keys.append(JOIN_RULES)
    return list(dict.fromkeys(keys))


def _membership(state: AuthState, user_id: str) -> str:
    event = state.get(("m.room.member", user_id))
    return event["content"].get("membership", "leave") if event else "leave"


def _levels(state: AuthState) -> dict[str, Any]:
    event = state.get(POWER)
    return event["content"] if event else {}


def power_level_of(user_id: str, state: AuthState) -> int:
    levels = _levels(state)
    if not levels:
        creator = state.get(CREATE, {}).get("sender")
        return 100 if user_id == creator else 0
    return int(levels.get("users", {}).get(user_id, levels.get("users_default", 0)))


def _level(state: AuthState, key: str, default: int) -> int:
    return int(_levels(state).get(key, default))


def required_level_for(event: dict[str, Any], state: AuthState) -> int:
    levels = _levels(state)
    events = levels.get("events", {})
    if event["type"] in events:
        return int(events[event["type"]])
    if "state_key" in event:
        return int(levels.get("state_default", 50 if levels else 0))
    return int(levels.get("events_default", 0))


def check_auth(event: dict[str, Any], state: AuthState) -> None:
    """Raise AuthError unless the event is allowed; a create event needs empty state."""
    if event["type"] == "m.room.create":
        _check_create(event, state)
        return
    if CREATE not in state:
        raise AuthError("the room has no create event")
    if event["type"] == "m.room.member":
        _check_member(event, state)
        return
    if _membership(state, event["sender"]) != "join":
        raise AuthError("the sender is not joined to the room")
    if power_level_of(event["sender"], state) < required_level_for(event, state):
        raise AuthError("the sender's power level is too low")
    if event.get("state_key", "").startswith("@") and event["state_key"] != event["sender"]:
        raise AuthError("state keys naming a user belong to that user")
    if event["type"] == "m.room.power_levels":
        _check_power_levels(event, state)


def _check_create(event: dict[str, Any], state: AuthState) -> None:
    if state or event.get("prev_events"):
        raise AuthError("a create event must be the first event")
    if event["room_id"].partition(":")[2] != event["sender"].partition(":")[2]:
        raise AuthError("the room ID's server must be the creator's")


def _check_member(event: dict[str, Any], state: AuthState) -> None:
    membership = event["content"].get("membership")
    sender, target = event["sender"], event.get("state_key")
    if not isinstance(target, str):
        raise AuthError("a member event needs a state key")
    if membership == "join":
        _check_join(event, state, sender, target)
    elif membership == "invite":
        _check_invite(state, sender, target)
    elif membership == "leave":
        _check_leave(state, sender, target)
    elif membership == "ban":
        _check_ban(state, sender, target)
    else:
        raise AuthError(f"membership {membership!r} is not supported")


def _check_join(event: dict[str, Any], state: AuthState, sender: str, target: str) -> None:
    if sender != target:
        raise AuthError("only a user can join themselves")
    create = state[CREATE]
    prev = event.get("prev_events", [])
    if len(state) == 1 and create["sender"] == target and len(prev) == 1:
        return  # the creator's first join, right after the create event
    current = _membership(state, target)
    if current == "ban":
        raise AuthError("the user is banned")
    rule = state.get(JOIN_RULES, {}).get("content", {}).get("join_rule", "invite")
    if rule == "public" or current in ("invite", "join"):
        return
    raise AuthError("the room needs an invite to join")


def _check_invite(state: AuthState, sender: str, target: str) -> None:
    if _membership(state, sender) != "join":
        raise AuthError("the inviter is not joined")
    if _membership(state, target) in ("join", "ban"):
        raise AuthError("the invitee is already joined or banned")
    if power_level_of(sender, state) < _level(state, "invite", 0):
        raise AuthError("the inviter's power level is too low")


def _check_leave(state: AuthState, sender: str, target: str) -> None:
    if sender == target:
        if _membership(state, sender) not in ("join", "invite", "knock"):
            raise AuthError("the user is not in the room")
        return
    if _membership(state, sender) != "join":
        raise AuthError("the sender is not joined")
    mine, theirs = power_level_of(sender, state), power_level_of(target, state)
    if _membership(state, target) == "ban" and mine < _level(state, "ban", 50):
        raise AuthError("the sender may not unban")
    if mine < _level(state, "kick", 50) or theirs >= mine:
        raise AuthError("the sender may not kick this user")


def _check_ban(state: AuthState, sender: str, target: str) -> None:
    if _membership(state, sender) != "join":
        raise AuthError("the sender is not joined")
    mine, theirs = power_level_of(sender, state), power_level_of(target, state)
    if mine < _level(state, "ban", 50) or theirs >= mine:
        raise AuthError("the sender may not ban this user")


def _check_power_levels(event: dict[str, Any], state: AuthState) -> None:
    new = event["content"]
    _check_integers(new)
    old = _levels(state)
    if not old:
        return  # the room's first power levels
    mine = power_level_of(event["sender"], state)
    for key in LEVEL_KEYS:
        _check_change(old.get(key), new.get(key), mine)
    for name in set(old.get("events", {})) | set(new.get("events", {})):
        _check_change(old.get("events", {}).get(name), new.get("events", {}).get(name), mine)
    for user in set(old.get("users", {})) | set(new.get("users", {})):
        before, after = old.get("users", {}).get(user), new.get("users", {}).get(user)
        if before != after and user != event["sender"] and before is not None \
                and int(before) >= mine:
            raise AuthError("cannot change the level of a user at or above your own")
        _check_change(before, after, mine)


def _check_change(before: Any, after: Any, mine: int) -> None:
    if before == after:
        return
    if (before is not None and int(before) > mine) or (after is not None and int(after) > mine):
        raise AuthError("cannot set or change a level above your own")


def _check_integers(content: dict[str, Any]) -> None:
    values = [content.get(k) for k in LEVEL_KEYS]
    for mapping in ("events", "users", "notifications"):
        sub = content.get(mapping, {})
        if not isinstance(sub, dict):
            raise AuthError(f"{mapping} must be an object")
        values.extend(sub.values())
    if any(v is not None and (not isinstance(v, int) or isinstance(v, bool)) for v in values):
        raise AuthError("power levels must be integers")
