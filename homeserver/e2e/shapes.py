"""Shapes and bounds of what clients upload for end-to-end encryption.

Everything here is checked before it is stored or looked at further: the
body limit bounds a request's bytes, these bound its counts and each object.
"""

from __future__ import annotations

from typing import Any

from homeserver.errors import BadJson, TooLarge
from homeserver.events.canonical import canonical_json

MAX_KEY_OBJECT_BYTES = 16_384  # one device keys, one-time key or cross-signing key
MAX_KEY_ID_LEN = 255
MAX_ONE_TIME_KEYS_PER_UPLOAD = 200
MAX_ONE_TIME_KEYS_PER_DEVICE = 1_000
MAX_FALLBACK_KEYS_PER_UPLOAD = 16
MAX_QUERY_USERS = 1_000
MAX_QUERY_DEVICES = 10_000
MAX_CLAIMS = 1_000
MAX_SIGNATURE_TARGETS = 1_000
MAX_SMALL_MAP = 64  # keys, algorithms, signatures of one object


def require_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadJson(f"{where} must be an object")
    return value


def require_string(value: Any, where: str, max_len: int = MAX_KEY_ID_LEN) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len or "\x00" in value:
        raise BadJson(f"{where} must be a non-empty string of at most {max_len} characters")
    return value


def bounded_map(value: Any, where: str, max_items: int) -> dict[str, Any]:
    """An object of at most ``max_items`` entries, each key a bounded string."""
    found = require_object(value, where)
    if len(found) > max_items:
        raise TooLarge(f"{where} has more than {max_items} entries")
    for key in found:
        require_string(key, f"{where} key")
    return found


def encoded(obj: dict[str, Any], where: str) -> str:
    """Canonical JSON of one key object, within its size bound."""
    text = canonical_json(obj).decode()
    if len(text) > MAX_KEY_OBJECT_BYTES:
        raise TooLarge(f"{where} is larger than {MAX_KEY_OBJECT_BYTES} bytes")
    return text


def check_signatures(obj: dict[str, Any], where: str) -> None:
    signatures = bounded_map(obj.get("signatures", {}), f"{where}.signatures", MAX_SMALL_MAP)
    for user, by_key in signatures.items():
        for key_id, signature in bounded_map(by_key, f"{where}.signatures.{user}",
                                             MAX_SMALL_MAP).items():
            require_string(signature, f"{where}.signatures.{user}.{key_id}", 1024)


def check_device_keys(obj: Any, user_id: str, device_id: str) -> dict[str, Any]:
    """A DeviceKeys object that must name this user and device."""
    keys = require_object(obj, "device_keys")
    if keys.get("user_id") != user_id or keys.get("device_id") != device_id:
        raise BadJson("device_keys must name your own user and device")
    algorithms = keys.get("algorithms")
    if (not isinstance(algorithms, list) or len(algorithms) > MAX_SMALL_MAP
            or not all(isinstance(a, str) and len(a) <= MAX_KEY_ID_LEN for a in algorithms)):
        raise BadJson("device_keys.algorithms must be a list of strings")
    for key_id, key in bounded_map(keys.get("keys"), "device_keys.keys", MAX_SMALL_MAP).items():
        require_string(key, f"device_keys.keys.{key_id}", 1024)
    check_signatures(keys, "device_keys")
    return keys


def split_key_id(key_id: str, where: str) -> tuple[str, str]:
    """``<algorithm>:<id>`` into its two parts."""
    require_string(key_id, where)
    algorithm, sep, name = key_id.partition(":")
    if not sep or not algorithm or not name:
        raise BadJson(f"{where} must look like <algorithm>:<key id>")
    return algorithm, name


def one_time_keys(value: Any, where: str, max_items: int) -> list[tuple[str, str, str]]:
    """(algorithm, key ID, key JSON) for each key of an upload's map."""
    found = []
    for key_id, key in bounded_map(value, where, max_items).items():
        algorithm, _ = split_key_id(key_id, f"{where} key")
        if isinstance(key, dict):
            check_signatures(key, f"{where}.{key_id}")
        elif not isinstance(key, str) or len(key) > 1024:
            raise BadJson(f"{where}.{key_id} must be a key object or string")
        text = canonical_json(key).decode()
        if len(text) > MAX_KEY_OBJECT_BYTES:
            raise TooLarge(f"{where}.{key_id} is larger than {MAX_KEY_OBJECT_BYTES} bytes")
        found.append((algorithm, key_id, text))
    return found
