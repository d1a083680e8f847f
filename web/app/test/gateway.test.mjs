// A web call to a merchant's telephone number (S4), through real parts: the visitor's call window
// in headless Chromium (fake microphone) dials through the WebRTC-to-SIP gateway — Kamailio over
// WebSocket and rtpengine, from scripts/peers — to a baresip call centre that answers with a
// recorded greeting and records what it hears. The call centre sees the call's id as the caller
// (to look its record up), both sides hear each other, and hanging up ends the SIP call. An agent
// of the shop keys the code the call window shows (S4's chat channel) and chats with the visitor
// and pushes a page, while the voice stays on the telephone.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { execFileSync, spawn } from "node:child_process";
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
let agentToken;
/** The shop whose button the site shows: { id, button }. */
let onSite;

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
  agentToken = (await call("PUT", "/v1/merchant/agents/ray", shop.token, { name: "Ray Chen", groups: ["sales"] })).token;
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({
    iss: shop.id,
    exp: Math.floor(Date.now() / 1000) + 3600,
    lnk: "sales",
    dst: CENTRE,
  })}`;
  const button = `${head}.${createHmac("sha256", shop.secret).update(head).digest("base64url")}`;
  onSite = { id: shop.id, button, base: server.base };
  site = createServer((req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    const title = req.url === "/returns" ? "Returns" : "Acme Shoes";
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<script src="${onSite.base}/loader.js" async></script></head><body><h1>${title}</h1>
<button type="button" data-callside-merchant="${onSite.id}" data-callside-button="${onSite.button}">Call us</button></body></html>`);
  });
  await new Promise((r) => site.listen(0, "127.0.0.1", r));
  siteBase = `http://127.0.0.1:${site.address().port}`;
  await call("PUT", "/v1/merchant/pages/*76", shop.token, { url: `${siteBase}/returns` });
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

  // The visitor reads out the call's code; Ray keys it at the agent console and joins the call's
  // chat (a wrong code joins nothing).
  const code = (await popup.locator("#channel").textContent())?.trim() ?? "";
  assert.match(code, /^[0-9]{6}$/);
  const ray = await browser.newPage({ viewport: { width: 900, height: 800 } });
  await ray.goto(`${server.base}/agent/`);
  await ray.getByLabel("Agent token").fill(agentToken);
  await ray.getByRole("button", { name: "Sign in" }).click();
  const keyed = ray.getByLabel("On the phone with a visitor? Key the code their call window shows");
  await keyed.fill(code === "000000" ? "000001" : "000000");
  await ray.getByRole("button", { name: "Join" }).click();
  await ray.getByText(/Could not join call \d+: channel not found/).waitFor();
  await keyed.fill(code);
  await ray.getByRole("button", { name: "Join" }).click();
  await ray.getByRole("heading", { name: "On a call" }).waitFor();
  await ray.getByText("The visitor is on the phone with you: chat and pages here.").waitFor();
  await popup.getByText("Ray Chen joined: you can chat, and they can show you pages.").waitFor();
  await ray.getByLabel("Message").fill("I can see your basket.");
  await ray.getByRole("button", { name: "Send" }).click();
  await popup
    .locator("#chat")
    .getByText("I can see your basket.")
    .waitFor()
    .catch(async (e) => {
      throw new Error(`${e.message}\nthe call window said:\n${await popup.locator("main").innerText()}`);
    });
  await popup.getByLabel("Message").fill("Great, thanks.");
  await popup.getByRole("button", { name: "Send" }).click();
  await ray.locator("#chat").getByText("Great, thanks.").waitFor();
  await ray.getByLabel("or key its code").fill("*76");
  await ray.getByRole("button", { name: "Push" }).click();
  await page.waitForURL(`${siteBase}/returns`);
  await ray.locator("#now-on").getByText(`Returns (${siteBase}/returns)`).waitFor();
  await popup.locator("#voice", { hasText: "Voice connected." }).waitFor();
  await shot(popup, "gateway-2-call-window-with-the-agents-chat");
  await shot(ray, "gateway-3-agent-on-a-phone-call");
  await accessible(ray, "in the agent console on a phone call");
  // Ray closes the chat; the telephone call goes on until the visitor hangs up.
  await ray.getByRole("button", { name: "Close the chat" }).click();
  await popup.getByText("The agent closed the chat.").waitFor();
  assert.equal(await popup.locator("#voice").textContent(), "Voice connected.");

  await popup.getByRole("button", { name: "Hang up" }).click();
  await popup.getByText("You hung up.").waitFor();
  await ray.close();
  await until(
    async () => /terminated/.test(readFileSync(join(dir, "baresip.console.log"), "utf8").split(caller).pop() ?? ""),
    "the SIP call ends at the call centre",
  );
  await page.close();
});

