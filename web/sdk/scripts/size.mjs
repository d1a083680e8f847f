// The SDK's size as an app ships it: bundled and minified with esbuild, then gzip -9.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { resolve } from "node:path";

const out = await build({
  entryPoints: [resolve(import.meta.dirname, "../dist/index.js")],
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  write: false,
});
const code = out.outputFiles[0].contents;
const gz = gzipSync(code, { level: 9 });
console.log(`@callside/sdk: ${code.length} bytes minified, ${gz.length} bytes minified+gzip`);
if (process.argv.includes("--max-gzip")) {
  const max = Number(process.argv[process.argv.indexOf("--max-gzip") + 1]);
  if (gz.length > max) {
    console.error(`larger than the ${max} bytes allowed`);
    process.exit(1);
  }
}
