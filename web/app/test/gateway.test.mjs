// A web call to a merchant's telephone number (S4), through real parts: the visitor's call window
// in headless Chromium (fake microphone) dials through the WebRTC-to-SIP gateway — Kamailio over
// WebSocket and rtpengine, from scripts/peers — to a baresip call centre that answers with a
// recorded greeting and records what it hears. The call centre sees the call's id as the caller
// (to look its record up), both sides hear each other, and hanging up ends the SIP call.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { accessible, launch, shot } from "./chromium.mjs";
import { startServer, until } from "../../sdk/test/server.mjs";

const peers = resolve(import.meta.dirname, "../../../scripts/peers");
const CENTRE = "+12125550100";
let dir;
let env;
let server;
let browser;
let site;
let siteBase;

async function call(method, path, token, body) {
  const r = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

function portsEnv() {
  return Object.fromEntries(
    readFileSync(join(dir, "ports.env"), "utf8")
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => l.split("=", 2)),
  );
}

/** What baresip heard from the browser so far (its recording of the caller), in bytes. */
function heard() {
  const files = readdirSync(join(dir, "recordings")).filter((f) => f.endsWith("-dec.wav"));
  return files.reduce((n, f) => n + statSync(join(dir, "recordings", f)).size, 0);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "callside-gateway-"));
  execFileSync(peers, ["baresip-start", dir, CENTRE], { stdio: "ignore" });
  execFileSync(peers, ["gateway-start", dir, `127.0.0.1:${portsEnv().BARESIP_SIP_PORT}`], { stdio: "ignore" });
  env = portsEnv();
  server = await startServer({ CALLSIDE_BROWSERS__SIP_GATEWAY: env.GATEWAY_WS_URL });
  const made = await call("POST", "/v1/admin/merchants", server.admin, { name: "Acme Shoes" });
  const shop = { id: made.merchant.id, token: made.token, secret: made.button_secret };
  await call("PUT", "/v1/merchant/links/sales", shop.token, { name: "Sales" });
  await call("PUT", "/v1/merchant/routing", shop.token, { rules: [], default: "button" });
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({
    iss: shop.id,
    exp: Math.floor(Date.now() / 1000) + 3600,
    lnk: "sales",
    dst: CENTRE,
  })}`;
  const button = `${head}.${createHmac("sha256", shop.secret).update(head).digest("base64url")}`;
  site = createServer((req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Shoes</title>
<script src="${server.base}/loader.js" async></script></head><body><h1>Acme Shoes</h1>
<button type="button" data-callside-merchant="${shop.id}" data-callside-button="${button}">Call us</button></body></html>`);
  });
  await new Promise((r) => site.listen(0, "127.0.0.1", r));
  siteBase = `http://127.0.0.1:${site.address().port}`;
  browser = await launch([
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
  ]);
});
after(async () => {
  await browser?.close();
  site?.close();
  await server?.stop();
  if (dir) {
    execFileSync(peers, ["stop", dir], { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a visitor's call to a number goes from the browser through the gateway to the call centre", async () => {
  const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
  await page.goto(`${siteBase}/`);
  const [popup] = await Promise.all([page.waitForEvent("popup"), page.getByRole("button", { name: "Call us" }).click()]);
  await popup.getByText("You are through to the shop's call centre.").waitFor({ timeout: 30_000 });
  // The call centre's greeting arrives in the browser…
  await popup.locator("#voice", { hasText: "Voice connected." }).waitFor({ timeout: 30_000 });
  // …and the visitor's microphone at the call centre, which sees the call's id as the caller.
  const before = heard();
  await until(async () => heard() > before + 16_000, "the call centre hears the visitor");
  const log = readFileSync(join(dir, "baresip.console.log"), "utf8");
  const caller = log.match(/answering call on line \d+ from sip:(clk_[A-Za-z0-9_-]+)@/)?.[1];
  assert.ok(caller, `the call centre saw a call id as the caller:\n${log.slice(-2000)}`);
  assert.equal(await popup.locator("#chat-form").isHidden(), true, "no chat on a telephone call");
  await shot(popup, "gateway-1-call-window-through-to-the-call-centre");
  await accessible(popup, "in the call window on a call through the gateway");

  await popup.getByRole("button", { name: "Hang up" }).click();
  await popup.getByText("You hung up.").waitFor();
  await until(
    async () => /terminated/.test(readFileSync(join(dir, "baresip.console.log"), "utf8").split(caller).pop() ?? ""),
    "the SIP call ends at the call centre",
  );
  await page.close();
});
