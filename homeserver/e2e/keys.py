"""Device keys: upload, query and claim (POST /keys/upload, /keys/query, /keys/claim),
and /keys/changes. Local users only: other servers' users are not asked yet."""

from __future__ import annotations

import json
from typing import Any

from homeserver import ids
from homeserver.e2e import shapes
from homeserver.e2e.device_lists import DeviceListNews, DeviceLists
from homeserver.errors import TooLarge
from homeserver.rooms.transactions import Writes
from homeserver.storage.e2e_keys import E2eKeyStore

FALLBACK_KEYS = ("fallback_keys", "org.matrix.msc2732.fallback_keys")
# One fallback key per algorithm, and only this many algorithms per device in all:
# every upload may name new ones, and nothing else would stop them adding up.
MAX_FALLBACK_ALGORITHMS = 16
CROSS_SIGNING_FIELDS = {"master": "master_keys", "self_signing": "self_signing_keys",
                        "user_signing": "user_signing_keys"}


class KeysService:
    def __init__(self, store: E2eKeyStore, writes: Writes, device_lists: DeviceLists,
                 server_name: str) -> None:
        self.store = store
        self.writes = writes
        self.device_lists = device_lists
        self.server_name = server_name

    async def upload(self, user_id: str, device_id: str, body: dict[str, Any]) -> dict[str, int]:
        """Store what the device published; the one-time key counts after it."""
        device_keys = None
        if body.get("device_keys") is not None:
            device_keys = shapes.check_device_keys(body["device_keys"], user_id, device_id)
        one_time = shapes.one_time_keys(body.get("one_time_keys", {}), "one_time_keys",
                                        shapes.MAX_ONE_TIME_KEYS_PER_UPLOAD)
        fallback = []
        for name in FALLBACK_KEYS:
            if body.get(name) is not None:
                fallback += shapes.one_time_keys(body[name], name,
                                                 shapes.MAX_FALLBACK_KEYS_PER_UPLOAD)
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            if device_keys is not None:
                encoded = shapes.encoded(device_keys, "device_keys")
                if await self.store.set_device_keys(txn.conn, user_id, device_id, encoded):
                    await self.device_lists.changed(txn, user_id)
            if one_time:
                held = sum((await self.store.one_time_key_counts(
                    txn.conn, user_id, device_id)).values())
                if held + len(one_time) > shapes.MAX_ONE_TIME_KEYS_PER_DEVICE:
                    raise TooLarge(f"A device holds at most "
                                   f"{shapes.MAX_ONE_TIME_KEYS_PER_DEVICE} one-time keys")
                await self.store.add_one_time_keys(txn.conn, user_id, device_id, one_time)
            for algorithm, key_id, key_json in fallback:
                await self.store.set_fallback_key(txn.conn, user_id, device_id, algorithm,
                                                  key_id, key_json)
            if fallback and await self.store.fallback_algorithm_count(
                    txn.conn, user_id, device_id) > MAX_FALLBACK_ALGORITHMS:
                raise TooLarge(f"A device holds fallback keys for at most "
                               f"{MAX_FALLBACK_ALGORITHMS} algorithms")
            counts = await self.store.one_time_key_counts(txn.conn, user_id, device_id)
        return counts

    async def query(self, requester: str, wanted: dict[str, Any]) -> dict[str, Any]:
        """Device and cross-signing keys of local users, with the signatures the requester
        may see merged in; the user-signing key only for the requester themself."""
        wanted = shapes.bounded_map(wanted, "device_keys", shapes.MAX_QUERY_USERS)
        device_filter = _device_filter(wanted)
        users = [u for u in wanted if ids.is_valid_user_id(u)
                 and ids.server_of(u) == self.server_name]
        db = self.store.db
        devices = await self.store.device_keys(db, users)
        cross = await self.store.cross_signing_keys(db, users)
        _merge_signatures(devices, cross, await self.store.signatures(db, users, requester))
        answer: dict[str, Any] = {"device_keys": {}, "failures": {}, "master_keys": {},
                                  "self_signing_keys": {}, "user_signing_keys": {}}
        for user in users:
            own = devices.get(user, {})
            only = device_filter.get(user)
            answer["device_keys"][user] = {d: k for d, k in own.items()
                                           if not only or d in only}
            for key_type, key in cross.get(user, {}).items():
                if key_type != "user_signing" or user == requester:
                    answer[CROSS_SIGNING_FIELDS[key_type]][user] = key
        return answer

    async def claim(self, wanted: dict[str, Any]) -> dict[str, Any]:
        """One key per (user, device, algorithm): a one-time key, removed as it is handed
        out, or else the fallback key, marked used."""
        claims = _claims(wanted)
        found: dict[str, dict[str, dict[str, Any]]] = {}
        local = sorted({u for u, _, _ in claims if ids.server_of(u) == self.server_name})
        async with self.writes.transaction() as txn:
            for user in local:  # sorted: the users' locks in one order everywhere
                await txn.lock_user(user)
            for user, device, algorithm in claims:
                if user not in local:
                    continue
                key = (await self.store.take_one_time_key(txn.conn, user, device, algorithm)
                       or await self.store.use_fallback_key(txn.conn, user, device, algorithm))
                if key is not None:
                    key_id, key_json = key
                    found.setdefault(user, {}).setdefault(device, {})[key_id] = \
                        json.loads(key_json)
        return {"one_time_keys": found, "failures": {}}

    async def changes(self, user_id: str, after: int, upto: int) -> DeviceListNews:
        return await self.device_lists.news(user_id, after, upto)


def _device_filter(wanted: dict[str, Any]) -> dict[str, set[str]]:
    """user -> the device IDs asked for (empty: all of them)."""
    total = 0
    found: dict[str, set[str]] = {}
    for user, devices in wanted.items():
        if not isinstance(devices, list):
            raise shapes.BadJson("device_keys values must be lists of device IDs")
        total += len(devices)
        if total > shapes.MAX_QUERY_DEVICES:
            raise TooLarge(f"At most {shapes.MAX_QUERY_DEVICES} devices per query")
        found[user] = {shapes.require_string(d, "device ID") for d in devices}
    return found


def _claims(wanted: Any) -> list[tuple[str, str, str]]:
    claims = []
    for user, devices in shapes.bounded_map(wanted, "one_time_keys",
                                            shapes.MAX_CLAIMS).items():
        for device, algorithm in shapes.bounded_map(devices, f"one_time_keys.{user}",
                                                    shapes.MAX_CLAIMS).items():
            claims.append((user, device, shapes.require_string(algorithm, "algorithm")))
            if len(claims) > shapes.MAX_CLAIMS:
                raise TooLarge(f"At most {shapes.MAX_CLAIMS} keys per claim")
    return [c for c in claims if ids.is_valid_user_id(c[0])]


def _merge_signatures(devices: dict[str, dict[str, Any]],
                      cross: dict[str, dict[str, dict[str, Any]]], rows: list[Any]) -> None:
    """Put each uploaded signature into the key object it signs."""
    for row in rows:
        user, target = row["target_user"], row["target_key_id"]
        obj = devices.get(user, {}).get(target)
        if obj is None:
            obj = next((k for k in cross.get(user, {}).values()
                        if f"ed25519:{target}" in k.get("keys", {})), None)
        if obj is None:
            continue
        signatures = obj.setdefault("signatures", {})
        signatures.setdefault(row["signer_user"], {})[row["signer_key_id"]] = row["signature"]
