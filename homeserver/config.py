"""The server's configuration: its keys, defaults, validation and loading.

Precedence is command-line flag > config file > default. Every key is
documented in ``config.sample.yaml``; an unknown key or a wrong type stops the
start with a :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from homeserver.schema import SchemaError, limit, optional, parse


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key or problem."""


@dataclass
class Listen:
    host: str = "127.0.0.1"
    port: int = optional(8008, min=0, max=65535)
    # Reverse proxies (CIDRs) whose X-Forwarded-For names the client; empty:
    # the header is ignored and the connection's address is the client's.
    trusted_proxies: list[str] = field(default_factory=list)


@dataclass
class Registration:
    # None means: open when listening on a loopback address, closed otherwise.
    open: bool | None = None


@dataclass
class Rate:
    per_second: float = optional(1.0, min=0.0)
    burst: int = optional(10, min=1)


@dataclass
class RateLimits:
    enabled: bool = True
    login: Rate = field(default_factory=lambda: Rate(0.2, 10))
    register: Rate = field(default_factory=lambda: Rate(0.1, 5))
    message: Rate = field(default_factory=lambda: Rate(10.0, 50))
    # per origin server: the cross-server DM query
    federation_dm_query: Rate = field(default_factory=lambda: Rate(1.0, 20))
    # Wrong passwords per account, from any address: guessing is slow even
    # when spread over many addresses.
    login_failures: Rate = field(default_factory=lambda: Rate(0.1, 5))
    # Per user: a profile change writes a join event into every room the user is in.
    profile: Rate = field(default_factory=lambda: Rate(0.1, 5))
    # Per user: media uploads and server-side searches, each costly for the server.
    upload: Rate = field(default_factory=lambda: Rate(1.0, 20))
    search: Rate = field(default_factory=lambda: Rate(1.0, 10))
    # per user: PUT /sendToDevice (needs no shared room, so it is limited on its own)
    to_device: Rate = field(default_factory=lambda: Rate(5.0, 100))


@dataclass
class Limits:
    max_body_bytes: int = optional(1_048_576, min=1024)
    # A socket whose client stops reading is closed (4008) past either bound.
    socket_send_timeout_ms: int = optional(10_000, min=10)
    socket_queue: int = optional(1000, min=1)
    # A bigger client frame is refused before it is read (close 1009); room for a
    # 32,000-character message however its characters are encoded.
    socket_max_frame_bytes: int = optional(262_144, min=1024)
    # Passwords hashed at once (16 MiB and a core each); more logins wait their turn.
    password_hash_threads: int = optional(1, min=1, max=64)


@dataclass
class Typing:
    # A client asking for longer gets this; expiry is exact, not bucketed.
    max_timeout_ms: int = optional(120_000, min=1000)


@dataclass
class PresenceConfig:
    idle_ms: int = optional(300_000, min=1000)  # online -> unavailable without activity
    offline_grace_ms: int = optional(30_000, min=100)  # after the last connection ends
    # Presence kept for another server's users: only those sharing a room with ours,
    # at most this many per server (the least recently updated is forgotten).
    max_remote_per_server: int = optional(1000, min=1)


@dataclass
class Federation:
    enabled: bool = False
    # server_name -> base URL; overrides discovery (tests, private networks)
    endpoints: dict[str, str] = field(default_factory=dict)
    # Let discovered servers be reached at loopback, private, link-local or multicast
    # addresses (off: only the names in endpoints may be).
    allow_private_addresses: bool = False
    # Retries to a failing server back off exponentially from 1 s up to this.
    max_backoff_ms: int = optional(600_000, min=100)
    # Agree on a cross-server DM's room through our unstable query; off: act as
    # a plain Matrix server would (invites only).
    dm_query: bool = True
    # Unanswered invites another server may leave for one of our users.
    max_pending_invites: int = optional(20, min=1)
    # A request body not in canonical JSON must be parsed before its signature can be
    # checked; it may hold at most this many JSON values (bounds the memory that costs).
    max_values_before_auth: int = optional(100_000, min=1000)


@dataclass
class Push:
    # Push gateways (pushers' data.url) are reached at public addresses only; these
    # CIDRs are allowed besides (e.g. a gateway on this host: ["127.0.0.1/32"]).
    allowed_gateway_ips: list[str] = field(default_factory=list)
    # A failing gateway is retried with exponential back-off from 1 s up to this,
    # at most max_attempts times per notification.
    max_backoff_ms: int = optional(600_000, min=100)
    max_attempts: int = optional(8, min=1, max=100)


@dataclass
class E2ee:
    # New DMs are end-to-end encrypted (m.room.encryption, megolm) when true;
    # published to clients as io.element.e2ee.default in /.well-known/matrix/client.
    default: bool = False


@dataclass
class Voip:
    # TURN servers for calls; empty: /voip/turnServer answers {}.
    turn_uris: list[str] = field(default_factory=list)
    # The secret shared with the TURN server (coturn's static-auth-secret): each
    # user gets credentials by the TURN REST API scheme (HMAC-SHA1 of "expiry:user").
    turn_shared_secret: str | None = None
    turn_user_lifetime: int = optional(86_400_000, min=60_000)  # milliseconds


