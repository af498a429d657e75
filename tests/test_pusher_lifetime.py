"""Attack: a stolen phone keeps receiving message content through its pusher after
its owner logged it out, deleted it, changed the password or closed the account. A
pusher belongs to the device that set it and goes with it, by every path; pushes
already queued for it are dropped. Both backends."""

from __future__ import annotations

import json
from typing import Any

from homeserver.clock import FakeClock
from homeserver.services import Homeserver
from homeserver.storage.pushers import PusherStore
from tests.conftest import Account, Api, register
from tests.test_account_settings import login, password_auth
from tests.test_pushers import (  # noqa: F401
    V3,
    Gateway,
    backing_off,
    dm,
    gateway,
    idle,
    pusher,
    pushing,
)

PHONE_URL = "https://push.example.com/_matrix/push/v1/notify"


async def second_device(api: Api, who: Account) -> Account:
    data = await login(api, who.user_id)
    return Account(data["user_id"], data["access_token"], data["device_id"])


async def pushkeys(server: Homeserver, user_id: str) -> list[str]:
    return [r["pushkey"] for r in await PusherStore().of_users(server.db, [user_id])]


async def phone_and_laptop(server: Homeserver, api: Api) -> tuple[Account, Account]:
    """Bob with two devices, each with its own pusher."""
    bob = await register(api.client, "bob")
    laptop = await second_device(api, bob)
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(PHONE_URL, "phone"))
    await api.call("POST", f"{V3}/pushers/set", laptop, pusher(PHONE_URL, "laptop"))
    assert await pushkeys(server, bob.user_id) == ["laptop", "phone"]
    return bob, laptop


async def test_logout_removes_the_devices_pushers(homeserver: Homeserver, api: Api) -> None:
    phone, laptop = await phone_and_laptop(homeserver, api)
    await api.call("POST", f"{V3}/logout", phone, {})
    assert await pushkeys(homeserver, phone.user_id) == ["laptop"]
    listed = (await api.call("GET", f"{V3}/pushers", laptop))["pushers"]
    assert [p["pushkey"] for p in listed] == ["laptop"]


async def test_deleting_a_device_removes_its_pushers(homeserver: Homeserver, api: Api) -> None:
    phone, laptop = await phone_and_laptop(homeserver, api)
    path = f"{V3}/devices/{phone.device_id}"
    flows = await api.call("DELETE", path, laptop, {}, status=401)
    await api.call("DELETE", path, laptop,
                   {"auth": password_auth(laptop, session=flows["session"])})
    assert await pushkeys(homeserver, phone.user_id) == ["laptop"]


async def test_bulk_device_deletion_removes_their_pushers(homeserver: Homeserver,
                                                          api: Api) -> None:
    phone, laptop = await phone_and_laptop(homeserver, api)
    body: dict[str, Any] = {"devices": [phone.device_id]}
    flows = await api.call("POST", f"{V3}/delete_devices", laptop, body, status=401)
    await api.call("POST", f"{V3}/delete_devices", laptop,
                   {**body, "auth": password_auth(laptop, session=flows["session"])})
    assert await pushkeys(homeserver, phone.user_id) == ["laptop"]


async def test_logout_all_removes_every_pusher(homeserver: Homeserver, api: Api) -> None:
    phone, _ = await phone_and_laptop(homeserver, api)
    await api.call("POST", f"{V3}/logout/all", phone, {})
    assert await pushkeys(homeserver, phone.user_id) == []


async def test_a_password_change_removes_the_other_devices_pushers(
        homeserver: Homeserver, api: Api) -> None:
    phone, laptop = await phone_and_laptop(homeserver, api)
    await api.call("POST", f"{V3}/account/password", laptop,
                   {"new_password": "a new one", "auth": password_auth(laptop)})
    assert await pushkeys(homeserver, phone.user_id) == ["laptop"]


async def test_a_password_change_keeping_devices_keeps_their_pushers(
        homeserver: Homeserver, api: Api) -> None:
    phone, laptop = await phone_and_laptop(homeserver, api)
    await api.call("POST", f"{V3}/account/password", laptop,
                   {"new_password": "a new one", "logout_devices": False,
                    "auth": password_auth(laptop)})
    assert await pushkeys(homeserver, phone.user_id) == ["laptop", "phone"]


async def test_deactivation_removes_every_pusher(homeserver: Homeserver, api: Api) -> None:
    phone, laptop = await phone_and_laptop(homeserver, api)
    async with homeserver.db.transaction() as conn:  # one set before devices were recorded
        await PusherStore().put(conn, phone.user_id, "com.example.app", "old", "http", "Old",
                                "Old", None, "en", json.dumps({"url": PHONE_URL}), 0, None)
    await api.call("POST", f"{V3}/account/deactivate", laptop,
                   {"auth": password_auth(laptop)})
    assert await pushkeys(homeserver, phone.user_id) == []


async def test_a_pusher_set_before_devices_were_recorded_outlives_one_logout(
        homeserver: Homeserver, api: Api) -> None:
    phone, laptop = await phone_and_laptop(homeserver, api)
    async with homeserver.db.transaction() as conn:
        await PusherStore().put(conn, phone.user_id, "com.example.app", "old", "http", "Old",
                                "Old", None, "en", json.dumps({"url": PHONE_URL}), 0, None)
    await api.call("POST", f"{V3}/logout", phone, {})
    assert await pushkeys(homeserver, phone.user_id) == ["laptop", "old"]
    await api.call("POST", f"{V3}/logout", laptop, {})  # no device left: nobody's pusher
    assert await pushkeys(homeserver, phone.user_id) == []


async def test_setting_a_pusher_again_moves_it_to_that_device(homeserver: Homeserver,
                                                              api: Api) -> None:
    phone, laptop = await phone_and_laptop(homeserver, api)
    await api.call("POST", f"{V3}/pushers/set", laptop, pusher(PHONE_URL, "phone"))
    await api.call("POST", f"{V3}/logout", phone, {})
    assert await pushkeys(homeserver, phone.user_id) == ["laptop", "phone"]


async def test_queued_pushes_of_a_logged_out_device_are_dropped(
        pushing: tuple[Homeserver, Api], gateway: Gateway,  # noqa: F811
        clock: FakeClock) -> None:
    """The gateway fails, the push waits out a back-off; meanwhile the phone is logged
    out. The retry must not carry the message to the gateway."""
    server, api = pushing
    alice, bob, room = await dm(api)
    await api.call("POST", f"{V3}/pushers/set", bob, pusher(gateway.url))
    gateway.answers = [(500, {})]
    await api.send(alice, room, "before the theft")
    await gateway.next()
    await backing_off(server)
    await api.call("POST", f"{V3}/logout", bob, {})
    clock.advance(60)
    await idle(server)
    assert gateway.received.empty()
    await api.send(alice, room, "after the theft")
    await idle(server)
    assert gateway.received.empty()
