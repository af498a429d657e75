"""Room version 10 authorization rules (homeserver.events.auth_rules): pure, no server."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.events.auth_rules import (
    AuthError,
    auth_state_from_auth_events,
    auth_types_for_event,
    check_auth,
    check_redaction,
    membership_of,
    named_level,
    power_level_of,
    required_level_for,
)
from homeserver.events.hashing import compute_event_id

ROOM = "!room:a.example"
ALICE, BOB, CAROL, MALLORY = "@alice:a.example", "@bob:a.example", "@carol:a.example", \
    "@mallory:b.example"
State = dict[tuple[str, str], dict[str, Any]]


def ev(sender: str, event_type: str, content: dict[str, Any], state_key: str | None = None,
       **extra: Any) -> dict[str, Any]:
    event = {"room_id": ROOM, "sender": sender, "type": event_type, "content": content,
             "prev_events": ["$prev"], "depth": 5, "origin_server_ts": 0, **extra}
    if state_key is not None:
        event["state_key"] = state_key
    return event


def create_event(**content: Any) -> dict[str, Any]:
    return ev(ALICE, "m.room.create", {"creator": ALICE, "room_version": "10", **content}, "",
              prev_events=[], depth=1)


def member(user: str, membership: str, sender: str | None = None,
           **content: Any) -> dict[str, Any]:
    return ev(sender or user, "m.room.member", {"membership": membership, **content}, user)


def levels(**overrides: Any) -> dict[str, Any]:
    content = {"users": {ALICE: 100, BOB: 50}, "users_default": 0, "events_default": 0,
               "state_default": 50, "ban": 50, "kick": 50, "invite": 0, "redact": 50,
               "events": {"m.room.power_levels": 100}}
    return ev(ALICE, "m.room.power_levels", {**content, **overrides}, "")


def room(join_rule: str | None = "invite", power: dict[str, Any] | None = None,
         **memberships: str) -> State:
    """A room made by Alice (joined); BOB is a moderator (50) in the default levels."""
    state: State = {("m.room.create", ""): create_event(),
                    ("m.room.member", ALICE): member(ALICE, "join")}
    if power is not None:
        state[("m.room.power_levels", "")] = power
    if join_rule is not None:
        state[("m.room.join_rules", "")] = ev(ALICE, "m.room.join_rules",
                                              {"join_rule": join_rule}, "")
    for name, membership in memberships.items():
        user = f"@{name}:a.example" if name != "mallory" else MALLORY
        state[("m.room.member", user)] = member(user, membership)
    return state


def allowed(event: dict[str, Any], state: State) -> bool:
    try:
        check_auth(event, state)
    except AuthError:
        return False
    return True


def rejects(event: dict[str, Any], state: State, match: str | None = None) -> None:
    with pytest.raises(AuthError, match=match):
        check_auth(event, state)


# --- m.room.create ----------------------------------------------------------------------


def test_valid_create_is_allowed() -> None:
    assert allowed(create_event(), {})


@pytest.mark.parametrize("change, reason", [
    ({"prev_events": ["$earlier"]}, "prev_events"),
    ({"room_id": "!room:b.example"}, "domain"),
    ({"content": {"room_version": "10"}}, "creator"),
    ({"content": {"creator": ALICE, "room_version": "9"}}, "room version"),
    ({"content": {"creator": ALICE}}, "room version"),
])
def test_invalid_create_is_rejected(change: dict[str, Any], reason: str) -> None:
    rejects({**create_event(), **change}, {}, reason)


def test_create_must_be_first() -> None:
    rejects({**create_event(), "origin_server_ts": 99}, room(), "already has")


def test_other_events_need_a_create_event() -> None:
    rejects(member(ALICE, "join"), {}, r"no m\.room\.create")


# --- joins --------------------------------------------------------------------------------


def test_creator_joins_right_after_create() -> None:
    create = create_event()
    state: State = {("m.room.create", ""): create}
    join = {**member(ALICE, "join"), "prev_events": [compute_event_id(create)]}
    assert allowed(join, state)
    with_id: State = {("m.room.create", ""): {**create, "event_id": "$c"}}
    assert allowed({**join, "prev_events": ["$c"]}, with_id)


def test_creator_shortcut_needs_create_as_only_prev_event() -> None:
    create = create_event()
    state: State = {("m.room.create", ""): create}
    rejects({**member(ALICE, "join"), "prev_events": ["$other"]}, state, "join rule")
    rejects({**member(BOB, "join"), "prev_events": [compute_event_id(create)]}, state,
            "join rule")


def test_join_invite_only_room_needs_invite() -> None:
    rejects(member(BOB, "join"), room("invite"), "join rule 'invite'")
    assert allowed(member(BOB, "join"), room("invite", bob="invite"))


def test_join_without_join_rules_event_means_invite() -> None:
    rejects(member(BOB, "join"), room(None), "join rule 'invite'")


def test_join_public_room() -> None:
    assert allowed(member(BOB, "join"), room("public"))
    assert allowed(member(BOB, "join"), room("public", bob="leave"))


def test_banned_user_cannot_join() -> None:
    rejects(member(BOB, "join"), room("public", bob="ban"), "banned")
    rejects(member(BOB, "join"), room("invite", bob="ban"), "banned")


def test_cannot_join_someone_else() -> None:
    rejects(member(BOB, "join", sender=ALICE), room("public"), "only join themselves")


def test_restricted_join_needs_invite_or_authorising_user() -> None:
    state = room("restricted", levels(), bob="join")
    rejects(member(CAROL, "join"), state, "authorising")
    assert allowed(member(CAROL, "join"), room("restricted", carol="invite"))
    authorised = member(CAROL, "join", join_authorised_via_users_server=BOB)
    assert allowed(authorised, state)
    rejects(authorised, room("restricted", levels()), "may not invite")  # Bob is not joined
    rejects(authorised, room("restricted", levels(invite=75), bob="join"), "may not invite")


def test_knock() -> None:
    assert allowed(member(BOB, "knock"), room("knock"))
    assert allowed(member(BOB, "knock"), room("knock_restricted"))
    rejects(member(BOB, "knock"), room("invite"), "knocking")
    rejects(member(BOB, "knock"), room("knock", bob="ban"), "may not knock")
    assert allowed(member(BOB, "join"), room("knock", bob="invite"))


def test_federation_can_be_disabled() -> None:
    state = room("public")
    state[("m.room.create", "")] = create_event(**{"m.federate": False})
    rejects(member(MALLORY, "join"), state, "federate")
    assert allowed(member(BOB, "join"), state)


# --- invites ----------------------------------------------------------------------------


def test_invite_by_member_with_invite_level() -> None:
    assert allowed(member(CAROL, "invite", sender=BOB), room(power=levels(), bob="join"))


def test_invite_needs_invite_level() -> None:
    state = room(power=levels(invite=50), bob="join", carol="join")
    rejects(member(MALLORY, "invite", sender=CAROL), state, "invite level")
    assert allowed(member(MALLORY, "invite", sender=BOB), state)


def test_invite_needs_joined_inviter() -> None:
    rejects(member(CAROL, "invite", sender=BOB), room(bob="invite"), "not joined")


def test_invite_target_must_not_be_joined_or_banned() -> None:
    rejects(member(BOB, "invite", sender=ALICE), room(bob="join"), "already joined")
    rejects(member(BOB, "invite", sender=ALICE), room(bob="ban"), "banned")
    assert allowed(member(BOB, "invite", sender=ALICE), room(bob="leave"))


def test_third_party_invites_are_unsupported() -> None:
    invite = member(BOB, "invite", sender=ALICE,
                    third_party_invite={"signed": {"mxid": BOB, "token": "t"}})
    rejects(invite, room(), "third-party")


# --- leave, kick, ban, unban ------------------------------------------------------------


def test_leave_by_self() -> None:
    assert allowed(member(BOB, "leave"), room(bob="join"))
    assert allowed(member(BOB, "leave"), room(bob="invite"))  # rejecting an invite
    rejects(member(BOB, "leave"), room(), "not in the room")
    rejects(member(BOB, "leave"), room(bob="ban"), "not in the room")


def test_kick_needs_kick_level_and_higher_level_than_target() -> None:
    state = room(power=levels(), bob="join", carol="join")
    assert allowed(member(CAROL, "leave", sender=BOB), state)
    rejects(member(BOB, "leave", sender=CAROL), state, "kick level")
    state[("m.room.power_levels", "")] = levels(users={ALICE: 100, BOB: 50, CAROL: 50})
    rejects(member(CAROL, "leave", sender=BOB), state, "not below")


def test_kick_needs_joined_sender() -> None:
    rejects(member(CAROL, "leave", sender=BOB), room(power=levels(), bob="invite",
                                                    carol="join"), "not joined")


def test_ban() -> None:
    state = room(power=levels(), bob="join", carol="join")
    assert allowed(member(CAROL, "ban", sender=BOB), state)
    assert allowed(member(MALLORY, "ban", sender=BOB), state)  # not in the room yet
    rejects(member(BOB, "ban", sender=CAROL), state, "ban level")
    rejects(member(ALICE, "ban", sender=BOB), state, "not below")


def test_unban_needs_ban_and_kick_levels() -> None:
    unban = member(CAROL, "leave", sender=BOB)
    assert allowed(unban, room(power=levels(), bob="join", carol="ban"))
    rejects(unban, room(power=levels(ban=75, kick=0), bob="join", carol="ban"), "ban level")
    rejects(unban, room(power=levels(ban=0, kick=75), bob="join", carol="ban"), "kick level")


def test_unknown_membership_rejected() -> None:
    rejects(member(BOB, "wander"), room("public"), "unknown membership")
    rejects(ev(BOB, "m.room.member", {}, BOB), room("public"), "membership")


# --- ordinary events --------------------------------------------------------------------


def test_non_member_cannot_send() -> None:
    message = ev(BOB, "m.room.message", {"body": "hi"})
    rejects(message, room("public"), "not joined")
    rejects(message, room(bob="invite"), "not joined")
    assert allowed(message, room(bob="join"))


def test_message_needs_events_default() -> None:
    state = room(power=levels(events_default=10), bob="join", carol="join")
    rejects(ev(CAROL, "m.room.message", {"body": "hi"}), state, "too low")
    assert allowed(ev(BOB, "m.room.message", {"body": "hi"}), state)
    assert required_level_for(ev(CAROL, "m.room.message", {}), state) == 10


def test_state_event_needs_state_default() -> None:
    state = room(power=levels(), bob="join", carol="join")
    topic = {"topic": "hello"}
    rejects(ev(CAROL, "m.room.topic", topic, ""), state, "too low")
    assert allowed(ev(BOB, "m.room.topic", topic, ""), state)
    assert required_level_for(ev(CAROL, "m.room.topic", topic, ""), state) == 50
    power = levels()
    del power["content"]["state_default"]
    assert required_level_for(ev(CAROL, "m.room.topic", topic, ""), room(power=power)) == 50


def test_events_levels_override_defaults() -> None:
    state = room(power=levels(events={"m.room.topic": 0, "m.reaction": 60}), carol="join",
                 bob="join")
    assert allowed(ev(CAROL, "m.room.topic", {"topic": "x"}, ""), state)
    rejects(ev(BOB, "m.reaction", {}), state, "too low")


def test_without_power_levels_creator_has_100_others_0_and_state_default_0() -> None:
    state = room(bob="join")
    assert power_level_of(ALICE, state) == 100
    assert power_level_of(BOB, state) == 0
    assert named_level("state_default", state) == 0
    assert named_level("ban", state) == 50
    assert allowed(ev(BOB, "m.room.topic", {"topic": "x"}, ""), state)
    rejects(member(ALICE, "ban", sender=BOB), state, "ban level")
    assert allowed(member(BOB, "ban", sender=ALICE), state)


def test_state_key_naming_another_user_rejected() -> None:
    state = room(power=levels(), bob="join")
    rejects(ev(BOB, "org.example.status", {}, ALICE), state, "state key")
    assert allowed(ev(ALICE, "org.example.status", {}, ALICE), state)


def test_third_party_invite_event_needs_invite_level() -> None:
    state = room(power=levels(invite=50), bob="join", carol="join")
    assert allowed(ev(BOB, "m.room.third_party_invite", {}, "token"), state)
    rejects(ev(CAROL, "m.room.third_party_invite", {}, "token"), state, "invite level")


# --- m.room.power_levels -------------------------------------------------------------------


def pl_change(sender: str, **content: Any) -> dict[str, Any]:
    return {**levels(**content), "sender": sender}


def test_first_power_levels_event_is_allowed() -> None:
    assert allowed(pl_change(ALICE, users={ALICE: 100, BOB: 100}), room())


def test_admin_may_change_levels() -> None:
    state = room(power=levels(), bob="join")
    assert allowed(pl_change(ALICE, users={ALICE: 100, BOB: 0}, ban=100), state)


def test_cannot_grant_above_own_level() -> None:
    state = room(power=levels(events={}), bob="join")
    rejects(pl_change(BOB, users={ALICE: 100, BOB: 50, CAROL: 75}, events={}), state,
            "above your own")
    rejects(pl_change(BOB, users={ALICE: 100, BOB: 60}, events={}), state, "above your own")
    rejects(pl_change(BOB, events={}, kick=60), state, "above your own")
    rejects(pl_change(BOB, events={"m.room.name": 60}), state, "above your own")
    assert allowed(pl_change(BOB, users={ALICE: 100, BOB: 50, CAROL: 50}, events={}), state)


def test_cannot_change_user_at_or_above_own_level() -> None:
    state = room(power=levels(users={ALICE: 100, BOB: 50, CAROL: 50}, events={}), bob="join")
    rejects(pl_change(BOB, users={ALICE: 100, BOB: 50, CAROL: 0}, events={}), state,
            "at or above")
    rejects(pl_change(BOB, users={ALICE: 100, BOB: 50}, events={}), state, "at or above")
    assert allowed(pl_change(BOB, users={ALICE: 100, BOB: 10, CAROL: 50}, events={}), state)


def test_cannot_change_levels_currently_above_own() -> None:
    state = room(power=levels(events={"m.room.tombstone": 100}), bob="join")
    state[("m.room.power_levels", "")]["content"]["events"]["m.room.power_levels"] = 50
    rejects(pl_change(BOB, events={"m.room.power_levels": 50}), state, "current level")
    rejects(pl_change(BOB, events={"m.room.tombstone": 100, "m.room.power_levels": 50},
                      ban=100), state, "cannot set ban")


@pytest.mark.parametrize("content", [
    {"ban": "50"},
    {"users_default": 1.5},
    {"kick": True},
    {"events": {"m.room.name": "50"}},
    {"events": ["m.room.name"]},
    {"notifications": {"room": "50"}},
    {"users": {ALICE: "100"}},
    {"users": {"alice": 100}},
    {"users": {ALICE: 2**60}},
])
def test_non_integer_power_levels_rejected(content: dict[str, Any]) -> None:
    rejects(pl_change(ALICE, **content), room(power=levels()), "must|user IDs")
    rejects(pl_change(ALICE, **content), room(), "must|user IDs")


def test_malformed_stored_levels_are_an_auth_error() -> None:
    state = room(power=levels(users={ALICE: "100"}), bob="join")
    rejects(ev(ALICE, "m.room.message", {}), state, "malformed")


# --- redactions ---------------------------------------------------------------------------


def test_redaction() -> None:
    state = room(power=levels(), bob="join", carol="join")
    original = {**ev(CAROL, "m.room.message", {"body": "x"}), "event_id": "$orig"}
    by = {name: ev(user, "m.room.redaction", {}, redacts="$orig")
          for name, user in (("mod", BOB), ("self", CAROL))}
    check_auth(by["mod"], state, redacted_event=original)
    check_auth(by["self"], state, redacted_event=original)
    check_redaction(by["self"], original, state, require_same_sender=True)
    with pytest.raises(AuthError, match="may not redact"):
        check_redaction({**by["self"], "sender": CAROL}, {**original, "sender": ALICE}, state,
                        require_same_sender=True)
    remote = {**original, "sender": MALLORY}
    with pytest.raises(AuthError, match="may not redact"):
        check_auth(by["self"], state, redacted_event=remote)
    check_auth(by["self"], state)  # without the original: allowed, the caller checks later
    with pytest.raises(AuthError, match="names"):
        check_redaction(by["mod"], {**original, "event_id": "$other"}, state)


def test_redaction_needs_send_level() -> None:
    state = room(power=levels(events={"m.room.redaction": 60}), bob="join")
    rejects(ev(BOB, "m.room.redaction", {}, redacts="$x"), state, "too low")


# --- auth events selection ----------------------------------------------------------------


def test_auth_types_for_event() -> None:
    assert auth_types_for_event(create_event()) == []
    assert auth_types_for_event(ev(BOB, "m.room.message", {})) == [
        ("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.member", BOB)]
    assert auth_types_for_event(member(CAROL, "invite", sender=BOB)) == [
        ("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.member", BOB),
        ("m.room.member", CAROL), ("m.room.join_rules", "")]
    assert auth_types_for_event(member(BOB, "join")) == [
        ("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.member", BOB),
        ("m.room.join_rules", "")]
    assert auth_types_for_event(member(CAROL, "leave", sender=BOB))[-1] == (
        "m.room.member", CAROL)
    assert ("m.room.member", ALICE) in auth_types_for_event(
        member(BOB, "join", join_authorised_via_users_server=ALICE))


def test_auth_state_from_auth_events() -> None:
    state = room(power=levels(), bob="join")
    message = ev(BOB, "m.room.message", {})
    wanted = [state[key] for key in auth_types_for_event(message) if key in state]
    assert set(auth_state_from_auth_events(message, wanted)) == set(
        auth_types_for_event(message))
    with pytest.raises(AuthError, match="duplicate"):
        auth_state_from_auth_events(message, [*wanted, state[("m.room.create", "")]])
    with pytest.raises(AuthError, match="should reference"):
        auth_state_from_auth_events(message, [*wanted, state[("m.room.join_rules", "")]])
    with pytest.raises(AuthError, match=r"no m\.room\.create"):
        auth_state_from_auth_events(message, wanted[1:])


def test_membership_of_defaults_to_leave() -> None:
    assert membership_of(CAROL, room()) == "leave"
    assert membership_of(ALICE, room()) == "join"
