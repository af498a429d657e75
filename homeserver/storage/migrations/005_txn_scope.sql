-- A transaction ID is scoped by device and by request path (the spec's rule):
-- the same ID sent to another room, event type or redaction target is a new
-- request, never a replay of the first. The scope is that path's meaning,
-- e.g. "send/<room>/<type>" or "redact/<room>/<event>". Rows written before
-- this upgrade have no known scope: they keep ''. They still mark the event's
-- unsigned.transaction_id, and match no new request (a client's retry window is
-- minutes, not an upgrade).
CREATE TABLE txn_ids_scoped (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, scope, txn_id)
);
INSERT INTO txn_ids_scoped (user_id, device_id, scope, txn_id, event_id, created_ts)
    SELECT user_id, device_id, '', txn_id, event_id, created_ts FROM txn_ids;
DROP TABLE txn_ids;
ALTER TABLE txn_ids_scoped RENAME TO txn_ids;
CREATE INDEX txn_ids_event ON txn_ids (user_id, device_id, event_id)
