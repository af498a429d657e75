"""Event crypto: the spec's test vectors byte for byte, signedjson as an outside oracle,
content hashes, event IDs, redaction and the signing key file."""

from __future__ import annotations

import copy
import re
import stat
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import signedjson.key
import signedjson.sign

from homeserver.events.canonical import (
    MAX_SAFE_INTEGER,
    NotCanonical,
    canonical_json,
    check_canonical,
    decode_base64,
    encode_base64,
    encode_base64_urlsafe,
)
from homeserver.events.hashing import (
    add_content_hash,
    check_content_hash,
    compute_content_hash,
    compute_event_id,
    compute_reference_hash,
    redact,
    sign_and_name,
    sign_event,
)
from homeserver.events.keys import (
    SigningKey,
    generate_signing_key,
    load_or_create_signing_key,
    signing_key_from_seed,
    verify_signature,
)
from homeserver.events.signing import (
    SignatureError,
    check_json_signature,
    sign_json,
    verify_json_signature,
)

# Spec Appendices, "Cryptographic test vectors".
SEED_B64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
SERVER = "domain"
KEY_ID = "ed25519:1"
EMPTY_SIG = "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
DATA_SIG = "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
MINIMAL_HASH = "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"
MINIMAL_SIG = (
    "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
)
MESSAGE_HASH = "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"
MESSAGE_SIG = (
    "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
)


@pytest.fixture
def spec_key() -> SigningKey:
    return signing_key_from_seed(decode_base64(SEED_B64), "1")


def minimal_event() -> dict[str, Any]:
    return {
        "room_id": "!x:domain", "sender": "@a:domain", "origin": "domain",
        "origin_server_ts": 1000000, "signatures": {}, "hashes": {}, "type": "X",
        "content": {}, "prev_events": [], "auth_events": [], "depth": 3,
        "unsigned": {"age_ts": 1000000},
    }


def message_event() -> dict[str, Any]:
    return {
        "content": {"body": "Here is the message content"}, "event_id": "$0:domain",
        "origin": "domain", "origin_server_ts": 1000000, "type": "m.room.message",
        "room_id": "!r:domain", "sender": "@u:domain", "signatures": {},
        "unsigned": {"age_ts": 1000000},
    }


def member_event() -> dict[str, Any]:
    return {
        "type": "m.room.member", "state_key": "@b:example.org", "sender": "@b:example.org",
        "room_id": "!room:example.org", "origin": "example.org", "origin_server_ts": 1234,
        "content": {"membership": "join", "displayname": "Bob",
                    "join_authorised_via_users_server": "@a:example.org"},
        "auth_events": ["$create", "$power"], "prev_events": ["$prev"], "depth": 7,
        "unsigned": {"age": 5},
    }


# --- canonical JSON and Base64 -------------------------------------------------------------

def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, 2], "c": "é"}) == '{"a":[1,2],"b":1,"c":"é"}'.encode()


@pytest.mark.parametrize(("raw", "encoded"), [
    (b"", ""), (b"f", "Zg"), (b"fo", "Zm8"), (b"foo", "Zm9v"), (b"foob", "Zm9vYg"),
    (b"fooba", "Zm9vYmE"), (b"foobar", "Zm9vYmFy"),
])
def test_unpadded_base64_spec_examples(raw: bytes, encoded: str) -> None:
    assert encode_base64(raw) == encoded
    assert decode_base64(encoded) == raw
    assert decode_base64(encoded + "=" * (-len(encoded) % 4)) == raw


def test_decode_base64_accepts_urlsafe_and_rejects_garbage() -> None:
    data = bytes([0xFB, 0xFF, 0xBF])
    assert encode_base64(data) == "+/+/"
    assert encode_base64_urlsafe(data) == "-_-_"
    assert decode_base64("-_-_") == data
    for bad in ("a", "ab!d", "Zm9v Zg"):
        with pytest.raises(ValueError):
            decode_base64(bad)


def nested(levels: int) -> Any:
    value: Any = 1
    for n in range(levels):
        value = [value] if n % 2 else {"k": value}
    return value


@pytest.mark.parametrize("value", [
    {"a": [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 0, True, None, "é😀"]},
    nested(64), [], "", 0,
], ids=["edges", "64 deep", "empty list", "empty string", "zero"])
def test_check_canonical_accepts_what_canonical_json_allows(value: Any) -> None:
    check_canonical(value)


