"""GET /rooms/{id}/timestamp_to_event (spec v1.6): the event nearest a time, for members."""

from __future__ import annotations

from homeserver.clock import FakeClock
from tests.conftest import Api, register

V1 = "/_matrix/client/v1"


async def test_nearest_event_each_way_members_only_and_bad_input(api: Api,
                                                                 clock: FakeClock) -> None:
    alice = await register(api.client, "alice")
    eve = await register(api.client, "eve")
    room = await api.create_room(alice)
    clock.advance(10)
    early = await api.send(alice, room, "early")
    middle_ts = clock.time_ms() + 5
    clock.advance(10)
    late = await api.send(alice, room, "late")
    path = f"{V1}/rooms/{room}/timestamp_to_event"

    after = await api.call("GET", f"{path}?ts={middle_ts}&dir=f", alice)
    assert after["event_id"] == late
    before = await api.call("GET", f"{path}?ts={middle_ts}&dir=b", alice)
    assert before["event_id"] == early
    assert before["origin_server_ts"] < middle_ts < after["origin_server_ts"]
    none = await api.call("GET", f"{path}?ts={clock.time_ms() + 1000}&dir=f", alice,
                          status=404)
    assert none["errcode"] == "M_NOT_FOUND"

    stranger = await api.call("GET", f"{path}?ts={middle_ts}&dir=f", eve, status=403)
    assert stranger["errcode"] == "M_FORBIDDEN"
    for query, errcode in [("ts=1&dir=x", "M_INVALID_PARAM"), ("dir=f", "M_MISSING_PARAM"),
                           ("ts=-1&dir=f", "M_INVALID_PARAM"), ("ts=abc&dir=b", "M_INVALID_PARAM"),
                           ("ts=1", "M_INVALID_PARAM")]:
        bad = await api.call("GET", f"{path}?{query}", alice, status=400)
        assert bad["errcode"] == errcode, query
