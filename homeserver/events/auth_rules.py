"""Room version 10 authorization rules as pure functions: no I/O, no storage, no clock.

This module owns the spec's "Authorization rules" for room version 10 (the v8/v9
rules plus ``knock_restricted``), the "Auth events selection" algorithm and the
"Handling redactions" check. Power level look-ups and rule 9 (m.room.power_levels,
integer-only in v10) live in ``homeserver.events.power_levels`` and are re-exported
here, so callers need only this module.

``auth_state`` maps ``(event_type, state_key)`` to PDU dicts. It must hold at least
the entries ``auth_types_for_event`` names (the room's whole current state is fine:
only those keys are read). Checks raise :class:`AuthError`; success returns None.

Left to the caller (they need keys, storage or other rooms):
- signatures, including rule 4.2 (``join_authorised_via_users_server`` must be signed
  by that user's server), canonical JSON and hash checks;
- rejected-ness of auth events (rule 2.3); ``auth_state_from_auth_events`` does 2.1/2.2/2.4;
- whether a restricted-room joiner meets the join rules' ``allow`` conditions (the
  authorising server decides that before signing; these rules check its user's level).

Simplifications: third-party invites (``content.third_party_invite``) are rejected as
unsupported; ``m.room.create`` must declare ``room_version`` "10", the only version
this server implements (the spec would accept any recognised version, or none for v1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from homeserver.events.hashing import SUPPORTED_ROOM_VERSIONS, compute_event_id
from homeserver.events.power_levels import (
    CREATE,
    POWER_LEVELS,
    AuthError,
    AuthState,
    Event,
    check_power_levels,
    content_of,
    creator_of,
    named_level,
    power_level_of,
    required_level_for,
)
from homeserver.ids import server_of

__all__ = [
    "AuthError", "AuthState", "Event", "auth_state_from_auth_events", "auth_types_for_event",
    "check_auth", "check_redaction", "creator_of", "membership_of", "named_level",
    "power_level_of", "required_level_for",
]

JOIN_RULES = ("m.room.join_rules", "")
MEMBER = "m.room.member"


# --- Auth events selection --------------------------------------------------------------


def auth_types_for_event(event: Event) -> list[tuple[str, str]]:
    """The ``(type, state_key)`` pairs this event's ``auth_events`` should reference."""
    if event["type"] == "m.room.create":
        return []
    keys = [CREATE, POWER_LEVELS, (MEMBER, event["sender"])]
    if event["type"] == MEMBER:
        content = content_of(event)
        membership = content.get("membership")
        if isinstance(event.get("state_key"), str):
            keys.append((MEMBER, event["state_key"]))
        if membership in ("join", "invite", "knock"):
            keys.append(JOIN_RULES)
        token = _third_party_token(content)
        if membership == "invite" and token is not None:
            keys.append(("m.room.third_party_invite", token))
        authoriser = content.get("join_authorised_via_users_server")
        if isinstance(authoriser, str):
            keys.append((MEMBER, authoriser))
    return list(dict.fromkeys(keys))


def auth_state_from_auth_events(event: Event,
                                auth_events: Iterable[Event]) -> dict[tuple[str, str], Event]:
    """Rules 2.1, 2.2 and 2.4: index ``auth_events`` by key, refusing bad selections."""
    allowed = set(auth_types_for_event(event))
    state: dict[tuple[str, str], Event] = {}
    for auth_event in auth_events:
        key = (str(auth_event.get("type")), auth_event.get("state_key"))
        if not isinstance(key[1], str) or key not in allowed:
            raise AuthError(f"auth event {key} is not one the event should reference")
        if key in state:
            raise AuthError(f"duplicate auth events for {key}")
        state[key[0], key[1]] = auth_event
    if event["type"] != "m.room.create" and CREATE not in state:
        raise AuthError("the auth events hold no m.room.create event")
    return state


def membership_of(user_id: str, auth_state: AuthState) -> str:
    """The user's current membership; "leave" when they have no member event."""
    member = auth_state.get((MEMBER, user_id))
    membership = content_of(member).get("membership") if member else None
    return membership if isinstance(membership, str) else "leave"


# --- The rules ---------------------------------------------------------------------------


