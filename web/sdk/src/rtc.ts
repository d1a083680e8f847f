/**
 * `PeerLink`: a WebRTC connection between two participants of a session, signalled over the
 * session (`rtc/offer`, `rtc/answer`, `rtc/candidate`, `rtc/end`; docs/PROTOCOL.md "Peer to
 * peer"). A data channel carries files peer to peer with the same SHA-256 check as the server's
 * blobs; with `media: "video"` it also carries the call's audio and video (S2-C), and ending it
 * returns to data only. ICE servers (STUN, TURN with short-lived credentials) come from the
 * server's connection data. `PeerLink.connect` applies S2's rule: it reads this side's NAT type
 * from its candidates and offers it; the answerer, knowing both types, keeps to the TURN relay
 * when the rule says a direct path will fail. A direct attempt gathers through STUN only (the
 * relay carries only what the rule sends it); one that does not connect in time is
 * offered again with the retry flag, and after two failures through the relay. `relay: true`
 * keeps both ends on the relay from the start. Browser only: it needs `RTCPeerConnection`.
 */

import type { Channel } from "./channel.js";
import type { Client } from "./client.js";
import { CallsideError } from "./errors.js";
import { choosePath, detectNat, type NatType, stunOnly } from "./nat.js";
import type { Message, MessageBodies } from "./protocol.js";

export type RtcMedia = MessageBodies["rtc/offer"]["media"];
/** An `rtc/offer` body (docs/PROTOCOL.md "Peer to peer"). */
export type RtcOffer = MessageBodies["rtc/offer"];
/** An `rtc/answer` body. */
export type RtcAnswer = MessageBodies["rtc/answer"];

export interface PeerFile {
  name: string;
  bytes: Uint8Array;
  /** Lowercase hex, checked against the bytes on arrival. */
  sha256: string;
}

export interface PeerLinkOptions {
  /** Local audio/video to send (video links). */
  stream?: MediaStream;
  /** ICE servers; by default the server's connection data. */
  iceServers?: RTCIceServer[];
  /** This side's NAT type; by default read from its candidates ({@link detectNat}). */
  nat?: NatType;
}

export interface ConnectOptions extends PeerLinkOptions {
  media: RtcMedia;
  /** Keep to the TURN relay from the start. */
  relay?: boolean;
  /** How long a direct attempt may take to connect once answered (ms; 10 s by default). */
  directTimeoutMs?: number;
  /** Told before each attempt: how many direct attempts failed, and whether this one relays. */
  onAttempt?: (attempt: { failures: number; relay: boolean }) => void;
}

/** NAT types already read, per set of ICE servers, for a minute. */
const natSeen = new Map<string, { nat: NatType; at: number }>();

async function natOf(servers: RTCIceServer[], given?: NatType): Promise<NatType> {
  if (given) return given;
  const key = JSON.stringify(servers.map((s) => s.urls));
  const seen = natSeen.get(key);
  if (seen && Date.now() - seen.at < 60_000) return seen.nat;
  const nat = await detectNat(servers);
  natSeen.set(key, { nat, at: Date.now() });
  return nat;
}

type Events = {
  open: () => void;
  file: (f: PeerFile) => void;
  track: (stream: MediaStream) => void;
  ended: (reason: string) => void;
  /** The other side answered; `relay` when it keeps to the TURN relay. */
  answered: (relay: boolean) => void;
};

const CHUNK = 16 * 1024;

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function iceServers(client: Client): Promise<RTCIceServer[]> {
  const data = await client.connectionData();
  return data.ice_servers.map((s) => ({
    urls: s.urls,
    ...(s.username ? { username: s.username } : {}),
    ...(s.credential ? { credential: s.credential } : {}),
  }));
}

export class PeerLink {
  readonly call: string;
  readonly session: string;
  readonly media: RtcMedia;
  readonly pc: RTCPeerConnection;
  private dc: RTCDataChannel | undefined;
  private readonly channel: Channel;
  private readonly me: string;
  private readonly listeners: { [K in keyof Events]: Set<Events[K]> } = {
    open: new Set(),
    file: new Set(),
    track: new Set(),
    ended: new Set(),
    answered: new Set(),
  };
  /** Whether the other side ended the link (declined, or hung up), rather than this one. */
  private endedByThem = false;
  private answer: RtcAnswer | undefined;
  private readonly early: RTCIceCandidateInit[] = [];
  private remoteSet = false;
  private ended = false;
  private stopListening: () => void;
  private incoming: { id: string; name: string; size: number; sha256: string; parts: Uint8Array[]; got: number } | undefined;
  private readonly waitingAcks = new Map<string, (ok: boolean) => void>();
  /** The other side's media, once it arrived (a listener added later gets it too). */
  private remote: MediaStream | undefined;

