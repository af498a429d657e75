"""What a test client of the E2E endpoints needs: ed25519 keys, signed key objects."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeserver.events.canonical import encode_base64
from homeserver.events.signing import signable_bytes
from tests.conftest import Account

KEYS = "/_matrix/client/v3/keys"
PASSWORD = "hunter2!"


class Key:
    """An ed25519 key pair as clients name them (unpadded base64 public key)."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.public = encode_base64(self.private.public_key().public_bytes_raw())

    def sign(self, obj: dict[str, Any], user_id: str, key_id: str) -> dict[str, Any]:
        signature = encode_base64(self.private.sign(signable_bytes(obj)))
        obj.setdefault("signatures", {}).setdefault(user_id, {})[key_id] = signature
        return obj


def device_keys(who: Account, key: Key) -> dict[str, Any]:
    obj = {"user_id": who.user_id, "device_id": who.device_id,
           "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
           "keys": {f"curve25519:{who.device_id}": "curve" + who.device_id,
                    f"ed25519:{who.device_id}": key.public}}
    return key.sign(obj, who.user_id, f"ed25519:{who.device_id}")


def one_time_key(who: Account, key: Key, name: str, fallback: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": "otk" + name}
    if fallback:
        obj["fallback"] = True
    return key.sign(obj, who.user_id, f"ed25519:{who.device_id}")


def cross_signing_key(user_id: str, usage: str, key: Key,
                      signer: Key | None = None) -> dict[str, Any]:
    obj = {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{key.public}": key.public}}
    if signer is not None:
        signer.sign(obj, user_id, f"ed25519:{signer.public}")
    return obj


def password_auth(user: str, session: str | None = None) -> dict[str, Any]:
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
            "password": PASSWORD}
    if session:
        auth["session"] = session
    return auth