def check_auth(event: Event, auth_state: AuthState, *,
               redacted_event: Event | None = None) -> None:
    """Raise AuthError unless room version 10's rules allow ``event`` against ``auth_state``.

    For m.room.redaction, pass ``redacted_event`` to also apply ``check_redaction``;
    without it the redaction passes as the spec says and the caller checks it later.
    """
    if event["type"] == "m.room.create":
        _check_create(event, auth_state)
        return
    create = auth_state.get(CREATE)
    if create is None:
        raise AuthError("the room has no m.room.create event")
    if content_of(create).get("m.federate") is False and \
            server_of(event["sender"]) != server_of(create["sender"]):
        raise AuthError("the room does not federate")
    if event["type"] == MEMBER:
        _check_member(event, auth_state)
        return
    _check_ordinary(event, auth_state)
    if event["type"] == "m.room.redaction" and redacted_event is not None:
        check_redaction(event, redacted_event, auth_state)


def check_redaction(redaction: Event, redacted_event: Event, auth_state: AuthState, *,
                    require_same_sender: bool = False) -> None:
    """The spec's "Handling redactions": redact level, or the original's sender's domain.

    ``require_same_sender`` narrows "same domain" to "same user" for the client API.
    """
    if redacted_event.get("room_id") != redaction.get("room_id"):
        raise AuthError("the redacted event is in another room")
    redacts, event_id = redaction.get("redacts"), redacted_event.get("event_id")
    if redacts is not None and event_id is not None and redacts != event_id:
        raise AuthError("redacted_event is not the event this redaction names")
    sender, original = redaction["sender"], redacted_event["sender"]
    if power_level_of(sender, auth_state) >= named_level("redact", auth_state):
        return
    same = sender == original if require_same_sender else server_of(sender) == server_of(original)
    if not same:
        raise AuthError("the sender may not redact other users' events")


def _check_create(event: Event, auth_state: AuthState) -> None:
    if event.get("prev_events"):
        raise AuthError("m.room.create must have no prev_events")
    existing = auth_state.get(CREATE)
    if existing is not None and existing != event:
        raise AuthError("the room already has an m.room.create event")
    if server_of(event["room_id"]) != server_of(event["sender"]):
        raise AuthError("the room ID's domain must be the sender's")
    content = content_of(event)
    if content.get("room_version", "1") not in SUPPORTED_ROOM_VERSIONS:
        raise AuthError(f"unsupported room version {content.get('room_version', '1')!r}")
    if "creator" not in content:
        raise AuthError("m.room.create content has no creator")


def _check_ordinary(event: Event, auth_state: AuthState) -> None:
    """Rules 5-10: anything that is neither m.room.create nor m.room.member."""
    sender = event["sender"]
    if membership_of(sender, auth_state) != "join":
        raise AuthError("the sender is not joined to the room")
    level = power_level_of(sender, auth_state)
    if event["type"] == "m.room.third_party_invite":
        if level < named_level("invite", auth_state):
            raise AuthError("the sender's power level is below the invite level")
        return
    if level < required_level_for(event, auth_state):
        raise AuthError(f"the sender's power level is too low to send {event['type']}")
    state_key = event.get("state_key")
    if isinstance(state_key, str) and state_key.startswith("@") and state_key != sender:
        raise AuthError("a state key naming a user may only be set by that user")
    if event["type"] == "m.room.power_levels":
        check_power_levels(event, auth_state)


# --- m.room.member -----------------------------------------------------------------------


def _check_member(event: Event, auth_state: AuthState) -> None:
    target, membership = event.get("state_key"), content_of(event).get("membership")
    if not isinstance(target, str) or not isinstance(membership, str):
        raise AuthError("a member event needs a state_key and content.membership")
    checks = {"join": _check_join, "invite": _check_invite, "leave": _check_leave,
              "ban": _check_ban, "knock": _check_knock}
    if membership not in checks:
        raise AuthError(f"unknown membership {membership!r}")
    checks[membership](event, target, auth_state)


def _join_rule(auth_state: AuthState) -> str:
    join_rules = auth_state.get(JOIN_RULES)
    rule = content_of(join_rules).get("join_rule") if join_rules else None
    return rule if isinstance(rule, str) else "invite"


