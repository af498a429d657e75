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
    AND json_type(pdu, '$.content.topic') = 'text'
