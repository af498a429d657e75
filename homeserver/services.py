"""The service container: every core service of one server, built from a config.

Handlers reach the services through ``request.app[HOMESERVER]``; tests build
one with a fake clock. The core never imports ``client_api`` or ``federation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from homeserver.accounts import AccountService
from homeserver.addresses import GuardedSockets
from homeserver.channels import RoomChannels
from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.deactivation import Deactivation
from homeserver.dms import DmService
from homeserver.e2e.backup import KeyBackupService
from homeserver.e2e.cross_signing import CrossSigningService
from homeserver.e2e.device_lists import DeviceLists
from homeserver.e2e.devices import DeviceCleanup
from homeserver.e2e.keys import KeysService
from homeserver.e2e.to_device import ToDeviceService
from homeserver.ephemeral import EphemeralStore, MemoryEphemeralStore
from homeserver.events.keys import SigningKey, load_or_create_signing_key
from homeserver.gateway import FederationDoor
from homeserver.media.backend import media_backend
from homeserver.media.repository import MediaRepository
from homeserver.notifier import LocalNotifier, Notifier
from homeserver.passwords import PasswordHasher
from homeserver.peers import Peers
from homeserver.positions import StreamPositions
from homeserver.presence import PresenceService
from homeserver.profiles import ProfileService
from homeserver.push.delivery import PushDelivery
from homeserver.push.editing import PushRuleService
from homeserver.push.notifications import NotificationService
from homeserver.push.pushers import PusherService
from homeserver.push.recording import NotificationRecorder
from homeserver.push.rules import Rulesets
from homeserver.ratelimit import Buckets, MemoryBuckets, RateLimiter
from homeserver.room_directory import RoomDirectoryService
from homeserver.rooms.aggregations import Aggregations
from homeserver.rooms.building import EventBuilder
from homeserver.rooms.history import RoomHistory
from homeserver.rooms.indexing import EventIndexer
from homeserver.rooms.invites import RemoteInvites
from homeserver.rooms.persisting import EventPersister
from homeserver.rooms.reading import RoomReader
from homeserver.rooms.received import ReceivedEvents
from homeserver.rooms.relations import RelationsReader
from homeserver.rooms.service import RoomService
from homeserver.rooms.transactions import Writes
from homeserver.rooms.writer import EventWriter
from homeserver.search import SearchService
from homeserver.storage import Database, connect
from homeserver.storage.accounts import AccountStore
from homeserver.storage.device_messages import DeviceMessageStore
from homeserver.storage.dms import DmStore
from homeserver.storage.e2e_keys import E2eKeyStore
from homeserver.storage.events import EventStore
from homeserver.storage.federation import FederationStore
from homeserver.storage.invites import InviteStore
from homeserver.storage.key_backup import KeyBackupStore
from homeserver.storage.media import MediaStore
from homeserver.storage.migrations import upgrade
from homeserver.storage.notifications import NotificationStore
from homeserver.storage.push_rules import PushRuleStore
from homeserver.storage.pushers import PusherStore
from homeserver.storage.receipts import ReceiptStore
from homeserver.storage.relations import RelationStore
from homeserver.storage.room_directory import RoomDirectoryStore
from homeserver.storage.search import SearchStore
from homeserver.storage.stream import rollback_frees_position, settled_position
from homeserver.storage.user_data import UserDataStore
from homeserver.storage.user_directory import UserDirectoryStore
from homeserver.sync.devices import DeviceSync
from homeserver.sync.service import SyncService
from homeserver.sync.unread import UnreadCounts
from homeserver.typing import TypingService
from homeserver.user_data import UserDataService
from homeserver.user_directory import UserDirectory

SIGNING_KEY_FILE = "signing.key"


@dataclass
class Homeserver:
    config: Config
    clock: Clock
    db: Database
    signing_key: SigningKey
    notifier: Notifier
    positions: StreamPositions
    channels: RoomChannels
    ratelimiter: RateLimiter
    accounts: AccountService
    profiles: ProfileService
    rooms: RoomService
    reader: RoomReader
    relations: RelationsReader
    search: SearchService
    history: RoomHistory
    dms: DmService
    user_data: UserDataService
    sync: SyncService
    typing: TypingService
    presence: PresenceService
    ephemeral: EphemeralStore
    peers: Peers
    received: ReceivedEvents
    federation: FederationDoor
    push_rules: PushRuleService
    pushers: PusherService
    notifications: NotificationService
    push_delivery: PushDelivery
    keys: KeysService
    cross_signing: CrossSigningService
    to_device: ToDeviceService
    key_backup: KeyBackupService
    deactivation: Deactivation
    room_directory: RoomDirectoryService
    media: MediaRepository
    user_directory: UserDirectory

    @property
    def server_name(self) -> str:
        return self.config.server_name

    async def close(self) -> None:
        await self.push_delivery.close()
        self.typing.close()
        self.presence.close()
        self.accounts.close()
        self.media.close()
        await self.ephemeral.close()
        await self.ratelimiter.close()
        self.positions.close()
        await self.notifier.close()
        await self.db.close()


HOMESERVER = web.AppKey("homeserver", Homeserver)


async def build_homeserver(config: Config, clock: Clock | None = None) -> Homeserver:
    """Open storage, bring its schema up to date and wire the services."""
    clock = clock or Clock()
    key = load_or_create_signing_key(Path(config.data_dir) / SIGNING_KEY_FILE)
    db = await connect(config.database_url)
    try:
        await upgrade(db, clock.time_ms())
    except BaseException:
        await db.close()
        raise
    positions = StreamPositions(lambda: settled_position(db), clock,
                                rollback_frees_position(db))
    notifier: Notifier = LocalNotifier(positions)
    ephemeral: EphemeralStore = MemoryEphemeralStore()
    buckets: Buckets = MemoryBuckets(clock)
    if config.redis:
        # Imported only here: the Redis client is about 10 MiB of a single process's memory.
        from homeserver.ephemeral.redis_store import RedisEphemeralStore
        from homeserver.redis_notifier import RedisNotifier
        from homeserver.redis_ratelimit import RedisBuckets

        redis_notifier = RedisNotifier(config.redis, positions)
        try:
            await redis_notifier.start()
        except BaseException:
            await redis_notifier.close()
            await db.close()
            raise
        notifier, ephemeral = redis_notifier, RedisEphemeralStore(config.redis)
        buckets = RedisBuckets(config.redis, clock)
    try:
        await positions.open(notifier)
    except BaseException:
        positions.close()
        await notifier.close()
        await db.close()
        raise
    server = wire(config, clock, db, key, notifier, positions, ephemeral, buckets)
    server.presence.start()
    await server.accounts.start()
    await server.user_directory.backfill()
    return server


def wire(config: Config, clock: Clock, db: Database, key: SigningKey, notifier: Notifier,
         positions: StreamPositions, ephemeral: EphemeralStore, buckets: Buckets) -> Homeserver:
    """Build every service on open storage; each gets only the stores it needs."""
    name = config.server_name
    account_store, event_store, dm_store = AccountStore(db), EventStore(db), DmStore(db)
    receipt_store, user_data_store = ReceiptStore(db), UserDataStore(db)
    peer_store = FederationStore(db)
    invite_store = InviteStore(db)
    relation_store, search_store = RelationStore(db), SearchStore(db)
    indexer = EventIndexer(relation_store, search_store)
    channels = RoomChannels(event_store, dm_store)
    writes = Writes(db, positions, notifier)
    builder = EventBuilder(event_store, key, name, clock)
    notification_store, pusher_store = NotificationStore(), PusherStore()
    rulesets = Rulesets(PushRuleStore(), db, clock)
    delivery = PushDelivery(pusher_store, notification_store, db, clock, config.push)
    persister = EventPersister(event_store, channels, name,
                               peer_store if config.federation.enabled else None, indexer,
                               NotificationRecorder(event_store, rulesets, notification_store,
                                                    name, clock, delivery.notify))
    writer = EventWriter(event_store, invite_store, builder, persister, clock)
    federation = FederationDoor()
    media = MediaRepository(MediaStore(db), media_backend(config), config.media, name, clock)
    directory = UserDirectory(UserDirectoryStore(db), config.user_directory.search_all_users)
    user_data = UserDataService(user_data_store, receipt_store, event_store, writes, channels,
                                federation, clock)
    invites = RemoteInvites(writer, writes, name, invite_store, dm_store, user_data, federation,
                            clock, config.federation.max_pending_invites)
    rooms = RoomService(writer, writes, event_store, dm_store, account_store, invites,
                        indexer, name, clock)
    reader = RoomReader(event_store, positions, clock, Aggregations(relation_store))
    notifications = NotificationService(notification_store, db, reader)
    history = RoomHistory(event_store)
    typing = TypingService(event_store, channels, notifier, federation, ephemeral, clock,
                           config.typing.max_timeout_ms)
    ratelimiter = RateLimiter(config.rate_limits, buckets)
    presence = PresenceService(event_store, account_store, channels, notifier, federation,
                               ephemeral, clock, config.presence.idle_ms,
                               config.presence.offline_grace_ms,
                               config.presence.max_remote_per_server)
    key_store, device_messages = E2eKeyStore(db), DeviceMessageStore(db)
    device_lists = DeviceLists(device_messages, event_store, channels)
    cleanup = DeviceCleanup(key_store, device_messages, writes, device_lists, pusher_store)
    accounts = AccountService(account_store, notifier, ratelimiter, name, clock,
                              PasswordHasher(config.limits.password_hash_threads), directory,
                              media, cleanup.devices_removed)
    return Homeserver(
        config=config,
        clock=clock,
        db=db,
        signing_key=key,
        notifier=notifier,
        positions=positions,
        channels=channels,
        ratelimiter=ratelimiter,
        accounts=accounts,
        profiles=ProfileService(accounts, rooms),
        rooms=rooms,
        reader=reader,
        relations=RelationsReader(relation_store, event_store, reader),
        search=SearchService(search_store, event_store, reader),
        history=history,
        dms=DmService(rooms, user_data, dm_store, event_store, notifications, account_store,
                      federation, clock, config.e2ee.default),
        user_data=user_data,
        sync=SyncService(event_store, receipt_store, user_data_store, reader, channels,
                         positions, notifier, typing, presence, ephemeral, invites, clock,
                         UnreadCounts(notification_store, db), rulesets,
                         DeviceSync(device_messages, key_store, device_lists)),
        typing=typing,
        presence=presence,
        ephemeral=ephemeral,
        peers=Peers(peer_store, db, history),
        received=ReceivedEvents(writer, writes, builder),
        federation=federation,
        push_rules=PushRuleService(PushRuleStore(), rulesets, writes, user_data),
        pushers=PusherService(pusher_store, db, clock,
                              GuardedSockets(config.push.allowed_gateway_ips)),
        notifications=notifications,
        push_delivery=delivery,
        keys=KeysService(key_store, writes, device_lists, name),
        cross_signing=CrossSigningService(key_store, writes, device_lists, name),
        to_device=ToDeviceService(device_messages, writes, positions, name, clock),
        key_backup=KeyBackupService(KeyBackupStore(db), writes),
        deactivation=Deactivation(accounts, rooms, event_store),
        room_directory=RoomDirectoryService(rooms, RoomDirectoryStore(db), event_store, name,
                                            clock),
        media=media,
        user_directory=directory,
    )
