/**
 * `Channel`: the device's one WebSocket for all its sessions and events (docs/PROTOCOL.md).
 * It reconnects with backoff, resumes (the server re-sends everything after the last
 * acknowledgement), delivers each `(session, seq)` once per process, acknowledges what the
 * listeners processed, and re-sends unanswered `send`s after a reconnect under the same id (the
 * server writes a repeated id once). It opens sockets with single-use tickets, so no token is
 * ever put in a URL.
 */

import type { Client } from "./client.js";
import { CallsideError } from "./errors.js";
import { newMessageId } from "./ids.js";
import {
  type Accepted,
  type CallNote,
  type ClientFrame,
  type Invitation,
  type LegStatus,
  type Message,
  type MessageBodies,
  type ServerFrame,
  type SessionInfo,
  parseServerFrame,
} from "./protocol.js";

export type ChannelEvent =
  | { type: "ready"; principal: string; sessions: SessionInfo[] }
  | { type: "message"; message: Message }
  | { type: "session"; session: SessionInfo }
  | { type: "leg"; leg: LegStatus }
  | { type: "invitation"; invitation: Invitation }
  | { type: "call_note"; note: CallNote }
  | { type: "error"; code: string; detail: string; session?: string }
  | { type: "disconnected"; reason: string }
  | { type: "reconnected"; sessions: SessionInfo[] }
  /** Stopped for good: closed by the app, or the credential was revoked. */
  | { type: "closed"; reason: string };

type Handler<T extends ChannelEvent["type"]> = (e: Extract<ChannelEvent, { type: T }>) => void | Promise<void>;

export interface ChannelOptions {
  /** A WebSocket constructor (the global one by default). */
  WebSocket?: typeof WebSocket;
  /** First and longest wait between reconnects, in ms (full jitter in between). */
  backoff?: { initialMs: number; maxMs: number };
  /** Acknowledge each message once its listeners returned (default true). */
  autoAck?: boolean;
}

interface PendingSend {
  frame: Extract<ClientFrame, { type: "send" }>;
  resolve: (a: Accepted) => void;
  reject: (e: Error) => void;
}

export class Channel {
  private readonly client: Client;
  private readonly WS: typeof WebSocket;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly autoAck: boolean;
  private socket: WebSocket | undefined;
  private readonly handlers = new Map<string, Set<(e: ChannelEvent) => unknown>>();
  private readonly pending = new Map<string, PendingSend>();
  /** Per session, the newest seq delivered to listeners. */
  private readonly delivered = new Map<string, number>();
  private readonly queue: ChannelEvent[] = [];
  private readonly waiters: ((e: ChannelEvent | undefined) => void)[] = [];
  /** `events()` iterators running: events are queued for them only while there are some. */
  private iterators = 0;
  /** Who the server says this is, and the open sessions, as of the first `ready`. */
  principal = "";
  sessions: SessionInfo[] = [];
  private stopped: string | undefined;
  private connectedOnce = false;
  private attempts = 0;
  private heartbeatMs = 20_000;
  private lastHeard = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Delivery is serial: a message's listeners finish before the next message's start. */
  private chain: Promise<void> = Promise.resolve();

  private constructor(client: Client, options: ChannelOptions) {
    this.client = client;
    const ws = options.WebSocket ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
    if (!ws) throw new CallsideError("unsupported", "no WebSocket in this environment: pass one");
    this.WS = ws;
    this.backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.autoAck = options.autoAck ?? true;
  }

  /** Connects and resolves once the server said `ready` (rejects if the first try fails). */
  static async connect(client: Client, options: ChannelOptions = {}): Promise<Channel> {
    const channel = new Channel(client, options);
    await channel.open();
    return channel;
  }

