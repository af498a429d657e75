"""What an event says about its relations, and what of its text is searchable: pure functions.

An event relates to another through ``content["m.relates_to"]``: a
``rel_type``, the parent's ``event_id`` and, for an ``m.annotation``, the
``key``. Anything malformed or beyond the bounds below is no relation at
all: the event is stored as sent, it just relates to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REPLACE, ANNOTATION, THREAD, REFERENCE = "m.replace", "m.annotation", "m.thread", "m.reference"
# The spec bounds event IDs and event types at 255 bytes; a rel_type is a namespaced name too.
MAX_ID_LENGTH = 255
# A reaction is an emoji or a few words; a key longer than this is not one.
MAX_KEY_LENGTH = 1024
# What each searchable event type holds in its content: the key the client names, the field.
SEARCH_FIELDS = {"m.room.message": ("content.body", "body"),
                 "m.room.name": ("content.name", "name"),
                 "m.room.topic": ("content.topic", "topic")}
# A message body is at most an event (64 KiB); this only guards the indexer.
MAX_SEARCH_TEXT = 65_536


@dataclass(frozen=True)
class Relation:
    rel_type: str
    parent_id: str
    key: str | None = None


def _short_string(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


def relation_of(pdu: dict[str, Any], event_id: str) -> Relation | None:
    """The relation an event declares, or None if it declares none or a malformed one.

    State events relate to nothing here: no aggregation the spec defines applies to them.
    """
    content = pdu.get("content")
    if "state_key" in pdu or not isinstance(content, dict):
        return None
    relates = content.get("m.relates_to")
    if not isinstance(relates, dict):
        return None
    rel_type, parent = relates.get("rel_type"), relates.get("event_id")
    if not (_short_string(rel_type, MAX_ID_LENGTH) and _short_string(parent, MAX_ID_LENGTH)):
        return None
    if not parent.startswith("$") or parent == event_id:
        return None
    if (rel_type == REPLACE and pdu.get("type") != "m.room.encrypted"
            and not isinstance(content.get("m.new_content"), dict)):
        # The spec's rule: an edit without new content replaces nothing. An encrypted
        # edit carries it inside the ciphertext; only its relation is in the clear.
        return None
    if rel_type != ANNOTATION:
        return Relation(rel_type, parent)
    key = relates.get("key")
    if not _short_string(key, MAX_KEY_LENGTH):
        return None
    return Relation(rel_type, parent, key)


def searchable_text(pdu: dict[str, Any]) -> tuple[str, str] | None:
    """(key, text) of an event the search index holds, or None."""
    fields = SEARCH_FIELDS.get(pdu.get("type", ""))
    content = pdu.get("content")
    if fields is None or not isinstance(content, dict):
        return None
    if pdu["type"] != "m.room.message" and pdu.get("state_key") != "":
        return None
    text = content.get(fields[1])
    if not isinstance(text, str) or not text.strip():
        return None
    # PostgreSQL's text cannot hold NUL; nobody searches for one.
    return fields[0], text[:MAX_SEARCH_TEXT].replace("\x00", " ")
