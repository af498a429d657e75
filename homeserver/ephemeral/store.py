"""The ephemeral store's interface.

Typing: who types in a room until when, plus a serial bumped on every change
so /sync tokens can say what a client has seen. Presence: each user's state
and a liveness deadline that live connections keep pushing forward; a user
whose deadline passes (their last connection ended, or their worker died)
is taken offline by whichever worker sweeps first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class PresenceState:
    presence: str
    last_active_ms: int
    status_msg: str | None = None


class EphemeralStore(ABC):
    @abstractmethod
    async def serials(self) -> tuple[int, int]:
        """The current (typing, presence) serials."""

    # Typing

    @abstractmethod
    async def start_typing(self, room_id: str, user_id: str, expiry_ms: int,
                           now_ms: int) -> int | None:
        """Record typing until ``expiry_ms``; the new serial if who types changed."""

    @abstractmethod
    async def stop_typing(self, room_id: str, user_id: str, now_ms: int,
                          only_expiry: int | None = None) -> int | None:
        """End typing (only if still ``only_expiry`` when given); the new serial if it ended."""

    @abstractmethod
    async def typers(self, room_id: str, now_ms: int) -> dict[str, int]:
        """Who types in the room now, with each one's expiry."""

    @abstractmethod
    async def typing_changed_at(self, room_ids: list[str]) -> dict[str, int]:
        """The serial of each room's last typing change (rooms never typed in are absent)."""

    # Presence

    @abstractmethod
    async def presence_of(self, user_ids: Iterable[str]) -> dict[str, PresenceState]:
        """Known states (users never seen are absent)."""

    @abstractmethod
    async def set_presence(self, user_id: str, state: PresenceState, bump: bool) -> int | None:
        """Store a state; with ``bump`` the change gets a new serial, returned."""

    @abstractmethod
    async def presence_changed_since(self, serial: int) -> list[str]:
        """Users whose presence changed after ``serial``."""

    @abstractmethod
    async def forget_presence(self, user_id: str) -> None:
        """Drop everything kept about the user's presence (another server's user we no
        longer hold)."""

    @abstractmethod
    async def keep_alive(self, user_ids: Iterable[str], deadline_ms: int) -> None:
        """Move each user's liveness deadline to at least ``deadline_ms``."""

    @abstractmethod
    async def take_lapsed(self, now_ms: int) -> list[tuple[str, int]]:
        """Atomically mark offline every user whose deadline passed; (user, serial) each."""

    async def close(self) -> None:
        return None
