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
        THEN jsonb_typeof(pdu::jsonb -> 'content' -> field) = 'string' ELSE FALSE END;

-- Relations of what was written before this upgrade, by the rules of
-- homeserver/events/relations.py (malformed ones relate to nothing).
INSERT INTO event_relations (event_id, room_id, parent_id, rel_type, sender, aggregation_key)
    SELECT event_id, room_id, rel ->> 'event_id', rel ->> 'rel_type', sender,
        CASE WHEN rel ->> 'rel_type' = 'm.annotation' THEN rel ->> 'key' END
    FROM (SELECT event_id, room_id, sender, content, content -> 'm.relates_to' AS rel
          FROM (SELECT event_id, room_id, sender,
                  CASE WHEN strpos(pdu, '\u0000') = 0 THEN pdu::jsonb -> 'content' END
                    AS content
                FROM events WHERE state_key IS NULL AND redacted_by IS NULL
                AND strpos(pdu, '"m.relates_to"') > 0) AS parsed) AS candidates
    WHERE jsonb_typeof(rel) = 'object'
    AND jsonb_typeof(rel -> 'rel_type') = 'string'
    AND length(rel ->> 'rel_type') BETWEEN 1 AND 255
    AND jsonb_typeof(rel -> 'event_id') = 'string'
    AND length(rel ->> 'event_id') BETWEEN 2 AND 255
    AND left(rel ->> 'event_id', 1) = '$' AND rel ->> 'event_id' <> event_id
    AND (rel ->> 'rel_type' <> 'm.annotation' OR (jsonb_typeof(rel -> 'key') = 'string'
         AND length(rel ->> 'key') BETWEEN 1 AND 1024))
    AND (rel ->> 'rel_type' <> 'm.replace' OR jsonb_typeof(content -> 'm.new_content') = 'object')
    ON CONFLICT DO NOTHING
