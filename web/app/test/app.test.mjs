// The companion app as a person uses it, in headless Chromium (Debian's, driven by
// playwright-core): linking with the phone's code, a call's data side (text, photo, location)
// arriving live, replying from the keyboard, sending a file, starting a session by typing the
// numbers (S1-F22), an accessibility check (axe-core), and being unlinked by the phone. The
// phone beside the browser is the real CLI (`callside phone`), as a person would run it.
// Screenshots go to $ARTIFACTS_DIR (default web/app/test-artifacts).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { deflateSync, crc32 } from "node:zlib";
import { Client } from "../../sdk/dist/index.js";
import { accessible, launch, shot } from "./chromium.mjs";
import { BIN, cleanEnv, startServer, until } from "../../sdk/test/server.mjs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

/** `callside --json phone --token TOKEN ARGS…` against the test's server: its JSON lines. */
async function cli(token, ...args) {
  const { stdout } = await promisify(execFile)(BIN, ["--json", "phone", "--server", server.base, "--token", token, ...args], {
    env: cleanEnv(),
  });
  return stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

const ALICE = "+442079460001";
const BOB = "+442079460002";
const CAROL = "+442079460003";

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A small PNG (a blue square on orange), made here so the test needs no image file. */
function png(w = 96, h = 64) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = [0];
    for (let x = 0; x < w; x++) {
      const inner = x > w / 4 && x < (3 * w) / 4 && y > h / 4 && y < (3 * h) / 4;
      row.push(...(inner ? [30, 90, 220] : [240, 140, 40]));
    }
    rows.push(Buffer.from(row));
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

test("a browser linked to a phone shows its calls' data side and answers from the keyboard", async () => {
  const a = await server.device("Alice", ALICE);
  const b = await server.device("Bob", BOB);
  const c = await server.device("Carol", CAROL);
  const bob = new Client({ server: server.base, auth: b.token });
  const carol = new Client({ server: server.base, auth: c.token });
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  // A wrong code says what to do.
  await page.goto(`${server.base}/app/`);
  await page.getByLabel("Code from your phone").fill("AAAAA-BBBBB");
  await page.getByRole("button", { name: "Link" }).click();
  await page.getByRole("alert").filter({ hasText: "does not work" }).waitFor();
  await accessible(page, "on the link page");
  await shot(page, "1-link-refused");

  // The phone's code (`callside phone link-browser`), as a link; the person names the browser
  // and presses Enter.
  const [{ code }] = await cli(a.token, "link-browser");
  await page.goto(`${server.base}/app/#link=${code}`);
  assert.equal(await page.getByLabel("Code from your phone").inputValue(), code);
  assert.equal(new URL(page.url()).hash, "", "the code does not stay in the address bar");
  await page.getByLabel("A name for this browser").fill("Office PC");
  await page.getByLabel("A name for this browser").press("Enter");
  await page.getByText("linked to Alice").waitFor();
  assert.equal((await cli(a.token, "browsers"))[0].browsers[0].name, "Office PC");
  const stored = await page.evaluate(() => localStorage.getItem("callside.browser"));
  assert.ok(!stored.includes(a.token), "the phone's own token never reaches the browser");

  // Bob's card: his name reaches anyone he calls; his organisation only the audiences he lists
  // (none here).
  await bob.putCard({
    fields: [
      { id: "name", kind: "name", value: "Bob Baker" },
      { id: "org", kind: "organization", value: "Secret Parcels Ltd" },
    ],
  });
  // Bob calls Alice's phone; the browser shows the call and what Bob sends.
  await bob.reportLeg({ self: BOB, other: ALICE, direction: "outgoing" });
  const [{ session }] = await cli(a.token, "incoming", "--from", BOB, "--wait", "0");
  await page.getByRole("heading", { name: `Call with Bob ${BOB}` }).waitFor();
  await bob.send(session.key, "text", { text: "Your parcel is at the door" });
  await bob.sendFile(session.key, png(), "parcel.png");
  await bob.send(session.key, "location", { lat: 51.5007, lon: -0.1246, accuracy_m: 15 });
  await page.getByText("Your parcel is at the door").waitFor();
  const img = page.getByRole("img", { name: "parcel.png" });
  await img.waitFor();
  await until(async () => (await img.evaluate((i) => i.naturalWidth)) === 96, "the photo's preview");
  await page.getByRole("img", { name: /^Map: 51\.50070, -0\.12460/ }).waitFor();
  // The card arrived as the call paired, with only what Alice's number may see.
  const card = page.locator(".card").filter({ hasText: "Bob Baker" });
  await card.waitFor();
  assert.equal(await page.getByText("Secret Parcels Ltd").count(), 0, "fields outside the audience stay out");
  await accessible(page, "with a call's data");
  await shot(page, "2-call-data");

  // Keyboard only: Tab to the message box, type, Enter.
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  let tabs = 0;
  while ((await page.evaluate(() => document.activeElement?.id)) !== "reply") {
    await page.keyboard.press("Tab");
    assert.ok(++tabs < 40, "the message box is reachable with Tab");
  }
  await page.keyboard.type("Leave it with the neighbour, please");
  await page.keyboard.press("Enter");
  await until(async () => {
    const texts = (await bob.messages(session.key)).filter((m) => m.kind === "text");
    return texts.some((m) => m.sender === a.id && m.body.text === "Leave it with the neighbour, please");
  }, "the reply at Bob's");

  // A file from the browser, with its progress bar.
  await page.locator("#file").setInputFiles({ name: "receipt.txt", mimeType: "text/plain", buffer: Buffer.from("paid\n") });
  await until(async () => (await bob.messages(session.key)).some((m) => m.kind === "file" && m.body.name === "receipt.txt"), "the file at Bob's");
  await page.getByText("receipt.txt · 5 B").waitFor();
  await shot(page, "3-replied");

  // S1-F22: a call on a plain phone to Carol, its numbers typed in.
  await page.getByText("Start a session by typing the numbers").click();
  await page.getByLabel("The other number").fill("+44 20 7946 0003");
  await page.getByRole("button", { name: "Start", exact: true }).click();
  await page.getByText("Waiting for the other side").waitFor();
  const carols = await carol.reportLeg({ self: CAROL, other: ALICE, direction: "incoming" }, 10);
  assert.equal(carols.state, "matched");
  await page.getByRole("heading", { name: `Call with Carol ${CAROL}` }).waitFor();
  await page.getByRole("status").filter({ hasText: "Connected." }).first().waitFor();
  await carol.send(carols.session.key, "text", { text: "Hello from Carol" });
  await page.getByText("Hello from Carol").waitFor();
  // Bob's call is still listed, with what arrived while Carol's was shown.
  await bob.send(session.key, "text", { text: "Thanks!" });
  await page.getByRole("button", { name: /Bob .*1 new/ }).waitFor();
  await accessible(page, "with two calls");
  await shot(page, "4-manual-session");

  // The phone unlinks the browser: the page says so and offers to link again.
  await cli(a.token, "unlink-browser", (await cli(a.token, "browsers"))[0].browsers[0].id);
  await page.getByRole("alert").filter({ hasText: "signed out" }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem("callside.browser")), null);
  assert.equal(await page.locator("#main-view").isVisible(), false, "the calls are gone from the page");
  assert.equal(await page.getByText("Hello from Carol").count(), 0);
  await shot(page, "5-unlinked");
  assert.deepEqual(consoleErrors.filter((e) => !/401|Unauthorized/.test(e)), []);
  await page.close();
});

