"""Password hashing with scrypt (memory-hard), on a small pool of threads of its own.

Each hash needs 16 MiB. At most ``threads`` hashes run at once, however many
logins arrive together, so hashing can take at most that many times 16 MiB and
leaves the event loop a core. On glibc, buffers of ``MMAP_THRESHOLD`` and more
are mapped per allocation, so each hash gives its 16 MiB back when it ends:
otherwise every thread's malloc arena keeps its last hash's buffer resident
(40 logins on the default executor left the process about 100 MiB larger).
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import hashlib
import hmac
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

# n=2**14, r=8 costs 16 MiB and ~50 ms per hash: slow for a guesser, fine for a login.
N, R, P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
THREAD_NAME = "password-hash"
MMAP_THRESHOLD = 4 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter

T = TypeVar("T")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password_sync(password: str) -> str:
    salt = os.urandom(SALT_BYTES)
    key = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=KEY_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password_sync(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
            dklen=len(expected), maxmem=2**26,
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def unmap_large_buffers() -> None:
    """On glibc, fix the mmap threshold so large freed buffers leave the process.

    glibc raises the threshold each time a mapped buffer is freed, after which
    16 MiB buffers come from the thread's arena and stay resident. A fixed
    threshold keeps them mapped. Elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        os.confstr("CS_GNU_LIBC_VERSION")  # raises off glibc
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (ValueError, OSError, AttributeError):
        pass


class PasswordHasher:
    """Hashes and checks passwords on at most ``threads`` threads; ``close`` ends them."""

    def __init__(self, threads: int) -> None:
        unmap_large_buffers()
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=THREAD_NAME)

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password_sync, password)

    async def verify(self, password: str, stored: str | None) -> bool:
        if stored is None:
            return False
        return await self._run(verify_password_sync, password, stored)

    def close(self) -> None:
        """Queued hashes are dropped; a running one finishes on its thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
