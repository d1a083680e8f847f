// Files through a real server: an upload with progress, sent on a session, downloaded whole and
// by range by the other participant, with the same SHA-256; an outsider gets nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Client, CallsideError } from "../dist/index.js";
import { startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

test("a file goes up with progress and comes down whole and by range", async () => {
  const a = await server.device("Alice", "+442079460001");
  const b = await server.device("Bob", "+442079460002");
  const alice = new Client({ server: server.base, auth: a.token });
  const bob = new Client({ server: server.base, auth: b.token });
  await alice.reportLeg({ self: "+442079460001", other: "+442079460002", direction: "outgoing" });
  const { session } = await bob.reportLeg({ self: "+442079460002", other: "+442079460001", direction: "incoming" });

  const bytes = randomBytes(300_000);
  const progress = [];
  const accepted = await alice.sendFile(session.key, bytes, "photo.bin", {
    onProgress: (p) => progress.push(p),
  });
  assert.ok(progress.length >= 1);
  assert.deepEqual(progress.at(-1), { loaded: bytes.length, total: bytes.length });

  const [message] = (await bob.messages(session.key, { after: accepted.seq - 1 })).filter((m) => m.kind === "file");
  assert.equal(message.body.name, "photo.bin");
  assert.equal(message.body.size, bytes.length);
  const sha = (b) => createHash("sha256").update(b).digest("hex");
  assert.equal(message.body.blob, `sha256:${sha(bytes)}`);

  const whole = await bob.download(message.body.blob);
  assert.equal(whole.status, 200);
  assert.equal(sha(whole.bytes), sha(bytes));
  const part = await bob.download(message.body.blob, [1000, 1999]);
  assert.equal(part.status, 206);
  assert.equal(part.total, bytes.length);
  assert.deepEqual(Buffer.from(part.bytes), bytes.subarray(1000, 2000));

  const e = await server.device("Eve", "+442079460005");
  const eve = new Client({ server: server.base, auth: e.token });
  await assert.rejects(eve.download(message.body.blob), (err) => err instanceof CallsideError && err.status === 404);
});
