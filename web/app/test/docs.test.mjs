// The API's reference page at /docs, as a person reads it in headless Chromium: the operations by
// tag in a side bar, a click on one jumps to it, its body links to its schema; no script runs and
// the page passes an accessibility check. Screenshots go to $ARTIFACTS_DIR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../../sdk/test/server.mjs";
import { accessible, launch, shot } from "./chromium.mjs";

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

test("the API reference at /docs can be browsed from its side bar to an operation and its schema", async () => {
  const res = await fetch(`${server.base}/docs`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /text\/html/);
  assert.match(res.headers.get("content-security-policy"), /default-src 'none'/);
  const doc = await (await fetch(`${server.base}/v1/openapi.json`)).json();
  let operations = 0;
  for (const item of Object.values(doc.paths)) {
    operations += ["get", "post", "put", "delete", "patch"].filter((m) => item[m]).length;
  }

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${server.base}/docs`);
  assert.equal(await page.locator("main section.op").count(), operations, "every operation is on the page");
  await page.locator("nav a", { hasText: "/v1/legs" }).first().click();
  const op = page.locator("section.op:target");
  await op.waitFor();
  assert.match(await op.locator("h3").innerText(), /POST\s*\/v1\/legs/);
  await shot(page, "docs-operation", false);
  await op.locator("a[href^='#schema-']").first().click();
  const schema = page.locator("section:target");
  assert.ok((await schema.locator("table tr").count()) > 1, "the schema's fields are listed");
  await shot(page, "docs-schema", false);
  await schema.locator("details summary").click();
  assert.match(await schema.locator("pre").innerText(), /"properties"/);
  await accessible(page, "on the API reference");
  assert.deepEqual(errors, []);
  await page.close();
});
