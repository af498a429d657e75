"""The federation services of one server, built beside the core's and kept on the app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from federation.client import FederationClient
from federation.keyring import KeyRing
from federation.sender import Sender
from homeserver.peers import PeerStore
from homeserver.services import Homeserver


@dataclass
class Federation:
    store: PeerStore
    client: FederationClient
    keyring: KeyRing
    sender: Sender

    async def start(self) -> None:
        await self.keyring.remember_own_key()
        self.sender.start()

    async def close(self) -> None:
        await self.sender.close()
        await self.client.close()


FEDERATION = web.AppKey("federation", Federation)


def build_federation(hs: Homeserver) -> Federation:
    store = hs.peers.store
    client = FederationClient(hs.config, hs.signing_key)
    keyring = KeyRing(store, client, hs.signing_key, hs.server_name, hs.clock)
    sender = Sender(hs.peers.leadership, store, client, hs.notifier, hs.clock, hs.server_name,
                    hs.config.federation.max_backoff_ms)
    return Federation(store=store, client=client, keyring=keyring, sender=sender)
