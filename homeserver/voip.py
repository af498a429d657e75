"""TURN credentials for calls, by the TURN REST API scheme that coturn and Synapse use.

The username is ``<expiry seconds>:<user_id>`` and the password is
base64(HMAC-SHA1(shared secret, username)): the TURN server checks it with the
same secret and refuses it after the expiry, so nothing is stored here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from homeserver.config import Voip


def turn_server(voip: Voip, user_id: str, now_ms: int) -> dict[str, Any]:
    """The /voip/turnServer answer; {} when no TURN server is configured."""
    if not voip.turn_uris or not voip.turn_shared_secret:
        return {}
    expiry = (now_ms + voip.turn_user_lifetime) // 1000
    username = f"{expiry}:{user_id}"
    mac = hmac.new(voip.turn_shared_secret.encode(), username.encode(), hashlib.sha1)
    return {
        "username": username,
        "password": base64.b64encode(mac.digest()).decode(),
        "uris": list(voip.turn_uris),
        "ttl": voip.turn_user_lifetime // 1000,
    }
