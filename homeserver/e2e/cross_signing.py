"""Cross-signing: a user's master, self-signing and user-signing keys
(POST /keys/device_signing/upload) and the signatures made with them
(POST /keys/signatures/upload), each checked against the key that must have made it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeserver import ids
from homeserver.e2e import shapes
from homeserver.e2e.device_lists import DeviceLists
from homeserver.errors import BadJson, MatrixError, TooLarge
from homeserver.events.signing import get_signature, signable_bytes, verify_json_signature
from homeserver.rooms.transactions import Writes
from homeserver.storage.e2e_keys import E2eKeyStore

KEY_TYPES = {"master": "master_key", "self_signing": "self_signing_key",
             "user_signing": "user_signing_key"}
ConfirmIdentity = Callable[[str, Any], Awaitable[None]]


class InvalidSignature(MatrixError):
    status, errcode = 400, "M_INVALID_SIGNATURE"


class CrossSigningService:
    def __init__(self, store: E2eKeyStore, writes: Writes, device_lists: DeviceLists,
                 server_name: str) -> None:
        self.store = store
        self.writes = writes
        self.device_lists = device_lists
        self.server_name = server_name

    async def upload_keys(self, user_id: str, body: dict[str, Any],
                          confirm_identity: ConfirmIdentity) -> None:
        """Store the user's cross-signing keys. The first master key needs no password
        (clients set cross-signing up right after registering: MSC3967, as Synapse);
        replacing keys does, and uploading the keys already held changes nothing."""
        uploaded = {kind: _cross_signing_key(body[field], user_id, kind)
                    for kind, field in KEY_TYPES.items() if body.get(field) is not None}
        existing = (await self.store.cross_signing_keys(self.store.db, [user_id])).get(
            user_id, {})
        if existing.get("master") is not None:
            if all(signable_bytes(key) == signable_bytes(existing.get(kind) or {})
                   for kind, key in uploaded.items()):
                return
            await confirm_identity(user_id, body.get("auth"))
        master = uploaded.get("master") or existing.get("master")
        if master is None:
            raise MatrixError("A master key is needed first", errcode="M_MISSING_PARAM")
        master_id = _key_id(master)
        for kind in ("self_signing", "user_signing"):
            key = uploaded.get(kind)
            if key is not None and not verify_json_signature(key, user_id, master_id,
                                                            master_id.split(":", 1)[1]):
                raise InvalidSignature(f"The {kind} key is not signed by the master key")
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            for kind, key in uploaded.items():
                await self.store.set_cross_signing_key(
                    txn.conn, user_id, kind, _key_id(key).split(":", 1)[1],
                    shapes.encoded(key, KEY_TYPES[kind]))
            if uploaded:
                await self.device_lists.changed(txn, user_id)

    async def upload_signatures(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Check and keep each signature; the ones that fail are reported per key."""
        targets = _targets(body)
        users = sorted({user_id, *(u for u, _, _ in targets)})
        db = self.store.db
        devices = await self.store.device_keys(db, users)
        cross = await self.store.cross_signing_keys(db, users)
        failures: dict[str, dict[str, Any]] = {}
        accepted: list[tuple[str, str, str, str]] = []
        for target_user, key_id, signed in targets:
            try:
                accepted.append(_check_signature(user_id, target_user, key_id, signed,
                                                 devices, cross))
            except MatrixError as exc:
                failures.setdefault(target_user, {})[key_id] = exc.to_json()
        if accepted:
            async with self.writes.transaction() as txn:
                await txn.lock_user(user_id)
                for target_user, key_id, signer_key_id, signature in accepted:
                    await self.store.add_signature(txn.conn, target_user, key_id, user_id,
                                                   signer_key_id, signature)
                await self.device_lists.changed(txn, user_id)
        return {"failures": failures}


def _cross_signing_key(value: Any, user_id: str, kind: str) -> dict[str, Any]:
    key = shapes.require_object(value, KEY_TYPES[kind])
    if key.get("user_id") != user_id:
        raise BadJson(f"{KEY_TYPES[kind]} must name your own user")
    usage = key.get("usage")
    if not isinstance(usage, list) or kind not in usage or len(usage) > shapes.MAX_SMALL_MAP:
        raise BadJson(f"{KEY_TYPES[kind]}.usage must include {kind!r}")
    _key_id(key)
    shapes.check_signatures(key, KEY_TYPES[kind])
    shapes.encoded(key, KEY_TYPES[kind])
    return key


def _key_id(key: dict[str, Any]) -> str:
    """The one ``ed25519:<public key>`` a cross-signing key holds."""
    keys = key.get("keys")
    if not isinstance(keys, dict) or len(keys) != 1:
        raise BadJson("A cross-signing key holds exactly one key")
    (key_id, public), = keys.items()
    if not isinstance(public, str) or key_id != f"ed25519:{public}":
        raise BadJson("A cross-signing key is named ed25519:<its public key>")
    return key_id


def _targets(body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    targets = []
    for user, keys in shapes.bounded_map(body, "body", shapes.MAX_SIGNATURE_TARGETS).items():
        for key_id, signed in shapes.bounded_map(keys, user,
                                                 shapes.MAX_SIGNATURE_TARGETS).items():
            targets.append((user, key_id, shapes.require_object(signed, f"{user}.{key_id}")))
            if len(targets) > shapes.MAX_SIGNATURE_TARGETS:
                raise TooLarge(f"At most {shapes.MAX_SIGNATURE_TARGETS} signed keys at once")
    return targets


def _check_signature(signer: str, target_user: str, key_id: str, signed: dict[str, Any],
                     devices: dict[str, dict[str, Any]],
                     cross: dict[str, dict[str, dict[str, Any]]]) -> tuple[str, str, str, str]:
    """(target user, target key ID, signer key ID, signature) once it verifies."""
    if not ids.is_valid_user_id(target_user):
        raise InvalidSignature("Not a user ID")
    mine = cross.get(signer, {})
    theirs = cross.get(target_user, {})
    device = devices.get(target_user, {}).get(key_id)
    master = theirs.get("master")
    if target_user == signer and device is not None:
        stored, signing_keys = device, _public_keys(mine.get("self_signing"))
    elif master is not None and _key_id(master) == f"ed25519:{key_id}":
        stored = master
        signing_keys = (_device_keys(devices.get(signer, {})) if target_user == signer
                        else _public_keys(mine.get("user_signing")))
    else:
        raise MatrixError("No such key", status=400, errcode="M_NOT_FOUND")
    if signable_bytes(signed) != signable_bytes(stored):
        raise InvalidSignature("The signed object is not the key this server holds")
    for signer_key_id, public in signing_keys.items():
        signature = get_signature(signed, signer, signer_key_id)
        if signature is not None:
            if not verify_json_signature(signed, signer, signer_key_id, public):
                raise InvalidSignature(f"Bad signature by {signer_key_id}")
            return target_user, key_id, signer_key_id, signature
    raise InvalidSignature("No signature by a key that may sign this")


def _public_keys(key: dict[str, Any] | None) -> dict[str, str]:
    if key is None:
        return {}
    key_id = _key_id(key)
    return {key_id: key_id.split(":", 1)[1]}


def _device_keys(devices: dict[str, Any]) -> dict[str, str]:
    """``ed25519:<device>`` -> its public key, for each of the signer's devices."""
    found = {}
    for device_id, keys in devices.items():
        public = keys.get("keys", {}).get(f"ed25519:{device_id}")
        if isinstance(public, str):
            found[f"ed25519:{device_id}"] = public
    return found
