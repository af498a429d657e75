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

from client_api.http import hs, json_response, path_param
from federation.edus import receive_edu
from federation.http import federation_of, origin_of, signed_body
from federation.pdu_checks import InvalidPdu, check_pdu
from homeserver.errors import BadJson, Forbidden, MatrixError
from homeserver.events.hashing import compute_event_id
from homeserver.schema import SchemaError, limit, parse
from homeserver.services import Homeserver

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


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
        event_id, outcome = await receive_pdu(server, federation.keyring, pdu)
        results[event_id] = outcome
    for edu in body.edus:
        await receive_edu(server, origin, edu)
    answer = {"pdus": results}
    await federation.store.record_inbound(origin, txn_id, json.dumps(answer),
                                          server.clock.time_ms())
    return json_response(answer)


async def receive_pdu(server: Homeserver, keyring: Any, pdu: Any) -> tuple[str, dict[str, Any]]:
    """Check and store one PDU; its event ID and the spec's per-PDU result."""
    try:
        event_id = compute_event_id(pdu)
    except (TypeError, ValueError, AttributeError):
        return "invalid", {"error": "not a PDU"}
    try:
        await check_pdu(pdu, keyring)
        async with server.rooms.writer.transaction() as txn:
            await server.rooms.writer.accept_remote(txn, pdu, event_id)
    except InvalidPdu as exc:
        log.info("rejected PDU %s: %s", event_id, exc)
        return event_id, {"error": str(exc)}
    except MatrixError as exc:
        log.info("rejected PDU %s: %s", event_id, exc.message)
        return event_id, {"error": exc.message}
    return event_id, {}
