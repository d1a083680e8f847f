// S2's compatibility rule in the SDK: the rule is docs/PROTOCOL.md's table (the Rust test checks
// the server's copy against the same table), and NAT types read from ICE candidate lines as
// Chromium writes them. (web/app/test/nat.test.mjs runs the rule through real NATs.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { choosePath, MAX_DIRECT_FAILURES, NAT_TYPES, natFromCandidates } from "../dist/index.js";

const doc = readFileSync(resolve(import.meta.dirname, "../../../docs/PROTOCOL.md"), "utf8");

test("the rule is the protocol document's table, and repeated failures with the retry flag relay", () => {
  const table = doc.split("<!-- nat-rule:")[1];
  assert.ok(table, "PROTOCOL.md has the nat-rule table");
  const lines = table.split("\n").slice(1);
  const rows = lines
    .slice(0, lines.findIndex((l) => !l.startsWith("|")))
    .map((l) => l.replace(/^\||\|$/g, "").split("|").map((c) => c.trim()));
  assert.deepEqual(rows[0].slice(1), [...NAT_TYPES]);
  const body = rows.slice(2);
  assert.equal(body.length, NAT_TYPES.length);
  let relays = 0;
  for (const [i, row] of body.entries()) {
    const a = NAT_TYPES[i];
    assert.equal(row[0], a);
    for (const [j, cell] of row.slice(1).entries()) {
      const b = NAT_TYPES[j];
      assert.equal(choosePath(a, b, false, 0), cell, `${a} offers to ${b}`);
      assert.equal(choosePath(a, b, false, 9), cell, `no retry flag: failures count for nothing (${a}, ${b})`);
      assert.equal(choosePath(a, b, true, MAX_DIRECT_FAILURES - 1), cell, `one failure (${a}, ${b})`);
      assert.equal(choosePath(a, b, true, MAX_DIRECT_FAILURES), "relay", `${MAX_DIRECT_FAILURES} failures (${a}, ${b})`);
      if (cell === "relay") relays += 1;
    }
  }
  assert.equal(relays, 3, "symmetric against symmetric or port-restricted, both ways");
});

const host = "candidate:1076362203 1 udp 2113937151 1f826f4e-3153-4021-baeb-082d23c96de9.local 54345 typ host generation 0 ufrag Rw4b network-cost 999";
const srflx = (addr, port, raddr = "0.0.0.0", rport = 0) =>
  `candidate:1065171750 1 udp 1677729535 ${addr} ${port} typ srflx raddr ${raddr} rport ${rport} generation 0 ufrag Rw4b network-cost 999`;

test("NAT types read from candidates", () => {
  // What Chromium gathered behind nftables' fully-random masquerade, against two STUN addresses.
  assert.equal(natFromCandidates([srflx("10.77.1.2", 53617), srflx("10.77.1.2", 43700), host]), "symmetric");
  // One public port for both STUN servers: a cone NAT, filtering unknown.
  assert.equal(natFromCandidates([host, srflx("10.77.1.2", 54345)]), "unknown");
  // Local addresses shown: two sockets with a mapping each are not symmetric; one socket with two is.
  assert.equal(
    natFromCandidates([srflx("203.0.113.5", 4000, "192.168.1.2", 5000), srflx("203.0.113.5", 4002, "192.168.1.3", 5002)]),
    "unknown",
  );
  assert.equal(
    natFromCandidates([srflx("203.0.113.5", 4000, "192.168.1.2", 5000), srflx("203.0.113.5", 4002, "192.168.1.2", 5000)]),
    "symmetric",
  );
  // A public address that is the local one: no NAT.
  assert.equal(
    natFromCandidates([
      "candidate:1 1 udp 2113937151 198.51.100.7 5000 typ host generation 0",
      srflx("198.51.100.7", 5000, "198.51.100.7", 5000),
    ]),
    "open",
  );
  // TCP, RTCP (component 2), relay candidates and lines that are not candidates tell nothing.
  assert.equal(
    natFromCandidates([
      "candidate:2 1 tcp 1518280447 10.77.1.2 9 typ srflx raddr 0.0.0.0 rport 0 tcptype active",
      "candidate:3 2 udp 1677729534 10.77.1.2 40001 typ srflx raddr 0.0.0.0 rport 0",
      srflx("10.77.1.2", 40000),
      "candidate:4 1 udp 41885439 10.77.0.1 23850 typ relay raddr 10.77.1.2 rport 40000",
      "not a candidate",
      "",
    ]),
    "unknown",
  );
  assert.equal(natFromCandidates([]), "unknown");
});