@pytest.mark.parametrize(("value", "reason"), [
    ({"depth": 2**63 - 1}, "depth: integer out of range"),
    ({"a": [1, -MAX_SAFE_INTEGER - 1]}, "a[1]: integer out of range"),
    ({"a": {"b": 1.5}}, "a.b: floats are not allowed"),
    ({"x": float("inf")}, "x: floats"),
    ({"x": float("nan")}, "x: floats"),
    (nested(65), "nested more than 64 deep"),
    (nested(100_000), "nested more than 64 deep"),
    ({"s": "\ud800"}, "s: string is not valid Unicode"),
    ({"\udfff": 1}, "not valid Unicode"),
    ({1: "a"}, "object keys must be strings"),
    ({"t": (1, 2)}, "t: not a JSON value"),
    ({"b": b"x"}, "b: not a JSON value"),
])
def test_check_canonical_refuses_with_a_readable_reason(value: Any, reason: str) -> None:
    with pytest.raises(NotCanonical, match=re.escape(reason)):
        check_canonical(value)
    assert issubclass(NotCanonical, ValueError)


def test_a_long_key_over_a_long_list_costs_no_more_than_the_value() -> None:
    # The attack: a 60 KB body whose every list item once got its own copy of the
    # 30 KB path to it (443 MiB); the path is spelt out only for the error now.
    value = {"k" * 30_000: [0] * 15_000 + [0.5]}
    tracemalloc.start()
    try:
        with pytest.raises(NotCanonical, match=re.escape("[15000]: floats")):
            check_canonical(value)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, peak


# --- spec test vectors ---------------------------------------------------------------------

def test_vector_empty_object(spec_key: SigningKey) -> None:
    signed = sign_json({}, SERVER, spec_key)
    assert signed == {"signatures": {SERVER: {KEY_ID: EMPTY_SIG}}}


def test_vector_data_object(spec_key: SigningKey) -> None:
    signed = sign_json({"one": 1, "two": "Two"}, SERVER, spec_key)
    assert canonical_json(signed) == (
        b'{"one":1,"signatures":{"domain":{"ed25519:1":"' + DATA_SIG.encode() + b'"}},"two":"Two"}'
    )


def test_vector_minimal_event(spec_key: SigningKey) -> None:
    assert compute_content_hash(minimal_event()) == MINIMAL_HASH
    signed = sign_event(minimal_event(), SERVER, spec_key)
    assert canonical_json(signed) == (
        b'{"auth_events":[],"content":{},"depth":3,"hashes":{"sha256":"' + MINIMAL_HASH.encode()
        + b'"},"origin":"domain","origin_server_ts":1000000,"prev_events":[],'
        b'"room_id":"!x:domain","sender":"@a:domain","signatures":{"domain":{"ed25519:1":"'
        + MINIMAL_SIG.encode() + b'"}},"type":"X","unsigned":{"age_ts":1000000}}'
    )


def test_vector_redactable_message_event(spec_key: SigningKey) -> None:
    signed = sign_event(message_event(), SERVER, spec_key)
    expected = {**message_event(), "hashes": {"sha256": MESSAGE_HASH},
                "signatures": {SERVER: {KEY_ID: MESSAGE_SIG}}}
    assert canonical_json(signed) == canonical_json(expected)


@pytest.mark.parametrize("event", [
    minimal_event(), message_event(), member_event(),
    {**member_event(), "age_ts": 5, "signatures": {"other.org": {"ed25519:x": "c2ln"}}},
])
def test_sign_and_name_is_sign_event_and_its_event_id(event: dict[str, Any],
                                                      spec_key: SigningKey) -> None:
    signed, event_id = sign_and_name(copy.deepcopy(event), SERVER, spec_key)
    assert signed == sign_event(copy.deepcopy(event), SERVER, spec_key)
    assert event_id == compute_event_id(signed)


def test_vectors_verify(spec_key: SigningKey) -> None:
    pub = spec_key.public_key_base64
    assert verify_json_signature({"signatures": {SERVER: {KEY_ID: EMPTY_SIG}}}, SERVER, KEY_ID, pub)
    data = {"one": 1, "two": "Two", "signatures": {SERVER: {KEY_ID: DATA_SIG}}}
    assert verify_json_signature(data, SERVER, KEY_ID, pub)
    assert not verify_json_signature({**data, "one": 2}, SERVER, KEY_ID, pub)
    assert verify_json_signature({**data, "unsigned": {"x": 1}}, SERVER, KEY_ID, pub)


# --- signedjson as an independent oracle ---------------------------------------------------

def oracle_verify(obj: dict[str, Any], key: SigningKey, server: str) -> None:
    verify_key = signedjson.key.decode_verify_key_bytes(key.key_id, key.public_key_bytes)
    signedjson.sign.verify_signed_json(obj, server, verify_key)


