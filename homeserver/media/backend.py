"""Where media content lives: the one interface, and the backend the config chooses.

Content is named by its SHA-256 wherever it lives. An upload is first written
to a local part file (hashed and counted as it arrives, within the limits),
then kept at its content address: renamed into place on a local path, or put
into an S3-compatible bucket that several hosts share. Readers get content in
chunks, a byte range at a time if asked, so no large file is ever held in
memory; the repository and the HTTP handlers never know which backend runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from homeserver.config import Config, ConfigError
from homeserver.errors import MatrixError
from homeserver.media.parts import PartFile

READ_CHUNK_BYTES = 256 * 1024


class MediaUnavailable(MatrixError):
    """The media store cannot be reached; the client may try again."""

    status, errcode = 502, "M_UNKNOWN"


def content_key(sha256: str) -> str:
    """``content/ab/cd/abcd...``: where content lives under a root or prefix."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 in hex")
    return f"content/{sha256[:2]}/{sha256[2:4]}/{sha256}"


class MediaBackend(Protocol):
    def open_part(self) -> PartFile:
        """A new local part file for an upload to be written to."""
        ...

    async def keep(self, part: PartFile, sha256: str) -> None:
        """Keep a finished (closed) part at its content address; the part is gone after."""
        ...

    async def keep_bytes(self, data: bytes) -> str:
        """Keep ``data`` (a thumbnail) at its content address; its SHA-256."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    def read(self, sha256: str, first: int,
             last: int) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Bytes ``first`` to ``last`` (inclusive) in chunks; NotFound if the content is gone.

        Entering opens the content, so a missing or unreachable one fails before
        an answer has begun.
        """
        ...

    def local_copy(self, sha256: str) -> AbstractAsyncContextManager[Path]:
        """A local file with the content, for as long as the context lasts."""
        ...

    def close(self) -> None: ...


def media_backend(config: Config) -> MediaBackend:
    """The backend ``media.s3`` chooses: the bucket when set, else the local path."""
    if config.media.s3 is None:
        from homeserver.media.files import MediaFiles  # (files imports this module)
        return MediaFiles(config.media_path)
    # Imported only when configured: boto3 is the optional "s3" extra.
    try:
        from homeserver.media.s3 import S3Media
    except ImportError as exc:
        raise ConfigError(f"config key media.s3 needs the s3 extra (pip install "
                          f"'homeserver[s3]'): {exc}") from None
    return S3Media(config.media.s3, Path(config.media_path) / "tmp")
