-- Bounds on what users can make the E2E tables hold (each prune or cap is a
-- bounded query on one of these indexes).

-- How many messages one sender has waiting for one device (capped per sender).
CREATE INDEX to_device_inbox_sender ON to_device_inbox (user_id, device_id, sender);

-- Transaction IDs older than a day are pruned on write.
CREATE INDEX to_device_txns_created ON to_device_txns (created_ts);

-- A user's older device-list change rows are dropped when a newer one is written:
-- "changed since X" only needs each user's newest change.
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, stream_ordering);

-- Auth sessions: expired ones are pruned, and each user keeps a bounded number
-- live (NULL: a registration, which has no user yet).
ALTER TABLE ui_auth_sessions ADD COLUMN user_id TEXT;
CREATE INDEX ui_auth_sessions_created ON ui_auth_sessions (created_ts);
CREATE INDEX ui_auth_sessions_user ON ui_auth_sessions (user_id, created_ts);
