"""Room v10 authorization rules as pure functions: no server, no database."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.events.authorization import (
    AuthError,
    AuthState,
    auth_types_for_event,
    check_auth,
    power_level_of,
)

ROOM = "!r:a.example"
ALICE, BOB, EVE = "@alice:a.example", "@bob:a.example", "@eve:a.example"


def ev(sender: str, event_type: str, content: dict[str, Any], state_key: str | None = None,
       prev: list[str] | None = None) -> dict[str, Any]:
    event = {"room_id": ROOM, "sender": sender, "type": event_type, "content": content,
             "prev_events": prev if prev is not None else ["$prev"]}
    if state_key is not None:
        event["state_key"] = state_key
    return event


def member(user: str, membership: str, sender: str | None = None) -> dict[str, Any]:
    return ev(sender or user, "m.room.member", {"membership": membership}, user)


def room(join_rule: str = "invite", **members: str) -> AuthState:
    state: AuthState = {
        ("m.room.create", ""): ev(ALICE, "m.room.create", {"creator": ALICE}, ""),
        ("m.room.power_levels", ""): ev(ALICE, "m.room.power_levels", {
            "users": {ALICE: 100}, "users_default": 0, "events_default": 0,
            "state_default": 50, "ban": 50, "kick": 50, "invite": 0, "redact": 50,
            "events": {"m.room.power_levels": 100},
        }, ""),
        ("m.room.join_rules", ""): ev(ALICE, "m.room.join_rules", {"join_rule": join_rule}, ""),
        ("m.room.member", ALICE): member(ALICE, "join"),
    }
    for name, membership in members.items():
        user = {"bob": BOB, "eve": EVE}[name]
        state[("m.room.member", user)] = member(user, membership)
    return state


def test_create_must_come_first_and_match_the_server() -> None:
    create = ev(ALICE, "m.room.create", {"creator": ALICE}, "", prev=[])
    check_auth(create, {})
    with pytest.raises(AuthError):
        check_auth(create, room())
    with pytest.raises(AuthError):
        check_auth({**create, "sender": "@x:other.example"}, {})


def test_creator_joins_right_after_create() -> None:
    state = {("m.room.create", ""): ev(ALICE, "m.room.create", {"creator": ALICE}, "")}
    check_auth(member(ALICE, "join"), state)
    with pytest.raises(AuthError):
        check_auth(member(BOB, "join"), state)


def test_join_rules() -> None:
    with pytest.raises(AuthError):
        check_auth(member(BOB, "join"), room())
    check_auth(member(BOB, "join"), room(bob="invite"))
    check_auth(member(BOB, "join"), room("public"))
    with pytest.raises(AuthError):
        check_auth(member(BOB, "join"), room("public", bob="ban"))
    with pytest.raises(AuthError):
        check_auth(member(BOB, "join", sender=ALICE), room("public"))


def test_invites() -> None:
    check_auth(member(BOB, "invite", ALICE), room())
    with pytest.raises(AuthError):
        check_auth(member(BOB, "invite", EVE), room())  # eve is not in the room
    with pytest.raises(AuthError):
        check_auth(member(BOB, "invite", ALICE), room(bob="join"))
    with pytest.raises(AuthError):
        check_auth(member(BOB, "invite", ALICE), room(bob="ban"))


def test_leave_kick_ban_unban() -> None:
    check_auth(member(BOB, "leave"), room(bob="join"))
    with pytest.raises(AuthError):
        check_auth(member(BOB, "leave"), room())
    check_auth(member(BOB, "leave", ALICE), room(bob="join"))  # kick
    with pytest.raises(AuthError):
        check_auth(member(ALICE, "leave", BOB), room(bob="join"))  # bob is below alice
    check_auth(member(BOB, "ban", ALICE), room(bob="join"))
    with pytest.raises(AuthError):
        check_auth(member(ALICE, "ban", BOB), room(bob="join"))
    check_auth(member(BOB, "leave", ALICE), room(bob="ban"))  # unban


def test_messages_and_state_need_membership_and_levels() -> None:
    message = ev(BOB, "m.room.message", {"body": "hi"})
    check_auth(message, room(bob="join"))
    with pytest.raises(AuthError):
        check_auth(message, room())
    with pytest.raises(AuthError):
        check_auth(ev(BOB, "m.room.name", {"name": "x"}, ""), room(bob="join"))
    check_auth(ev(ALICE, "m.room.name", {"name": "x"}, ""), room())
    with pytest.raises(AuthError):
        check_auth(ev(ALICE, "m.custom", {}, BOB), room(bob="join"))  # bob's own state key


def test_power_level_changes() -> None:
    state = room(bob="join")
    levels = dict(state[("m.room.power_levels", "")]["content"])
    check_auth(ev(ALICE, "m.room.power_levels", {**levels, "users": {ALICE: 100, BOB: 50}}, ""),
               state)
    state[("m.room.power_levels", "")]["content"]["users"][BOB] = 100
    state[("m.room.power_levels", "")]["content"]["events"]["m.room.power_levels"] = 50
    with pytest.raises(AuthError):  # bob may not lower alice, who is at his own level
        check_auth(ev(BOB, "m.room.power_levels", {**levels, "users": {ALICE: 0, BOB: 100}},
                      ""), state)
    state[("m.room.power_levels", "")]["content"]["users"][BOB] = 50
    with pytest.raises(AuthError):  # nor grant more than he has
        check_auth(ev(BOB, "m.room.power_levels", {**levels, "users": {ALICE: 100, BOB: 75}},
                      ""), state)
    with pytest.raises(AuthError):  # v10: levels are integers
        check_auth(ev(ALICE, "m.room.power_levels", {**levels, "ban": "50"}, ""), room())


def test_helpers() -> None:
    assert power_level_of(ALICE, room()) == 100 and power_level_of(BOB, room()) == 0
    keys = auth_types_for_event(member(BOB, "join"))
    assert ("m.room.join_rules", "") in keys and ("m.room.member", BOB) in keys
    assert auth_types_for_event(ev(ALICE, "m.room.create", {}, "")) == []