  private constructor(channel: Channel, session: string, call: string, media: RtcMedia, config: RTCConfiguration) {
    this.channel = channel;
    this.session = session;
    this.call = call;
    this.media = media;
    this.me = channel.principal;
    this.pc = new RTCPeerConnection(config);
    this.pc.onicecandidate = (e) => {
      const c = e.candidate;
      void this.signal("rtc/candidate", {
        call,
        candidate: c?.candidate ?? "",
        ...(c?.sdpMid != null ? { sdp_mid: c.sdpMid } : {}),
        ...(c?.sdpMLineIndex != null ? { sdp_m_line_index: c.sdpMLineIndex } : {}),
      });
    };
    this.pc.ontrack = (e) => {
      const stream = e.streams[0] ?? new MediaStream([e.track]);
      this.remote = stream;
      for (const l of this.listeners.track) l(stream);
    };
    this.pc.ondatachannel = (e) => this.useChannel(e.channel);
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === "failed") this.end("the connection failed");
    };
    this.stopListening = channel.on("message", (e) => this.onSignal(e.message));
  }

  /** Offers a link on `session`. */
  static async offer(
    channel: Channel,
    client: Client,
    session: string,
    opts: PeerLinkOptions & { media: RtcMedia; relay?: boolean; retry?: boolean; failures?: number; replaces?: string },
  ): Promise<PeerLink> {
    const call = `${opts.media === "video" ? "v" : "d"}-${crypto.randomUUID()}`;
    const servers = opts.iceServers ?? (await iceServers(client));
    const link = new PeerLink(channel, session, call, opts.media, {
      // A direct attempt gathers through STUN only: the relay carries what the rule sends it.
      iceServers: opts.relay ? servers : stunOnly(servers),
      iceTransportPolicy: opts.relay ? "relay" : "all",
    });
    for (const t of opts.stream?.getTracks() ?? []) link.pc.addTrack(t, opts.stream as MediaStream);
    link.useChannel(link.pc.createDataChannel("callside", { ordered: true }));
    const offer = await link.pc.createOffer();
    await link.pc.setLocalDescription(offer);
    await link.signal("rtc/offer", {
      call,
      media: opts.media,
      sdp: offer.sdp ?? "",
      relay: Boolean(opts.relay),
      ...(opts.nat ? { nat: opts.nat } : {}),
      ...(opts.retry ? { retry: true, failures: opts.failures ?? 0 } : {}),
      ...(opts.replaces ? { replaces: opts.replaces } : {}),
    });
    return link;
  }

  /**
   * Offers a link on `session` and sees it connect, by S2's rule: direct first (unless `relay`
   * or the answerer's rule says otherwise); a direct attempt that does not connect within
   * `directTimeoutMs` of the answer is ended and offered again with the retry flag, and after
   * two failures (`MAX_DIRECT_FAILURES`) through the relay. Resolves with the open link; rejects
   * with `declined` when the other side says no, and `no_path` when even the relay fails.
   */
  static async connect(channel: Channel, client: Client, session: string, opts: ConnectOptions): Promise<PeerLink> {
    const servers = opts.iceServers ?? (await iceServers(client));
    const nat = await natOf(servers, opts.nat);
    let failures = 0;
    let replaces: string | undefined;
    for (;;) {
      const relay = Boolean(opts.relay) || choosePath(nat, "unknown", failures > 0, failures) === "relay";
      opts.onAttempt?.({ failures, relay });
      // Each attempt gets its own copy of the tracks: ending a failed one stops its copy only.
      const stream = opts.stream?.clone();
      const link = await PeerLink.offer(channel, client, session, {
        media: opts.media,
        iceServers: servers,
        nat,
        relay,
        retry: failures > 0,
        failures,
        ...(replaces ? { replaces } : {}),
        ...(stream ? { stream } : {}),
      });
      const outcome = await link.settle(opts.directTimeoutMs ?? 10_000);
      if (outcome === "open") return link;
      if (link.endedByThem) throw new CallsideError("declined", outcome);
      link.end(relay ? "no path, even through the relay" : "no direct path in time");
      if (relay) throw new CallsideError("no_path", "the link did not connect, even through the relay");
      failures += 1;
      replaces = link.call;
    }
  }

  /** Accepts an `rtc/offer` message: keeps to the relay when the offer asks, or when S2's rule
   * on the two NAT types (and the offer's retry flag) says a direct path will fail. */
  static async answer(channel: Channel, client: Client, offer: Message, opts: PeerLinkOptions = {}): Promise<PeerLink> {
    const body = offer.body as RtcOffer;
    const servers = opts.iceServers ?? (await iceServers(client));
    const nat = await natOf(servers, opts.nat);
    const relay =
      Boolean(body.relay) || choosePath(body.nat ?? "unknown", nat, Boolean(body.retry), body.failures ?? 0) === "relay";
    const link = new PeerLink(channel, offer.session, body.call, body.media, {
      iceServers: relay ? servers : stunOnly(servers),
      iceTransportPolicy: relay ? "relay" : "all",
    });
    for (const t of opts.stream?.getTracks() ?? []) link.pc.addTrack(t, opts.stream as MediaStream);
    await link.pc.setRemoteDescription({ type: "offer", sdp: body.sdp });
    await link.remoteReady();
    // The offerer's candidates went out while this side was deciding: they are on the log.
    let after = offer.seq;
    for (;;) {
      const page = await client.messages(offer.session, { after });
      for (const m of page) link.onSignal(m);
      if (page.length === 0) break;
      after = page[page.length - 1]?.seq ?? after;
    }
    const answer = await link.pc.createAnswer();
    await link.pc.setLocalDescription(answer);
    await link.signal("rtc/answer", { call: body.call, sdp: answer.sdp ?? "", nat, ...(relay ? { relay: true } : {}) });
    return link;
  }

  /** Declines an offer. */
  static async decline(channel: Channel, offer: Message, reason = "declined"): Promise<void> {
    await channel.send(offer.session, "rtc/end", { call: (offer.body as RtcOffer).call, reason });
  }

  /**
   * Listens to `open`, `file`, `track` or `ended`. A `track` or `open` that happened before
   * (an answer sets the offer's media up before it returns) is replayed to the new listener.
   */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    this.listeners[event].add(listener);
    if (event === "track" && this.remote) {
      const remote = this.remote;
      queueMicrotask(() => (listener as Events["track"])(remote));
    }
    if (event === "open" && this.open) queueMicrotask(() => (listener as Events["open"])());
    return () => this.listeners[event].delete(listener);
  }

  /** Whether the data channel is open. */
  get open(): boolean {
    return this.dc?.readyState === "open";
  }

  /** `relay` when the connection goes through TURN (this side's relay or the other's),
   * `direct` otherwise (once connected). */
  async path(): Promise<"relay" | "direct" | "unknown"> {
    const stats = await this.pc.getStats();
    let pairId: string | undefined;
    stats.forEach((s: { type: string; selectedCandidatePairId?: string }) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    const pair = pairId
      ? (stats.get(pairId) as { localCandidateId?: string; remoteCandidateId?: string } | undefined)
      : undefined;
    const type = (id?: string) => (id ? (stats.get(id) as { candidateType?: string } | undefined)?.candidateType : undefined);
    const local = type(pair?.localCandidateId);
    const remote = type(pair?.remoteCandidateId);
    if (!local || !remote) return "unknown";
    return local === "relay" || remote === "relay" ? "relay" : "direct";
  }

  /** Sends a file over the data channel; resolves once the other end checked its SHA-256. */
  async sendFile(bytes: Uint8Array, name: string, onProgress?: (sent: number, total: number) => void): Promise<string> {
    const dc = this.dc;
    if (!dc || dc.readyState !== "open") throw new CallsideError("not_connected", "the direct link is not open");
    const id = crypto.randomUUID();
    const sha256 = await sha256Hex(bytes);
    const verified = new Promise<boolean>((resolve) => this.waitingAcks.set(id, resolve));
    dc.send(JSON.stringify({ t: "file", id, name, size: bytes.length, sha256 }));
    dc.bufferedAmountLowThreshold = 256 * 1024;
    for (let at = 0; at < bytes.length; at += CHUNK) {
      if (dc.bufferedAmount > 1024 * 1024) {
        await new Promise<void>((r) => dc.addEventListener("bufferedamountlow", () => r(), { once: true }));
      }
      dc.send(bytes.slice(at, at + CHUNK));
      onProgress?.(Math.min(at + CHUNK, bytes.length), bytes.length);
    }
    dc.send(JSON.stringify({ t: "end", id }));
    if (!(await verified)) throw new CallsideError("integrity", `${name} arrived damaged (SHA-256 differs)`);
    return sha256;
  }

  /** Ends the link (back to data only, for a video link); the session goes on. */
  end(reason = "ended"): void {
    if (this.ended) return;
    this.ended = true;
    void this.signal("rtc/end", { call: this.call, reason }).catch(() => undefined);
    this.close(reason);
  }

  // ---------------------------------------------------------------------------- internals

  /** Waits for the answer, then at most `ms` for the data channel: `open`, `timeout`, or why
   * the link ended. */
  private settle(ms: number): Promise<string> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (outcome: string) => {
        clearTimeout(timer);
        offs.forEach((off) => off());
        resolve(outcome);
      };
      const offs = [
        this.on("open", () => done("open")),
        this.on("ended", (reason) => done(reason)),
        this.on("answered", () => {
          timer = setTimeout(() => done("timeout"), ms);
        }),
      ];
      if (this.answer) timer = setTimeout(() => done("timeout"), ms);
    });
  }

  private close(reason: string) {
    this.ended = true;
    this.stopListening();
    for (const t of this.pc.getSenders()) t.track?.stop();
    this.pc.close();
    for (const l of this.listeners.ended) l(reason);
  }

  private signal(kind: string, body: Record<string, unknown>) {
    return this.channel.send(this.session, kind, body);
  }

  private async remoteReady() {
    this.remoteSet = true;
    for (const c of this.early.splice(0)) await this.pc.addIceCandidate(c).catch(() => undefined);
  }

  private onSignal(m: Message) {
    if (m.session !== this.session || m.sender === this.me || !m.kind.startsWith("rtc/")) return;
    const b = m.body as { call: string; sdp?: string; candidate?: string; sdp_mid?: string; sdp_m_line_index?: number; reason?: string };
    if (b.call !== this.call || this.ended) return;
    if (m.kind === "rtc/answer" && b.sdp && !this.answer) {
      const a = m.body as RtcAnswer;
      this.answer = a;
      void this.pc.setRemoteDescription({ type: "answer", sdp: a.sdp }).then(() => this.remoteReady());
      for (const l of this.listeners.answered) l(Boolean(a.relay));
    } else if (m.kind === "rtc/candidate") {
      const init: RTCIceCandidateInit = {
        candidate: b.candidate ?? "",
        ...(b.sdp_mid !== undefined ? { sdpMid: b.sdp_mid } : {}),
        ...(b.sdp_m_line_index !== undefined ? { sdpMLineIndex: b.sdp_m_line_index } : {}),
      };
      if (this.remoteSet) void this.pc.addIceCandidate(init).catch(() => undefined);
      else this.early.push(init);
    } else if (m.kind === "rtc/end") {
      this.endedByThem = true;
      this.close(b.reason ?? "ended by the other side");
    }
  }

  private useChannel(dc: RTCDataChannel) {
    this.dc = dc;
    dc.binaryType = "arraybuffer";
    dc.onopen = () => {
      for (const l of this.listeners.open) l();
    };
    dc.onmessage = (e) => void this.onData(e.data as string | ArrayBuffer);
  }

  private async onData(data: string | ArrayBuffer) {
    if (typeof data !== "string") {
      if (this.incoming) {
        const part = new Uint8Array(data);
        this.incoming.parts.push(part);
        this.incoming.got += part.length;
      }
      return;
    }
    const m = JSON.parse(data) as { t: string; id: string; name?: string; size?: number; sha256?: string };
    if (m.t === "file") {
      this.incoming = { id: m.id, name: m.name ?? "file", size: m.size ?? 0, sha256: m.sha256 ?? "", parts: [], got: 0 };
    } else if (m.t === "end" && this.incoming?.id === m.id) {
      const f = this.incoming;
      this.incoming = undefined;
      const bytes = new Uint8Array(f.got);
      let at = 0;
      for (const p of f.parts) {
        bytes.set(p, at);
        at += p.length;
      }
      const ok = f.got === f.size && (await sha256Hex(bytes)) === f.sha256;
      this.dc?.send(JSON.stringify({ t: ok ? "ok" : "bad", id: f.id }));
      if (ok) for (const l of this.listeners.file) l({ name: f.name, bytes, sha256: f.sha256 });
    } else if (m.t === "ok" || m.t === "bad") {
      this.waitingAcks.get(m.id)?.(m.t === "ok");
      this.waitingAcks.delete(m.id);
    }
  }
}