  /** Listens to one kind of event; returns a function that stops listening. */
  on<T extends ChannelEvent["type"]>(type: T, handler: Handler<T>): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler as (e: ChannelEvent) => unknown);
    return () => set.delete(handler as (e: ChannelEvent) => unknown);
  }

  /**
   * Every event from now on, in order, until the channel closes. (The first `ready` came
   * before `connect` resolved: its sessions are in `channel.sessions`.)
   */
  async *events(): AsyncGenerator<ChannelEvent> {
    this.iterators += 1;
    try {
      for (;;) {
        const next =
          this.queue.shift() ??
          (this.stopped ? undefined : await new Promise<ChannelEvent | undefined>((r) => this.waiters.push(r)));
        if (!next) return;
        yield next;
        if (next.type === "closed") return;
      }
    } finally {
      this.iterators -= 1;
      if (this.iterators === 0) this.queue.length = 0;
    }
  }

  /**
   * Appends a message to a session; resolves once the server has it on disk. Kept across
   * reconnects and re-sent under the same id, so it is written once.
   */
  send<K extends keyof MessageBodies>(session: string, kind: K, body: MessageBodies[K], id?: string): Promise<Accepted>;
  send(session: string, kind: string, body: unknown, id?: string): Promise<Accepted>;
  send(session: string, kind: string, body: unknown, id: string = newMessageId()): Promise<Accepted> {
    if (this.stopped) return Promise.reject(new CallsideError("closed", `the channel is closed: ${this.stopped}`));
    const frame = { type: "send" as const, session, id, kind, body };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { frame, resolve, reject });
      this.write(frame);
    });
  }

  /** Sends a text message. */
  sendText(session: string, text: string): Promise<Accepted> {
    return this.send(session, "text", { text });
  }

  /** Shares a position (S1-F9): latitude and longitude in degrees, accuracy in metres. */
  sendLocation(session: string, where: MessageBodies["location"]): Promise<Accepted> {
    return this.send(session, "location", where);
  }

  /** Asks the other participants for their position; `request` names the answer. */
  requestLocation(session: string, timeoutSecs = 30): Promise<Accepted> {
    return this.send(session, "location/request", { request: newMessageId(), timeout_secs: timeoutSecs });
  }

  /** Tells the automated system that sent `screen` whether it is shown (S1-F11). */
  acknowledgeScreen(session: string, screen: string, status: "shown" | "not_supported"): Promise<Accepted> {
    return this.send(session, "screen/ack", { screen, status });
  }

  /** Activates a region of a screen an automated system showed (S1-F12). */
  press(session: string, screen: string, region: string, value?: Record<string, unknown>): Promise<Accepted> {
    return this.send(session, "screen/action", value ? { screen, region, value } : { screen, region });
  }

  /** Everything up to `seq` on `session` is processed (done for you unless `autoAck` is off). */
  ack(session: string, seq: number): void {
    this.write({ type: "ack", session, seq });
  }

  /** Asks the server to re-send a session's messages after `after` (default: the cursor). */
  resume(session: string, after?: number): void {
    this.write(after === undefined ? { type: "resume", session } : { type: "resume", session, after });
  }

  /** Closes the channel for good. Unanswered sends are rejected. */
  close(): void {
    this.stop("closed by the app");
  }

  // ---------------------------------------------------------------------------- internals

  private write(frame: ClientFrame): void {
    if (this.socket?.readyState === 1) this.socket.send(JSON.stringify(frame));
    // Otherwise: sends wait in `pending` for the next `ready`; acks are re-derived by the
    // server's re-delivery.
  }

  private emit(e: ChannelEvent): Promise<void> {
    const waiter = this.waiters.shift();
    if (waiter) waiter(e);
    else if (this.iterators > 0) this.queue.push(e);
    const listeners = [...(this.handlers.get(e.type) ?? [])];
    this.chain = this.chain.then(async () => {
      for (const h of listeners) {
        try {
          await h(e);
        } catch (err) {
          console.error("callside: a channel listener threw", err);
        }
      }
    });
    return this.chain;
  }

  private async open(): Promise<void> {
    const { ticket } = await this.client.wsTicket();
    const url = new URL(this.client.url(["v1", "ws"], { ticket }));
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new this.WS(url.href);
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      let ready = false;
      socket.onmessage = (m) => {
        this.lastHeard = Date.now();
        if (typeof m.data !== "string") return;
        let frame: ServerFrame;
        try {
          frame = parseServerFrame(m.data);
        } catch (e) {
          console.error("callside:", (e as Error).message);
          return;
        }
        if (frame.type === "ready" && !ready) {
          ready = true;
          this.onReady(frame);
          resolve();
        } else {
          this.onFrame(frame);
        }
      };
      socket.onclose = (c) => {
        if (!ready) {
          reject(new CallsideError("network", `the WebSocket closed before it was ready (${c.code})`));
          return;
        }
        this.onClose(`the connection closed (${c.code}${c.reason ? `: ${c.reason}` : ""})`);
      };
      socket.onerror = () => {
        /* onclose follows */
      };
    });
  }

  private onReady(frame: Extract<ServerFrame, { type: "ready" }>): void {
    this.attempts = 0;
    this.heartbeatMs = frame.heartbeat_secs * 1000;
    this.lastHeard = Date.now();
    clearInterval(this.timer);
    // Application pings: a socket that heard nothing for two intervals is taken for dead.
    this.timer = setInterval(() => {
      if (Date.now() - this.lastHeard > 2 * this.heartbeatMs) {
        this.socket?.close(4000, "no answer to pings");
      } else {
        this.write({ type: "ping", nonce: Date.now() });
      }
    }, this.heartbeatMs);
    if (this.connectedOnce) {
      void this.emit({ type: "reconnected", sessions: frame.sessions });
    } else {
      this.connectedOnce = true;
      this.principal = frame.principal;
      this.sessions = frame.sessions;
      void this.emit({ type: "ready", principal: frame.principal, sessions: frame.sessions });
    }
    for (const p of this.pending.values()) this.write(p.frame);
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "accepted": {
        const p = this.pending.get(frame.id);
        if (p) {
          this.pending.delete(frame.id);
          const { type: _, ...accepted } = frame;
          p.resolve(accepted);
        }
        break;
      }
      case "message": {
        const { type: _, ...message } = frame;
        if ((this.delivered.get(message.session) ?? 0) >= message.seq) break;
        this.delivered.set(message.session, message.seq);
        void this.emit({ type: "message", message }).then(() => {
          if (this.autoAck) this.ack(message.session, message.seq);
        });
        break;
      }
      case "session": {
        const { type: _, ...session } = frame;
        void this.emit({ type: "session", session });
        break;
      }
      case "leg": {
        const { type: _, ...leg } = frame;
        void this.emit({ type: "leg", leg });
        break;
      }
      case "invitation": {
        const { type: _, ...invitation } = frame;
        void this.emit({ type: "invitation", invitation });
        break;
      }
      case "call_note": {
        const { type: _, ...note } = frame;
        void this.emit({ type: "call_note", note });
        break;
      }
      case "error": {
        const p = frame.id ? this.pending.get(frame.id) : undefined;
        if (p && frame.id) {
          this.pending.delete(frame.id);
          p.reject(new CallsideError(frame.code, frame.detail));
        } else if (frame.code === "token_revoked") {
          this.stop(frame.detail);
        } else if (frame.code === "resume") {
          // A cluster's node lost a send's number to another node and closes this socket: the
          // sends not yet accepted go again, in order, once reconnected. Nothing to report.
        } else {
          void this.emit({
            type: "error",
            code: frame.code,
            detail: frame.detail,
            ...(frame.session ? { session: frame.session } : {}),
          });
        }
        break;
      }
      case "pong":
      case "ready":
      case "reported": // this SDK reports legs over HTTP
        break;
    }
  }

  private onClose(reason: string): void {
    clearInterval(this.timer);
    this.socket = undefined;
    if (this.stopped) return;
    void this.emit({ type: "disconnected", reason });
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    while (!this.stopped) {
      const cap = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempts);
      this.attempts += 1;
      await new Promise((r) => setTimeout(r, Math.random() * cap));
      if (this.stopped) return;
      try {
        await this.open();
        return;
      } catch (e) {
        const err = e as CallsideError;
        if (err.status === 401 || err.status === 403) {
          this.stop(`the credential no longer works: ${err.message}`);
          return;
        }
      }
    }
  }

  private stop(reason: string): void {
    if (this.stopped) return;
    this.stopped = reason;
    clearInterval(this.timer);
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(1000, "closing");
    for (const p of this.pending.values()) p.reject(new CallsideError("closed", `the channel is closed: ${reason}`));
    this.pending.clear();
    void this.emit({ type: "closed", reason });
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
