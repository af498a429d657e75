// An encrypted DM the way Element makes one, driven by the unmodified matrix-js-sdk
// with its Rust crypto, against the server at argv[2].
//
// argv[3] is a JSON object: {"alice": {user, password}, "bob": {...}, "bobName", "image"}
// (image: a path to a PNG file). Each step prints one JSON line {"step", ...facts}; the
// Python test (tests/test_js_sdk.py) asserts on the facts. Any failure prints
// {"error"} and exits 1. Every wait is on the client's own events, bounded by STEP_MS.

import { readFile } from "node:fs/promises";

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const STEP_MS = 30_000;
const [baseUrl, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
logger.setLevel("warn");

function report(step, facts = {}) {
  process.stdout.write(JSON.stringify({ step, ...facts }) + "\n");
}

async function login(user, password) {
  const anonymous = sdk.createClient({ baseUrl });
  const session = await anonymous.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user },
    password,
    initial_device_display_name: "matrix-js-sdk interop",
  });
  const client = sdk.createClient({
    baseUrl,
    userId: session.user_id,
    deviceId: session.device_id,
    accessToken: session.access_token,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  return client;
}

// Resolves once `check()` is truthy, looking again whenever the client syncs or
// decrypts, receives a timeline event or a receipt.
function until(client, what, check) {
  const events = [
    sdk.ClientEvent.Sync, sdk.RoomEvent.Timeline, sdk.RoomEvent.Receipt,
    sdk.MatrixEventEvent.Decrypted, sdk.RoomEvent.MyMembership,
    sdk.RoomEvent.UnreadNotifications, sdk.RoomEvent.LocalEchoUpdated,
  ];
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      for (const name of events) client.off(name, look);
    };
    const look = () => {
      let value;
      try {
        value = check();
      } catch (error) {
        cleanup();
        reject(error);
        return;
      }
      if (value) {
        cleanup();
        resolve(value);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${what}`));
    }, STEP_MS);
    for (const name of events) client.on(name, look);
    look();
  });
}

async function start(client) {
  const prepared = until(client, "the first sync", () => client.isInitialSyncComplete());
  await client.startClient({ initialSyncLimit: 20 });
  await prepared;
}

function decrypted(client, roomId, eventId) {
  const event = client.getRoom(roomId)?.findEventById(eventId);
  if (!event || event.isBeingDecrypted() || event.isDecryptionFailure()) return null;
  return event.getType() === "m.room.message" ? event : null;
}

async function download(client, url) {
  const response = await fetch(url, {
    headers: { Authorization: `Bearer ${client.getAccessToken()}` },
  });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, type: response.headers.get("content-type"), body };
}

async function encryptedDm(alice, bob) {
  const roomId = (await alice.createRoom({
    is_direct: true,
    preset: sdk.Preset.TrustedPrivateChat,
    invite: [bob.getUserId()],
    initial_state: [{
      type: "m.room.encryption", state_key: "",
      content: { algorithm: "m.megolm.v1.aes-sha2" },
    }],
  })).room_id;
  await until(bob, "the invite", () => bob.getRoom(roomId)?.getMyMembership() === "invite");
  await bob.joinRoom(roomId);
  await until(alice, "bob's join", () => alice.getRoom(roomId)?.getMember(bob.getUserId())
    ?.membership === "join");
  const encrypted = await alice.getCrypto().isEncryptionEnabledInRoom(roomId);
  report("dm", { roomId, encrypted });
  return roomId;
}

async function exchange(alice, bob, roomId) {
  const { event_id: hello } = await alice.sendMessage(roomId, { msgtype: "m.text", body: "secret hello" });
  const seen = await until(bob, "bob decrypting", () => decrypted(bob, roomId, hello));
  const unread = await until(bob, "bob's unread count", () =>
    bob.getRoom(roomId)?.getUnreadNotificationCount(sdk.NotificationCountType.Total));
  report("bob-decrypts", { eventId: hello, body: seen.getContent().body, unread });
  await bob.sendReadReceipt(seen);
  await until(bob, "the count to clear", () =>
    bob.getRoom(roomId)?.getUnreadNotificationCount(sdk.NotificationCountType.Total) === 0);
  report("receipt-clears", { unread: 0 });
  const { event_id: reply } = await bob.sendMessage(roomId, { msgtype: "m.text", body: "secret reply" });
  const answer = await until(alice, "alice decrypting", () => decrypted(alice, roomId, reply));
  report("alice-decrypts", { eventId: reply, body: answer.getContent().body });
  return hello;
}

async function directory(alice) {
  const found = await alice.searchUserDirectory({ term: config.bobName });
  report("directory", { userIds: found.results.map((r) => r.user_id) });
}

async function media(alice, bob) {
  const bytes = await readFile(config.image);
  const { content_uri: mxc } = await alice.uploadContent(bytes, { type: "image/png", name: "pixel.png" });
  const full = await download(bob, bob.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true));
  const thumb = await download(bob, bob.mxcUrlToHttp(mxc, 32, 32, "crop", false, true, true));
  report("media", {
    mxc, sameBytes: full.status === 200 && full.body.equals(bytes),
    thumbnailStatus: thumb.status, thumbnailType: thumb.type, thumbnailBytes: thumb.body.length,
  });
}

async function editAndReact(alice, bob, roomId, original) {
  await alice.sendEvent(roomId, "m.room.message", {
    msgtype: "m.text", body: "* secret hello (edited)",
    "m.new_content": { msgtype: "m.text", body: "secret hello (edited)" },
    "m.relates_to": { rel_type: "m.replace", event_id: original },
  });
  await bob.sendEvent(roomId, "m.reaction", {
    "m.relates_to": { rel_type: "m.annotation", event_id: original, key: "👍" },
  });
  const edited = await until(bob, "bob seeing the edit", () => {
    const event = decrypted(bob, roomId, original);
    return event?.replacingEventId() ? event : null;
  });
  const reactions = await until(alice, "alice seeing the reaction", () => {
    const relations = alice.getRoom(roomId)?.relations
      .getChildEventsForEvent(original, "m.annotation", "m.reaction");
    const sorted = relations?.getSortedAnnotationsByKey() ?? [];
    return sorted.length ? sorted.map(([key, events]) => [key, events.size]) : null;
  });
  report("edit-and-reaction", { editedBody: edited.getContent().body, reactions });
}

async function main() {
  const alice = await login(config.alice.user, config.alice.password);
  const bob = await login(config.bob.user, config.bob.password);
  try {
    await start(alice);
    await start(bob);
    report("started");
    const roomId = await encryptedDm(alice, bob);
    const hello = await exchange(alice, bob, roomId);
    await directory(alice);
    await media(alice, bob);
    await editAndReact(alice, bob, roomId, hello);
    report("done");
  } finally {
    alice.stopClient();
    bob.stopClient();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    report("error", { error: String(error?.stack ?? error) });
    process.exit(1);
  },
);
