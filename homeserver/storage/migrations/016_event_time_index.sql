-- /timestamp_to_event finds a room's event nearest a time without scanning the room.
CREATE INDEX events_room_time ON events (room_id, origin_server_ts);
