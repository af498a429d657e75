-- End-to-end encryption: what devices publish (identity, one-time and fallback
-- keys), cross-signing keys and the signatures users make with them, the
-- to-device inbox, device-list changes and server-side key backup. The server
-- holds public keys and ciphertexts only; it never sees a plaintext key.
CREATE TABLE e2e_device_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    -- the device's signed DeviceKeys object, canonical JSON
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE e2e_one_time_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);

-- One per device and algorithm; handed out when the one-time keys run out,
-- and then marked used (a client uploads a new one when it sees that).
CREATE TABLE e2e_fallback_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- key_type: master, self_signing or user_signing; public_key is its ed25519 key.
CREATE TABLE e2e_cross_signing_keys (
    user_id TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded after the fact (POST /keys/signatures/upload): on a
-- device (target_key_id is the device ID) or on a master key (its public key).
CREATE TABLE e2e_signatures (
    target_user TEXT NOT NULL,
    target_key_id TEXT NOT NULL,
    signer_user TEXT NOT NULL,
    signer_key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (target_user, target_key_id, signer_user, signer_key_id)
);

-- A user's devices or keys changed at this stream position: people who share a
-- room with them see them in /sync's device_lists.changed.
CREATE TABLE device_list_changes (
    stream_ordering BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (stream_ordering, user_id)
);

-- Messages waiting for one device; deleted once a sync token past them comes back.
-- seq orders the messages one send left for the same device at one position.
CREATE TABLE to_device_inbox (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, stream_ordering, seq)
);

-- PUT /sendToDevice is idempotent per (user, device, txn ID).
CREATE TABLE to_device_txns (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Server-side key backup: versions (the newest not deleted is current) and the
-- encrypted session keys in each; etag changes whenever a version's keys change.
CREATE TABLE room_key_backups (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    etag BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE room_key_backup_sessions (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count BIGINT NOT NULL,
    is_verified BOOLEAN NOT NULL,
    session_data TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);
