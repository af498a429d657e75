"""Direct messages: one room per pair of users, forever.

The pair is the two full user IDs sorted by plain string order. Its room ID
is computed, not searched for::

    "!" + base64url(sha256("m.dm\\0" + low + "\\0" + high)) + ":" + server_of(low)

so either side knows it without a lookup. Resolution is race-safe: it runs
in one write transaction (the stream lock orders it), and the UNIQUE
(user_low, user_high) key of ``dm_pairs`` is the backstop.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from homeserver import ids
from homeserver.clock import Clock
from homeserver.errors import Forbidden, InvalidParam, MatrixError
from homeserver.events.format import client_event
from homeserver.gateway import FederationDoor
from homeserver.push.notifications import NotificationService
from homeserver.rooms.service import RoomService, RoomSpec
from homeserver.rooms.transactions import WriteTxn
from homeserver.storage.accounts import AccountStore
from homeserver.storage.dms import DmStore
from homeserver.storage.events import EventStore
from homeserver.user_data import UserDataService


def dm_pair(user_a: str, user_b: str) -> tuple[str, str]:
    low, high = sorted((user_a, user_b))
    return low, high


def dm_room_id(user_a: str, user_b: str) -> str:
    low, high = dm_pair(user_a, user_b)
    digest = hashlib.sha256(f"m.dm\0{low}\0{high}".encode()).digest()
    opaque = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return f"!{opaque}:{ids.server_of(low)}"


log = logging.getLogger(__name__)

ENCRYPTION = "m.room.encryption"
MEGOLM = "m.megolm.v1.aes-sha2"
# The only state a DM's starter may set. The pair's room is permanent and its ID can be
# computed by anyone, so whoever starts it must not be able to open it (join rules),
# expose its history, or take the other person's voice (power levels, never taken).
DM_STATE_WISHES = frozenset({ENCRYPTION, "m.room.name", "m.room.topic", "m.room.avatar"})
# Sent by common clients (Element asks for can_join in every room it makes); the preset
# sets it already and this server has no guest accounts: dropped, not refused.
DM_STATE_IGNORED = frozenset({"m.room.guest_access"})


@dataclass(frozen=True)
class DmResolution:
    room_id: str
    created: bool


@dataclass(frozen=True)
class DmWish:
    """What the starter asked of the DM (createRoom's fields): applied when the room is
    made; of an existing room only encryption is kept, turned on if it was asked for and
    is missing, never off. DmService.checked keeps to what a DM allows."""

    initial_state: list[dict[str, Any]] = field(default_factory=list)
    name: str | None = None
    topic: str | None = None
    # Never applied: both users of a DM stay at power 100 (see DmService.checked).
    power_level_content_override: dict[str, Any] | None = None

    def encryption(self, new: bool, by_default: bool) -> dict[str, Any] | None:
        """The m.room.encryption content asked for, if any; else the server's default
        (``by_default``) for a new room, never for an old one."""
        for state in self.initial_state:
            if state["type"] == ENCRYPTION and state.get("state_key", "") == "":
                return state.get("content", {})
        return {"algorithm": MEGOLM} if new and by_default else None

    def spec(self, other: str, by_default: bool) -> RoomSpec:
        initial_state = list(self.initial_state)
        default = self.encryption(True, by_default)
        if default is not None and not any(s["type"] == ENCRYPTION for s in initial_state):
            initial_state.append({"type": ENCRYPTION, "content": default, "state_key": ""})
        return RoomSpec(preset="trusted_private_chat", invite=[other], is_direct=True,
                        name=self.name, topic=self.topic, initial_state=initial_state)


class DmService:
    def __init__(self, rooms: RoomService, user_data: UserDataService, store: DmStore,
                 events: EventStore, notifications: NotificationService, accounts: AccountStore,
                 federation: FederationDoor, clock: Clock, encrypt_by_default: bool) -> None:
        self.rooms = rooms
        self.user_data = user_data
        self.store = store
        self.events = events
        self.notifications = notifications
        self.accounts = accounts
        self.clock = clock
        self.federation = federation
        # config e2ee.default: a new DM is encrypted unless the starter asked otherwise.
        self.encrypt_by_default = encrypt_by_default

    @staticmethod
    def checked(me: str, wish: DmWish) -> DmWish:
        """The wish as a DM may take it: M_INVALID_PARAM for state it may not set."""
        kept = []
        for state in wish.initial_state:
            kind, key = state["type"], state.get("state_key", "")
            if kind in DM_STATE_IGNORED:
                log.info("DM wish of %s: %s ignored", me, kind)
                continue
            if kind not in DM_STATE_WISHES or key != "":
                raise InvalidParam(f"A DM's initial_state may not set {kind}; only "
                                   f"{', '.join(sorted(DM_STATE_WISHES))}")
            kept.append(state)
        if wish.power_level_content_override is not None:
            log.info("DM wish of %s: power_level_content_override ignored", me)
        return replace(wish, initial_state=kept, power_level_content_override=None)

    async def resolve(self, me: str, other: str, wish: DmWish | None = None) -> DmResolution:
        """The pair's room, made on first use (as ``wish`` asks); both users end up in
        it again."""
        if me == other:
            raise MatrixError("You cannot start a DM with yourself", status=400,
                              errcode="M_INVALID_PARAM")
        wish = self.checked(me, wish or DmWish())
        if self.federation.connected and ids.is_valid_user_id(other) \
                and ids.server_of(other) != self.rooms.server_name:
            resolved = await self.federation.gateway.resolve_dm(me, other)
            if wish.encryption(resolved.created, self.encrypt_by_default) is not None:
                await self._encrypt_elsewhere(resolved.room_id, me, wish, resolved.created)
            return resolved
        await self.rooms.check_local_user(other)
        return await self.resolve_here(me, other, wish)

    async def resolve_here(self, me: str, other: str,
                           wish: DmWish | None = None) -> DmResolution:
        """Resolve a pair whose room lives on this server (``me`` is local)."""
        wish = self.checked(me, wish or DmWish())
        low, high = dm_pair(me, other)
        async with self.rooms.writes.transaction() as txn:
            await txn.lock_pair(low, high)
            room_id = await self.store.room_for_pair(txn.conn, low, high)
            created = room_id is None
            if room_id is None:
                room_id = dm_room_id(low, high)
                await self.store.insert_pair(txn.conn, low, high, room_id, self.clock.time_ms())
                await self.rooms.create_in(txn, room_id, me,
                                           wish.spec(other, self.encrypt_by_default))
            else:
                await self._bring_back(txn, room_id, me, other)
                await self._keep_encryption(txn, room_id, me,
                                            wish.encryption(False, self.encrypt_by_default))
            for user in (low, high):  # in one order everywhere: no two writes deadlock
                await txn.lock_user(user)
            await self.user_data.add_to_direct(txn, me, other, room_id)
            await self.user_data.add_to_direct(txn, other, me, room_id)
        return DmResolution(room_id, created)

    async def room_for_peer(self, local: str, remote: str) -> str | None:
        """The room of a pair whose lower user is ours, asked for by the remote user's
        server: only one ``local`` is in already (the remote user is invited again if
        they had left). None otherwise: this never makes a room or joins anyone, so
        another server cannot put our user in a room they did not ask for."""
        low, high = dm_pair(local, remote)
        async with self.rooms.writes.transaction() as txn:
            await txn.lock_pair(low, high)
            room_id = await self.store.room_for_pair(txn.conn, low, high)
            if room_id is None or await self._membership(txn, room_id, local) != "join":
                return None
            if await self._membership(txn, room_id, remote) in ("leave", None):
                await self.rooms.set_membership(txn, room_id, local, remote, "invite",
                                                is_direct=True)
        return room_id

    async def create_hosted_here(self, me: str, other: str) -> str:
        """A pair's room made here under a fresh ID: for a peer whose server cannot
        agree on the pair's room (plain Matrix), as any client would make a DM."""
        low, high = dm_pair(me, other)
        room_id = self.rooms.new_room_id()
        async with self.rooms.writes.transaction() as txn:
            await txn.lock_pair(low, high)
            if not await self.store.insert_pair(txn.conn, low, high, room_id,
                                                self.clock.time_ms()):
                raise MatrixError("The DM is being opened already; try again", status=409,
                                  errcode="M_UNKNOWN")
            spec = RoomSpec(preset="trusted_private_chat", invite=[other], is_direct=True)
            await self.rooms.create_in(txn, room_id, me, spec)
            await self.user_data.add_to_direct(txn, me, other, room_id)
        return room_id

    async def hosted_here(self, room_id: str) -> bool:
        """Whether we hold the room's create event (not just an invite into it)."""
        state = await self.events.current_state_ids(self.events.db, room_id,
                                                    types=["m.room.create"])
        return bool(state)

    async def record_pair(self, me: str, other: str, room_id: str,
                          replace: bool = False) -> None:
        """Remember a pair's room that lives on another server (instead of the one
        known so far, with ``replace``)."""
        low, high = dm_pair(me, other)
        async with self.rooms.writes.transaction() as txn:
            await txn.lock_pair(low, high)
            if replace:
                await self.store.set_room(txn.conn, low, high, room_id)
            await self.store.insert_pair(txn.conn, low, high, room_id, self.clock.time_ms())
            await self.user_data.add_to_direct(txn, me, other, room_id)

    async def room_of_pair(self, me: str, other: str) -> str | None:
        low, high = dm_pair(me, other)
        return await self.store.room_for_pair(self.events.db, low, high)

    async def membership(self, room_id: str, user_id: str) -> str | None:
        row = await self.events.membership(self.events.db, room_id, user_id)
        return None if row is None else row["membership"]

    async def _bring_back(self, txn: WriteTxn, room_id: str, me: str, other: str) -> None:
        """Re-join the requester and re-invite the peer, whoever of them had left."""
        mine = await self._membership(txn, room_id, me)
        theirs = await self._membership(txn, room_id, other)
        if mine != "join":
            if mine != "invite":
                if theirs != "join":
                    raise Forbidden("Both of you have left this DM; it cannot be reopened")
                await self.rooms.set_membership(txn, room_id, other, me, "invite", is_direct=True)
            await self.rooms.set_membership(txn, room_id, me, me, "join")
        if theirs in ("leave", None):
            await self.rooms.set_membership(txn, room_id, me, other, "invite", is_direct=True)

    async def _keep_encryption(self, txn: WriteTxn, room_id: str, me: str,
                               asked: dict[str, Any] | None) -> None:
        """Turn on the encryption the caller asked for, as the caller; the room's power
        levels decide (Forbidden, never a silently less private room). Never off."""
        if asked is None:
            return
        if await self.events.state_events(txn.conn, room_id, [(ENCRYPTION, "")]):
            return
        await self.rooms.writer.append(txn, room_id, me, ENCRYPTION, asked, "")

    async def _encrypt_elsewhere(self, room_id: str, me: str, wish: DmWish,
                                 new: bool) -> None:
        """The same for a pair's room resolved through another server."""
        async with self.rooms.writes.transaction(room_id) as txn:
            if await self._membership(txn, room_id, me) != "join":
                raise Forbidden("Join the DM before asking for its encryption")
            await self._keep_encryption(txn, room_id, me,
                                        wish.encryption(new, self.encrypt_by_default))

    async def _membership(self, txn: WriteTxn, room_id: str, user_id: str) -> str | None:
        row = await self.events.membership(txn.conn, room_id, user_id)
        return None if row is None else row["membership"]

    async def dm_list(self, me: str) -> list[dict[str, Any]]:
        """The user's DMs, most recently active first, with the latest message and unreads."""
        rows = await self.store.pairs_of_user(me)
        latest = await self.events.events_by_id(
            r["latest_event_id"] for r in rows if r["latest_event_id"]
        )
        now = self.clock.time_ms()
        result = []
        for row in rows:
            other = row["user_high"] if row["user_low"] == me else row["user_low"]
            profile = await self.accounts.profile(self.accounts.db, other)
            event = latest.get(row["latest_event_id"])
            counts = await self.notifications.room_counts(row["room_id"], me)
            result.append({
                "room_id": row["room_id"],
                "user_id": other,
                "display_name": profile["displayname"] if profile else None,
                "latest_event": client_event(event, now) if event else None,
                "unread_count": counts.notification_count,
                "highlight_count": counts.highlight_count,
                "updated_ts": row["updated_ts"],
            })
        return result
