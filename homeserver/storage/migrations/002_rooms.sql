-- Rooms, events, state, DMs, account data, receipts, filters.

-- The global stream position. Every write that a /sync token must see
-- (events, account data, receipts) takes the next position by updating this
-- row inside its transaction: the row lock orders writers across workers, and
-- a reader never sees a position whose data is not committed yet.
CREATE TABLE stream_position (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pos BIGINT NOT NULL
);
INSERT INTO stream_position (id, pos) VALUES (1, 0);

CREATE TABLE rooms (
    room_id TEXT PRIMARY KEY,
    room_version TEXT NOT NULL,
    creator TEXT NOT NULL,
    is_direct BOOLEAN NOT NULL DEFAULT FALSE,
    created_ts BIGINT NOT NULL
);

CREATE TABLE events (
    stream_ordering BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    room_id TEXT NOT NULL REFERENCES rooms (room_id),
    sender TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT,
    depth BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    -- the full signed PDU as canonical JSON
    pdu TEXT NOT NULL,
    redacted_by TEXT
);
CREATE INDEX events_room_order ON events (room_id, stream_ordering);

CREATE TABLE current_state (
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, type, state_key)
);

CREATE TABLE memberships (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    membership TEXT NOT NULL,
    event_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    forgotten BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, membership);

-- The Thread of the seed: one row, one room, per sorted pair of users.
CREATE TABLE dm_pairs (
    user_low TEXT NOT NULL,
    user_high TEXT NOT NULL,
    room_id TEXT NOT NULL UNIQUE,
    latest_event_id TEXT,
    updated_ts BIGINT NOT NULL,
    PRIMARY KEY (user_low, user_high)
);
CREATE INDEX dm_pairs_high ON dm_pairs (user_high);

-- room_id '' holds global account data.
CREATE TABLE account_data (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream_ordering);

CREATE TABLE receipts (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_ordering BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, receipt_type)
);
CREATE INDEX receipts_room_stream ON receipts (room_id, stream_ordering);

CREATE TABLE txn_ids (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

CREATE TABLE filters (
    user_id TEXT NOT NULL,
    filter_id TEXT NOT NULL,
    filter_json TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);
