-- Push: each user's changes to their push rules, the actions the rules gave
-- each event for each receiver, and the pushers that deliver to push gateways.

-- A user's own rules, and their changes to the server's default rules: a row
-- for a default rule (definition NULL) only overrides its enabled flag and/or
-- actions (NULL: as the default says). priority orders a user's rules of one
-- kind: lower comes first.
CREATE TABLE push_rules (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    priority BIGINT NOT NULL,
    definition TEXT,
    enabled BOOLEAN,
    actions TEXT,
    PRIMARY KEY (user_id, kind, rule_id)
);

-- What the receiver's rules said about an event that notifies them, written
-- in the event's own transaction. Counts after a read receipt come from the
-- first index, /notifications from the second.
CREATE TABLE event_push_actions (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    highlight BOOLEAN NOT NULL,
    actions TEXT NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, stream_ordering)
);
CREATE INDEX event_push_actions_user ON event_push_actions (user_id, stream_ordering);

CREATE TABLE pushers (
    user_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    pushkey TEXT NOT NULL,
    kind TEXT NOT NULL,
    app_display_name TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag TEXT,
    lang TEXT NOT NULL,
    data TEXT NOT NULL,
    pushkey_ts BIGINT NOT NULL,
    PRIMARY KEY (app_id, pushkey, user_id)
);
CREATE INDEX pushers_user ON pushers (user_id)