test("the app's files are served with a strict content security policy", async () => {
  const res = await fetch(`${server.base}/app/`);
  assert.equal(res.status, 200);
  const csp = res.headers.get("content-security-policy");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal((await fetch(`${server.base}/app/nothing.js`)).status, 404);
  const redirect = await fetch(`${server.base}/app`, { redirect: "manual" });
  assert.equal(redirect.headers.get("location"), "/app/");
});

test("a screen from an automated system shows in the browser, is acknowledged, and its regions press", async () => {
  const dave = await server.device("Dave", "+442079460004");
  const phone = new Client({ server: server.base, auth: dave.token });
  const r = await fetch(`${server.base}/v1/admin/service-accounts`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.admin}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "City Cabs", scopes: ["automated_system"], ranges: ["+442079460900"] }),
  });
  assert.equal(r.status, 201);
  const cabs = new Client({ server: server.base, auth: (await r.json()).token });

  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const { code } = await phone.createBrowserLink();
  await page.goto(`${server.base}/app/#link=${code}`);
  await page.getByRole("button", { name: "Link" }).click();
  await page.getByText("linked to Dave").waitFor();

  // Dave's phone calls the taxi firm; the system answers at once and sends its screen.
  const leg = await phone.reportLeg({ self: "+442079460004", other: "+442079460900", direction: "outgoing" }, 10);
  assert.equal(leg.state, "matched");
  const key = leg.session.key;
  await cabs.send(key, "screen", {
    id: "book",
    mode: "dynamic",
    target: "call",
    automated: true,
    title: "City Cabs",
    regions: [
      { id: "location", label: "Send my location", display: "flashing", action: { type: "send_location" } },
      { id: "end", label: "End call", action: { type: "end_call" } },
    ],
  });
  const group = page.getByRole("group", { name: "City Cabs" });
  await group.waitFor();
  await group.getByText("This call is with an automated system.").waitFor();
  assert.equal(await page.getByRole("button", { name: "Start video" }).isVisible(), false, "no video with a machine");
  await until(async () => (await cabs.messages(key)).some((m) => m.kind === "screen/ack" && m.body.status === "shown"), "the acknowledgement");
  await accessible(page, "with a screen");
  await shot(page, "10-screen");
  await group.getByRole("button", { name: "Send my location" }).click();
  await until(
    async () => (await cabs.messages(key)).some((m) => m.kind === "screen/action" && m.body.region === "location" && m.sender === dave.id),
    "the press at the system",
  );
  await page.getByText("pressed “location” on “book”").waitFor();
  await page.close();
});
