"""The spec's predefined push rules (v1.11 "Predefined rules"), as plain data.

Rules are in the spec's JSON form, built per user since some name the user.
The legacy mention rules (display name, user name, @room) are kept as the spec
still lists them; ``conditions.py`` skips them for events carrying ``m.mentions``.
"""

from __future__ import annotations

from typing import Any

KINDS = ("override", "content", "room", "sender", "underride")
LEGACY_MENTION_RULES = frozenset(
    {".m.rule.contains_display_name", ".m.rule.roomnotif", ".m.rule.contains_user_name"})

_SOUND = {"set_tweak": "sound", "value": "default"}
_RING = {"set_tweak": "sound", "value": "ring"}
_HIGHLIGHT = {"set_tweak": "highlight"}
_NO_HIGHLIGHT = {"set_tweak": "highlight", "value": False}


def _match(key: str, pattern: str) -> dict[str, Any]:
    return {"kind": "event_match", "key": key, "pattern": pattern}


def _rule(rule_id: str, conditions: list[dict[str, Any]], actions: list[Any],
          enabled: bool = True) -> dict[str, Any]:
    return {"rule_id": rule_id, "default": True, "enabled": enabled,
            "conditions": conditions, "actions": actions}


def _one_to_one(event_type: str, rule_id: str) -> dict[str, Any]:
    return _rule(rule_id, [{"kind": "room_member_count", "is": "2"}, _match("type", event_type)],
                 ["notify", _SOUND])


def default_rules(user_id: str) -> dict[str, list[dict[str, Any]]]:
    """The server's default ruleset for ``user_id``, kind by kind, in priority order."""
    override = [
        _rule(".m.rule.master", [], [], enabled=False),
        _rule(".m.rule.suppress_notices", [_match("content.msgtype", "m.notice")], []),
        _rule(".m.rule.invite_for_me",
              [_match("type", "m.room.member"), _match("content.membership", "invite"),
               _match("state_key", user_id)],
              ["notify", _SOUND, _NO_HIGHLIGHT]),
        _rule(".m.rule.member_event", [_match("type", "m.room.member")], []),
        _rule(".m.rule.is_user_mention",
              [{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids",
                "value": user_id}],
              ["notify", _SOUND, _HIGHLIGHT]),
        _rule(".m.rule.contains_display_name", [{"kind": "contains_display_name"}],
              ["notify", _SOUND, _HIGHLIGHT]),
        _rule(".m.rule.is_room_mention",
              [{"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
               {"kind": "sender_notification_permission", "key": "room"}],
              ["notify", _HIGHLIGHT]),
        _rule(".m.rule.roomnotif",
              [{"kind": "sender_notification_permission", "key": "room"},
               _match("content.body", "@room")],
              ["notify", _HIGHLIGHT]),
        _rule(".m.rule.tombstone",
              [_match("type", "m.room.tombstone"), _match("state_key", "")],
              ["notify", _HIGHLIGHT]),
        _rule(".m.rule.reaction", [_match("type", "m.reaction")], []),
        _rule(".m.rule.room.server_acl",
              [_match("type", "m.room.server_acl"), _match("state_key", "")], []),
        _rule(".m.rule.suppress_edits",
              [{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type",
                "value": "m.replace"}], []),
    ]
    content = [{"rule_id": ".m.rule.contains_user_name", "default": True, "enabled": True,
                "pattern": user_id[1:].split(":", 1)[0], "actions": ["notify", _SOUND, _HIGHLIGHT]}]
    underride = [
        _rule(".m.rule.call", [_match("type", "m.call.invite")], ["notify", _RING]),
        _one_to_one("m.room.encrypted", ".m.rule.encrypted_room_one_to_one"),
        _one_to_one("m.room.message", ".m.rule.room_one_to_one"),
        _rule(".m.rule.message", [_match("type", "m.room.message")], ["notify"]),
        _rule(".m.rule.encrypted", [_match("type", "m.room.encrypted")], ["notify"]),
    ]
    return {"override": override, "content": content, "room": [], "sender": [],
            "underride": underride}
