-- Media that cannot be thumbnailed (not an image, broken, too large): remembered, so a
-- repeated request is refused without fetching the content again. Content never
-- changes once uploaded, so the verdict stands for good.
CREATE TABLE media_thumbnail_failures (
    media_id TEXT PRIMARY KEY,
    error TEXT NOT NULL,
    failed_ts BIGINT NOT NULL
);
