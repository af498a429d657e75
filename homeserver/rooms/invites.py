"""Invites of our users from other servers: checked here, or kept apart until answered.

An invite into a room this server hosts (its ID names us) or whose state we
hold is an event like any other: it is authorised against the room's
current state (the inviter must be joined and allowed to invite, bans hold)
and stored, or refused. Any other invite names a room we cannot check; it
is kept in ``remote_invites`` only, never as a room, event or membership, so
a room ID chosen by another server never stands in the way of a room made
here. Its invitee sees it in /sync's ``invite`` section and answers it:
accepting joins through the inviting server (make_join/send_join), after
which the room is held here like any other; rejecting sends a leave through
make_leave/send_leave, and holds locally even when that server is down.
A server may keep at most ``federation.max_pending_invites`` unanswered
invites per user of ours.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from homeserver.channels import user_channel
from homeserver.clock import Clock
from homeserver.errors import Forbidden, MatrixError
from homeserver.events.canonical import canonical_json
from homeserver.gateway import FederationDoor
from homeserver.ids import server_of
from homeserver.rooms.transactions import Writes, WriteTxn
from homeserver.rooms.writer import EventWriter
from homeserver.storage.database import Row
from homeserver.storage.dms import DmStore
from homeserver.storage.invites import InviteStore, RemoteInvite
from homeserver.user_data import UserDataService

log = logging.getLogger(__name__)
MAX_INVITE_STATE = 20
STRIPPED_FIELDS = {"type": str, "state_key": str, "sender": str, "content": dict}


@dataclass(frozen=True)
class InviteView:
    """What /sync shows of a remote invite: its section and stripped state."""

    room_id: str
    membership: str  # "invite" or "leave"
    stripped_state: list[dict[str, Any]]


class RemoteInvites:
    def __init__(self, writer: EventWriter, writes: Writes, server_name: str,
                 store: InviteStore, dms: DmStore,
                 user_data: UserDataService, federation: FederationDoor, clock: Clock,
                 max_pending: int) -> None:
        self.writer = writer
        self.writes = writes
        self.server_name = server_name
        self.store = store
        self.dms = dms
        self.user_data = user_data
        self.clock = clock
        self.max_pending = max_pending
        self.federation = federation

    async def receive(self, pdu: dict[str, Any], event_id: str, origin: str,
                      invite_state: Any) -> None:
        """Take another server's invite of our user (its signature already checked):
        authorised and stored if we can check it, kept apart otherwise; Forbidden if not."""
        room_id, invitee = pdu["room_id"], pdu["state_key"]
        async with self.writes.transaction(room_id) as txn:
            await txn.lock_user(invitee)  # the cap below counts this user's invites
            if server_of(room_id) == self.server_name \
                    or await self.writer.events.room_exists(txn.conn, room_id):
                await self.writer.accept_remote(txn, pdu, event_id)
                return
            known = await self.store.pending(txn.conn, room_id, invitee)
            if known is None and \
                    await self.store.pending_from(txn.conn, invitee, origin) >= self.max_pending:
                raise Forbidden("Too many unanswered invites from your server for this user")
            invite = RemoteInvite(room_id, invitee, pdu["sender"], origin, event_id,
                                  canonical_json(pdu).decode(),
                                  json.dumps(_stripped(invite_state)))
            await self.store.put(txn.conn, invite, await txn.next_position())
            _announce(txn, invitee, room_id)

    async def accept(self, user_id: str, room_id: str) -> bool:
        """Join the room of a pending invite through its server; False if there is none."""
        row = await self.store.pending(self.store.db, room_id, user_id)
        if row is None:
            return False
        claimed = False
        low, high = sorted((user_id, row["inviter"]))
        if json.loads(row["pdu"])["content"].get("is_direct") is True:
            # Named as the pair's room before the join, so its events already go out
            # on the pair's channel.
            async with self.writes.transaction() as txn:
                claimed = await self.dms.insert_pair(txn.conn, low, high, room_id,
                                                     self.clock.time_ms())
                await self.user_data.add_to_direct(txn, user_id, row["inviter"], room_id)
        try:
            # Joining makes the room ours to hold; its rows in remote_invites go with that.
            await self.federation.gateway.join(room_id, user_id, via=row["origin"])
        except MatrixError:
            if claimed:  # a pair must never name a room its user is not in
                async with self.writes.transaction() as txn:
                    await self.dms.release_pair(txn.conn, low, high, room_id)
            raise
        return True

    async def reject(self, user_id: str, room_id: str) -> bool:
        """Refuse a pending invite, telling its server; False if there is none."""
        row = await self.store.pending(self.store.db, room_id, user_id)
        if row is None:
            return False
        try:
            await self.federation.gateway.leave(room_id, user_id, via=row["origin"])
        except MatrixError as exc:
            # The user wants it gone either way; the other server learns when it asks.
            log.warning("could not tell %s that %s rejects %s: %s", row["origin"], user_id,
                        room_id, exc.message)
        async with self.writes.transaction() as txn:
            await self.store.mark_rejected(txn.conn, room_id, user_id,
                                           await txn.next_position())
            _announce(txn, user_id, room_id)
        return True

    async def dm_invites_from(self, user_id: str, inviter: str) -> list[str]:
        """Rooms ``inviter`` invited ``user_id`` to as a DM, still unanswered, newest first."""
        rows = await self.store.pending_of_user(user_id)
        return [r["room_id"] for r in rows
                if r["inviter"] == inviter and json.loads(r["pdu"])["content"].get("is_direct")]

    async def for_sync(self, user_id: str, since: int | None, upto: int) -> list[InviteView]:
        """Pending invites for an initial sync; invites and rejections after ``since``."""
        if since is None:
            rows = await self.store.pending_of_user(user_id)
        else:
            rows = await self.store.changed_since(user_id, since, upto)
        return [_view(r) for r in rows]


def _announce(txn: WriteTxn, user_id: str, room_id: str) -> None:
    txn.announce(user_channel(user_id), {"kind": "invite", "room_id": room_id})


def _view(row: Row) -> InviteView:
    pdu = json.loads(row["pdu"])
    own = {"type": pdu["type"], "state_key": pdu["state_key"], "sender": pdu["sender"],
           "content": pdu["content"]}
    return InviteView(row["room_id"], row["membership"],
                      [*json.loads(row["invite_state"]), own])


def _stripped(invite_state: Any) -> list[dict[str, Any]]:
    """The well-formed stripped events of what the inviting server sent, bounded."""
    if not isinstance(invite_state, list):
        return []
    kept = []
    for event in invite_state[:MAX_INVITE_STATE]:
        if isinstance(event, dict) and all(isinstance(event.get(k), t)
                                           for k, t in STRIPPED_FIELDS.items()):
            kept.append({k: event[k] for k in STRIPPED_FIELDS})
    return kept
