// The channel against a real server: two phones on a call exchange messages, a dropped socket
// comes back and gets what it missed exactly once, and a send made while disconnected lands once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Channel, Client, CallsideError } from "../dist/index.js";
import { startServer, until } from "./server.mjs";

const ALICE = "+442079460001";
const BOB = "+442079460002";
let server;

before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

/** A WebSocket that the test can break from the outside, as a network would. */
function breakableSockets() {
  const open = [];
  class Socket extends WebSocket {
    constructor(url) {
      super(url);
      open.push(this);
    }
  }
  return { Socket, breakAll: () => open.splice(0).forEach((s) => s.close(4001, "cut")) };
}

async function pair(a, b, from = ALICE, to = BOB) {
  const alice = new Client({ server: server.base, auth: a.token });
  const bob = new Client({ server: server.base, auth: b.token });
  const pending = await alice.reportLeg({ self: from, other: to, direction: "outgoing" });
  assert.equal(pending.state, "pending");
  const matched = await bob.reportLeg({ self: to, other: from, direction: "incoming" });
  assert.equal(matched.state, "matched");
  return { alice, bob, key: matched.session.key };
}

test("messages reach the other phone once, across a dropped connection", async (t) => {
  const { alice, bob, key } = await pair(await server.device("Alice", ALICE), await server.device("Bob", BOB));
  const cut = breakableSockets();
  const aliceCh = await Channel.connect(alice);
  const bobCh = await Channel.connect(bob, { WebSocket: cut.Socket, backoff: { initialMs: 50, maxMs: 200 } });
  // Closed whatever happens, or their reconnecting keeps the test process alive after a failure.
  const open = [aliceCh, bobCh];
  t.after(() => open.forEach((ch) => ch.close()));
  const got = [];
  const states = [];
  bobCh.on("message", (e) => {
    if (e.message.kind === "text") got.push(e.message.body.text);
  });
  bobCh.on("disconnected", () => states.push("disconnected"));
  bobCh.on("reconnected", () => states.push("reconnected"));

  const first = await aliceCh.sendText(key, "Table for two?");
  assert.equal(first.duplicate, false);
  await until(() => got.length === 1, "the first message");

  // Bob's connection drops; Alice writes meanwhile; Bob comes back and gets it once.
  cut.breakAll();
  await until(() => states.includes("disconnected"), "the drop");
  await aliceCh.sendText(key, "We have a table at eight.");
  await until(() => states.includes("reconnected"), "the reconnect");
  await until(() => got.length === 2, "the missed message");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(got, ["Table for two?", "We have a table at eight."]);

  // Bob's acknowledgement reached the server: a fresh connection gets nothing again.
  const fresh = await Channel.connect(bob);
  open.push(fresh);
  const again = [];
  fresh.on("message", (e) => again.push(e.message.seq));
  await new Promise((r) => setTimeout(r, 300));
  const textSeqs = (await bob.messages(key)).filter((m) => m.kind === "text").map((m) => m.seq);
  assert.deepEqual(again.filter((s) => textSeqs.includes(s)), [], "acknowledged messages are not re-sent");

  // A send made while the socket is down is kept and lands once when it is back.
  cut.breakAll();
  await until(() => states.filter((s) => s === "disconnected").length === 2, "the second drop");
  const queued = bobCh.sendText(key, "Eight is fine.");
  // It may have left on the socket that was closing, and again once reconnected (then the
  // server answers `duplicate`): what matters is that it is written once.
  await queued;
  const texts = (await alice.messages(key)).filter((m) => m.kind === "text").map((m) => m.body.text);
  assert.deepEqual(texts, ["Table for two?", "We have a table at eight.", "Eight is fine."]);

  // The same id again is written once.
  const repeat = await aliceCh.send(key, "text", { text: "once" }, "fixed-id-1");
  const repeated = await aliceCh.send(key, "text", { text: "once" }, "fixed-id-1");
  assert.equal(repeated.seq, repeat.seq);
  assert.equal(repeated.duplicate, true);

  // A position arrives typed.
  const places = [];
  bobCh.on("message", (e) => e.message.kind === "location" && places.push(e.message.body));
  await aliceCh.sendLocation(key, { lat: 51.5007, lon: -0.1246, accuracy_m: 12 });
  await until(() => places.length === 1, "the location");
  assert.deepEqual([places[0].lat, places[0].lon], [51.5007, -0.1246]);
  await assert.rejects(
    aliceCh.sendLocation(key, { lat: 123, lon: 0 }),
    (e) => e instanceof CallsideError && e.code === "invalid_message",
    "a latitude past 90 is refused",
  );

});