@dataclass
class S3Config:
    # An S3-compatible bucket for media content instead of the local path: the first
    # five keys must all be given (a half-filled one is an error).
    endpoint_url: str = limit(min_len=1, max_len=2048)
    bucket: str = limit(min_len=3, max_len=63)
    region: str = limit(min_len=1, max_len=64)
    access_key_id: str = limit(min_len=1, max_len=256)
    secret_access_key: str = field(repr=False, metadata={"min_len": 1, "max_len": 256})
    # Put before every key, as is: "media/" gives media/content/ab/cd/<sha256>.
    prefix: str = optional("", max_len=512)
    # path: https://host/bucket/key (MinIO, Ceph, moto); virtual: https://bucket.host/key.
    addressing_style: str = optional("path", choices={"path", "virtual", "auto"})
    # Requests to the bucket at once; each waits on a thread of its own.
    threads: int = optional(8, min=1, max=64)


@dataclass
class MediaConfig:
    # Where uploads live; null: <data_dir>/media. Several workers must share one path.
    path: str | None = None
    max_upload_bytes: int = optional(52_428_800, min=1024)
    # What one user's uploads may add up to.
    max_bytes_per_user: int = optional(1_073_741_824, min=1024)
    # An image with more pixels than this gets no thumbnail (its decoding alone would
    # cost width x height x 4 bytes): the decompression-bomb bound.
    max_thumbnail_pixels: int = optional(33_554_432, min=1)
    # A larger image gets no thumbnail: refused from its row, before its content is fetched.
    max_thumbnail_source_bytes: int = optional(20_971_520, min=1024)
    # Thumbnails made at once, each on a thread of its own.
    thumbnail_threads: int = optional(1, min=1, max=16)
    # /create'd media IDs one user may hold before uploading to them.
    max_pending_uploads: int = optional(10, min=1)
    # null: content lives under path; set: in this bucket, and path keeps only part files.
    s3: S3Config | None = None


@dataclass
class UserDirectoryConfig:
    # true: every local user can be found; false: only those sharing a room with the searcher.
    search_all_users: bool = False


@dataclass
class Config:
    server_name: str = "localhost"
    public_baseurl: str | None = None
    listen: Listen = field(default_factory=Listen)
    data_dir: str = "./data"
    database: str | None = None
    redis: str | None = None
    registration: Registration = field(default_factory=Registration)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    limits: Limits = field(default_factory=Limits)
    federation: Federation = field(default_factory=Federation)
    typing: Typing = field(default_factory=Typing)
    presence: PresenceConfig = field(default_factory=PresenceConfig)
    push: Push = field(default_factory=Push)
    e2ee: E2ee = field(default_factory=E2ee)
    voip: Voip = field(default_factory=Voip)
    media: MediaConfig = field(default_factory=MediaConfig)
    user_directory: UserDirectoryConfig = field(default_factory=UserDirectoryConfig)
    log_level: str = optional("info", choices={"debug", "info", "warning", "error"})

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{Path(self.data_dir) / 'homeserver.db'}"

    @property
    def media_path(self) -> Path:
        return Path(self.media.path) if self.media.path else Path(self.data_dir) / "media"

    @property
    def registration_open(self) -> bool:
        if self.registration.open is not None:
            return self.registration.open
        return is_loopback(self.listen.host)

    @property
    def base_url(self) -> str:
        return self.public_baseurl or f"http://{self.listen.host}:{self.listen.port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(path: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read ``path`` (YAML) if given, apply dotted ``overrides``, validate."""
    data = _read_file(path) if path else {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
    try:
        config = parse(Config, data, strict=True)
    except SchemaError as exc:
        raise ConfigError(f"config key {exc.path}: {exc.problem}") from None
    _validate(config)
    return config


def _read_file(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys")
    return data


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


_SERVER_NAME = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,255})(:\d{1,5})?$")


def _validate(config: Config) -> None:
    if not _SERVER_NAME.match(config.server_name):
        raise ConfigError(f"config key server_name: {config.server_name!r} is not a server name")
    if config.database is not None:
        _check_url("database", config.database, {"sqlite", "postgresql", "postgres"})
    if config.redis is not None:
        _check_url("redis", config.redis, {"redis", "rediss", "unix"})
    for name, url in config.federation.endpoints.items():
        _check_url(f"federation.endpoints.{name}", url, {"http", "https"})
    if config.public_baseurl is not None:
        _check_url("public_baseurl", config.public_baseurl, {"http", "https"})
    if config.media.s3 is not None:
        _validate_s3(config.media.s3)
    _check_networks("listen.trusted_proxies", config.listen.trusted_proxies)
    _check_networks("push.allowed_gateway_ips", config.push.allowed_gateway_ips)


def _check_networks(key: str, cidrs: list[str]) -> None:
    for i, cidr in enumerate(cidrs):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(f"config key {key}[{i}]: {cidr!r} is not an "
                              "address or CIDR network") from None


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _validate_s3(s3: S3Config) -> None:
    _check_url("media.s3.endpoint_url", s3.endpoint_url, {"http", "https"})
    if not _BUCKET.match(s3.bucket):
        raise ConfigError(f"config key media.s3.bucket: {s3.bucket!r} is not an S3 bucket name")
    if any(ord(c) < 0x20 or c == "\x7f" for c in s3.prefix) or s3.prefix.startswith("/"):
        raise ConfigError("config key media.s3.prefix: must not start with / or hold control "
                          "characters")


def _check_url(key: str, url: str, schemes: set[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ConfigError(f"config key {key}: {url!r} must start with one of {sorted(schemes)}")
    if parts.scheme == "sqlite" and not parts.path.strip("/"):
        raise ConfigError(f"config key {key}: {url!r} names no file (sqlite:///path/to.db)")
    if parts.scheme not in ("sqlite", "unix") and not parts.hostname:
        raise ConfigError(f"config key {key}: {url!r} names no host")


def as_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)
