"""Part files: an upload being written to a local file, hashed and counted as it goes.

Nothing a client sends becomes part of a name: a part is named by random hex
in the backend's temporary directory, and its content by its SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from pathlib import Path
from typing import BinaryIO


class PartFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._hash = hashlib.sha256()
        self._file: BinaryIO = path.open("xb")

    @classmethod
    def new_in(cls, directory: Path) -> PartFile:
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / f"{secrets.token_hex(16)}.part")

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
