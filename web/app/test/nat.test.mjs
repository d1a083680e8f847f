// S2's compatibility rule through real NATs. scripts/nat-lab builds a small internet in network
// namespaces: two homes on the same private network behind routers that NAT with nftables, and
// callside and coturn on the "internet" between them. Each browser runs in its own home; the
// companion app decides direct or relay as a person would see it:
//   - symmetric NATs on both sides: each side reads "symmetric" from its candidates, and the
//     answerer keeps to the relay at once;
//   - cone NATs with UDP between the homes dropped: two direct attempts fail, the third goes
//     through the relay, and the answerer accepts the retries without being asked again;
//   - cone NATs that let UDP through: the direct path works (hole punching through both NATs).
// Needs root and nftables. The file sets the lab up, then runs itself again inside it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../../..");
const natLab = join(root, "scripts/nat-lab");
const LAB = process.env.CALLSIDE_NAT_LAB;

if (!LAB) {
  // Outside the lab: build it, run this file inside its "internet", take it down.
  test("the companion app through real NATs (network namespaces)", { timeout: 300_000 }, () => {
    const lab = `cs${process.pid % 100000}`;
    execFileSync(natLab, ["up", lab, "cone"], { stdio: "inherit" });
    try {
      // Without NODE_TEST_CONTEXT: the inner run is a test run of its own, not a part of this one.
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const args = ["--test-reporter=tap", import.meta.filename];
      const run = spawnSync(natLab, ["exec", lab, "wan", process.execPath, ...args], {
        env: { ...env, CALLSIDE_NAT_LAB: lab },
        encoding: "utf8",
        timeout: 280_000,
      });
      const out = `${run.stdout}\n${run.stderr}`;
      assert.equal(run.status, 0, `the tests inside the lab failed:\n${out}`);
      // The inner run's own tests all passed (and there were three).
      assert.match(out, /# pass 3\b/, out);
    } finally {
      execFileSync(natLab, ["down", lab], { stdio: "inherit" });
    }
  });
} else {
  inside(LAB);
}

function inside(lab) {
  const HOST = "10.77.0.1";
  const ALICE = "+442079460001";
  const BOB = "+442079460002";
  let server, turn, wrappers, alicePhone, bobPhone, alice, bob, session, browsers;
  // Imported here: outside the lab this file needs none of it.
  const load = async () => ({
    ...(await import("./chromium.mjs")),
    ...(await import("../../sdk/test/server.mjs")),
    ...(await import("../../sdk/dist/index.js")),
  });
  let m;

  before(async () => {
    m = await load();
    const secret = `s3cret${process.pid}`;
    turn = m.startCoturn(secret, { PEERS_COTURN_IP: HOST, PEERS_COTURN_ALSO: "10.77.0.2" });
    const env = turn.env;
    server = await m.startServer(
      {
        CALLSIDE_TURN__URLS: `["turn:${HOST}:${env.TURN_PORT}?transport=udp"]`,
        // Two STUN addresses: a symmetric NAT shows itself by answering them from two ports.
        CALLSIDE_TURN__STUN_URLS: `["stun:${HOST}:${env.TURN_PORT}", "stun:10.77.0.2:${env.TURN_PORT}"]`,
        CALLSIDE_TURN__SECRET: secret,
      },
      { host: HOST },
    );
    // One browser in each home, started through `ip netns exec`.
    browsers = [];
    wrappers = mkdtempSync(join(tmpdir(), "callside-natlab-"));
    for (const side of ["a", "b"]) {
      const wrapper = join(wrappers, `chromium-${side}`);
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${lab}-${side} ${m.CHROMIUM} "$@"\n`);
      chmodSync(wrapper, 0o755);
      // Plain http on a non-loopback address: the app needs a secure context (WebCrypto).
      browsers.push(await m.launch([`--unsafely-treat-insecure-origin-as-secure=${server.base}`], wrapper));
    }
    const a = await server.device("Alice", ALICE);
    const b = await server.device("Bob", BOB);
    alicePhone = new m.Client({ server: server.base, auth: a.token });
    bobPhone = new m.Client({ server: server.base, auth: b.token });
    const page = (i) => browsers[i].newPage({ viewport: { width: 1000, height: 900 } });
    alice = await m.linkPage(await page(0), server.base, alicePhone, "Alice's PC");
    bob = await m.linkPage(await page(1), server.base, bobPhone, "Bob's PC");
    await alicePhone.reportLeg({ self: ALICE, other: BOB, direction: "outgoing" });
    ({ session } = await bobPhone.reportLeg({ self: BOB, other: ALICE, direction: "incoming" }));
  });
  after(async () => {
    for (const b of browsers ?? []) await b.close();
    await server?.stop();
    turn?.stop();
    if (wrappers) rmSync(wrappers, { recursive: true, force: true });
  });

  /** Changes the NATs, and reloads both pages so each reads its network afresh. */
  async function network(...args) {
    execFileSync(natLab, ["set", lab, ...args], { stdio: "ignore" });
    for (const page of [alice, bob]) {
      await page.reload();
      await page.getByRole("button", { name: "Connect directly" }).waitFor({ timeout: 20_000 });
    }
  }

  /** The rtc/offer and rtc/answer bodies on the session after `seq`. */
  async function signalling(after) {
    const all = await alicePhone.messages(session.key, { after });
    return {
      offers: all.filter((x) => x.kind === "rtc/offer").map((x) => x.body),
      answers: all.filter((x) => x.kind === "rtc/answer").map((x) => x.body),
    };
  }

  async function lastSeq() {
    return (await alicePhone.messages(session.key)).at(-1)?.seq ?? 0;
  }

  /** Alice connects, Bob accepts once; both see the link open, and a file crosses it. */
  async function connect(via, timeout) {
    const from = await lastSeq();
    await alice.getByRole("button", { name: "Connect directly" }).click();
    await bob.getByText("wants a direct link").waitFor({ timeout: 20_000 });
    await bob.getByRole("button", { name: "Accept" }).click();
    for (const page of [alice, bob]) {
      await page
        .getByText(`Direct link open (${via})`)
        .waitFor({ timeout })
        .catch(async (e) => {
          const states = await Promise.all([alice, bob].map((p) => p.locator("#peer-state").textContent()));
          const said = JSON.stringify(await signalling(from), (k, v) => (k === "sdp" ? undefined : v));
          throw new Error(`${e.message}\nAlice: ${states[0]}\nBob: ${states[1]}\n${said}`);
        });
    }
    const bytes = randomBytes(64 * 1024);
    await alice.locator("#file").setInputFiles({ name: "plan.bin", mimeType: "application/octet-stream", buffer: bytes });
    await bob.getByText(new RegExp(`plan\\.bin · 64\\.0 KB · sent ${via}, SHA-256 checked`)).waitFor({ timeout: 20_000 });
  }

  async function close() {
    await alice.getByRole("button", { name: "Close the direct link" }).click();
    for (const page of [alice, bob]) await page.getByText(/Back to data only/).waitFor();
  }

  test("behind symmetric NATs both sides read it from their candidates and the link relays at once", async () => {
    await network("symmetric");
    const from = await lastSeq();
    await connect("through the relay", 20_000);
    await m.shot(alice, "nat-1-symmetric-relay");
    const { offers, answers } = await signalling(from);
    assert.equal(offers.length, 1, "one attempt");
    assert.equal(offers[0].nat, "symmetric");
    assert.equal(offers[0].relay, false, "the offerer did not ask for the relay");
    assert.equal(answers.length, 1);
    assert.equal(answers[0].nat, "symmetric");
    assert.equal(answers[0].relay, true, "the answerer's rule chose the relay");
    assert.equal(await alice.locator("#peer").getAttribute("data-path"), "relay");
    await close();
  });

  test("when direct UDP is blocked, two direct attempts fail and the third goes through the relay", async () => {
    await network("cone", "--no-direct");
    const from = await lastSeq();
    // Two direct attempts (8 s each at most), then the relay.
    await connect("through the relay", 60_000);
    await m.shot(bob, "nat-2-retried-through-relay");
    const { offers, answers } = await signalling(from);
    assert.deepEqual(
      offers.map((o) => [o.nat, o.relay, o.retry ?? false, o.failures ?? 0]),
      [
        ["unknown", false, false, 0],
        ["unknown", false, true, 1],
        ["unknown", true, true, 2],
      ],
    );
    assert.equal(offers[1].replaces, offers[0].call);
    assert.equal(offers[2].replaces, offers[1].call);
    assert.deepEqual(
      answers.map((a) => [a.nat, a.relay ?? false]),
      [
        ["unknown", false],
        ["unknown", false],
        ["unknown", true],
      ],
      "Bob accepted each retry without being asked, and relayed the third",
    );
    assert.equal(await alice.locator("#peer").getAttribute("data-failures"), "2");
    await close();
  });

  test("cone NATs that let UDP through connect directly", async () => {
    await network("cone");
    const from = await lastSeq();
    await connect("peer to peer", 20_000);
    await m.shot(alice, "nat-3-cone-direct");
    const { offers, answers } = await signalling(from);
    assert.equal(offers.length, 1);
    assert.equal(answers[0].relay ?? false, false);
    assert.equal(await alice.locator("#peer").getAttribute("data-path"), "direct");
    await close();
  });
}
