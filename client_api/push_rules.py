"""Push rules: GET /pushrules/, GET/PUT/DELETE /pushrules/global/{kind}/{ruleId} and a
rule's enabled flag and actions."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from client_api.http import read_body, read_object, requester
from homeserver.errors import InvalidParam, Unrecognized
from homeserver.web.http import hs, json_response, path_param

routes = web.RouteTableDef()
PREFIX = "/_matrix/client/v3/pushrules"
RULE = PREFIX + "/{scope}/{kind}/{rule_id}"
MAX_RULE_ID = 255


@dataclass
class EnabledBody:
    enabled: bool


def _scope(request: web.Request) -> None:
    if request.match_info["scope"] != "global":
        raise InvalidParam("The only push rule scope is global")


def _rule_path(request: web.Request) -> tuple[str, str]:
    _scope(request)
    return path_param(request, "kind", 32), path_param(request, "rule_id", MAX_RULE_ID)


def _anchor(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and (not value or len(value) > MAX_RULE_ID):
        raise InvalidParam(f"{name} must be a rule ID")
    return value


@routes.get(PREFIX)
@routes.get(PREFIX + "/")
async def all_rules(request: web.Request) -> web.Response:
    who = await requester(request)
    return json_response({"global": await hs(request).push_rules.ruleset(who.user_id)})


@routes.get(PREFIX + "/{scope}/")
async def scope_rules(request: web.Request) -> web.Response:
    who = await requester(request)
    _scope(request)
    return json_response(await hs(request).push_rules.ruleset(who.user_id))


@routes.get(RULE)
async def get_rule(request: web.Request) -> web.Response:
    who = await requester(request)
    kind, rule_id = _rule_path(request)
    return json_response(await hs(request).push_rules.rule(who.user_id, kind, rule_id))


@routes.put(RULE)
async def put_rule(request: web.Request) -> web.Response:
    who = await requester(request)
    kind, rule_id = _rule_path(request)
    before, after = _anchor(request, "before"), _anchor(request, "after")
    if before and after:
        raise InvalidParam("Give before or after, not both")
    body = await read_object(request)
    await hs(request).push_rules.add(who.user_id, kind, rule_id, body, before, after)
    return json_response({})


@routes.delete(RULE)
async def delete_rule(request: web.Request) -> web.Response:
    who = await requester(request)
    kind, rule_id = _rule_path(request)
    await hs(request).push_rules.delete(who.user_id, kind, rule_id)
    return json_response({})


@routes.get(RULE + "/{attr}")
async def get_attribute(request: web.Request) -> web.Response:
    who = await requester(request)
    kind, rule_id = _rule_path(request)
    attr = _attribute(request)
    rule = await hs(request).push_rules.rule(who.user_id, kind, rule_id)
    return json_response({attr: rule[attr]})


@routes.put(RULE + "/{attr}")
async def put_attribute(request: web.Request) -> web.Response:
    who = await requester(request)
    kind, rule_id = _rule_path(request)
    if _attribute(request) == "enabled":
        body = await read_body(request, EnabledBody)
        await hs(request).push_rules.set_enabled(who.user_id, kind, rule_id, body.enabled)
    else:
        raw = await read_object(request)
        if "actions" not in raw:
            raise InvalidParam("actions is required", errcode="M_MISSING_PARAM")
        await hs(request).push_rules.set_actions(who.user_id, kind, rule_id, raw["actions"])
    return json_response({})


def _attribute(request: web.Request) -> str:
    attr = request.match_info["attr"]
    if attr not in ("enabled", "actions"):
        raise Unrecognized("A push rule has enabled and actions only")
    return attr
