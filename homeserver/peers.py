"""The door federation uses to reach what the core stores about other servers.

Federation needs our key history, other servers' keys, the outbox to them with its
back-off, the answers given to their transactions, a deployment-wide lock that elects
the one sender, and who is joined where. It sees these only as the protocols below;
the container builds them from the core's stores, so federation imports no storage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from homeserver.models import VerifyKey

Record = Mapping[str, Any]


class PeerStore(Protocol):
    """Keys, the outbox and inbound transactions (storage/federation.py implements it)."""

    async def record_own_key(self, key_id: str, verify_key: str, now_ms: int) -> None: ...
    async def old_own_keys(self) -> Sequence[Record]: ...
    async def server_key(self, server_name: str, key_id: str) -> VerifyKey | None: ...
    async def store_server_keys(self, server_name: str, keys: list[VerifyKey]) -> None: ...
    async def prune_server_keys(self, max_servers: int) -> None: ...
    async def due_destinations(self, now_ms: int) -> list[str]: ...
    async def next_retry_at(self) -> int | None: ...
    async def pending_pdus(self, destination: str, limit: int) -> Sequence[Record]: ...
    async def take_txn_number(self, destination: str) -> int: ...
    async def delivered(self, destination: str, upto_ordering: int) -> None: ...
    async def reset_backoff(self, destination: str) -> None: ...
    async def delivery_failed(self, destination: str, retry_at_ms: int) -> int: ...
    async def failures(self, destination: str) -> int: ...
    async def inbound_response(self, origin: str, txn_id: str) -> str | None: ...
    async def record_inbound(self, origin: str, txn_id: str, response: str,
                             now_ms: int) -> None: ...


class Leadership(Protocol):
    """A lock held by one worker of the deployment at a time (the database's)."""

    def leadership(self, key: int) -> AbstractAsyncContextManager[bool]: ...


class RoomMembers(Protocol):
    async def joined_users(self, room_id: str, conn: Any = None) -> list[str]:
        """``conn``: the core's open transaction when the core calls from inside one."""
        ...

    async def co_members(self, user_id: str) -> set[str]: ...


@dataclass(frozen=True)
class Peers:
    store: PeerStore
    leadership: Leadership
    members: RoomMembers
