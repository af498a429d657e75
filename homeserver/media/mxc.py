"""The ``mxc://<server-name>/<media-id>`` grammar, and new media IDs."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from homeserver import ids

# The spec: a media ID is made of A-Z a-z 0-9 _ and -. It names a database row, never a
# file, but the grammar is still what keeps "../" and friends out of every path.
_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
MAX_MXC_LENGTH = 512


@dataclass(frozen=True)
class Mxc:
    server_name: str
    media_id: str

    def __str__(self) -> str:
        return f"mxc://{self.server_name}/{self.media_id}"


def is_media_id(value: str) -> bool:
    return _MEDIA_ID.fullmatch(value) is not None


def is_server_name(value: str) -> bool:
    return len(value) <= 255 and ids.is_server_name(value)


def parse_mxc(uri: str) -> Mxc | None:
    """The parts of a valid ``mxc://`` URI, or None."""
    if len(uri) > MAX_MXC_LENGTH or not uri.startswith("mxc://"):
        return None
    server_name, sep, media_id = uri.removeprefix("mxc://").partition("/")
    if not sep or not is_server_name(server_name) or not is_media_id(media_id):
        return None
    return Mxc(server_name, media_id)


def new_media_id() -> str:
    return secrets.token_urlsafe(18)  # 144 random bits, in the media ID alphabet
