// Builds the companion app (and the agent console, call window and loader) into crates/server/assets/app, which the server compiles in (so
// building callside needs no Node). With --check, builds into memory and fails if the committed
// files differ: CI runs that, so the committed app is always the one its sources make.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { resolve, join } from "node:path";

const here = import.meta.dirname;
const out = resolve(here, "../../crates/server/assets/app");
const check = process.argv.includes("--check");

/** One entry point bundled and minified; `iife` for the loader, which merchants' pages include
 * as a classic script. */
async function bundle(entry, format = "esm") {
  const out = await build({
    entryPoints: [join(here, entry)],
    bundle: true,
    minify: true,
    format,
    target: "es2022",
    platform: "browser",
    legalComments: "none",
    write: false,
  });
  return out.outputFiles[0].contents;
}
const files = {
  "app.js": await bundle("src/main.ts"),
  "index.html": readFileSync(join(here, "static/index.html")),
  "app.css": readFileSync(join(here, "static/app.css")),
  "sw.js": readFileSync(join(here, "static/sw.js")),
  // S4: the agent console (/agent/), the visitor's call window (/call/) and the loader.
  "agent.js": await bundle("src/agent.ts"),
  "agent.html": readFileSync(join(here, "static/agent.html")),
  "call.js": await bundle("src/call.ts"),
  "call.html": readFileSync(join(here, "static/call.html")),
  // JsSIP and the call to a number through the WebRTC-to-SIP gateway: loaded by the call window
  // only for such a call.
  "sip.js": await bundle("src/sip.ts"),
  "loader.js": await bundle("src/loader.ts", "iife"),
};
let stale = [];
for (const [name, bytes] of Object.entries(files)) {
  const path = join(out, name);
  if (check) {
    if (!existsSync(path) || !Buffer.from(bytes).equals(readFileSync(path))) stale.push(name);
  } else {
    mkdirSync(out, { recursive: true });
    writeFileSync(path, bytes);
  }
}
if (stale.length) {
  console.error(
    `crates/server/assets/app is not what web/app builds (${stale.join(", ")} differ): run \`cd web/app && npm run build\` and commit`,
  );
  process.exit(1);
}
console.log(check ? "the committed app is current" : `built ${Object.keys(files).join(", ")} into ${out}`);
