-- Relations between events (edits, reactions, threads, references) and the
-- full-text index of what clients search: both written in the event's own
-- transaction (homeserver/rooms/indexing.py) and dropped when it is redacted.

-- One row per event that names a parent in its content's m.relates_to. The
-- parent may not be here yet (another server's events can come out of order):
-- readers join on it, and only a parent in the same room counts.
CREATE TABLE event_relations (
    event_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    rel_type TEXT NOT NULL,
    sender TEXT NOT NULL,
    -- an m.annotation's key (the reaction); NULL for the other types
    aggregation_key TEXT
);
CREATE INDEX event_relations_parent ON event_relations (parent_id, rel_type);
CREATE INDEX event_relations_room ON event_relations (room_id, rel_type);
-- A user annotates an event with one key once (the spec's M_DUPLICATE_ANNOTATION).
CREATE UNIQUE INDEX event_relations_one_annotation
    ON event_relations (parent_id, sender, aggregation_key) WHERE rel_type = 'm.annotation';

-- The searchable text of messages, room names and topics: FTS5 with the
-- Porter stemmer (PostgreSQL uses the 'english' configuration likewise).
CREATE VIRTUAL TABLE event_search USING fts5(
    value, event_id UNINDEXED, room_id UNINDEXED, key UNINDEXED, stream_ordering UNINDEXED,
    tokenize = 'porter unicode61'
);

-- What was written before this upgrade: plain string bodies, names and topics
-- of events not redacted.
INSERT INTO event_search (value, event_id, room_id, key, stream_ordering)
    SELECT json_extract(pdu, '$.content.body'), event_id, room_id, 'content.body', stream_ordering
    FROM events WHERE type = 'm.room.message' AND redacted_by IS NULL AND json_valid(pdu)
    AND json_type(pdu, '$.content.body') = 'text';
INSERT INTO event_search (value, event_id, room_id, key, stream_ordering)
    SELECT json_extract(pdu, '$.content.name'), event_id, room_id, 'content.name', stream_ordering
    FROM events WHERE type = 'm.room.name' AND redacted_by IS NULL AND json_valid(pdu)
    AND json_type(pdu, '$.content.name') = 'text';
INSERT INTO event_search (value, event_id, room_id, key, stream_ordering)
    SELECT json_extract(pdu, '$.content.topic'), event_id, room_id, 'content.topic',
    stream_ordering
    FROM events WHERE type = 'm.room.topic' AND redacted_by IS NULL AND json_valid(pdu)
    AND json_type(pdu, '$.content.topic') = 'text';

-- Relations of what was written before this upgrade, by the rules of
-- homeserver/events/relations.py (malformed ones relate to nothing).
INSERT OR IGNORE INTO event_relations
    (event_id, room_id, parent_id, rel_type, sender, aggregation_key)
    SELECT event_id, room_id, parent, rel_type, sender,
        CASE WHEN rel_type = 'm.annotation' THEN rkey END
    FROM (SELECT event_id, room_id, sender,
            json_extract(pdu, '$.content."m.relates_to".rel_type') AS rel_type,
            json_type(pdu, '$.content."m.relates_to".rel_type') AS rel_type_type,
            json_extract(pdu, '$.content."m.relates_to".event_id') AS parent,
            json_type(pdu, '$.content."m.relates_to".event_id') AS parent_type,
            json_extract(pdu, '$.content."m.relates_to".key') AS rkey,
            json_type(pdu, '$.content."m.relates_to".key') AS rkey_type,
            json_type(pdu, '$.content."m.new_content"') AS new_content_type
          FROM events WHERE state_key IS NULL AND redacted_by IS NULL
          AND instr(pdu, '"m.relates_to"') > 0 AND json_valid(pdu)) AS candidates
    WHERE rel_type_type = 'text' AND length(rel_type) BETWEEN 1 AND 255
    AND parent_type = 'text' AND length(parent) BETWEEN 2 AND 255
    AND substr(parent, 1, 1) = '$' AND parent <> event_id
    AND (rel_type <> 'm.annotation' OR (rkey_type = 'text' AND length(rkey) BETWEEN 1 AND 1024))
    AND (rel_type <> 'm.replace' OR new_content_type = 'object')
