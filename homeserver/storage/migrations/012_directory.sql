-- Room aliases (#name:ourserver -> room) and the public room directory.

-- Only local aliases are stored; creator may delete its alias (so may room admins).
CREATE TABLE room_aliases (
    alias TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

-- Rooms whose directory visibility is public; listed while their join rule is public too.
CREATE TABLE public_rooms (
    room_id TEXT PRIMARY KEY,
    added_ts BIGINT NOT NULL
);