def test_sign_event_verifies_with_signedjson() -> None:
    key = generate_signing_key()
    event = {**member_event(), "content": {"membership": "join", "displayname": "Bob"}}
    signed = sign_event(event, "example.org", key)
    # The signature covers the redacted event, written out here by hand from the v10 rules.
    redacted_by_hand = {k: v for k, v in signed.items() if k != "unsigned"}
    redacted_by_hand["content"] = {"membership": "join"}
    oracle_verify(redacted_by_hand, key, "example.org")
    with pytest.raises(signedjson.sign.SignatureVerifyException):
        oracle_verify({**redacted_by_hand, "depth": 8}, key, "example.org")


def test_sign_json_matches_signedjson(spec_key: SigningKey) -> None:
    theirs_key = signedjson.key.decode_signing_key_base64("ed25519", "1", SEED_B64)
    obj = {"b": [1, {"z": None}], "a": "ü", "unsigned": {"u": 1}, "signatures": {"o": {"k": "s"}}}
    theirs = signedjson.sign.sign_json(copy.deepcopy(obj), SERVER, theirs_key)
    assert sign_json(obj, SERVER, spec_key) == theirs
    oracle_verify(sign_json(obj, SERVER, spec_key), spec_key, SERVER)


def test_sign_json_keeps_existing_signatures_and_does_not_mutate(spec_key: SigningKey) -> None:
    obj = {"one": 1, "two": "Two", "signatures": {"other": {"ed25519:x": "sig"}}}
    before = copy.deepcopy(obj)
    signed = sign_json(obj, SERVER, spec_key)
    assert obj == before
    assert signed["signatures"] == {"other": {"ed25519:x": "sig"}, SERVER: {KEY_ID: DATA_SIG}}


def test_check_json_signature_raises(spec_key: SigningKey) -> None:
    pub = spec_key.public_key_base64
    with pytest.raises(SignatureError, match="no signature"):
        check_json_signature({"a": 1}, SERVER, KEY_ID, pub)
    forged = {"a": 1, "signatures": {SERVER: {KEY_ID: EMPTY_SIG}}}
    with pytest.raises(SignatureError, match="invalid signature"):
        check_json_signature(forged, SERVER, KEY_ID, pub)
    assert not verify_json_signature({"signatures": "junk"}, SERVER, KEY_ID, pub)
    assert not verify_signature("not base64!", b"x", EMPTY_SIG)


# --- content hash --------------------------------------------------------------------------

def test_content_hash_detects_tampering(spec_key: SigningKey) -> None:
    signed = sign_event(message_event(), SERVER, spec_key)
    assert check_content_hash(signed)
    assert check_content_hash({**signed, "unsigned": {"age": 1}, "signatures": {}})
    assert not check_content_hash({**signed, "content": {"body": "forged"}})
    assert not check_content_hash({**signed, "origin_server_ts": 1})
    assert not check_content_hash({k: v for k, v in signed.items() if k != "hashes"})
    assert not check_content_hash({**signed, "hashes": {"sha256": "!!"}})


def test_add_content_hash_accepts_padded_hash_on_check() -> None:
    hashed = add_content_hash(message_event())
    assert hashed["hashes"] == {"sha256": MESSAGE_HASH}
    assert check_content_hash({**hashed, "hashes": {"sha256": MESSAGE_HASH + "="}})


# --- event IDs -----------------------------------------------------------------------------

def test_event_id_format(spec_key: SigningKey) -> None:
    event_id = compute_event_id(sign_event(minimal_event(), SERVER, spec_key))
    assert re.fullmatch(r"\$[A-Za-z0-9_-]{43}", event_id)
    assert event_id == "$" + encode_base64_urlsafe(
        compute_reference_hash(sign_event(minimal_event(), SERVER, spec_key)))


def test_event_id_ignores_unsigned_signatures_and_redactable_content() -> None:
    key = generate_signing_key()
    signed = sign_event(member_event(), "example.org", key)
    event_id = compute_event_id(signed)
    assert compute_event_id({**signed, "unsigned": {"age": 99, "x": [1]}}) == event_id
    assert compute_event_id({k: v for k, v in signed.items() if k != "unsigned"}) == event_id
    assert compute_event_id({**signed, "signatures": {}}) == event_id
    assert compute_event_id(redact(signed)) == event_id


@pytest.mark.parametrize(("key", "value"), [
    ("room_id", "!other:example.org"), ("depth", 8), ("prev_events", ["$other"]),
    ("origin_server_ts", 1235), ("sender", "@c:example.org"),
])
def test_event_id_changes_with_kept_keys(key: str, value: Any) -> None:
    signing_key = generate_signing_key()
    base = sign_event(member_event(), "example.org", signing_key)
    changed = sign_event({**member_event(), key: value}, "example.org", signing_key)
    assert compute_event_id(changed) != compute_event_id(base)
    assert compute_event_id({**base, key: value}) != compute_event_id(base)


