"""The server's Ed25519 signing key: generation, the on-disk key file, raw sign/verify.

The key file uses Synapse's one-line format, ``ed25519 <version> <unpadded-base64-seed>``,
so a key can be moved between this server and Synapse. It is created with mode 0600
(parent directory created if needed) and published without a race: the key is written to a
private temporary file which is then hard-linked into place, so concurrent workers starting
at once all end up with the one key that won.
"""

from __future__ import annotations

import os
import re
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from homeserver.events.canonical import decode_base64, encode_base64

ALGORITHM = "ed25519"
_VERSION_RE = re.compile(r"^[A-Za-z0-9_]+$")
_VERSION_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 signing key and its key ID (``ed25519:<version>``)."""

    key_id: str
    private_key: Ed25519PrivateKey

    @property
    def version(self) -> str:
        return self.key_id.split(":", 1)[1]

    @property
    def seed(self) -> bytes:
        """The 32-byte private seed (what the key file stores)."""
        return self.private_key.private_bytes_raw()

    @property
    def public_key_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()

    @property
    def public_key_base64(self) -> str:
        """The verify key as published in ``/_matrix/key/v2/server``."""
        return encode_base64(self.public_key_bytes)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self.private_key.sign(message)


def signing_key_from_seed(seed: bytes, version: str) -> SigningKey:
    """Rebuild a key from its 32-byte seed and version."""
    if not _VERSION_RE.match(version):
        raise ValueError(f"invalid key version {version!r}")
    if len(seed) != 32:
        raise ValueError("an ed25519 seed is 32 bytes")
    return SigningKey(f"{ALGORITHM}:{version}", Ed25519PrivateKey.from_private_bytes(seed))


def generate_signing_key(version: str | None = None) -> SigningKey:
    """A fresh key; the default version is ``a_`` plus four random letters/digits."""
    if version is None:
        version = "a_" + "".join(secrets.choice(_VERSION_ALPHABET) for _ in range(4))
    return signing_key_from_seed(secrets.token_bytes(32), version)


def format_key_file(key: SigningKey) -> str:
    return f"{ALGORITHM} {key.version} {encode_base64(key.seed)}\n"


def parse_key_file(text: str) -> SigningKey:
    """The first key in a Synapse-style key file."""
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or parts[0] != ALGORITHM:
            raise ValueError("signing key file line must be 'ed25519 <version> <seed>'")
        return signing_key_from_seed(decode_base64(parts[2]), parts[1])
    raise ValueError("signing key file is empty")


def load_or_create_signing_key(path: Path) -> SigningKey:
    """Read the key at ``path``, creating it (mode 0600) if it does not exist."""
    if path.exists():
        return parse_key_file(path.read_text(encoding="ascii"))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_signing_key()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(format_key_file(key))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return parse_key_file(path.read_text(encoding="ascii"))
    finally:
        tmp.unlink(missing_ok=True)
    return key


def verify_signature(public_key_b64: str, message: bytes, sig_b64: str) -> bool:
    """Whether ``sig_b64`` is a valid Ed25519 signature of ``message`` by that key."""
    try:
        public_key = Ed25519PublicKey.from_public_bytes(decode_base64(public_key_b64))
        public_key.verify(decode_base64(sig_b64), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