test("a code the call centre keys on the phone loads the shop's page in the visitor's tab", async () => {
  // A second set-up: the call centre is a sipp agent who answers and keys *76 (SIP INFO), and
  // a second gateway and callside lead to it.
  const gw = mkdtempSync(join(tmpdir(), "callside-gateway-dtmf-"));
  const free = () =>
    new Promise((ok) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address();
        s.close(() => ok(port));
      });
    });
  const [sipPort, mediaPort] = [await free(), await free()];
  const sipp = spawn(
    "sipp",
    ["-nostdin", "-i", "127.0.0.1", "-p", String(sipPort), "-mp", String(mediaPort), "-m", "1",
      "-sf", resolve(import.meta.dirname, "../../../deploy/webrtc-gateway/sipp/uas-dtmf.xml")],
    { cwd: gw, stdio: "ignore" },
  );
  let second;
  try {
    execFileSync(peers, ["gateway-start", gw, `127.0.0.1:${sipPort}`], { stdio: "ignore" });
    const ws = Object.fromEntries(
      readFileSync(join(gw, "ports.env"), "utf8").split("\n").filter((l) => l.includes("=")).map((l) => l.split("=", 2)),
    ).GATEWAY_WS_URL;
    second = await startServer({ CALLSIDE_BROWSERS__SIP_GATEWAY: ws });
    const req = async (method, path, token, body) => {
      const r = await fetch(`${second.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      assert.ok(r.ok, `${method} ${path}: ${r.status}`);
      return r.json();
    };
    const made = await req("POST", "/v1/admin/merchants", second.admin, { name: "Acme Shoes" });
    await req("PUT", "/v1/merchant/routing", made.token, { rules: [], default: "button" });
    await req("PUT", "/v1/merchant/pages/*76", made.token, { url: `${siteBase}/returns` });
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({
      iss: made.merchant.id,
      exp: Math.floor(Date.now() / 1000) + 3600,
      dst: CENTRE,
    })}`;
    const button = `${head}.${createHmac("sha256", made.button_secret).update(head).digest("base64url")}`;
    onSite = { id: made.merchant.id, button, base: second.base };

    const page = await browser.newPage();
    await page.goto(`${siteBase}/`);
    const [popup] = await Promise.all([page.waitForEvent("popup"), page.getByRole("button", { name: "Call us" }).click()]);
    await popup.getByText("You are through to the shop's call centre.").waitFor({ timeout: 30_000 });
    // The agent keys *76: the shop's tab loads the returns page.
    await page.waitForURL(`${siteBase}/returns`, { timeout: 15_000 });
    await popup.getByText("The call centre opened a page in the shop's window").waitFor();
    await shot(popup, "gateway-4-call-centre-keyed-a-page");
    await popup.getByRole("button", { name: "Hang up" }).click();
    await popup.getByText("You hung up.").waitFor();
    await page.close();
  } finally {
    sipp.kill();
    await second?.stop();
    execFileSync(peers, ["stop", gw], { stdio: "ignore" });
    rmSync(gw, { recursive: true, force: true });
  }
});
