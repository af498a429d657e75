"""Cross-server DMs: one room per pair; the pair's own room lives with the lower user.

Another server can never put our user in a room: at most it invites them,
and they accept (opening the DM from their side, or joining) or reject.

When our user is the lower of the pair, the room is made here as for a
local pair, and the other server is told through a standard ``/invite``.
When our user is the higher, we ask the lower user's server for the pair's
room with a signed query (``GET /_matrix/federation/unstable/dm/{low}/{high}``).
It answers only with a room its user is already in (inviting ours again if
needed), which we join with make_join/send_join; otherwise, as with a plain
Matrix server that does not know the query, the ordinary flow applies: we
make a room here and invite, and the invited side joins it where it lives
when its user accepts.

Both sides starting at once may each answer with their own room first; an
invite into the pair's own room (the lower user's) then wins the next time
either user opens the DM, so they end in one room.
"""

from __future__ import annotations

import logging

from federation.client import FederationClient, FederationError, path
from federation.joins import RemoteJoiner
from homeserver.dms import DmResolution, dm_pair, dm_room_id
from homeserver.errors import MatrixError
from homeserver.events.format import stripped_state
from homeserver.ids import server_of
from homeserver.rooms.writer import ROOM_VERSION
from homeserver.services import Homeserver

log = logging.getLogger(__name__)
QUERY_PATH = "/_matrix/federation/unstable/dm/{}/{}"


class FederatedDms:
    def __init__(self, hs: Homeserver, client: FederationClient, joiner: RemoteJoiner,
                 ask: bool = True) -> None:
        self.hs = hs
        self.client = client
        self.joiner = joiner
        self.ask = ask  # False: behave as a plain Matrix server would

    async def resolve(self, me: str, other: str) -> DmResolution:
        dms = self.hs.dms
        known = await dms.room_of_pair(me, other)
        invited = await self.hs.rooms.invites.dm_invites_from(me, other)
        own_room = dm_room_id(me, other)
        prefer_invite = own_room in invited and known != own_room
        if known is not None and await dms.membership(known, me) == "join" \
                and not prefer_invite:
            return DmResolution(known, created=False)
        if invited:  # our user accepts the peer's invite
            room_id = own_room if own_room in invited else invited[0]
            if known is not None and known != room_id:
                await dms.record_pair(me, other, room_id, replace=True)
            await self.hs.rooms.invites.accept(me, room_id)
            return DmResolution(room_id, created=False)
        if known is not None and not await dms.hosted_here(known):
            # A DM we were in on another server: join it again.
            await self.joiner.join(known, me, via=server_of(known))
            return DmResolution(known, created=False)
        low, high = dm_pair(me, other)
        if server_of(low) == self.hs.server_name:
            resolution = await dms.resolve_here(me, other)
            if await dms.membership(resolution.room_id, other) == "invite":
                await self.send_invite(resolution.room_id, other)
            return resolution
        room_id = await self._ask_home(low, high) if self.ask else None
        if room_id is None:
            room_id = await dms.create_hosted_here(me, other)
            await self.send_invite(room_id, other)
            return DmResolution(room_id, created=True)
        if known is None:
            await dms.record_pair(me, other, room_id)
        await self.joiner.join(room_id, me, via=server_of(low))
        return DmResolution(room_id, created=known is None)

    async def _ask_home(self, low: str, high: str) -> str | None:
        """The pair's room from the lower user's server; None if it has none its user
        is in, or does not know the query (a plain Matrix server): the ordinary invite
        flow takes over."""
        home = server_of(low)
        try:
            answer = await self.client.request("GET", home, path(QUERY_PATH, low, high))
        except FederationError as exc:
            if exc.status in (400, 404, 405):
                log.info("%s has no DM room for us to join; inviting instead", home)
                return None
            raise MatrixError(f"{home} could not open the DM: {exc}", status=502,
                              errcode="M_UNKNOWN") from None
        return str(answer["room_id"])

    async def send_invite(self, room_id: str, invitee: str) -> None:
        """Tell the invitee's server of an invite we already stored (best effort: the
        DM also opens when their user starts it from their side)."""
        row = await self.hs.history.membership(room_id, invitee)
        if row is None:
            return
        invite = await self.hs.history.event(row["event_id"])
        if invite is None:
            return
        state = await self.hs.history.current_state(room_id)
        body = {"room_version": ROOM_VERSION, "event": invite.pdu,
                "invite_room_state": [stripped_state(e) for e in state
                                      if e.type != "m.room.member"
                                      or e.state_key == invite.sender]}
        try:
            await self.client.request(
                "PUT", server_of(invitee),
                path("/_matrix/federation/v2/invite/{}/{}", room_id, invite.event_id), body)
        except FederationError as exc:
            log.warning("could not send the invite of %s to its server: %s", invitee, exc)
