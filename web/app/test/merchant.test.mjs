// Click-to-call as people use it (S4), in headless Chromium: a visitor on a merchant's page
// (another origin, with only the loader script) clicks "Call us"; the call window opens and
// waits in the queue; the agent console of the first agent rings with the page, the form and
// where the visitor came from (screen pop); she declines, the call goes back to the front and
// rings the second agent, who takes it; either side hangs up; a second visitor closes the window
// while waiting (abandoned). The merchant reads both records. Then a whole web call: voice both
// ways over WebRTC (fake microphones), chat, the agent following the visitor's pages, pushing
// one by its code, changing the visitor's volume and echo suppression, and the visitor hanging
// up. Screenshots go to $ARTIFACTS_DIR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { createServer } from "node:http";
import { gzipSync } from "node:zlib";
import { accessible, launch, shot } from "./chromium.mjs";
import { startServer, until } from "../../sdk/test/server.mjs";

let server;
let browser;
let shop;
let site;
let siteBase;
const agents = {};

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

/** A button as the merchant's server signs it: an HS256 JWT. */
function button(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${head}.${createHmac("sha256", shop.button_secret).update(head).digest("base64url")}`;
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<script src="${server.base}/loader.js" async></script></head><body>${body}</body></html>`;
}

before(async () => {
  server = await startServer();
  const made = await call("POST", "/v1/admin/merchants", server.admin, { name: "Acme Shoes" });
  shop = { id: made.merchant.id, token: made.token, button_secret: made.button_secret };
  await call("PUT", "/v1/merchant/links/sales", shop.token, { name: "Sales" });
  await call("PUT", "/v1/merchant/routing", shop.token, { rules: [{ links: ["sales"], to: "agents:sales" }] });
  for (const [id, name] of [
    ["dana", "Dana Reyes"],
    ["lee", "Lee Park"],
    ["kim", "Kim Lane"],
  ]) {
    agents[id] = (await call("PUT", `/v1/merchant/agents/${id}`, shop.token, { name, groups: ["sales"] })).token;
  }
  // A supervisor: takes no calls (no groups), sees the whole call centre.
  agents.sue = (
    await call("PUT", "/v1/merchant/agents/sue", shop.token, { name: "Sue Grant", groups: [], supervisor: true })
  ).token;
  // The merchant's own site, on another origin: two pages, the loader script and a button.
  site = createServer((req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    if (req.url === "/") {
      res.end(page("Acme Shoes", `<h1>Acme Shoes</h1><a href="/boots">Trail boots</a>`));
    } else if (req.url === "/boots") {
      const b = button({ iss: shop.id, exp: Math.floor(Date.now() / 1000) + 3600, lnk: "sales", cus: "cust-77" });
      res.end(
        page(
          "Trail boots — Acme Shoes",
          `<h1>Trail boots</h1><form id="order"><label>Size <input name="size" value="42"></label>
<label>Colour <input name="colour" value="brown"></label></form>
<button type="button" data-callside-merchant="${shop.id}" data-callside-button="${b}" data-callside-form="#order">Call us</button>`,
        ),
      );
    } else if (req.url === "/returns") {
      res.end(page("Returns — Acme Shoes", `<h1>Returns</h1><p>Send them back within 30 days.</p>`));
    } else {
      res.statusCode = 404;
      res.end("not here");
    }
  });
  await new Promise((r) => site.listen(0, "127.0.0.1", r));
  siteBase = `http://127.0.0.1:${site.address().port}`;
  await call("PUT", "/v1/merchant/pages/*76", shop.token, { url: `${siteBase}/returns` });
  // Fake microphones (a tone) that need no permission prompt: the web call's voice.
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
});

async function console_(id) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const p = await context.newPage();
  await p.goto(`${server.base}/agent/`);
  await p.getByLabel("Agent token").fill(agents[id]);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("heading", { name: "Calls", exact: true }).waitFor();
  assert.equal(await p.locator("#presence").inputValue(), "available");
  return p;
}

/** The visitor browses the shop and clicks "Call us": the call window. */
async function visitAndCall(context) {
  const visitor = await context.newPage();
  await visitor.goto(`${siteBase}/`);
  await visitor.getByRole("link", { name: "Trail boots" }).click();
  await visitor.getByRole("heading", { name: "Trail boots" }).waitFor();
  const [popup] = await Promise.all([
    visitor.waitForEvent("popup"),
    visitor.getByRole("button", { name: "Call us" }).click(),
  ]);
  return { visitor, popup };
}

async function records() {
  return (await call("GET", "/v1/merchant/calls", shop.token)).calls;
}

