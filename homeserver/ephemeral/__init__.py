"""Shared ephemeral state: typing and presence, never stored as events.

One interface, two stores: in process memory (one worker) and Redis (several
workers). Times come from the caller's injected clock, so expiry is decided
by the server's clock, never by the store's.
"""

from homeserver.ephemeral.memory import MemoryEphemeralStore
from homeserver.ephemeral.store import EphemeralStore, PresenceState

__all__ = ["EphemeralStore", "MemoryEphemeralStore", "PresenceState"]
