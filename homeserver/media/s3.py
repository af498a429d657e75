"""Media content in an S3-compatible bucket, shared by every worker on every host.

Keys are ``<prefix>content/ab/cd/<sha256>``, as on a local path. boto3 does the
signing and the HTTP; its calls block, so each runs on this backend's own
threads and the event loop only ever waits on them. An upload is put from its
local part file (botocore streams the file), a download is read from the
object's body a chunk at a time, and a thumbnail's source is fetched to a local
file first (Pillow needs one), within the upload size limit it was kept under.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import boto3
import botocore.config
from botocore.exceptions import BotoCoreError, ClientError

from homeserver.config import S3Config
from homeserver.errors import NotFound
from homeserver.media.backend import READ_CHUNK_BYTES, MediaUnavailable, content_key
from homeserver.media.parts import PartFile

T = TypeVar("T")
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Media:
    def __init__(self, config: S3Config, tmp: Path) -> None:
        self.bucket = config.bucket
        self.prefix = config.prefix
        self._tmp = tmp
        self._pool = ThreadPoolExecutor(config.threads, "s3")
        self._client = boto3.session.Session().client(
            "s3", endpoint_url=config.endpoint_url, region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=_client_config(config))

    def key(self, sha256: str) -> str:
        return self.prefix + content_key(sha256)

    def open_part(self) -> PartFile:
        return PartFile.new_in(self._tmp)

    async def keep(self, part: PartFile, sha256: str) -> None:
        try:
            if not await self.exists(sha256):  # the same bytes are kept once
                await self._call(self._put_file, part.path, self.key(sha256), part.size)
        finally:
            part.discard()

    def _put_file(self, path: Path, key: str, size: int) -> None:
        with path.open("rb") as body:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentLength=size)

    async def keep_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if not await self.exists(sha256):
            await self._call(self._client.put_object, Bucket=self.bucket, Key=self.key(sha256),
                             Body=data)
        return sha256

    async def exists(self, sha256: str) -> bool:
        try:
            await self._call(self._client.head_object, Bucket=self.bucket, Key=self.key(sha256))
        except NotFound:
            return False
        return True

    @asynccontextmanager
    async def read(self, sha256: str, first: int, last: int) -> AsyncIterator[AsyncIterator[bytes]]:
        if last < first:  # empty content: "bytes=0--1" is no range
            yield _nothing()
            return
        answer = await self._call(self._client.get_object, Bucket=self.bucket,
                                  Key=self.key(sha256), Range=f"bytes={first}-{last}")
        body = answer["Body"]
        try:
            yield self._chunks(body)
        finally:
            # Closing an unfinished body drops its connection rather than reading it out.
            await asyncio.get_running_loop().run_in_executor(self._pool, body.close)

    async def _chunks(self, body: Any) -> AsyncIterator[bytes]:
        while chunk := await self._call(body.read, READ_CHUNK_BYTES):
            yield chunk

    @asynccontextmanager
    async def local_copy(self, sha256: str) -> AsyncIterator[Path]:
        part = self.open_part()
        part.close()
        try:
            await self._call(self._get_file, self.key(sha256), part.path)
            yield part.path
        finally:
            part.discard()

    def _get_file(self, key: str, path: Path) -> None:
        answer = self._client.get_object(Bucket=self.bucket, Key=key)
        with contextlib.closing(answer["Body"]) as body, path.open("wb") as out:
            while chunk := body.read(READ_CHUNK_BYTES):
                out.write(chunk)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` on a thread; a missing object is NotFound, any other failure unavailable."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise NotFound("The content of this media is gone") from None
            raise MediaUnavailable("The media store refused the request") from exc
        except BotoCoreError as exc:
            raise MediaUnavailable("The media store cannot be reached") from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(AttributeError):  # Client.close: botocore 1.33 and later
            self._client.close()


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield


def _client_config(config: S3Config) -> botocore.config.Config:
    options: dict[str, Any] = {
        "s3": {"addressing_style": config.addressing_style},
        "max_pool_connections": config.threads,
        "connect_timeout": 10, "read_timeout": 60,
        "retries": {"max_attempts": 3, "mode": "standard"},
    }
    # botocore 1.36 began to add CRC checksums to every request by default, which
    # several S3-compatible stores refuse; send them only where the API requires.
    if "request_checksum_calculation" in botocore.config.Config.OPTION_DEFAULTS:
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    return botocore.config.Config(**options)
