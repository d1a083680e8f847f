/**
 * S2's compatibility rule in the browser: what kind of NAT this side is behind, read from its own
 * ICE candidates, and whether two sides should try a direct connection or keep to the TURN relay.
 * docs/PROTOCOL.md "Direct or relay" has the rule as a table; the SDK's tests and the server's
 * check their copies against it.
 */

/** How a NAT maps and filters (the values of `nat` in connection data and `rtc/*` bodies). */
export type NatType = "open" | "full_cone" | "restricted_cone" | "port_restricted_cone" | "symmetric" | "unknown";

export const NAT_TYPES: readonly NatType[] = [
  "open",
  "full_cone",
  "restricted_cone",
  "port_restricted_cone",
  "symmetric",
  "unknown",
];

/** Direct attempts that may fail, with the retry flag, before the relay is used. */
export const MAX_DIRECT_FAILURES = 2;

/**
 * The rule: a symmetric NAT gives each destination its own public port, so hole punching only
 * works when the other side takes packets from any port. With the retry flag and
 * {@link MAX_DIRECT_FAILURES} or more failures, the relay whatever the types say.
 */
export function choosePath(a: NatType, b: NatType, retry: boolean, failures: number): "direct" | "relay" {
  if (retry && failures >= MAX_DIRECT_FAILURES) return "relay";
  const hopeless =
    (a === "symmetric" && (b === "symmetric" || b === "port_restricted_cone")) ||
    (b === "symmetric" && a === "port_restricted_cone");
  return hopeless ? "relay" : "direct";
}

interface Parsed {
  type: string;
  protocol: string;
  component: string;
  address: string;
  port: string;
  raddr?: string;
  rport?: string;
}

function parse(line: string): Parsed | undefined {
  // candidate:<foundation> <component> <protocol> <priority> <address> <port> typ <type> [raddr <a> rport <p>] …
  const f = line.replace(/^a=/, "").split(/\s+/);
  if (!f[0]?.startsWith("candidate:") || f.length < 8 || f[6] !== "typ") return undefined;
  const at = (key: string) => {
    const i = f.indexOf(key, 8);
    return i > 0 ? f[i + 1] : undefined;
  };
  const raddr = at("raddr");
  const rport = at("rport");
  return {
    component: f[1] ?? "",
    protocol: (f[2] ?? "").toLowerCase(),
    address: f[4] ?? "",
    port: f[5] ?? "",
    type: f[7] ?? "",
    ...(raddr !== undefined ? { raddr } : {}),
    ...(rport !== undefined ? { rport } : {}),
  };
}

/**
 * The NAT type ICE candidate lines show. Server-reflexive candidates of one local socket with
 * different public ports or addresses (two STUN servers answered differently) mean `symmetric`;
 * a public address that is also a local one means `open`; anything else is `unknown`, since a
 * browser cannot ask a STUN server to answer from another address to see how a cone NAT filters.
 * Browsers that hide local addresses (mDNS names, `raddr 0.0.0.0`) are read as one socket.
 */
export function natFromCandidates(lines: readonly string[]): NatType {
  const all = lines.map(parse).filter((c): c is Parsed => c !== undefined && c.protocol === "udp" && c.component === "1");
  const hosts = new Set(all.filter((c) => c.type === "host").map((c) => `${c.address} ${c.port}`));
  const mapped = new Map<string, Set<string>>();
  for (const c of all.filter((c) => c.type === "srflx")) {
    const hidden = !c.raddr || c.raddr === "0.0.0.0" || c.raddr === "::";
    const base = hidden ? (c.address.includes(":") ? "v6" : "v4") : `${c.raddr} ${c.rport}`;
    const seen = mapped.get(base) ?? new Set<string>();
    seen.add(`${c.address} ${c.port}`);
    mapped.set(base, seen);
  }
  if ([...mapped.values()].some((s) => s.size > 1)) return "symmetric";
  if ([...mapped.values()].some((s) => [...s].some((a) => hosts.has(a)))) return "open";
  return "unknown";
}

/**
 * Gathers this browser's candidates against the STUN servers among `iceServers` (TURN servers
 * are left out: no allocation is made) and reads the NAT type from them. `unknown` when nothing
 * answered within `timeoutMs`. Needs `RTCPeerConnection`.
 */
export async function detectNat(iceServers: readonly RTCIceServer[], timeoutMs = 5000): Promise<NatType> {
  const stun = stunOnly(iceServers);
  if (stun.length === 0) return "unknown";
  const pc = new RTCPeerConnection({ iceServers: stun });
  const lines: string[] = [];
  try {
    pc.createDataChannel("nat");
    const done = new Promise<void>((resolve) => {
      pc.onicecandidate = (e) => {
        if (e.candidate?.candidate) lines.push(e.candidate.candidate);
        else resolve();
      };
      setTimeout(resolve, timeoutMs);
    });
    await pc.setLocalDescription(await pc.createOffer());
    await done;
  } finally {
    pc.close();
  }
  return natFromCandidates(lines);
}

/** The STUN servers among `iceServers`: what a direct attempt uses (TURN only when relaying). */
export function stunOnly(iceServers: readonly RTCIceServer[]): RTCIceServer[] {
  return iceServers
    .map((s) => ({ urls: (Array.isArray(s.urls) ? s.urls : [s.urls]).filter((u) => /^stuns?:/i.test(u)) }))
    .filter((s) => s.urls.length > 0);
}
