// A browser linked to a device through the SDK: the device's code, the browser's own tokens
// (refreshed when they run out, kept by the app through onTokens), its channel opened with a
// ticket, and unlinking that closes it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { BrowserSession, Channel, Client, CallsideError } from "../dist/index.js";
import { startServer, until } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

test("a linked browser acts as its device until it is unlinked", async () => {
  const a = await server.device("Alice", "+442079460001");
  const b = await server.device("Bob", "+442079460002");
  const phone = new Client({ server: server.base, auth: a.token });
  const bob = new Client({ server: server.base, auth: b.token });
  const { code } = await phone.createBrowserLink();

  const kept = [];
  const session = await BrowserSession.link(code.toLowerCase(), "Chromium on the office PC", {
    server: server.base,
    onTokens: (t) => kept.push(t),
  });
  assert.equal(kept.length, 1);
  assert.equal(session.browser.device, a.id);
  const pc = session.client();
  assert.equal((await pc.me()).id, a.id);
  await assert.rejects(pc.createBrowserLink(), (e) => e instanceof CallsideError && e.code === "device_only");

  // Tokens kept from earlier whose access token ran out: refreshed on first use.
  const stale = { ...kept[0], access_expires_at: Date.now() - 1 };
  const resumed = BrowserSession.resume(stale, { server: server.base, onTokens: (t) => kept.push(t) });
  const pc2 = resumed.client();
  assert.equal((await pc2.me()).id, a.id);
  assert.equal(kept.length, 2);
  assert.notEqual(kept[1].access_token, kept[0].access_token);
  // The first refresh token is spent: the original session can no longer refresh.
  await assert.rejects(session.expired(), (e) => e.status === 401 && /linked again/.test(e.message));

  // A fresh link, a call, and the browser's channel sees the call's messages.
  const { code: code2 } = await phone.createBrowserLink();
  const office = await BrowserSession.link(code2, "office", { server: server.base });
  const officeClient = office.client();
  const ch = await Channel.connect(officeClient, { backoff: { initialMs: 50, maxMs: 100 } });
  const texts = [];
  ch.on("message", (e) => e.message.kind === "text" && texts.push(e.message.body.text));
  await phone.reportLeg({ self: "+442079460001", other: "+442079460002", direction: "outgoing" });
  const { session: call } = await bob.reportLeg({ self: "+442079460002", other: "+442079460001", direction: "incoming" });
  await bob.send(call.key, "text", { text: "Your parcel is at the door" });
  await until(() => texts.length === 1, "the message in the browser");
  await ch.sendText(call.key, "Leave it with the neighbour, please");
  const seen = (await bob.messages(call.key)).filter((m) => m.kind === "text").map((m) => [m.sender, m.body.text]);
  assert.deepEqual(seen.at(-1), [a.id, "Leave it with the neighbour, please"]);

  // The phone unlinks it: the channel closes for good, the token stops.
  const closed = new Promise((r) => ch.on("closed", (e) => r(e.reason)));
  await phone.unlinkBrowser(office.browser.id);
  assert.match(await closed, /unlinked/);
  await assert.rejects(officeClient.me(), (e) => e.status === 401);
});