test("the loader is small and the page stays as it is", async () => {
  const r = await fetch(`${server.base}/loader.js`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /javascript/);
  const bytes = Buffer.from(await r.arrayBuffer());
  const gz = gzipSync(bytes, { level: 9 }).length;
  console.log(`loader.js: ${bytes.length} bytes, ${gz} gzipped`);
  assert.ok(gz < 10 * 1024, `the loader is ${gz} bytes gzipped`);

  // The call window's page is revalidated; its script is named by its content and kept
  // (S4 claim 36: fetched only when not cached).
  const page = await fetch(`${server.base}/call/`);
  assert.equal(page.headers.get("cache-control"), "no-cache");
  const script = (await page.text()).match(/src="(call-[0-9a-f]{16}\.js)"/)?.[1];
  assert.ok(script, "the call window names a content-hashed script");
  const js = await fetch(`${server.base}/call/${script}`);
  assert.equal(js.status, 200);
  assert.equal(js.headers.get("cache-control"), "public, max-age=31536000, immutable");
  const hash = createHash("sha256").update(Buffer.from(await js.arrayBuffer())).digest("hex");
  assert.equal(script, `call-${hash.slice(0, 16)}.js`, "the name is the content's hash");
  assert.equal((await fetch(`${server.base}/call/call.js`)).status, 404);
  assert.equal((await fetch(`${server.base}/call/call-0000000000000000.js`)).status, 404);
});

test("a visitor's click waits for an agent, rings with the page, and goes to the next agent on a decline", async () => {
  const visitorContext = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const { visitor, popup } = await visitAndCall(visitorContext);
  await popup.getByText("You are next in line.").waitFor();
  await popup.getByText("No agent is available right now").waitFor();
  assert.equal(new URL(popup.url()).hash, "", "the button left the address bar");
  await shot(popup, "merchant-1-call-window-queued");
  await accessible(popup, "in the call window");

  // Dana signs in: the call rings her with what the page shared.
  const dana = await console_("dana");
  await dana.getByRole("heading", { name: "Incoming call" }).waitFor();
  const pop = dana.locator("#pop");
  await pop.getByText(`${siteBase}/boots`).waitFor();
  await dana.getByText("Signed in as Dana Reyes").waitFor();
  for (const text of ["cust-77", "sales", "Form: size", "42", "Form: colour", "brown"]) {
    await pop.getByText(text, { exact: true }).waitFor();
  }
  await popup.getByText("An agent is picking up").waitFor();
  await shot(dana, "merchant-2-agent-rings-with-screen-pop");
  await accessible(dana, "in the agent console while a call rings");

  // Dana declines: the call goes back to the front and rings Lee.
  await dana.getByRole("button", { name: "Decline" }).click();
  await dana.getByText("Declined: you are away now.").waitFor();
  assert.equal(await dana.locator("#presence").inputValue(), "away");
  const lee = await console_("lee");
  await lee.getByRole("heading", { name: "Incoming call" }).waitFor();
  await lee.getByRole("button", { name: "Accept" }).click();
  await lee.getByRole("heading", { name: "On a call" }).waitFor();
  await popup.getByText("Lee Park has taken your call.").waitFor();
  await shot(popup, "merchant-3-call-window-connected");
  await shot(lee, "merchant-4-agent-on-the-call");

  // Lee hangs up; the visitor's window says so.
  await lee.getByRole("button", { name: "End call" }).click();
  await popup.getByText("The call has ended").waitFor();
  await lee.getByText("Waiting for a call").waitFor();
  const [rec] = await records();
  assert.equal(rec.state, "ended");
  assert.equal(rec.outcome, "completed");
  assert.equal(rec.agent, "Lee Park");
  assert.equal(rec.customer, "cust-77");
  assert.equal(rec.context.page, `${siteBase}/boots`);
  assert.equal(rec.context.referrer, `${siteBase}/`, "the visitor came from the shop's home page");
  assert.deepEqual(rec.context.recent_pages, [`${siteBase}/`]);
  assert.deepEqual(rec.context.form, { size: "42", colour: "brown" });
  await popup.close();
  await visitor.close();

  // A second visitor closes the call window while waiting (both agents are away or idle-busy).
  await lee.locator("#presence").selectOption("away");
  await lee.getByText("You are away").waitFor();
  const second = await visitAndCall(visitorContext);
  await second.popup.getByText("You are next in line.").waitFor();
  await second.popup.close({ runBeforeUnload: true });
  await until(async () => (await records())[0].state === "ended", "the closed window hangs up");
  const [gone] = await records();
  assert.equal(gone.outcome, "abandoned");
  assert.equal((await records()).length, 2);
  await visitorContext.close();
});

