"""Media content on a local path, named by the SHA-256 of its content.

``<root>/content/ab/cd/abcd...`` holds each distinct content once, whoever
uploaded it and whatever its name. An upload is written to ``<root>/tmp`` and
renamed into place, so a reader never sees half a file, and several workers
may share one root (a shared filesystem).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

from homeserver.errors import NotFound
from homeserver.media.backend import READ_CHUNK_BYTES, content_key
from homeserver.media.parts import PartFile


class MediaFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    def open_part(self) -> PartFile:
        return PartFile.new_in(self._tmp)

    def path(self, sha256: str) -> Path:
        return self.root / content_key(sha256)

    async def keep(self, part: PartFile, sha256: str) -> None:
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part.path, target)

    async def keep_bytes(self, data: bytes) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, self._keep_bytes, data)

    def _keep_bytes(self, data: bytes) -> str:
        part = self.open_part()
        try:
            part.write(data)
            sha256 = part.close()
            target = self.path(sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part.path, target)
        except BaseException:
            part.discard()
            raise
        return sha256

    async def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    @asynccontextmanager
    async def read(self, sha256: str, first: int, last: int) -> AsyncIterator[AsyncIterator[bytes]]:
        try:
            file = self.path(sha256).open("rb")
        except FileNotFoundError:
            raise NotFound("The content of this media is gone") from None
        try:
            file.seek(first)
            yield _chunks(file, last - first + 1)
        finally:
            file.close()

    @asynccontextmanager
    async def local_copy(self, sha256: str) -> AsyncIterator[Path]:
        yield self.path(sha256)

    def close(self) -> None:
        pass


async def _chunks(file: BinaryIO, remaining: int) -> AsyncIterator[bytes]:
    # On a thread: unlike a write into the page cache, a read may wait for the disk.
    loop = asyncio.get_running_loop()
    while remaining > 0:
        chunk = await loop.run_in_executor(None, file.read, min(READ_CHUNK_BYTES, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk
