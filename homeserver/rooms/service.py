"""Writing to rooms for a user: create, send, state, membership changes, redaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homeserver import ids
from homeserver.clock import Clock
from homeserver.errors import Forbidden, MatrixError, NotFound
from homeserver.models import StoredEvent
from homeserver.rooms import presets
from homeserver.rooms.indexing import EventIndexer
from homeserver.rooms.invites import RemoteInvites
from homeserver.rooms.transactions import Writes, WriteTxn
from homeserver.rooms.writer import ROOM_VERSION, EventWriter
from homeserver.storage.accounts import AccountStore
from homeserver.storage.dms import DmStore
from homeserver.storage.events import EventStore

NOT_MEMBER = "You are not a member of this room"
DM_TOUCHING_TYPES = {"m.room.message", "m.room.encrypted", "m.sticker"}


def txn_scope(action: str, room_id: str, target: str) -> str:
    """What a transaction ID is scoped to besides the device: the request's path."""
    return f"{action}/{room_id}/{target}"


@dataclass
class RoomSpec:
    """What a createRoom request asks for."""

    preset: str = "private_chat"
    name: str | None = None
    topic: str | None = None
    invite: list[str] = field(default_factory=list)
    initial_state: list[dict[str, Any]] = field(default_factory=list)
    power_level_content_override: dict[str, Any] | None = None
    is_direct: bool = False
    creation_content: dict[str, Any] = field(default_factory=dict)


class RoomService:
    def __init__(self, writer: EventWriter, writes: Writes, events: EventStore, dms: DmStore,
                 accounts: AccountStore, invites: RemoteInvites, indexer: EventIndexer,
                 server_name: str, clock: Clock) -> None:
        self.writer = writer
        self.indexer = indexer
        self.writes = writes
        self.invites = invites
        self.events = events
        self.dms = dms
        self.accounts = accounts
        self.server_name = server_name
        self.clock = clock

    def new_room_id(self) -> str:
        return f"!{ids.random_string(18, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ')}" \
               f":{self.server_name}"

    async def create_room(self, creator: str, spec: RoomSpec) -> str:
        for user in spec.invite:
            await self.check_local_user(user)
        room_id = self.new_room_id()
        async with self.writes.transaction() as txn:
            await self.create_in(txn, room_id, creator, spec)
        return room_id

    async def create_in(self, txn: WriteTxn, room_id: str, creator: str, spec: RoomSpec) -> None:
        """Write a new room's first events inside an open write."""
        await self.events.insert_room(txn.conn, room_id, ROOM_VERSION, creator, spec.is_direct,
                                      self.clock.time_ms())
        append = self.writer.append
        await append(txn, room_id, creator, "m.room.create",
                     {**spec.creation_content, "creator": creator, "room_version": ROOM_VERSION},
                     "")
        await self.set_membership(txn, room_id, creator, creator, "join")
        await append(txn, room_id, creator, "m.room.power_levels", presets.power_levels(
            creator, spec.preset, spec.invite, spec.power_level_content_override), "")
        for event_type, content in presets.initial_state(spec.preset):
            await append(txn, room_id, creator, event_type, content, "")
        for state in spec.initial_state:
            await append(txn, room_id, creator, state["type"], state.get("content", {}),
                         state.get("state_key", ""))
        if spec.name is not None:
            await append(txn, room_id, creator, "m.room.name", {"name": spec.name}, "")
        if spec.topic is not None:
            await append(txn, room_id, creator, "m.room.topic", {"topic": spec.topic}, "")
        for user in spec.invite:
            await self.set_membership(txn, room_id, creator, user, "invite",
                                       is_direct=spec.is_direct)

    async def check_local_user(self, user_id: str) -> None:
        if not ids.is_valid_user_id(user_id):
            raise MatrixError(f"Invalid user ID {user_id!r}", status=400,
                              errcode="M_INVALID_PARAM")
        if ids.server_of(user_id) != self.server_name:
            raise Forbidden("Federation with other servers is not enabled")
        if not await self.accounts.user_exists(user_id):
            raise NotFound(f"Unknown user {user_id}")
        if await self.accounts.is_deactivated(user_id):
            raise Forbidden(f"{user_id} has deactivated their account")

    async def send(self, sender: str, device_id: str, room_id: str, event_type: str,
                   content: dict[str, Any], txn_id: str | None = None,
                   state_key: str | None = None) -> str:
        """Send a message or state event.

        The same txn_id from a device, to the same room and event type, gives
        the same event; in another room or of another type it is a new event.
        """
        scope = txn_scope("send", room_id, event_type)
        async with self.writes.transaction(room_id) as txn:
            earlier = await self._replay_or_member(txn, room_id, sender, device_id, scope,
                                                   txn_id)
            if earlier is not None:
                return earlier
            event = await self.writer.append(txn, room_id, sender, event_type, content, state_key)
            if txn_id is not None:
                await self.events.record_txn(txn.conn, sender, device_id, scope, txn_id,
                                             event.event_id, self.clock.time_ms())
            if event_type in DM_TOUCHING_TYPES:
                await self.dms.touch(txn.conn, room_id, event.event_id, self.clock.time_ms())
        return event.event_id

    async def _replay_or_member(self, txn: WriteTxn, room_id: str, sender: str,
                                device_id: str, scope: str, txn_id: str | None) -> str | None:
        """The event of an earlier request with this txn ID; else Forbidden unless joined."""
        earlier, membership = await self.events.sender_checks(
            txn.conn, room_id, sender, device_id, scope, txn_id)
        if earlier is None and membership != "join":
            raise Forbidden(NOT_MEMBER)
        return earlier

    async def require_joined(self, txn: WriteTxn, room_id: str, user_id: str) -> None:
        row = await self.events.membership(txn.conn, room_id, user_id)
        if row is None or row["membership"] != "join":
            raise Forbidden(NOT_MEMBER)

    async def redact(self, sender: str, device_id: str, room_id: str, target_id: str,
                     reason: str | None, txn_id: str) -> str:
        scope = txn_scope("redact", room_id, target_id)
        async with self.writes.transaction(room_id) as txn:
            earlier = await self._replay_or_member(txn, room_id, sender, device_id, scope,
                                                   txn_id)
            if earlier is not None:
                return earlier
            target = await self.events.event(txn.conn, target_id)
            if target is None or target.room_id != room_id:
                raise NotFound("Event not found")
            content = {"redacts": target_id, **({"reason": reason} if reason else {})}
            if target.sender != sender:
                await self._require_power(txn, room_id, sender, "redact")
            event = await self.writer.append(txn, room_id, sender, "m.room.redaction", content,
                                             extra={"redacts": target_id})
            await self.events.mark_redacted(txn.conn, target_id, event.event_id)
            await self.indexer.forget(txn.conn, target_id)
            await self.events.record_txn(txn.conn, sender, device_id, scope, txn_id,
                                         event.event_id, self.clock.time_ms())
        return event.event_id

    async def _require_power(self, txn: WriteTxn, room_id: str, user_id: str,
                             action: str) -> None:
        levels = await self.events.state_events(txn.conn, room_id, [("m.room.power_levels", "")])
        content = levels[("m.room.power_levels", "")].pdu["content"] if levels else {}
        users = content.get("users", {})
        mine = users.get(user_id, content.get("users_default", 0))
        if mine < content.get(action, 50):
            raise Forbidden(f"You may not {action} in this room")

    # membership -------------------------------------------------------------
    async def invite(self, inviter: str, room_id: str, target: str,
                     reason: str | None = None) -> None:
        await self.check_local_user(target)
        async with self.writes.transaction(room_id) as txn:
            await self.require_joined(txn, room_id, inviter)
            await self.set_membership(txn, room_id, inviter, target, "invite", reason=reason)

    async def join(self, user_id: str, room_id: str) -> None:
        if await self.invites.accept(user_id, room_id):
            return
        async with self.writes.transaction(room_id) as txn:
            if not await self.events.room_exists(txn.conn, room_id):
                raise NotFound("No such room")
            await self.set_membership(txn, room_id, user_id, user_id, "join")

    async def leave(self, user_id: str, room_id: str, reason: str | None = None) -> None:
        if await self.invites.reject(user_id, room_id):
            return
        async with self.writes.transaction(room_id) as txn:
            row = await self.events.membership(txn.conn, room_id, user_id)
            if row is None or row["membership"] not in ("join", "invite", "knock"):
                raise Forbidden(NOT_MEMBER)
            await self.set_membership(txn, room_id, user_id, user_id, "leave", reason=reason)

    async def change_other(self, sender: str, room_id: str, target: str, membership: str,
                           reason: str | None = None) -> None:
        """Kick (leave), ban, or unban (leave of a banned user) someone else."""
        async with self.writes.transaction(room_id) as txn:
            await self.require_joined(txn, room_id, sender)
            await self.set_membership(txn, room_id, sender, target, membership, reason=reason)

    async def joined_rooms(self, user_id: str) -> list[str]:
        return [r["room_id"] for r in await self.events.rooms_of_user(user_id, ["join"])]

    async def refresh_member_profile(self, user_id: str) -> None:
        """A join event with the user's current profile in each room they are joined to."""
        for room_id in await self.joined_rooms(user_id):
            async with self.writes.transaction(room_id) as txn:
                row = await self.events.membership(txn.conn, room_id, user_id)
                if row is not None and row["membership"] == "join":  # may have left since
                    await self.set_membership(txn, room_id, user_id, user_id, "join")

    async def forget(self, user_id: str, room_id: str) -> None:
        row = await self.events.membership(self.events.db, room_id, user_id)
        if row is None:
            raise Forbidden(NOT_MEMBER)
        if row["membership"] in ("join", "invite"):
            raise MatrixError("Leave the room before forgetting it", status=400,
                              errcode="M_UNKNOWN")
        await self.events.forget(room_id, user_id)

    async def set_membership(self, txn: WriteTxn, room_id: str, sender: str, target: str,
                              membership: str, reason: str | None = None,
                              is_direct: bool = False) -> StoredEvent:
        content: dict[str, Any] = {"membership": membership}
        if membership in ("join", "invite"):
            profile = await self.accounts.profile(txn.conn, target)
            if profile is not None:
                content.update({k: profile[k] for k in ("displayname", "avatar_url")
                                if profile[k] is not None})
        if reason:
            content["reason"] = reason
        if is_direct:
            content["is_direct"] = True
        return await self.writer.append(txn, room_id, sender, "m.room.member", content, target)
