"""Push rules on both backends: the default ruleset, changing rules, and what they do to
/sync's notification and highlight counts, the DM list and /notifications."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.conftest import Account, Api, register

V3 = "/_matrix/client/v3"
DM = "/_matrix/client/unstable/dm"
RULES = f"{V3}/pushrules/global"


async def counts(api: Api, who: Account, room: str) -> tuple[int, int]:
    synced = await api.sync(who)
    unread = synced["rooms"]["join"][room]["unread_notifications"]
    return unread["notification_count"], unread["highlight_count"]


async def send(api: Api, who: Account, room: str, content: dict[str, Any]) -> str:
    path = f"{V3}/rooms/{room}/send/m.room.message/{secrets.token_hex(6)}"
    return (await api.call("PUT", path, who, content))["event_id"]


async def group(api: Api, *names: str) -> tuple[list[Account], str]:
    """Users (the first creates the room) all joined to one room of three or more."""
    users = [await register(api.client, name) for name in names]
    room = await api.create_room(users[0], invite=[u.user_id for u in users[1:]])
    for user in users[1:]:
        await api.join(user, room)
    return users, room


async def test_default_ruleset_has_the_spec_shape(api: Api) -> None:
    alice = await register(api.client, "alice")
    rules = (await api.call("GET", f"{V3}/pushrules/", alice))["global"]
    assert set(rules) == {"override", "content", "room", "sender", "underride"}
    override = [r["rule_id"] for r in rules["override"]]
    assert override == [
        ".m.rule.master", ".m.rule.suppress_notices", ".m.rule.invite_for_me",
        ".m.rule.member_event", ".m.rule.is_user_mention", ".m.rule.contains_display_name",
        ".m.rule.is_room_mention", ".m.rule.roomnotif", ".m.rule.tombstone",
        ".m.rule.reaction", ".m.rule.room.server_acl", ".m.rule.suppress_edits"]
    assert [r["rule_id"] for r in rules["underride"]] == [
        ".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one",
        ".m.rule.message", ".m.rule.encrypted"]
    assert rules["content"] == [{
        "rule_id": ".m.rule.contains_user_name", "default": True, "enabled": True,
        "pattern": "alice",
        "actions": ["notify", {"set_tweak": "sound", "value": "default"},
                    {"set_tweak": "highlight"}]}]
    master = rules["override"][0]
    assert master == {"rule_id": ".m.rule.master", "default": True, "enabled": False,
                      "conditions": [], "actions": []}
    mention = rules["override"][4]
    assert mention["conditions"] == [{"kind": "event_property_contains",
                                      "key": "content.m\\.mentions.user_ids",
                                      "value": alice.user_id}]
    assert await api.call("GET", f"{RULES}/", alice) == rules
    assert await api.call("GET", f"{V3}/pushrules", alice) == {"global": rules}
    # matrix-js-sdk reads the rules from the initial sync's account data
    synced = await api.sync(alice)
    pushed = [e for e in synced["account_data"]["events"] if e["type"] == "m.push_rules"]
    assert pushed == [{"type": "m.push_rules", "content": {"global": rules}}]
    one = await api.call("GET", f"{RULES}/underride/.m.rule.message", alice)
    assert one == rules["underride"][3]
    assert await api.call("GET", f"{RULES}/override/.m.rule.master/enabled", alice) == {
        "enabled": False}
    assert await api.call("GET", f"{RULES}/underride/.m.rule.message/actions", alice) == {
        "actions": ["notify"]}


async def test_dm_messages_count_and_a_receipt_clears_them(api: Api) -> None:
    alice, bob = await register(api.client, "alice"), await register(api.client, "bob")
    room = (await api.call("POST", f"{DM}/{bob.user_id}", alice))["room_id"]
    await api.join(bob, room)
    await api.send(alice, room, "one")
    last = await api.send(alice, room, "two")
    await send(api, alice, room, {"msgtype": "m.notice", "body": "a bot says"})
    assert await counts(api, bob, room) == (2, 0)  # notices are suppressed
    assert await counts(api, alice, room) == (0, 0)  # never for your own messages
    listing = (await api.call("GET", DM, bob))["dms"]
    assert (listing[0]["unread_count"], listing[0]["highlight_count"]) == (2, 0)
    await api.call("POST", f"{V3}/rooms/{room}/receipt/m.read.private/{last}", bob, {})
    assert await counts(api, bob, room) == (0, 0)
    assert (await api.call("GET", DM, bob))["dms"][0]["unread_count"] == 0


async def test_disabling_and_enabling_a_rule_changes_counts_and_syncs(api: Api) -> None:
    (alice, bob, carol), room = await group(api, "alice", "bob", "carol")
    token = (await api.sync(bob))["next_batch"]
    await api.call("PUT", f"{RULES}/underride/.m.rule.message/enabled", bob,
                   {"enabled": False})
    changed = await api.sync(bob, token)
    rules = [e for e in changed["account_data"]["events"] if e["type"] == "m.push_rules"]
    message = [r for r in rules[0]["content"]["global"]["underride"]
               if r["rule_id"] == ".m.rule.message"]
    assert message[0]["enabled"] is False
    await api.send(alice, room, "quiet")
    assert await counts(api, bob, room) == (0, 0)
    assert await counts(api, carol, room) == (1, 0)
    await api.call("PUT", f"{RULES}/underride/.m.rule.message/enabled", bob, {"enabled": True})
    await api.send(alice, room, "heard")
    assert await counts(api, bob, room) == (1, 0)
    # actions of a default rule can change too: every message highlights for bob
    await api.call("PUT", f"{RULES}/underride/.m.rule.message/actions", bob,
                   {"actions": ["notify", {"set_tweak": "highlight", "value": True}]})
    await api.send(alice, room, "loud")
    assert await counts(api, bob, room) == (2, 1)


async def test_a_room_rule_mutes_and_an_override_rule_highlights(api: Api) -> None:
    (alice, bob, _), room = await group(api, "alice", "bob", "carol")
    await api.call("PUT", f"{RULES}/room/{room}", bob, {"actions": []})
    await api.send(alice, room, "muted")
    assert await counts(api, bob, room) == (0, 0)
    await api.call("DELETE", f"{RULES}/room/{room}", bob)
    await api.call("PUT", f"{RULES}/override/deploys", bob, {
        "conditions": [{"kind": "event_match", "key": "content.body", "pattern": "deploy*"}],
        "actions": ["notify", {"set_tweak": "highlight"}]})
    await api.send(alice, room, "we deployed it")
    await api.send(alice, room, "nothing to see")
    assert await counts(api, bob, room) == (2, 1)
    rules = (await api.call("GET", f"{V3}/pushrules/", bob))["global"]["override"]
    # user rules come after the master rule and before the other defaults
    assert [r["rule_id"] for r in rules[:3]] == [
        ".m.rule.master", "deploys", ".m.rule.suppress_notices"]
    assert rules[1]["default"] is False and rules[1]["enabled"] is True


async def test_mentions_highlight(api: Api) -> None:
    alice = await register(api.client, "alice")
    bob = await register(api.client, "bob")
    carol = await register(api.client, "carol")
    await api.call("PUT", f"{V3}/profile/{bob.user_id}/displayname", bob,
                   {"displayname": "Bobby Tables"})
    room = await api.create_room(alice, invite=[bob.user_id, carol.user_id])
    await api.join(bob, room)
    await api.join(carol, room)
    await send(api, alice, room, {"msgtype": "m.text", "body": "hey",
                                  "m.mentions": {"user_ids": [bob.user_id]}})
    assert await counts(api, bob, room) == (1, 1)
    assert await counts(api, carol, room) == (1, 0)
    await send(api, alice, room, {"msgtype": "m.text", "body": "ask bobby tables!"})
    await send(api, alice, room, {"msgtype": "m.text", "body": "ask bobby tablesx"})
    assert await counts(api, bob, room) == (3, 2)  # display name at word boundaries only
    await send(api, alice, room, {"msgtype": "m.text", "body": "hi carol"})  # user name
    assert await counts(api, carol, room) == (4, 1)
    # @room needs the power level notifications.room asks (50): alice has 100
    await send(api, alice, room, {"msgtype": "m.text", "body": "all",
                                  "m.mentions": {"room": True}})
    assert await counts(api, carol, room) == (5, 2)
    await send(api, bob, room, {"msgtype": "m.text", "body": "all",
                                "m.mentions": {"room": True}})
    assert await counts(api, carol, room) == (6, 2)  # bob has 0: no highlight
    # an edit is suppressed (the last override: a legacy name mention still wins)
    await send(api, alice, room, {"msgtype": "m.text", "body": "* all fixed",
                                  "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}})
    assert await counts(api, carol, room) == (6, 2)


async def test_notifications_list(api: Api) -> None:
    (alice, bob, _), room = await group(api, "alice", "bob", "carol")
    first = await api.send(alice, room, "first")
    await send(api, alice, room, {"msgtype": "m.text", "body": "b",
                                  "m.mentions": {"user_ids": [bob.user_id]}})
    third = await api.send(alice, room, "third")
    await api.call("POST", f"{V3}/rooms/{room}/receipt/m.read/{first}", bob, {})
    page = await api.call("GET", f"{V3}/notifications?limit=2", bob)
    assert page["notifications"][0]["event"]["event_id"] == third
    newest = page["notifications"][0]
    assert set(newest) == {"actions", "event", "profile_tag", "read", "room_id", "ts"}
    assert newest["room_id"] == room and newest["read"] is False
    assert newest["actions"] == ["notify"] and isinstance(newest["ts"], int)
    assert newest["event"]["content"]["body"] == "third"
    rest = await api.call("GET", f"{V3}/notifications?limit=2&from={page['next_token']}", bob)
    assert rest["notifications"][0]["event"]["event_id"] == first
    invite = rest["notifications"][1]["event"]  # the invite notified bob too
    assert (invite["type"], invite["content"]["membership"]) == ("m.room.member", "invite")
    assert [n["read"] for n in rest["notifications"]] == [True, True]
    end = await api.call("GET", f"{V3}/notifications?from={rest['next_token']}", bob)
    assert end == {"notifications": []}
    highlights = await api.call("GET", f"{V3}/notifications?only=highlight", bob)
    assert [n["event"]["content"]["body"] for n in highlights["notifications"]] == ["b"]
    assert (await api.call("GET", f"{V3}/notifications", alice))["notifications"] == []


async def test_rule_placement_and_deletion(api: Api) -> None:
    alice = await register(api.client, "alice")

    async def put(rule_id: str, status: int = 200, **query: str) -> Any:
        params = "&".join(f"{k}={v}" for k, v in query.items())
        return await api.call("PUT", f"{RULES}/content/{rule_id}?{params}", alice,
                              {"pattern": rule_id, "actions": ["notify"]}, status=status)

    async def order() -> list[str]:
        rules = (await api.call("GET", f"{V3}/pushrules/", alice))["global"]["content"]
        return [r["rule_id"] for r in rules]

    await put("a")
    await put("b", after="a")
    await put("c", before="a")
    assert await order() == ["c", "a", "b", ".m.rule.contains_user_name"]
    await put("d")  # no anchor: first
    assert (await order())[0] == "d"
    assert (await put("e", 404, after="nope"))["errcode"] == "M_NOT_FOUND"
    error = await put("e", 400, after=".m.rule.contains_user_name")
    assert error["errcode"] == "M_INVALID_PARAM"
    await api.call("PUT", f"{RULES}/content/a/enabled", alice, {"enabled": False})
    await put("a", after="b")  # replaced and moved, keeping its enabled flag
    assert await order() == ["d", "c", "b", "a", ".m.rule.contains_user_name"]
    assert (await api.call("GET", f"{RULES}/content/a", alice))["enabled"] is False
    await api.call("DELETE", f"{RULES}/content/c", alice)
    assert "c" not in await order()
    missing = await api.call("DELETE", f"{RULES}/content/c", alice, status=404)
    assert missing["errcode"] == "M_NOT_FOUND"
    default = await api.call("DELETE", f"{RULES}/override/.m.rule.master", alice, status=403)
    assert default["errcode"] == "M_FORBIDDEN"


async def test_rules_are_each_users_own(api: Api) -> None:
    """Attack: one user's changes never reach another user's rules."""
    alice, mallory = await register(api.client, "alice"), await register(api.client, "mallory")
    await api.call("PUT", f"{RULES}/override/.m.rule.master/enabled", mallory,
                   {"enabled": True})
    await api.call("PUT", f"{RULES}/override/mine", mallory,
                   {"conditions": [], "actions": []})
    assert (await api.call("GET", f"{RULES}/override/.m.rule.master", alice))["enabled"] is False
    await api.call("GET", f"{RULES}/override/mine", alice, status=404)
    await api.call("DELETE", f"{RULES}/override/mine", alice, status=404)
    await api.call("GET", f"{V3}/pushrules/", None, status=401)


TOO_MANY = [{"kind": "event_match", "key": "type", "pattern": "x"}] * 17


@pytest.mark.parametrize(("method", "path", "body", "errcode"), [
    ("GET", "/pushrules/device/override/x", None, "M_INVALID_PARAM"),
    ("GET", "/pushrules/global/sideways/x", None, "M_INVALID_PARAM"),
    ("GET", "/pushrules/global/override/unknown", None, "M_NOT_FOUND"),
    ("GET", "/pushrules/global/override/.m.rule.master/colour", None, "M_UNRECOGNIZED"),
    ("PUT", "/pushrules/global/override/x", {"actions": "notify"}, "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/x", {"actions": ["explode"]}, "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/x", {"actions": ["notify"] * 9}, "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/x", {"actions": [{"set_tweak": "x" * 300}]},
     "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/x", {}, "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/x", {"actions": [], "conditions": TOO_MANY},
     "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/x", {"actions": [], "conditions": [{"key": "a"}]},
     "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/x",
     {"actions": [], "conditions": [{"kind": "event_match", "key": 7}]}, "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/x",
     {"actions": [], "conditions": [{"kind": "event_match", "pattern": "p" * 2000}]},
     "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/.m.rule.mine", {"actions": []}, "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/" + "r" * 256, {"actions": []}, "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/content/x", {"actions": []}, "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/content/x", {"actions": [], "pattern": "p" * 256},
     "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/room/not-a-room", {"actions": []}, "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/sender/nobody", {"actions": []}, "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/x?before=a&after=b", {"actions": []},
     "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/x", [1], "M_BAD_JSON"),
    ("PUT", "/pushrules/global/override/.m.rule.master/enabled", {"enabled": "yes"},
     "M_BAD_JSON"),
    ("PUT", "/pushrules/global/override/.m.rule.master/enabled", {}, "M_BAD_JSON"),
    ("PUT", "/pushrules/global/override/.m.rule.master/actions", {}, "M_MISSING_PARAM"),
    ("PUT", "/pushrules/global/override/.m.rule.master/actions", {"actions": {"a": 1}},
     "M_INVALID_PARAM"),
    ("PUT", "/pushrules/global/override/nope/enabled", {"enabled": True}, "M_NOT_FOUND"),
    ("GET", "/notifications?limit=0", None, "M_INVALID_PARAM"),
    ("GET", "/notifications?limit=1000", None, "M_INVALID_PARAM"),
    ("GET", "/notifications?from=abc", None, "M_INVALID_PARAM"),
    ("GET", "/notifications?only=everything", None, "M_INVALID_PARAM"),
])
async def test_bad_push_rule_input(api: Api, method: str, path: str, body: Any,
                                   errcode: str) -> None:
    alice = await register(api.client, "alice")
    resp = await api.client.request(method, V3 + path, json=body, headers=alice.auth)
    data = await resp.json()
    assert resp.status in (400, 403, 404), (resp.status, data)
    assert data["errcode"] == errcode, data
