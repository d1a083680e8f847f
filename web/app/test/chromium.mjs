// What the page tests share: headless Chromium (Debian's, driven by playwright-core), where
// screenshots go ($ARTIFACTS_DIR, default web/app/test-artifacts), and the axe-core check.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export const artifacts = resolve(process.env.ARTIFACTS_DIR ?? join(import.meta.dirname, "../test-artifacts"));
mkdirSync(artifacts, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Headless Chromium with what a test machine needs, plus `extraArgs`; `executablePath` for a
 * wrapper that starts it elsewhere (a network namespace). */
export function launch(extraArgs = [], executablePath = CHROMIUM) {
  return chromium.launch({
    executablePath,
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

const peers = resolve(import.meta.dirname, "../../../scripts/peers");

/** A real coturn (scripts/peers coturn-start) sharing `secret` with callside; `env` for
 * scripts/peers (PEERS_COTURN_IP…). Returns its directory, ports.env as an object, and stop(). */
export function startCoturn(secret, env = {}) {
  const dir = mkdtempSync(join(tmpdir(), "callside-turn-"));
  execFileSync(peers, ["coturn-start", dir, secret], { stdio: "ignore", env: { ...process.env, ...env } });
  const ports = Object.fromEntries(
    readFileSync(join(dir, "ports.env"), "utf8")
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => l.replace(/^export /, "").split("=", 2)),
  );
  return {
    dir,
    env: ports,
    stop() {
      try {
        execFileSync(peers, ["stop", dir], { stdio: "ignore" });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Links `page` to `phone` (an SDK client) with a one-time code, naming the browser `name`. */
export async function linkPage(page, base, phone, name) {
  const { code } = await phone.createBrowserLink();
  await page.goto(`${base}/app/#link=${code}`);
  await page.getByLabel("A name for this browser").fill(name);
  await page.getByRole("button", { name: "Link" }).click();
  await page.getByText(/linked to/).waitFor();
  return page;
}
