"""HeldTokens: the access tokens that long-lived connections (WebSockets) hold open.

A request is authenticated once, at its start; a socket lives on for hours
after its handshake. So that a logout, a device's deletion, a password change
("log out other devices") or a deactivation also ends the sockets opened with
the revoked token, each socket registers its token's hash here and waits on
the Event it gets: AccountService fires it for every revocation, its own and
those other workers publish on the revocations channel (every worker listens),
so a socket on any worker closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class HeldTokens:
    def __init__(self) -> None:
        # token hash -> one Event per open connection holding that token
        self._held: dict[str, set[asyncio.Event]] = {}

    @contextmanager
    def hold(self, token_hash: str) -> Iterator[asyncio.Event]:
        """An Event set when the token is revoked, for as long as the context lasts."""
        revoked = asyncio.Event()
        self._held.setdefault(token_hash, set()).add(revoked)
        try:
            yield revoked
        finally:
            held = self._held.get(token_hash)
            if held is not None:
                held.discard(revoked)
                if not held:
                    del self._held[token_hash]

    def revoke(self, token_hashes: Iterable[str]) -> None:
        for token_hash in token_hashes:
            for revoked in self._held.get(token_hash, ()):
                revoked.set()

    def held(self) -> list[str]:
        """The hashes held now (to check again after revocations may have been missed)."""
        return list(self._held)

    def __len__(self) -> int:
        return sum(len(held) for held in self._held.values())
