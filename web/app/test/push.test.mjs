// The page's side of Web Push, in headless Chromium: a wake-up arrives with no content (the
// server never puts any in a push), and the app's service worker turns it into a notification
// that only says something is new. The push is handed to the service worker through the DevTools
// protocol (`ServiceWorker.deliverPushMessage`): a real subscription needs Chromium's push
// service (FCM), which these machines cannot reach — `pushManager.subscribe` never resolves here
// (and is refused outright in incognito contexts). The server's side of the same push, encrypted
// and VAPID-signed to an independent decryptor, is crates/cli/tests/push.rs.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { Client } from "../../sdk/dist/index.js";
import { startServer } from "../../sdk/test/server.mjs";

let server;
let context;
const profile = mkdtempSync(join(tmpdir(), "callside-push-profile-"));
after(async () => {
  await context?.close();
  await server?.stop();
  rmSync(profile, { recursive: true, force: true });
});

test("an empty wake-up push becomes a notification that says only that something is new", async () => {
  server = await startServer();
  // A persistent profile: Chromium has no service-worker push in incognito contexts.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
  });
  await context.grantPermissions(["notifications"], { origin: server.base });
  const page = await context.newPage();
  const a = await server.device("Alice", "+442079460001");
  const { code } = await new Client({ server: server.base, auth: a.token }).createBrowserLink();
  await page.goto(`${server.base}/app/#link=${code}`);
  await page.getByLabel("A name for this browser").fill("Office PC");
  await page.getByLabel("A name for this browser").press("Enter");
  await page.getByText("linked to Alice").waitFor();

  const cdp = await context.newCDPSession(page);
  const registrations = [];
  cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => registrations.push(...e.registrations));
  await cdp.send("ServiceWorker.enable");
  await page.evaluate(async () => {
    await navigator.serviceWorker.register("sw.js", { scope: "/app/" });
    await navigator.serviceWorker.ready;
  });
  let registration;
  for (let i = 0; i < 100 && !registration; i++) {
    registration = registrations.find((r) => r.scopeURL === `${server.base}/app/` && !r.isDeleted);
    if (!registration) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(registration, "the app's service worker is registered for /app/");
  const shown = () =>
    page.evaluate(async () =>
      (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag })),
    );
  assert.deepEqual(await shown(), []);

  // What callside's push carries is only `{"t": "wake", "id": …}`; the worker shows no more.
  for (const data of ["", JSON.stringify({ t: "wake", id: "wk_1" })]) {
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: server.base, registrationId: registration.registrationId, data });
  }
  let notes = [];
  for (let i = 0; i < 100 && notes.length === 0; i++) {
    notes = await shown();
    if (notes.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
  // One notification (the second replaced the first: same tag), with nothing from any call.
  assert.deepEqual(notes, [{ title: "callside", body: "Something new on one of your calls", tag: "callside-wake" }]);
});
