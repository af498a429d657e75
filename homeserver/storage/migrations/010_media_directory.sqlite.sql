-- The media repository and the user directory (SQLite: TEXT compares as bytes).
-- One row per media ID; size and sha256 stay NULL until its content is uploaded
-- (POST /create hands out the ID first). The file is named by its sha256.
CREATE TABLE media (
    media_id TEXT PRIMARY KEY,
    uploader TEXT NOT NULL,
    content_type TEXT,
    upload_name TEXT,
    size BIGINT,
    sha256 TEXT,
    created_ts BIGINT NOT NULL,
    unused_expires_ts BIGINT
);
CREATE INDEX media_uploader ON media (uploader);

-- Thumbnails are made once per size and method, and named by their own sha256.
CREATE TABLE media_thumbnails (
    media_id TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (media_id, width, height, method)
);

-- Each word of a user's display name and localpart, lower-cased: a search is a
-- range scan of this index per word, never a scan of users. Compared as bytes, so that
-- a prefix's matches sit together between the prefix and the prefix + U+10FFFF.
CREATE TABLE user_directory_terms (
    term TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (term, user_id)
);
CREATE INDEX user_directory_terms_user ON user_directory_terms (user_id);
