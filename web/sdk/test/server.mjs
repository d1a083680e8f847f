// Starts a real `callside serve` on loopback with a fresh data directory for one test file, and
// provisions devices through the admin API. The binary: $CALLSIDE_BIN, or the workspace's debug
// build ($CARGO_TARGET_DIR or ../../target).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../../..");
export const BIN =
  process.env.CALLSIDE_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, "target"), "debug", "callside");

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** This process's environment without CALLSIDE_* variables: the binary reads those as
 * configuration, and the test's own must not reach it. */
export function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CALLSIDE_")));
}

/** `host`: the address to listen on (loopback unless a test runs in a network namespace). */
export async function startServer(env = {}, { host = "127.0.0.1" } = {}) {
  if (!existsSync(BIN)) throw new Error(`no callside binary at ${BIN}: cargo build -p callside (or set CALLSIDE_BIN)`);
  const dir = mkdtempSync(join(tmpdir(), "callside-sdk-"));
  const port = await freePort();
  const base = `http://${host}:${port}`;
  const child = spawn(BIN, ["serve", "--listen", `${host}:${port}`, "--data-dir", dir], {
    env: { ...cleanEnv(), RUST_LOG: "warn", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; ; i++) {
    if (existsSync(join(dir, "admin.token"))) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch {
        /* not listening yet */
      }
    }
    if (i > 200) throw new Error("callside serve did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
  const admin = readFileSync(join(dir, "admin.token"), "utf8").trim();
  return {
    base,
    admin,
    /** A device owning `number`; returns { id, token }. */
    async device(name, number) {
      const r = await fetch(`${base}/v1/admin/devices`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify({ name, numbers: [number] }),
      });
      if (r.status !== 201) throw new Error(`device: HTTP ${r.status} ${await r.text()}`);
      const body = await r.json();
      return { id: body.device.id, token: body.token };
    },
    async stop() {
      // A server that already exited (it would have said why on stderr) is not waited for.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `pred()` is true (polling), or fails after `ms`. */
export async function until(pred, what, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
