"""Accounts: registration, login, access tokens, devices and profiles."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from homeserver import ids
from homeserver.channels import REVOCATIONS_CHANNEL
from homeserver.clock import Clock
from homeserver.errors import (
    Forbidden,
    InteractiveAuthRequired,
    MatrixError,
    NotFound,
    UnknownToken,
    UserInUse,
)
from homeserver.held_tokens import HeldTokens
from homeserver.media.repository import MediaRepository
from homeserver.models import Device
from homeserver.notifier import Notifier, Subscription
from homeserver.passwords import PasswordHasher
from homeserver.ratelimit import RateLimiter
from homeserver.storage.accounts import AccountStore
from homeserver.user_directory import UserDirectory

log = logging.getLogger(__name__)

DUMMY_FLOWS = [{"stages": ["m.login.dummy"]}]
PASSWORD_FLOWS = [{"stages": ["m.login.password"]}]
AUTH_SESSION_TTL_MS = 30 * 60 * 1000
# Sessions one user may hold live (the oldest go first): asking for a session costs
# nothing, and the table must not grow with how often someone asks.
MAX_AUTH_SESSIONS_PER_USER = 20
AUTH_SESSION_PRUNE_BATCH = 100  # expired ones forgotten per new session
TOKEN_CACHE_SIZE = 10_000
# A logout reaches other workers through the notifier; should that message be
# lost, their cached entry still dies within this long.
TOKEN_CACHE_TTL_SECONDS = 30.0
# Told which devices of a user went (logout, deletion), to drop what hangs on them.
DevicesRemoved = Callable[[str, list[str]], Awaitable[None]]


@dataclass(frozen=True)
class Requester:
    """Who is making a request: the user and the device of their access token."""

    user_id: str
    device_id: str


@dataclass(frozen=True)
class HeldSession:
    """A long-lived connection's requester, and the Event set when its token is revoked."""

    requester: Requester
    revoked: asyncio.Event

    def check(self) -> None:
        """UnknownToken once the token is revoked: nothing more is done on it."""
        if self.revoked.is_set():
            raise UnknownToken("The access token was revoked")


