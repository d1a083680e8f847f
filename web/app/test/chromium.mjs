// What the page tests share: headless Chromium (Debian's, driven by playwright-core), where
// screenshots go ($ARTIFACTS_DIR, default web/app/test-artifacts), and the axe-core check.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export const artifacts = resolve(process.env.ARTIFACTS_DIR ?? join(import.meta.dirname, "../test-artifacts"));
mkdirSync(artifacts, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Headless Chromium with what a test machine needs, plus `extraArgs`. */
export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}

/** A screenshot of the whole page as `<name>.png` among the artifacts. */
export async function shot(page, name, fullPage = true) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage });
}

/** Fails with every axe-core violation on the page, saying `when`. */
export async function accessible(page, when) {
  // Evaluated through the DevTools protocol: the page's CSP (rightly) refuses inline scripts.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await globalThis.axe.run(document));
  const problems = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join("; ")})`);
  assert.deepEqual(problems, [], `accessibility problems ${when}`);
}
