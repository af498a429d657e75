"""The X-Matrix header: what is signed, how the header parses, what verifies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from signedjson.key import decode_signing_key_base64, get_verify_key
from signedjson.sign import sign_json as signedjson_sign
from signedjson.sign import verify_signed_json

from federation.request_auth import (
    AuthHeaderError,
    RequestAuthError,
    XMatrix,
    authorization_header,
    check_names,
    parse_authorization,
    request_json,
    verify_canonical_request,
    verify_request,
)
from homeserver.events.canonical import canonical_json, encode_base64
from homeserver.events.keys import generate_signing_key

KEY = generate_signing_key("abc")
PUBLIC = KEY.public_key_base64
ORIGIN, DEST = "origin.test", "dest.test"
URI = "/_matrix/federation/v1/send/1?x=%40y"
BODY = {"pdus": [], "edus": [{"edu_type": "m.typing"}]}


def signed(method: str = "PUT", content: Any | None = BODY) -> XMatrix:
    return parse_authorization(authorization_header(KEY, ORIGIN, DEST, method, URI, content))


def test_request_json_has_content_only_with_a_body() -> None:
    assert request_json("GET", URI, ORIGIN, DEST, None) == {
        "method": "GET", "uri": URI, "origin": ORIGIN, "destination": DEST}
    assert request_json("PUT", URI, ORIGIN, DEST, {})["content"] == {}


def test_round_trip_verifies() -> None:
    header = signed()
    assert header == XMatrix(ORIGIN, DEST, "ed25519:abc", header.signature)
    verify_request(header, PUBLIC, "PUT", URI, DEST, BODY)


def test_round_trip_without_a_body_verifies() -> None:
    verify_request(signed("GET", None), PUBLIC, "GET", URI, DEST, None)


@pytest.mark.parametrize(("method", "uri", "ours", "content"), [
    ("PUT", URI, DEST, {**BODY, "pdus": [1]}),
    ("PUT", URI, DEST, None),
    ("PUT", URI + "&z=1", DEST, BODY),
    ("PUT", "/_matrix/federation/v1/send/2?x=%40y", DEST, BODY),
    ("POST", URI, DEST, BODY),
    ("PUT", URI, "other.test", BODY),
], ids=["content", "no content", "query", "path", "method", "destination"])
def test_tampering_is_refused(method: str, uri: str, ours: str, content: Any) -> None:
    with pytest.raises(RequestAuthError):
        verify_request(signed(), PUBLIC, method, uri, ours, content)


def test_another_key_is_refused() -> None:
    other = generate_signing_key("abc").public_key_base64
    with pytest.raises(RequestAuthError):
        verify_request(signed(), other, "PUT", URI, DEST, BODY)


def test_garbage_signature_is_refused() -> None:
    header = XMatrix(ORIGIN, DEST, "ed25519:abc", "not base64!")
    with pytest.raises(RequestAuthError):
        verify_request(header, PUBLIC, "PUT", URI, DEST, BODY)


def test_without_destination_the_signature_must_name_us() -> None:
    sig = signed().signature
    header = parse_authorization(f'X-Matrix origin={ORIGIN},key="ed25519:abc",sig="{sig}"')
    assert header.destination is None
    verify_request(header, PUBLIC, "PUT", URI, DEST, BODY)
    with pytest.raises(RequestAuthError):
        verify_request(header, PUBLIC, "PUT", URI, "other.test", BODY)


def test_our_signature_verifies_with_signedjson() -> None:
    header = signed()
    obj = {**request_json("PUT", URI, ORIGIN, DEST, BODY),
           "signatures": {ORIGIN: {header.key_id: header.signature}}}
    theirs = decode_signing_key_base64("ed25519", "abc", encode_base64(KEY.seed))
    verify_signed_json(obj, ORIGIN, get_verify_key(theirs))


def test_a_signedjson_signature_verifies_with_ours() -> None:
    theirs = decode_signing_key_base64("ed25519", "abc", encode_base64(KEY.seed))
    obj = signedjson_sign(request_json("PUT", URI, ORIGIN, DEST, BODY), ORIGIN, theirs)
    header = XMatrix(ORIGIN, DEST, "ed25519:abc", obj["signatures"][ORIGIN]["ed25519:abc"])
    verify_request(header, PUBLIC, "PUT", URI, DEST, BODY)


def test_header_values_are_quoted_and_escaped() -> None:
    header = authorization_header(KEY, 'we"ird\\', DEST, "GET", URI, None)
    assert header.startswith('X-Matrix origin="we\\"ird\\\\",destination="dest.test",')
    assert parse_authorization(header).origin == 'we"ird\\'


@pytest.mark.parametrize("header", [
    'X-Matrix origin="origin.test",destination="d",key="ed25519:abc",sig="c2ln"',
    "X-Matrix origin=origin.test,destination=d,key=ed25519:abc,sig=c2ln",
    'X-Matrix origin=origin.test, key="ed25519:abc",  sig="c2ln"',
    'X-Matrix origin = "origin.test" ,\tkey=\t"ed25519:abc" , sig="c2ln"',
    'x-MATRIX   Origin="origin.test",KEY="ed25519:abc",Sig="c2ln"',
    'X-Matrix origin="origin.test",,key="ed25519:abc",sig="c2ln",',
    'X-Matrix origin="origin.test",key="ed25519:abc",sig="c2ln",extra="ignored"',
])
def test_header_forms_that_parse(header: str) -> None:
    parsed = parse_authorization(header)
    assert (parsed.origin, parsed.key_id, parsed.signature) == (
        "origin.test", "ed25519:abc", "c2ln")


@pytest.mark.parametrize(("origin_param", "origin"), [
    ("origin=origin.test:8448", "origin.test:8448"),
    ("origin=[::1]:8448", "[::1]:8448"),
    (r'origin="o\"x"', 'o"x'),
    (r'origin="a\\b\c"', "a\\bc"),
    ('origin="has space, and comma"', "has space, and comma"),
])
def test_origin_values(origin_param: str, origin: str) -> None:
    parsed = parse_authorization(f'X-Matrix {origin_param},key="ed25519:a",sig="s"')
    assert parsed.origin == origin


@pytest.mark.parametrize("header", [
    "",
    "X-Matrix",
    "Bearer abc",
    'X-Matrixorigin="o",key="ed25519:abc",sig="s"',
    'X-Matrix key="ed25519:abc",sig="s"',
    'X-Matrix origin="o",sig="s"',
    'X-Matrix origin="o",key="ed25519:abc"',
    'X-Matrix origin="",key="ed25519:abc",sig="s"',
    'X-Matrix origin="o",key="rsa:abc",sig="s"',
    'X-Matrix origin="o",key="ed25519:",sig="s"',
    'X-Matrix origin="o",key="ed25519:a-b",sig="s"',
    'X-Matrix origin="o",key="ed25519",sig="s"',
    'X-Matrix origin="o",origin="p",key="ed25519:abc",sig="s"',
    'X-Matrix origin="o",Origin="o",key="ed25519:abc",sig="s"',
    'X-Matrix origin="o,key="ed25519:abc",sig="s"',
    'X-Matrix origin="o\x01",key="ed25519:abc",sig="s"',
    'X-Matrix origin=o x,key="ed25519:abc",sig="s"',
    'X-Matrix origin="o" key="ed25519:abc",sig="s"',
    'X-Matrix origin,key="ed25519:abc",sig="s"',
    'X-Matrix origin=a/b,key="ed25519:abc",sig="s"',
    "X-Matrix garbage",
])
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(AuthHeaderError):
        parse_authorization(header)


def test_a_canonical_body_verifies_from_its_bytes() -> None:
    header = signed()
    verify_canonical_request(header, PUBLIC, "PUT", URI, DEST, canonical_json(BODY))
    for raw in (json.dumps(BODY).encode(), canonical_json({**BODY, "pdus": [1]})):
        with pytest.raises(RequestAuthError):  # not canonical, or not what was signed
            verify_canonical_request(header, PUBLIC, "PUT", URI, DEST, raw)
    with pytest.raises(RequestAuthError):
        verify_canonical_request(header, PUBLIC, "PUT", URI, "other.test", canonical_json(BODY))


@pytest.mark.parametrize("origin", [
    "a b", "x@127.0.0.1:8448", "evil.test/path", "evil.test:99999", "[::1", 'we"ird', "",
    "evil.test#", "ex\u00e4mple.test",
])
def test_an_origin_that_is_not_a_server_name_is_refused(origin: str) -> None:
    with pytest.raises(RequestAuthError, match="not a server name"):
        check_names(XMatrix(origin, DEST, "ed25519:abc", "sig"), DEST)


@pytest.mark.parametrize("origin", ["a.test", "a.test:8448", "1.2.3.4:1", "[::1]:8448"])
def test_server_names_pass(origin: str) -> None:
    check_names(XMatrix(origin, None, "ed25519:abc", "sig"), DEST)
