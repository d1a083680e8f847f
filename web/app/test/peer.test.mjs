// Two browsers, each linked to a phone on the same call, open a direct link forced through a
// real coturn relay and send a file over it (SHA-256 checked), then upgrade the call to video
// with Chromium's fake camera and return to data only — while messages keep flowing through the
// session. Screenshots go to $ARTIFACTS_DIR (default web/app/test-artifacts).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { launch, linkPage, shot, startCoturn } from "./chromium.mjs";
import { Client } from "../../sdk/dist/index.js";
import { startServer, until } from "../../sdk/test/server.mjs";

const ALICE = "+442079460001";
const BOB = "+442079460002";

let server;
let browser;
let turn;
before(async () => {
  // A real TURN server on loopback (scripts/peers), sharing its secret with callside.
  const secret = `s3cret${process.pid}`;
  turn = startCoturn(secret);
  server = await startServer({
    CALLSIDE_TURN__URLS: `["turn:127.0.0.1:${turn.env.TURN_PORT}?transport=udp"]`,
    CALLSIDE_TURN__STUN_URLS: `["stun:127.0.0.1:${turn.env.TURN_PORT}"]`,
    CALLSIDE_TURN__SECRET: secret,
  });
  browser = await launch(["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  turn?.stop();
});

async function linkedPage(phone, name) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  await context.grantPermissions(["camera", "microphone"], { origin: server.base });
  return linkPage(await context.newPage(), server.base, phone, name);
}

test("a direct link through the TURN relay carries a file, and the call goes to video and back", async () => {
  const a = await server.device("Alice", ALICE);
  const b = await server.device("Bob", BOB);
  const alicePhone = new Client({ server: server.base, auth: a.token });
  const bobPhone = new Client({ server: server.base, auth: b.token });
  const alice = await linkedPage(alicePhone, "Alice's PC");
  const bob = await linkedPage(bobPhone, "Bob's PC");

  await alicePhone.reportLeg({ self: ALICE, other: BOB, direction: "outgoing" });
  const bobLeg = await bobPhone.reportLeg({ self: BOB, other: ALICE, direction: "incoming" });
  const { session } = bobLeg;
  for (const page of [alice, bob]) await page.getByRole("button", { name: "Start video" }).waitFor();

  // Alice asks for a direct link through the relay only; Bob accepts.
  await alice.getByLabel("Through the relay only").check();
  await alice.getByRole("button", { name: "Connect directly" }).click();
  await bob.getByText("wants a direct link").waitFor();
  await bob.getByRole("button", { name: "Accept" }).click();
  for (const page of [alice, bob]) await page.getByText("Direct link open (through the relay)").waitFor({ timeout: 20_000 });
  assert.equal(await alice.locator("#peer").getAttribute("data-path"), "relay");

  // A 1 MB file goes over it and arrives checked.
  const bytes = randomBytes(1024 * 1024);
  await alice.locator("#file").setInputFiles({ name: "scan.bin", mimeType: "application/octet-stream", buffer: bytes });
  await bob.getByText(/scan\.bin · 1\.0 MB · sent through the relay, SHA-256 checked/).waitFor({ timeout: 20_000 });
  await alice.getByText("Sent scan.bin over the direct link, through the relay.").waitFor();
  const inLog = (await bobPhone.messages(session.key)).filter((m) => m.kind === "file");
  assert.deepEqual(inLog, [], "the file did not go through the server");
  await shot(alice, "6-direct-link-alice");
  await shot(bob, "7-direct-link-bob");
  await alice.getByRole("button", { name: "Close the direct link" }).click();
  for (const page of [alice, bob]) await page.getByText(/Back to data only/).waitFor();

  // Video: Bob starts it, Alice accepts; both see the other's (fake) camera.
  await alice.getByLabel("Through the relay only").uncheck();
  await bob.getByRole("button", { name: "Start video" }).click();
  await alice.getByText("wants to start video").waitFor();
  await alice.getByRole("button", { name: "Accept" }).click();
  for (const page of [alice, bob]) {
    await page.getByText(/Video on/).waitFor({ timeout: 20_000 });
    await until(
      () => page.locator("#remote-video").evaluate((v) => v.videoWidth > 0 && v.readyState >= 2),
      "the other side's video playing",
    ).catch(async (e) => {
      const d = await page.locator("#remote-video").evaluate((v) => ({ w: v.videoWidth, rs: v.readyState, paused: v.paused, tracks: v.srcObject ? v.srcObject.getTracks().map((t) => t.kind + ":" + t.readyState + ":" + t.muted) : null }));
      const l = await page.locator("#local-video").evaluate((v) => ({ w: v.videoWidth, rs: v.readyState, paused: v.paused }));
      throw new Error(`${e.message}: remote ${JSON.stringify(d)} local ${JSON.stringify(l)}`);
    });
  }
  // Messages still go through the session meanwhile.
  await bobPhone.send(session.key, "text", { text: "Can you see the parcel?" });
  await alice.getByText("Can you see the parcel?").waitFor();
  await shot(alice, "8-video");

  // Back to data only: the video stops on both sides, the session and the call go on.
  await alice.getByRole("button", { name: "End video" }).click();
  for (const page of [alice, bob]) {
    await page.getByText(/Back to data only/).waitFor();
    assert.equal(await page.locator("#videos").isVisible(), false);
  }
  assert.equal((await bobPhone.session(session.key)).closed, undefined);
  await bobPhone.send(session.key, "text", { text: "Thanks, all good." });
  await alice.getByText("Thanks, all good.").waitFor();
  const kinds = (await alicePhone.messages(session.key)).map((m) => m.kind);
  assert.ok(kinds.includes("rtc/offer") && kinds.includes("rtc/answer") && kinds.includes("rtc/end"), kinds.join(" "));
  await shot(bob, "9-back-to-data");

  // Video again; the phone call ends: the video ends with it on both sides.
  await alice.getByRole("button", { name: "Start video" }).click();
  await bob.getByText("wants to start video").waitFor();
  await bob.getByRole("button", { name: "Accept" }).click();
  for (const page of [alice, bob]) await page.getByText(/Video on/).waitFor({ timeout: 20_000 });
  const legs = (await alicePhone.messages(session.key)).length;
  assert.ok(legs > 0);
  await bobPhone.endLeg(bobLeg.id);
  for (const page of [alice, bob]) {
    await page.getByText("Back to data only (the call ended).").waitFor();
    assert.equal(await page.locator("#videos").isVisible(), false);
  }
  const sha = createHash("sha256").update(bytes).digest("hex");
  assert.equal(sha.length, 64);
});
