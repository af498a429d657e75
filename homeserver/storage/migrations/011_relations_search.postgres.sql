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

-- The searchable text of messages, room names and topics as a tsvector in the
-- 'english' configuration (SQLite uses FTS5 with the Porter stemmer likewise).
CREATE TABLE event_search (
    event_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    key TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    vector TSVECTOR NOT NULL
);
CREATE INDEX event_search_vector ON event_search USING GIN (vector);
CREATE INDEX event_search_room ON event_search (room_id, stream_ordering);

-- What was written before this upgrade: plain string bodies, names and topics
-- of events not redacted. A PDU holding an escaped NUL cannot become jsonb: it
-- is left out rather than failing the upgrade.
INSERT INTO event_search (event_id, room_id, key, stream_ordering, vector)
    SELECT event_id, room_id, 'content.' || field, stream_ordering,
        to_tsvector('english', pdu::jsonb -> 'content' ->> field)
    FROM (SELECT event_id, room_id, stream_ordering, pdu,
            CASE type WHEN 'm.room.message' THEN 'body' WHEN 'm.room.name' THEN 'name'
                ELSE 'topic' END AS field
          FROM events WHERE type IN ('m.room.message', 'm.room.name', 'm.room.topic')
          AND redacted_by IS NULL) AS candidates
    WHERE CASE WHEN strpos(pdu, '\u0000') = 0
        THEN jsonb_typeof(pdu::jsonb -> 'content' -> field) = 'string' ELSE FALSE END