def _check_join(event: Event, target: str, auth_state: AuthState) -> None:
    if _is_creators_first_join(event, target, auth_state):
        return
    sender = event["sender"]
    if sender != target:
        raise AuthError("users may only join themselves")
    current = membership_of(target, auth_state)
    if current == "ban":
        raise AuthError("the user is banned from the room")
    rule = _join_rule(auth_state)
    if rule in ("invite", "knock") and current in ("invite", "join"):
        return
    if rule in ("restricted", "knock_restricted"):
        if current in ("invite", "join"):
            return
        _check_join_authoriser(event, auth_state)
        return
    if rule != "public":
        raise AuthError(f"the join rule {rule!r} does not let this user join")


def _is_creators_first_join(event: Event, target: str, auth_state: AuthState) -> bool:
    """Rule 4.3.1: the only previous event is m.room.create and the target is the creator."""
    prev = event.get("prev_events") or []
    if len(prev) != 1 or target != creator_of(auth_state):
        return False
    create = auth_state[CREATE]
    try:
        create_id = create.get("event_id") or compute_event_id(dict(create))
    except (TypeError, ValueError):
        return False
    return prev[0] == create_id


def _check_join_authoriser(event: Event, auth_state: AuthState) -> None:
    """Rule 4.3.5.2: the authorising user must be able to invite (signature: caller)."""
    authoriser = content_of(event).get("join_authorised_via_users_server")
    if not isinstance(authoriser, str):
        raise AuthError("a restricted room needs an invite or an authorising user")
    if membership_of(authoriser, auth_state) != "join" or \
            power_level_of(authoriser, auth_state) < named_level("invite", auth_state):
        raise AuthError("the authorising user may not invite users")


def _check_invite(event: Event, target: str, auth_state: AuthState) -> None:
    if "third_party_invite" in content_of(event):
        raise AuthError("third-party invites are not supported")
    sender = event["sender"]
    if membership_of(sender, auth_state) != "join":
        raise AuthError("the inviter is not joined to the room")
    if membership_of(target, auth_state) in ("join", "ban"):
        raise AuthError("the invitee is already joined or is banned")
    if power_level_of(sender, auth_state) < named_level("invite", auth_state):
        raise AuthError("the inviter's power level is below the invite level")


def _check_leave(event: Event, target: str, auth_state: AuthState) -> None:
    sender = event["sender"]
    if sender == target:
        if membership_of(sender, auth_state) not in ("invite", "join", "knock"):
            raise AuthError("the user is not in the room, invited or knocking")
        return
    if membership_of(sender, auth_state) != "join":
        raise AuthError("the sender is not joined to the room")
    mine = power_level_of(sender, auth_state)
    if membership_of(target, auth_state) == "ban" and mine < named_level("ban", auth_state):
        raise AuthError("the sender's power level is below the ban level")
    if mine < named_level("kick", auth_state):
        raise AuthError("the sender's power level is below the kick level")
    if power_level_of(target, auth_state) >= mine:
        raise AuthError("the target's power level is not below the sender's")


def _check_ban(event: Event, target: str, auth_state: AuthState) -> None:
    sender = event["sender"]
    if membership_of(sender, auth_state) != "join":
        raise AuthError("the sender is not joined to the room")
    mine = power_level_of(sender, auth_state)
    if mine < named_level("ban", auth_state):
        raise AuthError("the sender's power level is below the ban level")
    if power_level_of(target, auth_state) >= mine:
        raise AuthError("the target's power level is not below the sender's")


def _check_knock(event: Event, target: str, auth_state: AuthState) -> None:
    if _join_rule(auth_state) not in ("knock", "knock_restricted"):
        raise AuthError("the room does not allow knocking")
    if event["sender"] != target:
        raise AuthError("users may only knock for themselves")
    if membership_of(target, auth_state) in ("ban", "invite", "join"):
        raise AuthError("banned, invited or joined users may not knock")


def _third_party_token(content: Mapping[str, Any]) -> str | None:
    invite = content.get("third_party_invite")
    signed = invite.get("signed") if isinstance(invite, Mapping) else None
    token = signed.get("token") if isinstance(signed, Mapping) else None
    return token if isinstance(token, str) else None
