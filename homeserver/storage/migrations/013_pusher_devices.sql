-- The device that set each pusher: its pushers go when the device does (logout,
-- deletion, a password change's logout of other devices, deactivation). Rows
-- from before this column stay NULL: they go when the user has no device left.
ALTER TABLE pushers ADD COLUMN device_id TEXT
