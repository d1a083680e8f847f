// docs/PROTOCOL.md against the SDK's wire types: every `json server` and `json client` example
// parses, and the frame types the document shows are exactly those the SDK knows. The Rust
// protocol test parses the same examples, so the two SDKs cannot drift apart unnoticed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  CLIENT_FRAME_TYPES,
  SERVER_FRAME_TYPES,
  ProtocolError,
  parseClientFrame,
  parseServerFrame,
} from "../dist/index.js";

const doc = readFileSync(resolve(import.meta.dirname, "../../../docs/PROTOCOL.md"), "utf8");

function examples(tag) {
  const re = new RegExp("```json " + tag + "\\n([\\s\\S]*?)```", "g");
  return [...doc.matchAll(re)].map((m) => m[1]);
}

test("every server example parses and every server frame type has one", () => {
  const seen = new Set();
  const texts = examples("server");
  assert.ok(texts.length >= 9, `only ${texts.length} server examples`);
  for (const text of texts) {
    const frame = parseServerFrame(text);
    seen.add(frame.type);
  }
  assert.deepEqual([...seen].sort(), [...SERVER_FRAME_TYPES].sort());
});

test("every client example parses and every client frame type has one", () => {
  const seen = new Set();
  for (const text of examples("client")) seen.add(parseClientFrame(text).type);
  assert.deepEqual([...seen].sort(), [...CLIENT_FRAME_TYPES].sort());
});

test("frames that are not what the protocol says are refused with the reason", () => {
  for (const [text, reason] of [
    ["not json", /not JSON/],
    ['{"session": "sk_1"}', /no `type`/],
    ['{"type": "teleport"}', /unknown server frame `teleport`/],
    ['{"type": "accepted", "session": "sk_1", "seq": -1, "id": "m", "duplicate": false}', /`seq` must be a count/],
    ['{"type": "message", "session": "sk_1", "seq": 1, "sender": "d", "kind": "text", "sent_at": 1}', /`body` is missing/],
    ['{"type": "ready", "protocol": 1, "principal": "d", "heartbeat_secs": 20, "sessions": [{"key": 3}]}', /`key` must be a string/],
  ]) {
    assert.throws(() => parseServerFrame(text), (e) => e instanceof ProtocolError && reason.test(e.message), text);
  }
});
