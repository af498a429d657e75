"""MediaRepository: uploads within their bounds, downloads, and thumbnails made once.

Content arrives as an async stream of chunks and is written to a local part
file as it comes, so an upload costs a chunk of memory, not its size; the
backend (a local path or an S3 bucket, see backend.py) then keeps it. The upload limit and
the uploader's remaining quota cut it off as soon as either is passed; the
quota is checked again under the uploader's lock when the row is written, so
two uploads at once cannot both squeeze into the last free bytes. Media of
other servers is not fetched yet (404).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from homeserver.clock import Clock
from homeserver.config import MediaConfig
from homeserver.errors import (
    Forbidden,
    InvalidParam,
    LimitExceeded,
    MatrixError,
    NotFound,
    TooLarge,
)
from homeserver.lru import LruDict
from homeserver.media import thumbnails
from homeserver.media.backend import MediaBackend
from homeserver.media.mxc import Mxc, is_media_id, is_server_name, new_media_id, parse_mxc
from homeserver.media.parts import PartFile
from homeserver.storage.media import MediaRow, MediaStore, ThumbnailRow

UNUSED_EXPIRY_MS = 24 * 60 * 60 * 1000  # a /create'd ID must get its content within a day
MAX_THUMBNAIL_SIDE = 10_000
REMEMBERED_FAILURES = 10_000  # media IDs whose thumbnail failed, kept in memory
MAX_FAILURE_TEXT = 500


class CannotOverwrite(MatrixError):
    status, errcode = 409, "M_CANNOT_OVERWRITE_MEDIA"


class NotYetUploaded(MatrixError):
    status, errcode = 504, "M_NOT_YET_UPLOADED"


@dataclass(frozen=True)
class StoredMedia:
    """Content to answer with: its address and what to call it."""

    sha256: str
    content_type: str
    upload_name: str | None
    size: int


class MediaRepository:
    def __init__(self, store: MediaStore, backend: MediaBackend, config: MediaConfig,
                 server_name: str, clock: Clock) -> None:
        self.store = store
        self.backend = backend
        self.config = config
        self.server_name = server_name
        self.clock = clock
        self._pool = ThreadPoolExecutor(config.thumbnail_threads, "thumbnail")
        # One making per thumbnail at a time in this worker; the rest wait for it.
        self._making: dict[tuple[str, int, int, str], asyncio.Future[ThumbnailRow]] = {}
        self.thumbnails_made = 0  # how many were generated, not served from the cache
        # Media that can get no thumbnail, and why: answered at once the next time (the
        # table keeps the verdict for other workers and after a restart).
        self._failures: LruDict[str, str] = LruDict(REMEMBERED_FAILURES)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.backend.close()

    @property
    def max_upload_bytes(self) -> int:
        return self.config.max_upload_bytes

    async def upload(self, uploader: str, content_type: str, upload_name: str | None,
                     body: AsyncIterable[bytes], declared_length: int | None) -> Mxc:
        """Store new content; its mxc:// URI."""
        part, sha256 = await self._receive(uploader, body, declared_length)
        now = self.clock.time_ms()
        row = MediaRow(new_media_id(), uploader, content_type, upload_name, part.size, sha256,
                       now, None)
        async with self.store.db.transaction() as conn:
            await self.store.lock_uploader(conn, uploader)
            await self._check_quota(await self.store.bytes_used(conn, uploader), part.size)
            await self.store.insert_uploaded(conn, row)
        return Mxc(self.server_name, row.media_id)

    async def create(self, uploader: str) -> tuple[Mxc, int]:
        """A media ID to upload to later, and when it expires unused."""
        now = self.clock.time_ms()
        media_id = new_media_id()
        async with self.store.db.transaction() as conn:
            await self.store.lock_uploader(conn, uploader)
            if await self.store.pending_count(conn, uploader, now) >= \
                    self.config.max_pending_uploads:
                raise LimitExceeded(retry_after_ms=60_000)
            await self.store.create(conn, media_id, uploader, now, now + UNUSED_EXPIRY_MS)
        return Mxc(self.server_name, media_id), now + UNUSED_EXPIRY_MS

    async def fill(self, uploader: str, server_name: str, media_id: str, content_type: str,
                   upload_name: str | None, body: AsyncIterable[bytes],
                   declared_length: int | None) -> None:
        """Upload the content of a /create'd ID: by its creator, once, before it expires."""
        self._check_ours(server_name, media_id)
        await self._check_fillable(uploader, media_id)
        part, sha256 = await self._receive(uploader, body, declared_length)
        async with self.store.db.transaction() as conn:
            await self.store.lock_uploader(conn, uploader)
            await self._check_quota(await self.store.bytes_used(conn, uploader), part.size)
            if not await self.store.fill(conn, media_id, uploader, content_type, upload_name,
                                         part.size, sha256, self.clock.time_ms()):
                raise CannotOverwrite("Media already uploaded")

    async def _check_fillable(self, uploader: str, media_id: str) -> None:
        row = await self.store.media(self.store.db, media_id)
        if row is None or (not row.uploaded and row.unused_expires_ts is not None
                           and row.unused_expires_ts <= self.clock.time_ms()):
            raise NotFound("Unknown media ID")
        if row.uploader != uploader:
            raise Forbidden("This media ID belongs to another user")
        if row.uploaded:
            raise CannotOverwrite("Media already uploaded")

    async def _receive(self, uploader: str, body: AsyncIterable[bytes],
                       declared_length: int | None) -> tuple[PartFile, str]:
        """Write the body to a part file within the limit and quota; keep it at its address."""
        limit = self.config.max_upload_bytes
        if declared_length is not None and declared_length > limit:
            raise TooLarge(f"Uploads may be at most {limit} bytes")
        used = await self.store.bytes_used(self.store.db, uploader)
        await self._check_quota(used, declared_length or 0)
        room = self.config.max_bytes_per_user - used
        part = self.backend.open_part()
        try:
            # Plain file writes on the loop: each chunk lands in the page cache in
            # microseconds, far less than a hop to a thread and back.
            async for chunk in body:
                part.write(chunk)
                if part.size > limit:
                    raise TooLarge(f"Uploads may be at most {limit} bytes")
                if part.size > room:
                    await self._check_quota(used, part.size)
            sha256 = part.close()
            await self.backend.keep(part, sha256)
        except BaseException:
            part.discard()
            raise
        return part, sha256

    async def _check_quota(self, used: int, adding: int) -> None:
        if used + adding > self.config.max_bytes_per_user:
            raise Forbidden("Your media quota is used up")

    def _check_ours(self, server_name: str, media_id: str) -> None:
        if not is_server_name(server_name) or not is_media_id(media_id):
            raise InvalidParam("Invalid media ID")
        if server_name != self.server_name:
            raise NotFound("Media of other servers is not available here")

    async def _uploaded(self, server_name: str, media_id: str) -> MediaRow:
        self._check_ours(server_name, media_id)
        row = await self.store.media(self.store.db, media_id)
        if row is None:
            raise NotFound("Unknown media ID")
        if not row.uploaded:
            if row.unused_expires_ts is not None and \
                    row.unused_expires_ts <= self.clock.time_ms():
                raise NotFound("Unknown media ID")
            raise NotYetUploaded("The content has not been uploaded yet")
        return row

    async def download(self, server_name: str, media_id: str) -> StoredMedia:
        row = await self._uploaded(server_name, media_id)
        assert row.sha256 is not None and row.size is not None
        return StoredMedia(row.sha256,
                           row.content_type or "application/octet-stream", row.upload_name,
                           row.size)

    async def thumbnail(self, server_name: str, media_id: str, width: int, height: int,
                        method: str) -> StoredMedia:
        """The nearest standard thumbnail: from the cache, else made once and kept."""
        if method not in thumbnails.METHODS:
            raise InvalidParam("method must be scale or crop")
        if not (0 < width <= MAX_THUMBNAIL_SIDE and 0 < height <= MAX_THUMBNAIL_SIDE):
            raise InvalidParam(f"width and height must be between 1 and {MAX_THUMBNAIL_SIDE}")
        row = await self._uploaded(server_name, media_id)
        w, h = thumbnails.nearest_size(width, height, method)
        thumb = await self.store.thumbnail(self.store.db, media_id, w, h, method)
        if thumb is None or not await self.backend.exists(thumb.sha256):
            await self._check_thumbnailable(row)
            thumb = await self._make_once(row, w, h, method)
        return StoredMedia(thumb.sha256, thumb.content_type, None, thumb.size)

    def read(self, found: StoredMedia, first: int,
             last: int) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Bytes ``first`` to ``last`` (inclusive) of found content, in chunks."""
        return self.backend.read(found.sha256, first, last)

    async def _make_once(self, row: MediaRow, width: int, height: int,
                         method: str) -> ThumbnailRow:
        key = (row.media_id, width, height, method)
        making = self._making.get(key)
        if making is not None:
            return await asyncio.shield(making)
        future: asyncio.Future[ThumbnailRow] = asyncio.get_running_loop().create_future()
        self._making[key] = future
        try:
            thumb = await self._make(row, width, height, method)
            future.set_result(thumb)
            return thumb
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning if none waited
            raise
        finally:
            del self._making[key]

    async def _check_thumbnailable(self, row: MediaRow) -> None:
        """Refuse, from the row alone, media that cannot or could not get a thumbnail."""
        assert row.size is not None
        # Cheap to judge again, so the type and size verdict is never a row of its own.
        thumbnails.check_source(row.content_type or "", row.size,
                                self.config.max_thumbnail_source_bytes)
        error = self._failures.get(row.media_id)
        if error is None:
            error = await self.store.thumbnail_failure(self.store.db, row.media_id)
            if error is None:
                return
            self._failures.put(row.media_id, error)
        raise thumbnails.CannotThumbnail(error)

    async def _make(self, row: MediaRow, width: int, height: int, method: str) -> ThumbnailRow:
        assert row.sha256 is not None
        loop = asyncio.get_running_loop()
        try:
            async with self.backend.local_copy(row.sha256) as source:
                made = await loop.run_in_executor(
                    self._pool, thumbnails.make_thumbnail, source, row.content_type or "",
                    width, height, method, self.config.max_thumbnail_pixels)
        except thumbnails.CannotThumbnail as exc:
            await self._remember_failure(row.media_id, exc.message)
            raise
        sha256 = await self.backend.keep_bytes(made.data)
        thumb = ThumbnailRow(width, height, method, made.content_type, len(made.data), sha256)
        async with self.store.db.transaction() as conn:
            await self.store.add_thumbnail(conn, row.media_id, thumb)
        self.thumbnails_made += 1
        return thumb

    async def _remember_failure(self, media_id: str, error: str) -> None:
        # The content never changes, so neither does the verdict: every size fails alike.
        error = error[:MAX_FAILURE_TEXT]
        self._failures.put(media_id, error)
        async with self.store.db.transaction() as conn:
            await self.store.add_thumbnail_failure(conn, media_id, error, self.clock.time_ms())

    async def check_avatar(self, uri: str) -> None:
        """An avatar must be a valid mxc:// URI and, if it is ours, name uploaded media."""
        mxc = parse_mxc(uri)
        if mxc is None:
            raise InvalidParam("avatar_url must be an mxc:// URI")
        if mxc.server_name == self.server_name:
            row = await self.store.media(self.store.db, mxc.media_id)
            if row is None or not row.uploaded:
                raise NotFound("avatar_url names no media of this server")
