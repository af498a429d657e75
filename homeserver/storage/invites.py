"""SQL for pending invites into rooms on other servers that we do not hold."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.database import Connection, Database, Queries, Row

COLUMNS = "room_id, user_id, membership, inviter, origin, event_id, pdu, invite_state," \
          " stream_ordering"


@dataclass(frozen=True)
class RemoteInvite:
    room_id: str
    user_id: str
    inviter: str
    origin: str
    event_id: str
    pdu: str  # canonical JSON
    invite_state: str  # JSON list of stripped events


class InviteStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, conn: Connection, invite: RemoteInvite, position: int) -> None:
        """Keep (or renew) a pending invite."""
        await conn.execute(
            f"INSERT INTO remote_invites ({COLUMNS}) VALUES ($1, $2, 'invite', $3, $4, $5, $6,"
            " $7, $8) ON CONFLICT (room_id, user_id) DO UPDATE SET membership = 'invite',"
            " inviter = excluded.inviter, origin = excluded.origin,"
            " event_id = excluded.event_id, pdu = excluded.pdu,"
            " invite_state = excluded.invite_state, stream_ordering = excluded.stream_ordering",
            invite.room_id, invite.user_id, invite.inviter, invite.origin, invite.event_id,
            invite.pdu, invite.invite_state, position)

    async def pending_from(self, conn: Queries, user_id: str, origin: str) -> int:
        """How many invites of ``user_id`` from server ``origin`` wait for an answer."""
        return await conn.fetchval(
            "SELECT COUNT(*) FROM remote_invites WHERE user_id = $1 AND origin = $2"
            " AND membership = 'invite'", user_id, origin)

    async def pending(self, conn: Queries, room_id: str, user_id: str) -> Row | None:
        return await conn.fetchrow(
            f"SELECT {COLUMNS} FROM remote_invites WHERE room_id = $1 AND user_id = $2"
            " AND membership = 'invite'", room_id, user_id)

    async def pending_of_user(self, user_id: str) -> list[Row]:
        return await self.db.fetch(
            f"SELECT {COLUMNS} FROM remote_invites WHERE user_id = $1"
            " AND membership = 'invite' ORDER BY stream_ordering DESC", user_id)

    async def changed_since(self, user_id: str, since: int, upto: int) -> list[Row]:
        """The user's invites and rejections in (since, upto]: what an incremental sync shows."""
        return await self.db.fetch(
            f"SELECT {COLUMNS} FROM remote_invites WHERE user_id = $1"
            " AND stream_ordering > $2 AND stream_ordering <= $3", user_id, since, upto)

    async def mark_rejected(self, conn: Connection, room_id: str, user_id: str,
                            position: int) -> None:
        await conn.execute(
            "UPDATE remote_invites SET membership = 'leave', stream_ordering = $3"
            " WHERE room_id = $1 AND user_id = $2", room_id, user_id, position)

    async def forget_room(self, conn: Connection, room_id: str) -> None:
        """The room is held here now: its memberships say who is invited."""
        await conn.execute("DELETE FROM remote_invites WHERE room_id = $1", room_id)

