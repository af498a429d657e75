-- An incremental /sync first asks which of the user's rooms changed after its
-- token; these let that question be answered from the recent end of each stream
-- instead of room by room.
CREATE INDEX receipts_stream ON receipts (stream_ordering)
