"""Evaluating push rules when an event is written, inside the event's own transaction.

For each local receiver (joined, other than the sender, and the target of an
invite) the receiver's ruleset (cached, see ``rules.py``) decides; the events
that notify are stored in multi-row inserts in the same transaction, so a
count never disagrees with the timeline. After the commit they go to the
receivers' pushers (``delivery.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from homeserver.clock import Clock
from homeserver.ids import server_of
from homeserver.models import StoredEvent
from homeserver.push.conditions import Outcome, RoomFacts, evaluate
from homeserver.push.rules import Rulesets
from homeserver.rooms.transactions import WriteTxn
from homeserver.storage.events import EventStore
from homeserver.storage.notifications import NotificationStore

# State keys per read of the receivers' member events: each is an OR'd pair in the
# query, and SQLite refuses an expression tree deeper than 1000.
STATE_KEYS_PER_READ = 200
# Called after the commit with the event and each notified receiver's outcome.
PushSink = Callable[[StoredEvent, list[tuple[str, Outcome]]], None]


class NotificationRecorder:
    def __init__(self, events: EventStore, rulesets: Rulesets, store: NotificationStore,
                 server_name: str, clock: Clock, sink: PushSink | None = None) -> None:
        self.events = events
        self.rulesets = rulesets
        self.store = store
        self.server_name = server_name
        self.clock = clock
        self.sink = sink  # the pushers' delivery

    async def record(self, txn: WriteTxn, event: StoredEvent, joined: list[str]) -> None:
        """Store what ``event`` means for each local receiver; ``joined``: the room's
        joined users (of every server) after the event."""
        receivers = self._receivers(event, joined)
        if not receivers:
            return
        facts = await self._facts(txn, event, receivers, len(joined))
        notified: list[tuple[str, Outcome]] = []
        for user_id in receivers:
            result = evaluate(await self.rulesets.of(user_id, txn.conn), event.pdu, user_id,
                              facts)
            if result is not None and result.notify:
                notified.append((user_id, result))
        if not notified:
            return
        now = self.clock.time_ms()
        await self.store.add(txn.conn, [
            (user_id, event.room_id, event.event_id, event.stream_ordering, result.highlight,
             json.dumps(result.actions), now) for user_id, result in notified])
        sink = self.sink
        if sink is not None:
            txn.on_commit(lambda: sink(event, notified))

    def _receivers(self, event: StoredEvent, joined: list[str]) -> list[str]:
        local = [u for u in joined if u != event.sender and server_of(u) == self.server_name]
        target = event.state_key
        if (event.type == "m.room.member" and target and target != event.sender
                and target not in local and server_of(target) == self.server_name
                and event.pdu.get("content", {}).get("membership") == "invite"):
            local.append(target)
        return local

    async def _facts(self, txn: WriteTxn, event: StoredEvent, receivers: list[str],
                     member_count: int) -> RoomFacts:
        """Power levels and display names, read only for events a mention rule could
        match (a body, or m.mentions); display names only without m.mentions, since
        the display-name rule is skipped for events that carry it."""
        content: Any = event.pdu.get("content")
        if not isinstance(content, dict) or event.state_key is not None:
            return RoomFacts(member_count)
        has_body = isinstance(content.get("body"), str)
        if not has_body and "m.mentions" not in content:
            return RoomFacts(member_count)
        keys = [("m.room.power_levels", "")]
        if has_body and "m.mentions" not in content:
            keys += [("m.room.member", user_id) for user_id in receivers]
        state = {}
        for start in range(0, len(keys), STATE_KEYS_PER_READ):
            state.update(await self.events.state_events(
                txn.conn, event.room_id, keys[start:start + STATE_KEYS_PER_READ]))
        power = state.get(("m.room.power_levels", ""))
        names = {}
        for user_id in receivers:
            member = state.get(("m.room.member", user_id))
            name = member.pdu.get("content", {}).get("displayname") if member else None
            if isinstance(name, str):
                names[user_id] = name
        return RoomFacts(member_count, power.pdu.get("content", {}) if power else {}, names)
