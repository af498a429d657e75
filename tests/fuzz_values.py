"""Hostile values for tests/test_fuzz.py: JSON text, bodies, path segments, queries, frames.

Everything comes from one seeded ``random.Random``, so a run is repeated by
its seed. JSON is produced as text, so it can hold what a Python value
cannot: ``1e400``, lone surrogate escapes, ``NaN``, nesting of any depth.
Body field names are read from the client API's own schemas, so a new
endpoint's fields are fuzzed without editing this file.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib
import json
import pkgutil
import random
import zlib
from typing import Any
from urllib.parse import quote

import client_api

NUMBERS = ["0", "-1", "1", str(2**53 - 1), str(2**53), str(-(2**53)), str(2**63), str(2**64),
           "1" + "0" * 30, "9" * 400, "1.5", "-0.0", "1e400", "-1e400", "1e-400", "0.1e1"]
STRINGS = ["", "x", "\u0000", "🦀" * 50, "\u202e\u200b", "@mallory:test.local", "!nope:test.local",
           "$nope", "../../etc/passwd", "%00", "m.room.message", "m.text", "online", "start",
           "<script>", "a" * 300, "é" * 300]
RAW_STRINGS = ['"\\ud800"', '"x\\udfff"', '"\\ud83e\\udd80"', '"\\u0000"']
TOKENS = ["s0", "s1", "t1", "s1_2_3", "s²", "s\u0661\u0662", "s" + "9" * 19, "s" + "9" * 30,
          "s9007199254740992", "s-1", "s1_", "s1_x", "", "_", "garbage", "s1" + "_1" * 40]
INTEGERS = ["0", "-1", "1", "10", "1000", "1001", "٣", "1e3", "1_0", " 1", "9" * 30, "0x10",
            str(2**31), str(2**31 + 1), str(2**63)]
QUERY = {
    "since": TOKENS, "from": TOKENS, "to": TOKENS, "dir": ["b", "f", "x", ""],
    "limit": INTEGERS, "timeout": ["0", "10", "-1", "x", "9" * 30, "\u0661"],
    "filter": ['{"room":{"timeline":{"limit":1}}}', "{bad", "[" * 1200 + "]" * 1200, "0",
               '{"types":[' + ",".join(['"a*"'] * 100) + "]}", '{"limit": 1e400}'],
    "full_state": ["true", "false", "yes"], "set_presence": ["online", "offline", "x"],
    "membership": ["join", "leave", "x"], "not_membership": ["join", "x"],
    "kind": ["user", "guest", "x"], "username": ["new", "", "A" * 300, "\u0000"],
    "access_token": ["junk", ""],
}
# Read with read_object rather than a schema, so no dataclass names them.
EXTRA_FIELDS = ["msgtype", "body", "membership", "thread_id", "join_rule", "topic", "name",
                "timeout", "typing", "presence", "status_msg", "users", "events"]
# Values that pass, so a body built from them reaches past validation into the core;
# schemas ignore keys they do not read, so one body serves every endpoint.
PLAUSIBLE: dict[str, list[Any]] = {
    "username": ["fuzzer", "mallory1"], "password": ["hunter2!"], "type": ["m.login.password"],
    "auth": [{"type": "m.login.dummy"}], "identifier": [{"type": "m.id.user", "user": "bob"}],
    "user": ["bob"], "device_id": ["FUZZ"], "inhibit_login": [True, False],
    "initial_device_display_name": ["fuzz"], "display_name": ["d"], "displayname": ["d"],
    "avatar_url": ["mxc://test.local/x"], "visibility": ["private", "public"],
    "preset": ["private_chat", "public_chat", "trusted_private_chat"], "is_direct": [True],
    "name": ["n"], "topic": ["t"], "room_version": ["10"], "initial_state": [[]],
    "creation_content": [{}], "power_level_content_override": [{}], "reason": ["r"],
    "msgtype": ["m.text"], "body": ["hello"], "typing": [True, False], "timeout": [1000],
    "presence": ["online", "unavailable", {}], "status_msg": ["s"], "room": [{}],
    "event_fields": [["content.body"]], "event_format": ["client"], "thread_id": ["main"],
    "membership": ["join"], "join_rule": ["public"], "room_alias_name": ["alias"],
}
ENCODINGS = ["gzip", "deflate", "br", "zstd", "x-unknown", "gzip, gzip", "gzip, deflate, gzip",
             "identity"]


def schema_fields() -> list[str]:
    """Every JSON key any client API schema reads."""
    names: set[str] = set()
    for info in pkgutil.iter_modules(client_api.__path__):
        module = importlib.import_module(f"client_api.{info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and dataclasses.is_dataclass(obj)
                    and obj.__module__ == module.__name__):
                names.update(f.metadata.get("key", f.name) for f in dataclasses.fields(obj))
    return sorted(names | set(EXTRA_FIELDS))


class Junk:
    """Draws hostile values; ``known`` holds real IDs to mix in (rooms, users, events)."""

    def __init__(self, rng: random.Random, known: dict[str, list[str]]) -> None:
        self.rng = rng
        self.known = known
        self.fields = schema_fields()

    def pick(self, values: list[Any]) -> Any:
        return self.rng.choice(values)

    def string(self) -> str:
        if self.rng.random() < 0.3:
            return self.pick(self.pick(list(self.known.values())))
        if self.rng.random() < 0.1:
            return "y" * self.pick([1_000, 20_000, 70_000])
        return self.pick(STRINGS)

    def json_text(self, depth: int = 0) -> str:
        roll = self.rng.random()
        if roll < 0.2:
            return self.pick(NUMBERS)
        if roll < 0.5:
            return json.dumps(self.string())
        if roll < 0.55:
            return self.pick([*RAW_STRINGS, "null", "true", "false"])
        if roll < 0.6:
            n = self.pick([65, 101, 150, 3000])
            return "[" * n + "]" * n if self.rng.random() < 0.8 else "[" * n
        if depth >= 3:
            return "null"
        if roll < 0.75:
            items = [self.json_text(depth + 1) for _ in range(self.rng.randrange(4))]
            return "[" + ",".join(items) + "]"
        return self.json_object(depth + 1)

    def plausible_object(self) -> str:
        """Every known field with a passing value, then one or two made hostile or dropped."""
        values = {k: json.dumps(self.pick(v)) for k, v in PLAUSIBLE.items()}
        for key in self.rng.sample(self.fields, self.rng.randrange(3)):
            values[key] = self.json_text(1)
        for key in self.rng.sample(sorted(values), self.rng.randrange(2)):
            del values[key]
        for key, ids in self.known.items():  # the real rooms, users and events
            if key in values and self.rng.random() < 0.5:
                values[key] = json.dumps(self.pick(ids))
        return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in values.items()) + "}"

    def json_object(self, depth: int = 0) -> str:
        keys = self.rng.sample(self.fields, self.rng.randrange(1, 5))
        return "{" + ",".join(f"{json.dumps(k)}:{self.json_text(depth)}" for k in keys) + "}"

    def body(self) -> tuple[bytes, dict[str, str]]:
        """A body and the headers it goes with (a Content-Encoding, sometimes a lie)."""
        roll = self.rng.random()
        if roll < 0.4:
            raw = self.plausible_object().encode("utf-8", "surrogatepass")
        elif roll < 0.65:
            raw = self.json_object().encode("utf-8", "surrogatepass")
        elif roll < 0.8:
            raw = self.json_text().encode("utf-8", "surrogatepass")
        else:
            raw = self.pick([b"", b"{", b"\xff\xfe{}", b'{"a": NaN}', b"{}{}", b'{"body": "x"',
                             b'{"a":"\xed\xa0\x80"}', b"\x1f\x8b\x08\x00junk"])
        headers = {"Content-Type": self.pick(["application/json", "text/plain", "x/y"])}
        if self.rng.random() < 0.15:
            encoding = self.pick(ENCODINGS)
            headers["Content-Encoding"] = encoding
            if encoding == "gzip" and self.rng.random() < 0.7:
                raw = gzip.compress(raw)
            elif encoding == "deflate" and self.rng.random() < 0.7:
                raw = zlib.compress(raw)
        return raw, headers

    def segment(self, name: str) -> str:
        """A path segment for ``{name}``, already percent-encoded."""
        roll = self.rng.random()
        if roll < 0.6 and self.known.get(name):
            return quote(self.pick(self.known[name]), safe="@:!$")
        if roll < 0.75:
            return self.pick(["%ED%A0%80", "%FF", "%2F", "..", "%25", "%F0%9F%A6%80", "a%20b"])
        return quote(self.string()[:2_000], safe="")

    def query(self) -> dict[str, str]:
        names = self.rng.sample(sorted(QUERY), self.rng.randrange(4))
        return {name: self.pick(QUERY[name] + self.known.get(name, [])) for name in names}

    def frame(self, room_ids: list[str]) -> str | bytes:
        """A client frame: mostly shaped like the protocol's, with wrong parts."""
        roll = self.rng.random()
        if roll < 0.1:
            return self.json_text().encode() if self.rng.random() < 0.5 else self.json_text()
        if roll < 0.15:
            return self.pick(["not json", "[1]", '{"type": []}', '{"type": {"a": 1}}', ""])
        fields: dict[str, str] = {"type": json.dumps(self.pick(["message", "typing", "presence",
                                                                "dance", "error"]))}
        for name, good in [("body", json.dumps("hello")), ("txn_id", json.dumps(f"t{roll}")),
                           ("status", json.dumps(self.pick(["online", "unavailable", "start",
                                                            "stop"]))),
                           ("room_id", json.dumps(self.pick(room_ids)))]:
            if self.rng.random() < 0.7:
                fields[name] = good if self.rng.random() < 0.7 else self.json_text(2)
        return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"
