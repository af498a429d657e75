-- Federation: our own keys over time, remote servers' keys, the durable
-- outbound queue and the inbound transactions already answered.

-- Every signing key this server has used; old ones are published as
-- old_verify_keys with the time they stopped being used.
CREATE TABLE own_keys (
    key_id TEXT PRIMARY KEY,
    verify_key TEXT NOT NULL,
    added_ts BIGINT NOT NULL,
    expired_ts BIGINT
);

-- Remote servers' verify keys, kept until valid_until_ts (old keys: expired_ts).
CREATE TABLE server_keys (
    server_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    verify_key TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL,
    expired_ts BIGINT,
    PRIMARY KEY (server_name, key_id)
);

-- PDUs waiting for a destination, in stream order. Written in the same
-- transaction as the event, so an acknowledged send is never lost.
CREATE TABLE federation_outbox (
    destination TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    pdu TEXT NOT NULL,
    PRIMARY KEY (destination, stream_ordering)
);

-- Delivery state per destination: back-off and the next transaction number.
CREATE TABLE federation_destinations (
    destination TEXT PRIMARY KEY,
    next_txn BIGINT NOT NULL DEFAULT 1,
    failures INTEGER NOT NULL DEFAULT 0,
    retry_at_ts BIGINT NOT NULL DEFAULT 0
);

-- Inbound transactions answered, so a replayed txn ID gets the same answer
-- and is not processed twice.
CREATE TABLE federation_inbound_txns (
    origin TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    response TEXT NOT NULL,
    received_ts BIGINT NOT NULL,
    PRIMARY KEY (origin, txn_id)
)
