"""Media files on disk, named by the SHA-256 of their content.

``<root>/content/ab/cd/abcd...`` holds each distinct content once, whoever
uploaded it and whatever its name; nothing a client sends ever becomes part of
a path. An upload is written to ``<root>/tmp`` and renamed into place, so a
reader never sees half a file, and several workers may share one root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO


class PartFile:
    """An upload being written: hashed and counted as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._hash = hashlib.sha256()
        self._file: BinaryIO = path.open("xb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def close(self) -> str:
        """Flush and close; the content's SHA-256 in hex."""
        self._file.close()
        return self._hash.hexdigest()

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class MediaFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._content = root / "content"

    def open_part(self) -> PartFile:
        self._tmp.mkdir(parents=True, exist_ok=True)
        return PartFile(self._tmp / f"{secrets.token_hex(16)}.part")

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 in hex")
        return self._content / sha256[:2] / sha256[2:4] / sha256

    def keep(self, part: PartFile, sha256: str) -> Path:
        """Move a finished upload to its content address (the same bytes are kept once)."""
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part.path, target)
        return target

    def keep_bytes(self, data: bytes) -> str:
        """Store ``data`` (a thumbnail) at its content address; its SHA-256."""
        part = self.open_part()
        try:
            part.write(data)
            sha256 = part.close()
            self.keep(part, sha256)
        except BaseException:
            part.discard()
            raise
        return sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()