test("an answered call carries voice, chat, page follow, page push and media control", async () => {
  const visitorContext = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const { visitor, popup } = await visitAndCall(visitorContext);
  const kim = await console_("kim");
  await kim.getByRole("heading", { name: "Incoming call" }).waitFor();
  await kim.getByRole("button", { name: "Accept" }).click();
  await kim.getByRole("heading", { name: "On a call" }).waitFor();
  await popup.getByText("Kim Lane has taken your call.").waitFor();

  // Voice: each side hears the other's (fake) microphone, directly on loopback.
  await popup.locator("#voice", { hasText: "Voice connected." }).waitFor({ timeout: 30_000 });
  await kim.locator("#voice", { hasText: "Voice connected." }).waitFor({ timeout: 30_000 });

  // The supervisor sees Kim on the call, and a second visitor waiting; Kim sees no board.
  const sue = await console_("sue");
  const second = await visitAndCall(visitorContext);
  await second.popup.getByText("You are next in line.").waitFor();
  const board = sue.locator("#board");
  await board.getByRole("heading", { name: "sales: 1 waiting" }).waitFor({ timeout: 10_000 });
  await board.getByText(`${siteBase}/boots`).waitFor();
  const kimRow = board.getByRole("row").filter({ hasText: "Kim Lane" });
  await kimRow.getByRole("cell", { name: "talking" }).waitFor();
  assert.equal(await kim.locator("#board").isHidden(), true, "an agent who is not a supervisor sees no board");
  await shot(sue, "merchant-7-supervisor-board");
  await accessible(sue, "in the supervisor's board");
  await second.popup.close({ runBeforeUnload: true });
  await board.getByText("No calls waiting.").waitFor({ timeout: 10_000 });
  await second.visitor.close();

  // Chat, both ways.
  await popup.getByLabel("Message").fill("Do you have these in 43?");
  await popup.getByRole("button", { name: "Send" }).click();
  await kim.locator("#chat").getByText("Do you have these in 43?").waitFor();
  await kim.getByLabel("Message").fill("We do, in brown.");
  await kim.getByRole("button", { name: "Send" }).click();
  await popup.locator("#chat").getByText("We do, in brown.").waitFor();
  assert.equal(await popup.locator("#chat li.theirs strong").first().textContent(), "Kim Lane: ");

  // Page follow: Kim sees the page the visitor is on, and where it goes next.
  await kim.locator("#now-on").getByText(`Trail boots — Acme Shoes (${siteBase}/boots)`).waitFor();
  await visitor.goto(`${siteBase}/`);
  await kim.locator("#now-on").getByText(`Acme Shoes (${siteBase}/)`).waitFor();

  // Page push: a code the shop does not have changes nothing; *76 loads the returns page in the
  // visitor's shop tab, which Kim then sees the visitor on.
  await kim.getByLabel("or key its code").fill("*99");
  await kim.getByRole("button", { name: "Push" }).click();
  await kim.getByText("Could not push *99: the merchant has no page for code `*99`").waitFor();
  assert.equal(visitor.url(), `${siteBase}/`);
  assert.equal(await kim.locator("#push-code option").count(), 2, "the shop's page table to pick from");
  await kim.getByLabel("or key its code").fill("*76");
  await kim.getByRole("button", { name: "Push" }).click();
  await visitor.waitForURL(`${siteBase}/returns`);
  await visitor.getByRole("heading", { name: "Returns" }).waitFor();
  await popup.getByText("The agent opened a page in the shop's window").waitFor();
  await kim.locator("#now-on").getByText(`Returns — Acme Shoes (${siteBase}/returns)`).waitFor();

  // Media control: how loud the visitor hears Kim, and the visitor's echo suppression.
  await kim.getByLabel("The visitor hears you at").fill("50");
  await popup.getByText("The agent set how loud you hear them to 50%.").waitFor();
  assert.equal(await popup.locator("#audio").evaluate((a) => a.volume), 0.5);
  await kim.getByLabel("Their echo suppression").uncheck();
  await popup.getByText("The agent turned echo suppression off.").waitFor();
  await shot(popup, "merchant-5-web-call-visitor");
  await shot(kim, "merchant-6-web-call-agent");
  await accessible(popup, "in the call window during a web call");
  await accessible(kim, "in the agent console during a web call");

  // The visitor hangs up: both sides end, and the record says so.
  await popup.getByRole("button", { name: "Hang up" }).click();
  await popup.getByText("You hung up.").waitFor();
  await kim.getByText("Waiting for a call").waitFor();
  assert.equal(await kim.locator("#talk").isHidden(), true);
  const rec = (await records()).find((r) => r.agent === "Kim Lane");
  assert.ok(rec, "Kim's call is on the records");
  assert.equal(rec.state, "ended");
  assert.equal(rec.outcome, "completed");
  await visitorContext.close();
});
