-- Invites of our users into rooms that live on other servers and whose state
-- we do not hold. They are kept apart from rooms, events and memberships, so a
-- room ID named by another server never becomes a room row here: a room made
-- here later under that ID cannot collide with it. When a room becomes ours to
-- hold (we join it), its rows here go, and its memberships tell who is invited.
CREATE TABLE remote_invites (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- 'invite' while pending, 'leave' once rejected (so /sync can say so once)
    membership TEXT NOT NULL,
    inviter TEXT NOT NULL,
    origin TEXT NOT NULL,
    event_id TEXT NOT NULL,
    -- the invite event as both servers signed it, canonical JSON
    pdu TEXT NOT NULL,
    -- the stripped state the inviting server sent, a JSON list
    invite_state TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX remote_invites_user ON remote_invites (user_id, stream_ordering)
