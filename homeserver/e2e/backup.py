"""Server-side key backup (/room_keys): versions with their auth data, and the
encrypted session keys in the current version, kept by the spec's replacement rule."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from homeserver.e2e import shapes
from homeserver.errors import BadJson, MatrixError, NotFound, TooLarge
from homeserver.events.canonical import canonical_json
from homeserver.rooms.transactions import Writes, WriteTxn
from homeserver.storage.database import Row
from homeserver.storage.key_backup import KeyBackupStore

MAX_AUTH_DATA_BYTES = 16_384
MAX_SESSION_DATA_BYTES = 16_384
MAX_SESSIONS_PER_UPLOAD = 10_000
MAX_ROOMS_PER_UPLOAD = 10_000
MAX_VERSION = 2**53 - 1
# All versions together; a client backs up every megolm session it ever saw, so this
# is far above real use but stops one account from filling the disk.
MAX_SESSIONS_PER_USER = 200_000
PAGE_SIZE = 500  # sessions read at once when a backup is sent back


class WrongVersion(MatrixError):
    status, errcode = 403, "M_WRONG_ROOM_KEYS_VERSION"


class BackupFull(MatrixError):
    # 403, not 429: waiting would not help, and clients retry a 429 for ever.
    status, errcode = 403, "M_LIMIT_EXCEEDED"


class KeyBackupService:
    def __init__(self, store: KeyBackupStore, writes: Writes) -> None:
        self.store = store
        self.writes = writes

    async def create_version(self, user_id: str, body: dict[str, Any]) -> str:
        algorithm, auth_data = _version_body(body)
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            version = await self.store.create_version(txn.conn, user_id, algorithm, auth_data)
        return str(version)

    async def version_info(self, user_id: str, version: str | None) -> dict[str, Any]:
        row = await self.store.version(self.store.db, user_id, _number(version))
        if row is None:
            raise NotFound("No backup version" if version is None else "Unknown backup version")
        count = await self.store.count(self.store.db, user_id, row["version"])
        return {"algorithm": row["algorithm"], "auth_data": json.loads(row["auth_data"]),
                "count": count, "etag": str(row["etag"]), "version": str(row["version"])}

    async def update_version(self, user_id: str, version: str, body: dict[str, Any]) -> None:
        algorithm, auth_data = _version_body(body)
        if "version" in body and body["version"] != version:
            raise MatrixError("The version in the body is not the one in the path",
                              errcode="M_INVALID_PARAM")
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            row = await self._existing(txn, user_id, version)
            if row["algorithm"] != algorithm:
                raise MatrixError("A backup version's algorithm cannot change",
                                  errcode="M_INVALID_PARAM")
            await self.store.update_auth_data(txn.conn, user_id, row["version"], auth_data)

    async def delete_version(self, user_id: str, version: str) -> None:
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            row = await self._existing(txn, user_id, version)
            await self.store.delete_version(txn.conn, user_id, row["version"])

    async def put_keys(self, user_id: str, version: str, rooms: dict[str, Any]) -> dict[str, Any]:
        """Keep each session unless the one held is better; the version must be current."""
        sessions = _sessions(rooms)
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            number = await self._current(txn, user_id, version)
            changed = False
            added = False
            for room_id, session_id, data in sessions:
                held = await self.store.session(txn.conn, user_id, number, room_id, session_id)
                if held is None or _better(data, held):
                    await self.store.put_session(txn.conn, user_id, number, room_id,
                                                 session_id, data)
                    changed, added = True, added or held is None
            if added and await self.store.holds_at_least(txn.conn, user_id,
                                                         MAX_SESSIONS_PER_USER + 1):
                raise BackupFull(f"A user's backups hold at most {MAX_SESSIONS_PER_USER}"
                                 " sessions")
            if changed:
                await self.store.bump_etag(txn.conn, user_id, number)
            return await self._etag_and_count(txn, user_id, number)

    async def session_key(self, user_id: str, version: str, room_id: str,
                          session_id: str) -> dict[str, Any]:
        number = await self.existing_version(user_id, version)
        rows = await self.store.sessions(self.store.db, user_id, number, room_id, session_id)
        if not rows:
            raise NotFound("No such session in the backup")
        return _session_json(rows[0])

    async def existing_version(self, user_id: str, version: str) -> int:
        row = await self.store.version(self.store.db, user_id, _number(version))
        if row is None:
            raise NotFound("Unknown backup version")
        return int(row["version"])

    async def keys_json(self, user_id: str, number: int,
                        room_id: str | None = None) -> AsyncIterator[bytes]:
        """The version's sessions (one room's if ``room_id``) as the spec's JSON, in
        pieces read a page at a time: a backup may hold a user's whole history, which is
        never loaded at once."""
        yield b'{"sessions":{' if room_id is not None else b'{"rooms":{'
        after, current, first = ("", ""), None, True
        while True:
            rows = await self.store.sessions_page(self.store.db, user_id, number, room_id,
                                                  after, PAGE_SIZE)
            parts: list[str] = []
            for row in rows:
                if room_id is None and row["room_id"] != current:
                    parts.append("" if current is None else "}},")
                    parts.append(_dumps(row["room_id"]) + ':{"sessions":{')
                    current, first = row["room_id"], True
                parts.append(("" if first else ",") + _dumps(row["session_id"]) + ":"
                             + _dumps(_session_json(row)))
                first = False
            if parts:
                yield "".join(parts).encode()
            if len(rows) < PAGE_SIZE:
                break
            after = (rows[-1]["room_id"], rows[-1]["session_id"])
        yield b"}}}}" if current is not None else b"}}"

    async def delete_keys(self, user_id: str, version: str, room_id: str | None = None,
                          session_id: str | None = None) -> dict[str, Any]:
        async with self.writes.transaction() as txn:
            await txn.lock_user(user_id)
            number = (await self._existing(txn, user_id, version))["version"]
            if await self.store.delete_sessions(txn.conn, user_id, number, room_id, session_id):
                await self.store.bump_etag(txn.conn, user_id, number)
            return await self._etag_and_count(txn, user_id, number)

    async def _existing(self, txn: WriteTxn, user_id: str, version: str) -> Row:
        row = await self.store.version(txn.conn, user_id, _number(version))
        if row is None:
            raise NotFound("Unknown backup version")
        return row

    async def _current(self, txn: WriteTxn, user_id: str, version: str) -> int:
        row = await self._existing(txn, user_id, version)
        current = await self.store.version(txn.conn, user_id, None)
        if current is None or current["version"] != row["version"]:
            raise WrongVersion("Not the current backup version",
                               current_version=str(current["version"]) if current else None)
        return int(row["version"])

    async def _etag_and_count(self, txn: WriteTxn, user_id: str, number: int) -> dict[str, Any]:
        row = await self.store.version(txn.conn, user_id, number)
        assert row is not None
        return {"etag": str(row["etag"]),
                "count": await self.store.count(txn.conn, user_id, number)}


def _number(version: str | None) -> int | None:
    """A version as clients name it (a decimal string); an unknown name finds nothing."""
    if version is None:
        return None
    if not version.isascii() or not version.isdigit() or len(version) > 16 \
            or int(version) > MAX_VERSION:
        return -1
    return int(version)


def _version_body(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    algorithm = shapes.require_string(body.get("algorithm"), "algorithm")
    auth_data = shapes.require_object(body.get("auth_data"), "auth_data")
    if len(canonical_json(auth_data)) > MAX_AUTH_DATA_BYTES:
        raise TooLarge(f"auth_data is larger than {MAX_AUTH_DATA_BYTES} bytes")
    return algorithm, auth_data


def _sessions(rooms: Any) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for room_id, room in shapes.bounded_map(rooms, "rooms", MAX_ROOMS_PER_UPLOAD).items():
        sessions = shapes.require_object(room, f"rooms.{room_id}").get("sessions")
        for session_id, data in shapes.bounded_map(sessions, f"rooms.{room_id}.sessions",
                                                   MAX_SESSIONS_PER_UPLOAD).items():
            found.append((room_id, session_id, session_data(data)))
            if len(found) > MAX_SESSIONS_PER_UPLOAD:
                raise TooLarge(f"At most {MAX_SESSIONS_PER_UPLOAD} sessions per upload")
    return found


def session_data(data: Any) -> dict[str, Any]:
    """One KeyBackupData object, checked."""
    data = shapes.require_object(data, "session")
    for name in ("first_message_index", "forwarded_count"):
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_VERSION:
            raise BadJson(f"{name} must be a non-negative integer")
    if not isinstance(data.get("is_verified"), bool):
        raise BadJson("is_verified must be a boolean")
    secret = shapes.require_object(data.get("session_data"), "session_data")
    if len(canonical_json(secret)) > MAX_SESSION_DATA_BYTES:
        raise TooLarge(f"session_data is larger than {MAX_SESSION_DATA_BYTES} bytes")
    return data


def _better(new: dict[str, Any], held: Row) -> bool:
    """The spec's rule: verified beats unverified, then the lower first message index,
    then the lower forwarded count."""
    if bool(new["is_verified"]) != bool(held["is_verified"]):
        return bool(new["is_verified"])
    if new["first_message_index"] != held["first_message_index"]:
        return new["first_message_index"] < held["first_message_index"]
    return new["forwarded_count"] < held["forwarded_count"]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _session_json(row: Row) -> dict[str, Any]:
    return {"first_message_index": row["first_message_index"],
            "forwarded_count": row["forwarded_count"],
            "is_verified": bool(row["is_verified"]),
            "session_data": json.loads(row["session_data"])}
