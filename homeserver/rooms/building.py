"""Building events: prev and auth events from the room, our signature, the auth rules.

Reads the room through whatever it is given: the open write's connection (the
room's lock held, so what it reads stays true) or the pool for a template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.clock import Clock
from homeserver.errors import Forbidden, MatrixError
from homeserver.events import auth_rules
from homeserver.events.canonical import canonical_json
from homeserver.events.hashing import sign_and_name
from homeserver.events.keys import SigningKey
from homeserver.models import StoredEvent
from homeserver.storage.database import Queries
from homeserver.storage.events import EventStore

MAX_PDU_BYTES = 65_536
AuthState = dict[tuple[str, str], StoredEvent]


@dataclass(frozen=True)
class Built:
    pdu: dict[str, Any]
    event_id: str
    pdu_json: str
    auth_state: AuthState


class EventBuilder:
    def __init__(self, events: EventStore, key: SigningKey, server_name: str,
                 clock: Clock) -> None:
        self.events = events
        self.key = key
        self.server_name = server_name
        self.clock = clock

    async def auth_state(self, conn: Queries, room_id: str, partial: dict[str, Any]) -> AuthState:
        """The current state events the auth rules look at for ``partial``."""
        keys = auth_rules.auth_types_for_event(partial)
        state, _ = await self.events.room_head(conn, room_id, keys, with_latest=False)
        return state

    async def build(self, conn: Queries, partial: dict[str, Any]) -> Built:
        """The full PDU after the room's latest event, signed by us (413 if too large),
        its ID and canonical JSON (encoded once for the size check and storage), and
        the state the auth rules judge it by (read with the latest event, in one query)."""
        auth_state, latest = await self.events.room_head(conn, partial["room_id"],
                                                         auth_rules.auth_types_for_event(partial))
        pdu = {
            **partial,
            "auth_events": sorted(e.event_id for e in auth_state.values()),
            "prev_events": [latest["event_id"]] if latest else [],
            "depth": (latest["depth"] + 1) if latest else 1,
            "origin": self.server_name,
            "origin_server_ts": self.clock.time_ms(),
        }
        signed, event_id = sign_and_name(pdu, self.server_name, self.key)
        encoded = canonical_json(signed)
        if len(encoded) > MAX_PDU_BYTES:
            raise MatrixError("Event too large", status=413, errcode="M_TOO_LARGE")
        return Built(signed, event_id, encoded.decode(), auth_state)

    async def template(self, room_id: str, sender: str, event_type: str,
                       content: dict[str, Any], state_key: str | None = None) -> dict[str, Any]:
        """An unsigned event another server may sign and send back (make_join,
        make_leave), checked against the auth rules as if it were sent now."""
        db = self.events.db
        unsigned = {"type": event_type, "sender": sender, "content": content,
                    "room_id": room_id, "origin_server_ts": self.clock.time_ms(),
                    **({"state_key": state_key} if state_key is not None else {})}
        keys = auth_rules.auth_types_for_event(unsigned)
        auth_state, latest = await self.events.room_head(db, room_id, keys)
        if latest is None:
            raise Forbidden("Unknown room")
        pdu = {**unsigned, "auth_events": sorted(e.event_id for e in auth_state.values()),
               "prev_events": [latest["event_id"]], "depth": latest["depth"] + 1}
        authorise(pdu, auth_state)
        return pdu


def authorise(pdu: dict[str, Any], auth_state: AuthState) -> None:
    """Forbidden unless the auth rules allow ``pdu`` against ``auth_state``."""
    try:
        auth_rules.check_auth(pdu, {k: e.pdu for k, e in auth_state.items()})
    except auth_rules.AuthError as exc:
        raise Forbidden(str(exc)) from None
