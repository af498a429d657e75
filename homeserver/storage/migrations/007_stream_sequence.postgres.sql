-- Stream positions come from a sequence from now on: a write takes its
-- position without a lock held to its commit, so writes to different rooms
-- never wait on each other (homeserver/positions.py says which positions are
-- safe to hand out). The sequence carries on from the last row-lock position.
CREATE SEQUENCE stream_seq MINVALUE 0;
SELECT setval('stream_seq', (SELECT pos FROM stream_position WHERE id = 1))
