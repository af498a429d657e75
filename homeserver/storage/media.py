"""SQL for the media repository: media rows, their quota, and cached thumbnails."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.database import Connection, Database, Queries
from homeserver.storage.stream import lock_user


@dataclass(frozen=True)
class MediaRow:
    media_id: str
    uploader: str
    content_type: str | None
    upload_name: str | None
    size: int | None
    sha256: str | None
    created_ts: int
    unused_expires_ts: int | None

    @property
    def uploaded(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True)
class ThumbnailRow:
    width: int
    height: int
    method: str
    content_type: str
    size: int
    sha256: str


_MEDIA_COLUMNS = ("media_id, uploader, content_type, upload_name, size, sha256, created_ts,"
                  " unused_expires_ts")


class MediaStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def media(self, conn: Queries, media_id: str) -> MediaRow | None:
        row = await conn.fetchrow(
            f"SELECT {_MEDIA_COLUMNS} FROM media WHERE media_id = $1", media_id)
        return MediaRow(**dict(row)) if row else None

    async def lock_uploader(self, conn: Connection, user_id: str) -> None:
        """Order one user's uploads, so that two at once cannot both fit the quota."""
        await lock_user(conn, user_id)

    async def bytes_used(self, conn: Queries, user_id: str) -> int:
        used = await conn.fetchval(
            "SELECT COALESCE(SUM(size), 0) FROM media WHERE uploader = $1", user_id)
        return int(used)

    async def pending_count(self, conn: Queries, user_id: str, now_ms: int) -> int:
        """The user's /create'd media IDs that are still waiting for content."""
        return int(await conn.fetchval(
            "SELECT COUNT(*) FROM media WHERE uploader = $1 AND sha256 IS NULL"
            " AND unused_expires_ts > $2", user_id, now_ms))

    async def create(self, conn: Connection, media_id: str, uploader: str, now_ms: int,
                     expires_ms: int) -> None:
        await conn.execute(
            "INSERT INTO media (media_id, uploader, created_ts, unused_expires_ts)"
            " VALUES ($1, $2, $3, $4)", media_id, uploader, now_ms, expires_ms)

    async def insert_uploaded(self, conn: Connection, row: MediaRow) -> None:
        await conn.execute(
            f"INSERT INTO media ({_MEDIA_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            row.media_id, row.uploader, row.content_type, row.upload_name, row.size,
            row.sha256, row.created_ts, row.unused_expires_ts)

    async def fill(self, conn: Connection, media_id: str, uploader: str, content_type: str,
                   upload_name: str | None, size: int, sha256: str, now_ms: int) -> bool:
        """Give a /create'd ID its content, once; False if it has some or has expired."""
        changed = await conn.execute(
            "UPDATE media SET content_type = $3, upload_name = $4, size = $5, sha256 = $6,"
            " unused_expires_ts = NULL WHERE media_id = $1 AND uploader = $2"
            " AND sha256 IS NULL AND unused_expires_ts > $7",
            media_id, uploader, content_type, upload_name, size, sha256, now_ms)
        return changed == 1

    async def thumbnail(self, conn: Queries, media_id: str, width: int, height: int,
                        method: str) -> ThumbnailRow | None:
        row = await conn.fetchrow(
            "SELECT width, height, method, content_type, size, sha256 FROM media_thumbnails"
            " WHERE media_id = $1 AND width = $2 AND height = $3 AND method = $4",
            media_id, width, height, method)
        return ThumbnailRow(**dict(row)) if row else None

    async def add_thumbnail(self, conn: Connection, media_id: str, thumb: ThumbnailRow) -> None:
        # Two workers may make the same thumbnail at once: the first row stands.
        await conn.execute(
            "INSERT INTO media_thumbnails (media_id, width, height, method, content_type, size,"
            " sha256) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (media_id, width, height, method) DO NOTHING",
            media_id, thumb.width, thumb.height, thumb.method, thumb.content_type, thumb.size,
            thumb.sha256)

    async def thumbnail_failure(self, conn: Queries, media_id: str) -> str | None:
        """Why this media can get no thumbnail, if that was found before."""
        error = await conn.fetchval(
            "SELECT error FROM media_thumbnail_failures WHERE media_id = $1", media_id)
        return str(error) if error is not None else None

    async def add_thumbnail_failure(self, conn: Connection, media_id: str, error: str,
                                    now_ms: int) -> None:
        await conn.execute(
            "INSERT INTO media_thumbnail_failures (media_id, error, failed_ts)"
            " VALUES ($1, $2, $3) ON CONFLICT (media_id) DO NOTHING",
            media_id, error, now_ms)