def test_event_id_changes_with_any_content_once_rehashed() -> None:
    key = generate_signing_key()
    base = sign_event(member_event(), "example.org", key)
    renamed = {**member_event(), "content": {**member_event()["content"], "displayname": "B"}}
    assert compute_event_id(sign_event(renamed, "example.org", key)) != compute_event_id(base)
    kept_change = {**member_event(), "content": {"membership": "leave"}}
    assert compute_event_id({**base, **kept_change}) != compute_event_id(base)


# --- redaction (room version 10) -----------------------------------------------------------

def test_redact_top_level_keys() -> None:
    event = {**member_event(), "event_id": "$e", "prev_state": [], "membership": "join",
             "hashes": {"sha256": "h"}, "signatures": {"s": {}}, "age_ts": 1, "extra": 1,
             "redacts": "$x"}
    redacted = redact(event)
    assert set(redacted) == {
        "event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
        "signatures", "depth", "prev_events", "prev_state", "auth_events", "origin",
        "origin_server_ts", "membership",
    }


@pytest.mark.parametrize(("event_type", "content", "kept"), [
    ("m.room.member", {"membership": "join", "join_authorised_via_users_server": "@a:b",
                       "displayname": "x", "avatar_url": "mxc://a/b",
                       "third_party_invite": {"signed": {}}},
     {"membership", "join_authorised_via_users_server"}),
    ("m.room.create", {"creator": "@a:b", "room_version": "10", "m.federate": False},
     {"creator"}),
    ("m.room.join_rules", {"join_rule": "restricted", "allow": [], "other": 1},
     {"join_rule", "allow"}),
    ("m.room.power_levels", {
        "ban": 50, "events": {}, "events_default": 0, "kick": 50, "redact": 50,
        "state_default": 50, "users": {"@a:b": 100}, "users_default": 0, "invite": 0,
        "notifications": {"room": 50}}, {
        "ban", "events", "events_default", "kick", "redact", "state_default", "users",
        "users_default"}),
    ("m.room.history_visibility", {"history_visibility": "shared", "x": 1},
     {"history_visibility"}),
    ("m.room.redaction", {"redacts": "$x", "reason": "spam"}, set()),
    ("m.room.aliases", {"aliases": ["#a:b"]}, set()),
    ("m.room.message", {"body": "hi", "msgtype": "m.text"}, set()),
])
def test_redact_content_keys(event_type: str, content: dict[str, Any], kept: set[str]) -> None:
    event = {**member_event(), "type": event_type, "content": content}
    redacted = redact(event)
    assert redacted["content"] == {k: v for k, v in content.items() if k in kept}
    assert "unsigned" not in redacted
    assert event["content"] == content  # input untouched


def test_redact_is_a_deep_copy_and_checks_room_version() -> None:
    event = {**member_event(), "type": "m.room.power_levels", "content": {"users": {"@a:b": 1}}}
    redact(event)["content"]["users"]["@c:d"] = 5
    assert event["content"] == {"users": {"@a:b": 1}}
    assert redact({"type": "x"})["content"] == {}
    with pytest.raises(ValueError):
        redact(event, "11")


# --- signing key file ----------------------------------------------------------------------

def test_key_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "signing.key"
    key = load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert re.fullmatch(r"ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n", text)
    assert text.split()[1] == key.version and key.key_id == f"ed25519:{key.version}"
    again = load_or_create_signing_key(path)
    assert again.key_id == key.key_id
    assert again.public_key_base64 == key.public_key_base64
    assert list(path.parent.iterdir()) == [path]


def test_key_file_in_synapse_format_is_read(tmp_path: Path) -> None:
    path = tmp_path / "synapse.signing.key"
    path.write_text(f"ed25519 1 {SEED_B64}\n")
    key = load_or_create_signing_key(path)
    assert key.key_id == KEY_ID
    assert sign_json({}, SERVER, key)["signatures"][SERVER][KEY_ID] == EMPTY_SIG


def test_bad_keys_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        signing_key_from_seed(b"short", "1")
    with pytest.raises(ValueError):
        signing_key_from_seed(bytes(32), "bad version")
    path = tmp_path / "bad.key"
    path.write_text("rsa 1 AAAA\n")
    with pytest.raises(ValueError):
        load_or_create_signing_key(path)


def test_generated_key_signs_and_verifies() -> None:
    key = generate_signing_key("v2")
    assert key.key_id == "ed25519:v2"
    signature = encode_base64(key.sign(b"message"))
    assert verify_signature(key.public_key_base64, b"message", signature)
    assert not verify_signature(key.public_key_base64, b"massage", signature)
    assert not verify_signature(generate_signing_key().public_key_base64, b"message", signature)
