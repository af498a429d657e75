"""PUT /_matrix/federation/v1/send/{txnId}: PDUs and EDUs from another server.

Idempotent per (origin, txn ID): a replay gets the first answer and nothing
is processed twice. Each PDU is checked for validity (signature, content
hash, event ID) and then against the auth rules of the room's state; one
that fails is reported in the answer and never stored, so no client sees it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from federation.client import FederationError, path
from federation.edus import receive_edu
from federation.http import federation_of, origin_of, signed_body
from federation.pdu_checks import InvalidPdu, check_pdu
from federation.services import Federation
from homeserver.errors import BadJson, Forbidden, MatrixError
from homeserver.events.hashing import compute_event_id
from homeserver.schema import SchemaError, limit, parse
from homeserver.services import Homeserver
from homeserver.web.http import hs, json_response, path_param

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MISSING_LIMIT = 50


@dataclass
class TransactionBody:
    origin: str = limit(max_len=255)
    origin_server_ts: int = limit()
    pdus: list[Any] = field(metadata={"max_len": 50})
    edus: list[Any] = field(default_factory=list, metadata={"max_len": 100})


@routes.put("/_matrix/federation/v1/send/{txn_id}")
async def receive_transaction(request: web.Request) -> web.Response:
    content = await signed_body(request)
    origin = await origin_of(request, content)
    txn_id = path_param(request, "txn_id")
    federation = federation_of(request)
    answered = await federation.store.inbound_response(origin, txn_id)
    if answered is not None:
        return json_response(json.loads(answered))
    try:
        body = parse(TransactionBody, content or {})
    except SchemaError as exc:
        raise BadJson(str(exc)) from None
    if body.origin != origin:
        raise Forbidden("The transaction's origin is not the signing server")
    server = hs(request)
    results = {}
    for pdu in body.pdus:
        event_id, outcome = await receive_pdu(server, federation, origin, pdu)
        results[event_id] = outcome
    for edu in body.edus:
        await receive_edu(server, origin, edu)
    answer = {"pdus": results}
    await federation.store.record_inbound(origin, txn_id, json.dumps(answer),
                                          server.clock.time_ms())
    return json_response(answer)


async def receive_pdu(server: Homeserver, federation: Federation, origin: str, pdu: Any,
                      heal: bool = True) -> tuple[str, dict[str, Any]]:
    """Check and store one PDU; its event ID and the spec's per-PDU result. With
    ``heal``, events we missed before it are fetched from ``origin`` first."""
    try:
        event_id = compute_event_id(pdu)
    except (TypeError, ValueError, AttributeError):
        return "invalid", {"error": "not a PDU"}
    try:
        await check_pdu(pdu, federation.keyring)
        if heal:
            await heal_gap(server, federation, origin, pdu, event_id)
        await server.received.store(pdu, event_id)
    except InvalidPdu as exc:
        log.info("rejected PDU %s: %s", event_id, exc)
        return event_id, {"error": str(exc)}
    except MatrixError as exc:
        log.info("rejected PDU %s: %s", event_id, exc.message)
        return event_id, {"error": exc.message}
    return event_id, {}


async def heal_gap(server: Homeserver, federation: Federation, origin: str,
                   pdu: dict[str, Any], event_id: str) -> None:
    """Fetch and store the events between our latest and ``pdu`` if we missed some."""
    events = server.history
    known = await events.events_by_id(pdu["prev_events"])
    if len(known) == len(set(pdu["prev_events"])):
        return
    latest = await events.latest_event(pdu["room_id"])
    if latest is None:
        return
    request = {"earliest_events": [latest["event_id"]], "latest_events": [event_id],
               "limit": MISSING_LIMIT}
    try:
        answer = await federation.client.request(
            "POST", origin, path("/_matrix/federation/v1/get_missing_events/{}",
                                 pdu["room_id"]), request)
    except FederationError as exc:
        log.warning("could not fetch events missed before %s: %s", event_id, exc)
        return
    for missed in answer.get("events", []) if isinstance(answer, dict) else []:
        await receive_pdu(server, federation, origin, missed, heal=False)
