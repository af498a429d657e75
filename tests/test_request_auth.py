"""The X-Matrix header: what is signed, how the header parses, what verifies."""

from __future__ import annotations

import pytest
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import verify_signed_json

from federation.request_auth import (
    AuthHeaderError,
    RequestAuthError,
    authorization_header,
    parse_authorization,
    request_json,
    verify_request,
)
from homeserver.events.canonical import decode_base64
from homeserver.events.keys import generate_signing_key

KEY = generate_signing_key("abc")
URI = "/_matrix/federation/v1/send/1?x=%40y"
BODY = {"pdus": [], "edus": [{"edu_type": "m.typing"}]}


def signed_header() -> str:
    return authorization_header(KEY, "origin.test", "dest.test", "PUT", URI, BODY)


def test_round_trip_and_every_tampering_fails() -> None:
    header = parse_authorization(signed_header())
    assert (header.origin, header.destination, header.key_id) == (
        "origin.test", "dest.test", "ed25519:abc")
    key = KEY.public_key_base64
    verify_request(header, key, "PUT", URI, "dest.test", BODY)
    for method, uri, ours, body in [("POST", URI, "dest.test", BODY),
                                    ("PUT", URI + "&z=1", "dest.test", BODY),
                                    ("PUT", URI, "other.test", BODY),
                                    ("PUT", URI, "dest.test", {**BODY, "pdus": [1]}),
                                    ("PUT", URI, "dest.test", None)]:
        with pytest.raises(RequestAuthError):
            verify_request(header, key, method, uri, ours, body)
    with pytest.raises(RequestAuthError):
        verify_request(header, generate_signing_key("abc").public_key_base64, "PUT", URI,
                       "dest.test", BODY)


def test_signature_checks_with_signedjson() -> None:
    header = parse_authorization(signed_header())
    obj = {**request_json("PUT", URI, "origin.test", "dest.test", BODY),
           "signatures": {"origin.test": {header.key_id: header.signature}}}
    verify_key = decode_verify_key_bytes(header.key_id, decode_base64(KEY.public_key_base64))
    verify_signed_json(obj, "origin.test", verify_key)


@pytest.mark.parametrize("header", [
    'X-Matrix origin=origin.test,key="ed25519:abc",sig="c2ln"',
    'x-matrix  Origin="origin.test" , KEY = "ed25519:abc",sig="c2ln"',
    'X-Matrix origin="origin.test",destination="d",key="ed25519:abc",sig="c2ln"',
])
def test_header_forms_that_parse(header: str) -> None:
    parsed = parse_authorization(header)
    assert (parsed.origin, parsed.key_id, parsed.signature) == (
        "origin.test", "ed25519:abc", "c2ln")


def test_quoted_strings_unescape() -> None:
    parsed = parse_authorization(r'X-Matrix origin="o\"x",key="ed25519:a",sig="s"')
    assert parsed.origin == 'o"x'


@pytest.mark.parametrize("header", [
    "Bearer abc",
    'X-Matrix key="ed25519:abc",sig="c2ln"',
    'X-Matrix origin="o",key="ed25519:abc"',
    'X-Matrix origin="o",key="rsa:abc",sig="s"',
    'X-Matrix origin="o",key="ed25519:a-b",sig="s"',
    'X-Matrix origin="o",origin="p",key="ed25519:abc",sig="s"',
    'X-Matrix origin="o,key="ed25519:abc",sig="s"',
    "X-Matrix garbage",
    "",
])
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(AuthHeaderError):
        parse_authorization(header)
