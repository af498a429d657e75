"""Push rules for events from another server: evaluated when federation stores them."""

from __future__ import annotations

from tests.test_federation import (  # noqa: F401  (cluster is a fixture)
    V3,
    Cluster,
    cluster,
    dm_across,
    timeline,
)


async def test_remote_events_count_and_highlight(cluster: Cluster) -> None:  # noqa: F811
    a, b, alice, bob, room = await dm_across(cluster)
    await b.api.send(bob, room, "plain")
    await b.api.call("PUT", f"{V3}/rooms/{room}/send/m.room.message/mention", bob,
                     {"msgtype": "m.text", "body": "look",
                      "m.mentions": {"user_ids": [alice.user_id]}})
    bodies, _ = await timeline(a.api, alice, room, want=2)
    assert bodies[-2:] == ["plain", "look"]
    unread = (await a.api.sync(alice))["rooms"]["join"][room]["unread_notifications"]
    assert unread == {"notification_count": 2, "highlight_count": 1}
    listed = await a.api.call("GET", f"{V3}/notifications?only=highlight", alice)
    assert [n["event"]["content"]["body"] for n in listed["notifications"]] == ["look"]