@dataclass(frozen=True)
class Session:
    user_id: str
    device_id: str
    access_token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountService:
    def __init__(self, store: AccountStore, notifier: Notifier, limiter: RateLimiter,
                 server_name: str, clock: Clock, hasher: PasswordHasher,
                 directory: UserDirectory, media: MediaRepository,
                 devices_removed: DevicesRemoved | None = None) -> None:
        self.store = store
        self.directory = directory
        self.media = media
        self.devices_removed = devices_removed
        self.hasher = hasher
        self.notifier = notifier
        self.limiter = limiter
        self.server_name = server_name
        self.clock = clock
        # token hash -> (requester, expiry on the monotonic clock); a logout evicts
        # here at once, on other workers when the revocation reaches them, and
        # the expiry bounds how long a lost revocation can be outlived.
        self._token_cache: OrderedDict[str, tuple[Requester, float]] = OrderedDict()
        self._listener: asyncio.Task[None] | None = None
        self.held_tokens = HeldTokens()

    async def start(self) -> None:
        """Listen for other workers' logouts; returns once the listener is subscribed."""
        subscription = self.notifier.subscribe([REVOCATIONS_CHANNEL])
        await subscription.ready()
        self._listener = asyncio.create_task(self._evict_revoked(subscription))

    def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        self.hasher.close()

    async def _evict_revoked(self, subscription: Subscription) -> None:
        with subscription:
            while True:
                message = await subscription.next()
                payload = message[1] if message else {}
                if payload.get("kind") == "revoked" and not subscription.overflowed:
                    self.forget_tokens(payload["token_hashes"])
                else:  # a gap (Redis lost, queue overflowed): revocations may be missed
                    subscription.overflowed = False
                    self._token_cache.clear()
                    await self._check_held_tokens()

    async def _check_held_tokens(self) -> None:
        """After a gap: close the connections whose token is gone from the database."""
        try:
            for key in self.held_tokens.held():
                if await self.store.token_owner(key) is None:
                    self.held_tokens.revoke([key])
        except Exception:  # the listener must outlive a database hiccup
            log.exception("checking the held tokens after a gap failed")

    async def check_username_available(self, username: str) -> str:
        localpart = ids.localpart_of(username, self.server_name).lower()
        ids.check_localpart(localpart, self.server_name)
        user_id = ids.user_id(localpart, self.server_name)
        if await self.store.user_exists(user_id):
            raise UserInUse("User ID already taken")
        return user_id

    async def check_registration_auth(self, auth: dict | None) -> None:
        """The m.login.dummy flow: a first call gets a session; the second completes it."""
        now = self.clock.time_ms()
        if auth is None:
            session = await self._new_auth_session(None, now)
            raise InteractiveAuthRequired(session, DUMMY_FLOWS)
        if auth.get("type") != "m.login.dummy":
            raise MatrixError("Unsupported auth type", status=401, errcode="M_UNRECOGNIZED")
        session = auth.get("session")
        if session is not None:
            if not isinstance(session, str) or not await self.store.auth_session_exists(
                session, now - AUTH_SESSION_TTL_MS
            ):
                raise MatrixError("Unknown auth session", status=400, errcode="M_UNKNOWN")
            await self.store.delete_auth_session(session)

    async def _new_auth_session(self, user_id: str | None, now: int) -> str:
        session = secrets.token_urlsafe(16)
        await self.store.create_auth_session(session, now, user_id, now - AUTH_SESSION_TTL_MS,
                                             MAX_AUTH_SESSIONS_PER_USER,
                                             AUTH_SESSION_PRUNE_BATCH)
        return session

    async def confirm_identity(self, user_id: str, auth: dict | None) -> None:
        """User-interactive auth for a sensitive change: the account's own password again.

        Without ``auth`` the answer is a 401 naming the flow and a session. A wrong
        password answers the same 401 with ``M_FORBIDDEN``, counted like a failed login.
        """
        now = self.clock.time_ms()
        if not isinstance(auth, dict) or "type" not in auth:
            session = await self._new_auth_session(user_id, now)
            raise InteractiveAuthRequired(session, PASSWORD_FLOWS)
        session = auth.get("session")
        if session is not None and (not isinstance(session, str) or len(session) > 64
                                    or not await self.store.auth_session_exists(
                                        session, now - AUTH_SESSION_TTL_MS)):
            raise MatrixError("Unknown auth session", status=400, errcode="M_UNKNOWN")
        if auth.get("type") != "m.login.password":
            raise MatrixError("Unsupported auth type", status=401, errcode="M_UNRECOGNIZED")
        claimed, password = _password_auth_user(auth), auth.get("password")
        if not isinstance(password, str) or len(password) > 512 or claimed is None:
            raise MatrixError("Password auth needs identifier and password", status=400,
                              errcode="M_BAD_JSON")
        try:
            confirmed = await self.login_with_password(claimed, password)
        except Forbidden:
            confirmed = None
        if confirmed != user_id:
            retry = InteractiveAuthRequired(session or secrets.token_urlsafe(16), PASSWORD_FLOWS)
            retry.body.update(errcode="M_FORBIDDEN", error="Invalid password")
            raise retry
        if session is not None:
            await self.store.delete_auth_session(session)

    async def register(self, username: str | None, password: str | None) -> str:
        if username is None:
            username = "user_" + ids.random_string(12, "abcdefghijklmnopqrstuvwxyz0123456789")
        user_id = await self.check_username_available(username)
        hashed = await self.hasher.hash(password) if password else None
        # Clients show a name for everyone; until the user picks one it is the localpart.
        localpart = ids.localpart_of(user_id, self.server_name)
        if not await self.store.create_user(user_id, hashed, self.clock.time_ms(), localpart):
            raise UserInUse("User ID already taken")
        await self.directory.reindex(user_id)
        return user_id

    async def login_with_password(self, user: str, password: str) -> str:
        """The user ID, if the password is right; wrong guesses are limited per account."""
        try:
            localpart = ids.localpart_of(user, self.server_name).lower()
        except MatrixError:
            raise Forbidden("Invalid username or password") from None
        user_id = ids.user_id(localpart, self.server_name)
        # Every attempt spends a token and a success gives it back: only failures
        # count, and concurrent guesses cannot all pass one check before any is spent.
        await self.limiter.check("login_failures", user_id)
        stored = await self.store.password_hash(user_id)
        if not await self.hasher.verify(password, stored):
            raise Forbidden("Invalid username or password")
        await self.limiter.refund("login_failures", user_id)
        return user_id

    async def start_session(
        self, user_id: str, device_id: str | None, display_name: str | None
    ) -> Session:
        device_id = device_id or ids.random_string(10)
        token = "syt_" + secrets.token_urlsafe(32)
        await self.store.add_session(
            user_id, device_id, display_name, hash_token(token), self.clock.time_ms()
        )
        return Session(user_id, device_id, token)

    async def authenticate(self, token: str) -> Requester:
        key = hash_token(token)
        now = self.clock.monotonic()
        cached = self._token_cache.get(key)
        if cached is not None and cached[1] > now:
            self._token_cache.move_to_end(key)
            return cached[0]
        owner = await self.store.token_owner(key)
        if owner is None:
            self._token_cache.pop(key, None)
            raise UnknownToken("Unknown access token")
        requester = Requester(owner.user_id, owner.device_id)
        self._token_cache[key] = (requester, now + TOKEN_CACHE_TTL_SECONDS)
        self._token_cache.move_to_end(key)
        if len(self._token_cache) > TOKEN_CACHE_SIZE:
            self._token_cache.popitem(last=False)
        return requester

    @asynccontextmanager
    async def hold(self, token: str) -> AsyncIterator[HeldSession]:
        """Authenticate a long-lived connection, told when its token is revoked."""
        key = hash_token(token)
        # Held before it is checked: a revocation in between is seen either way.
        with self.held_tokens.hold(key) as revoked:
            yield HeldSession(await self.authenticate(token), revoked)

    def forget_tokens(self, token_hashes: list[str]) -> None:
        """Revoked tokens: out of the cache, and their open connections told."""
        for key in token_hashes:
            self._token_cache.pop(key, None)
        self.held_tokens.revoke(token_hashes)

    async def logout(self, requester: Requester) -> None:
        await self.delete_devices(requester.user_id, [requester.device_id])

    async def logout_all(self, requester: Requester) -> None:
        devices = [d.device_id for d in await self.store.devices(requester.user_id)]
        await self._revoke(await self.store.delete_devices(requester.user_id))
        await self._removed(requester.user_id, devices)

    async def delete_devices(self, user_id: str, device_ids: list[str]) -> None:
        """Delete these devices of the user (unknown ones are no-ops) and their tokens."""
        for device_id in device_ids:
            await self._revoke(await self.store.delete_devices(user_id, device_id))
        await self._removed(user_id, device_ids)

    async def _removed(self, user_id: str, device_ids: list[str]) -> None:
        if self.devices_removed is not None:
            await self.devices_removed(user_id, device_ids)

    async def _revoke(self, token_hashes: list[str]) -> None:
        self.forget_tokens(token_hashes)
        if token_hashes and not await self.notifier.publish(
            REVOCATIONS_CHANNEL, {"kind": "revoked", "token_hashes": token_hashes}
        ):
            log.error("a logout of %d token(s) did not reach the other workers; they accept "
                      "them for up to %d s more", len(token_hashes), TOKEN_CACHE_TTL_SECONDS)

    async def change_password(self, requester: Requester, new_password: str,
                              logout_devices: bool = True) -> None:
        """Set a new password (already confirmed by ``confirm_identity``); other devices
        are logged out unless asked not to, the requester's own stays."""
        if not new_password:
            raise MatrixError("The new password is empty", status=400, errcode="M_WEAK_PASSWORD")
        await self.store.set_password_hash(requester.user_id,
                                           await self.hasher.hash(new_password))
        if logout_devices:
            others = [d.device_id for d in await self.store.devices(requester.user_id)
                      if d.device_id != requester.device_id]
            await self._revoke(await self.store.delete_other_devices(requester.user_id,
                                                                     requester.device_id))
            await self._removed(requester.user_id, others)

    async def deactivate(self, user_id: str) -> None:
        """Refuse the account's login and tokens from now on; its ID stays taken."""
        devices = [d.device_id for d in await self.store.devices(user_id)]
        await self.store.deactivate(user_id)
        await self._revoke(await self.store.delete_devices(user_id))
        await self._removed(user_id, devices)

    async def devices(self, user_id: str) -> list[Device]:
        return await self.store.devices(user_id)

    async def device(self, user_id: str, device_id: str) -> Device:
        for device in await self.store.devices(user_id):
            if device.device_id == device_id:
                return device
        raise NotFound("Unknown device")

    async def rename_device(self, user_id: str, device_id: str, name: str | None) -> None:
        if not await self.store.rename_device(user_id, device_id, name):
            raise NotFound("Unknown device")

    async def profile(self, user_id: str) -> dict[str, str]:
        row = await self.store.profile(self.store.db, user_id)
        if row is None:
            raise NotFound("Profile not found")
        found = {k: row[k] for k in ("displayname", "avatar_url") if row[k] is not None}
        # Never {} for someone who exists: a client would show them as nobody.
        return found or {"displayname": ids.localpart_of(user_id, self.server_name)}

    async def set_profile_field(
        self, requester: Requester, user_id: str, field: str, value: str | None
    ) -> bool:
        """Set a field of one's own profile; whether it changed."""
        if requester.user_id != user_id:
            raise Forbidden("You can only change your own profile")
        if field == "avatar_url" and value:  # "" or null clears it
            await self.media.check_avatar(value)
        before = await self.store.profile(self.store.db, user_id)
        await self.store.set_profile_field(user_id, field, value or None)
        await self.directory.reindex(user_id)
        return before is None or before[field] != (value or None)


def _password_auth_user(auth: dict) -> str | None:
    """The user an ``m.login.password`` auth dict names (``identifier`` or legacy ``user``)."""
    identifier = auth.get("identifier")
    user = identifier.get("user") if isinstance(identifier, dict) else auth.get("user")
    return user if isinstance(user, str) and len(user) <= 255 else None