test("refusals are typed errors with the server's codes", async () => {
  const carol = await server.device("Carol", "+442079460003");
  const dave = await server.device("Dave", "+442079460004");
  const { key } = await pair(carol, dave, "+442079460003", "+442079460004");
  const eve = await server.device("Eve", "+442079460005");
  const outsider = new Client({ server: server.base, auth: eve.token });
  await assert.rejects(outsider.messages(key), (e) => e instanceof CallsideError && e.code === "not_participant" && e.status === 403);
  const ch = await Channel.connect(outsider);
  await assert.rejects(ch.sendText(key, "let me in"), (e) => e instanceof CallsideError && e.code === "not_participant");
  ch.close();
  const nobody = new Client({ server: server.base, auth: "cs_dev_not-a-token" });
  await assert.rejects(nobody.me(), (e) => e.status === 401 && e.code === "unknown_token");
  await assert.rejects(Channel.connect(nobody), (e) => e.status === 401);
  const down = new Client({ server: "http://127.0.0.1:9", auth: "x" });
  await assert.rejects(down.me(), (e) => e.code === "network" && /cannot reach/.test(e.message));
});

/** A WebSocket that loses the first `send` frame whose text is `lose` the way a cluster's node
 * does when another node numbered the session first: it answers with the server's `resume`
 * error (no id, the session) and closes, and what was sent behind it on that socket is never
 * answered (the node failed it too). Everything else goes to the real server. */
function losingSockets(lose) {
  let lost = false;
  return class Socket extends WebSocket {
    send(data) {
      const frame = JSON.parse(data);
      if (this.closing && frame.type === "send") return;
      if (!lost && frame.type === "send" && frame.body?.text === lose) {
        lost = true;
        this.closing = true;
        const resume = {
          type: "error",
          code: "resume",
          detail: "another node wrote to this session at the same moment; reconnect and send again",
          session: frame.session,
        };
        setTimeout(() => {
          this.onmessage?.({ data: JSON.stringify(resume) });
          this.close(4000, "resume");
        }, 10);
        return;
      }
      super.send(data);
    }
  };
}

test("a send a cluster's node could not number goes again after the reconnect, quietly", async (t) => {
  const frank = await server.device("Frank", "+442079460006");
  const grace = await server.device("Grace", "+442079460007");
  const { alice: f, bob: g, key } = await pair(frank, grace, "+442079460006", "+442079460007");
  const fCh = await Channel.connect(f, {
    WebSocket: losingSockets("second"),
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const gCh = await Channel.connect(g);
  t.after(() => [fCh, gCh].forEach((ch) => ch.close()));
  const errors = [];
  const states = [];
  fCh.on("error", (e) => errors.push(e));
  fCh.on("disconnected", () => states.push("disconnected"));
  fCh.on("reconnected", () => states.push("reconnected"));
  const got = [];
  gCh.on("message", (e) => e.message.kind === "text" && got.push(e.message.body.text));

  await fCh.sendText(key, "first");
  // Its first attempt is answered `resume` and the socket closes; the SDK resends it, in order
  // with what follows, and the caller only sees it accepted.
  const second = fCh.sendText(key, "second");
  const third = fCh.sendText(key, "third");
  const [a, b] = await Promise.all([second, third]);
  assert.ok(b.seq > a.seq, "accepted in the order sent");
  assert.deepEqual(states, ["disconnected", "reconnected"]);
  assert.deepEqual(errors, [], "nothing to report to the app");
  await until(() => got.length === 3, "all three at the other phone");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(got, ["first", "second", "third"]);
});
