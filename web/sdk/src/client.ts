/**
 * `Client`: typed calls for the HTTP API. Every call authenticates with a bearer token taken
 * from `auth` — a fixed token (a device's or service's), or a `TokenSource` such as a linked
 * browser's `BrowserSession`, which refreshes its short-lived token and is asked again once
 * when the server says a token expired.
 */

import { CallsideError, ProtocolError } from "./errors.js";
import { newMessageId } from "./ids.js";
import {
  type Accepted,
  type Invitation,
  type LegStatus,
  type Message,
  type MessageBodies,
  type SessionInfo,
  parseMessage,
  parseSession,
} from "./protocol.js";

/** Where bearer tokens come from. */
export interface TokenSource {
  /** A token to use now. */
  token(): Promise<string>;
  /** The server said the token expired: get a fresh one (or throw). */
  expired?(): Promise<string>;
}

export interface ClientOptions {
  /** The server's base URL, e.g. `https://callside.example.com`. */
  server: string;
  /** A device's or service's token, or a source of tokens. */
  auth: string | TokenSource;
  /** `fetch` to use (the global one by default). */
  fetch?: typeof fetch;
}

export interface Me {
  id: string;
  name: string;
  kind: string;
  numbers: string[];
  [more: string]: unknown;
}

export interface BlobInfo {
  id: string;
  size: number;
  mime: string;
}

export interface Download {
  bytes: Uint8Array;
  /** 206 for a range, 200 for the whole file. */
  status: number;
  mime: string;
  /** The whole file's size (from `Content-Range` for a range). */
  total: number;
}

export interface Progress {
  /** Bytes sent so far. */
  loaded: number;
  /** All bytes to send. */
  total: number;
}

export interface ReportLeg {
  self: string;
  other?: string;
  direction: "incoming" | "outgoing";
  call_ref?: string;
  conference_id?: string;
  lifecycle?: "keep_after_call" | "close_with_call";
}

export interface BrowserInfo {
  id: string;
  device: string;
  name: string;
  created_at: number;
  refreshed_at: number;
  refresh_expires_at: number;
}

export interface BrowserTokens {
  browser: BrowserInfo;
  access_token: string;
  access_expires_at: number;
  refresh_token: string;
  refresh_expires_at: number;
}

export interface ConnectionData {
  ice_servers: { urls: string[]; username?: string; credential?: string }[];
  [more: string]: unknown;
}

type Query = Record<string, string | number | boolean | undefined>;

interface Request {
  method: string;
  path: string[];
  query?: Query;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  /** No bearer token: the credential is in the body. */
  anonymous?: boolean;
}

export class Client {
  readonly server: string;
  private readonly auth: TokenSource;
  private readonly fetchFn: typeof fetch;

  constructor(options: ClientOptions) {
    let url: URL;
    try {
      url = new URL(options.server);
    } catch {
      throw new CallsideError("invalid_url", `\`${options.server}\` is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new CallsideError("invalid_url", `\`${options.server}\`: the scheme must be http or https`);
    }
    this.server = url.href.replace(/\/+$/, "");
    const fixed = options.auth;
    this.auth = typeof fixed === "string" ? { token: async () => fixed } : fixed;
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The URL of an API path (segments are escaped). */
  url(path: string[], query?: Query): string {
    const u = new URL(`${this.server}/${path.map(encodeURIComponent).join("/")}`);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined) u.searchParams.set(k, String(v));
    }
    return u.href;
  }

  private async raw(req: Request, retried = false): Promise<Response> {
    const headers: Record<string, string> = { ...req.headers };
    if (!req.anonymous) headers.authorization = `Bearer ${await this.auth.token()}`;
    let body = req.body;
    if (req.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(req.json);
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.url(req.path, req.query), {
        method: req.method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
    } catch (e) {
      throw new CallsideError(
        "network",
        `cannot reach the callside server at ${this.server}: ${(e as Error).message}`,
      );
    }
    if (res.ok) return res;
    const problem = await problemOf(res);
    if (problem.code === "token_expired" && !retried && this.auth.expired) {
      await this.auth.expired();
      return this.raw(req, true);
    }
    throw problem;
  }

  private async json<T>(req: Request): Promise<T> {
    const res = await this.raw(req);
    try {
      return (await res.json()) as T;
    } catch {
      throw new ProtocolError(`${req.method} /${req.path.join("/")}: the answer is not JSON`);
    }
  }

  // ------------------------------------------------------------------------------ identity

  /** `GET /v1/me`: who this token is. */
  me(): Promise<Me> {
    return this.json({ method: "GET", path: ["v1", "me"] });
  }

  /** `POST /v1/me/browser-links` (a device's own token): a one-time code for a browser. */
  createBrowserLink(): Promise<{ code: string; expires_at: number }> {
    return this.json({ method: "POST", path: ["v1", "me", "browser-links"], json: {} });
  }

  /** `GET /v1/me/browsers`: the browsers linked to this device. */
  async browsers(): Promise<BrowserInfo[]> {
    const r = await this.json<{ browsers: BrowserInfo[] }>({ method: "GET", path: ["v1", "me", "browsers"] });
    return r.browsers;
  }

  /** `DELETE /v1/me/browsers/{id}`: unlinks one of this device's browsers. */
  async unlinkBrowser(id: string): Promise<void> {
    await this.raw({ method: "DELETE", path: ["v1", "me", "browsers", id] });
  }

  /** `POST /v1/browser/link`: exchanges a link code for a browser's tokens (no token needed). */
  linkBrowser(code: string, name?: string): Promise<BrowserTokens> {
    return this.json({
      method: "POST",
      path: ["v1", "browser", "link"],
      json: name === undefined ? { code } : { code, name },
      anonymous: true,
    });
  }

  /** `POST /v1/browser/refresh`: new tokens for a refresh token (both old ones stop working). */
  refreshBrowser(refreshToken: string): Promise<BrowserTokens> {
    return this.json({
      method: "POST",
      path: ["v1", "browser", "refresh"],
      json: { refresh_token: refreshToken },
      anonymous: true,
    });
  }

  /** `DELETE /v1/browser`: a browser signs itself out. */
  async signOutBrowser(): Promise<void> {
    await this.raw({ method: "DELETE", path: ["v1", "browser"] });
  }

  /** `POST /v1/ws/tickets`: a single-use ticket for the WebSocket (30 s). */
  wsTicket(): Promise<{ ticket: string; expires_at: number }> {
    return this.json({ method: "POST", path: ["v1", "ws", "tickets"], json: {} });
  }

  /** `GET /v1/connection-data`: STUN/TURN servers with short-lived TURN credentials. */
  connectionData(): Promise<ConnectionData> {
    return this.json({ method: "GET", path: ["v1", "connection-data"] });
  }

  /** `PUT /v1/me/capabilities`: what this client can do (e.g. `screens`). */
  async declareCapabilities(features: string[], components: { id: string; version: string }[] = []) {
    await this.raw({ method: "PUT", path: ["v1", "me", "capabilities"], json: { features, components } });
  }

  /** `GET /v1/me/push`: this device's wake-up subscriptions and the server's VAPID key. */
  pushSubscriptions(): Promise<{ subscriptions: { id: string; provider: string; created_at: number }[]; vapid_public_key?: string }> {
    return this.json({ method: "GET", path: ["v1", "me", "push"] });
  }

  /** `POST /v1/me/push`: wake this device through a browser's Web Push subscription. */
  registerWebPush(sub: { endpoint: string; p256dh: string; auth: string }): Promise<{ id: string }> {
    return this.json({ method: "POST", path: ["v1", "me", "push"], json: { provider: "web_push", ...sub } });
  }

  // ------------------------------------------------------------------------------ calls

  /** `POST /v1/legs?wait=…`: reports this device's side of a call; waits up to `wait` s for a match. */
  reportLeg(leg: ReportLeg, wait?: number): Promise<LegStatus> {
    return this.json({ method: "POST", path: ["v1", "legs"], query: { wait }, json: leg });
  }

  /** `GET /v1/legs/{id}?wait=…`. */
  leg(id: string, wait?: number): Promise<LegStatus> {
    return this.json({ method: "GET", path: ["v1", "legs", id], query: { wait } });
  }

  /** `POST /v1/legs/{id}/answer`. */
  answerLeg(id: string): Promise<LegStatus> {
    return this.json({ method: "POST", path: ["v1", "legs", id, "answer"], json: {} });
  }

  /** `POST /v1/legs/{id}/end`: the call ended (or the leg is withdrawn). */
  endLeg(id: string): Promise<LegStatus> {
    return this.json({ method: "POST", path: ["v1", "legs", id, "end"], json: {} });
  }

  // ------------------------------------------------------------------------------ sessions

  /** `GET /v1/sessions`: open sessions (with `all`, closed ones too). */
  async sessions(all = false): Promise<SessionInfo[]> {
    const r = await this.json<{ sessions: unknown[] }>({
      method: "GET",
      path: ["v1", "sessions"],
      query: { all: all || undefined },
    });
    return r.sessions.map(parseSession);
  }

  /** `GET /v1/sessions/{key}`. */
  async session(key: string): Promise<SessionInfo> {
    return parseSession(await this.json({ method: "GET", path: ["v1", "sessions", key] }));
  }

  /** `POST /v1/sessions/{key}/close`. */
  async closeSession(key: string): Promise<SessionInfo> {
    return parseSession(await this.json({ method: "POST", path: ["v1", "sessions", key, "close"], json: {} }));
  }

  /** `GET /v1/sessions/{key}/messages`: after `after`, long-polling up to `wait` s. */
  async messages(key: string, opts: { after?: number; limit?: number; wait?: number } = {}): Promise<Message[]> {
    const r = await this.json<{ messages: unknown[] }>({
      method: "GET",
      path: ["v1", "sessions", key, "messages"],
      query: opts,
    });
    return r.messages.map(parseMessage);
  }

  /**
   * `POST /v1/sessions/{key}/messages` (the HTTP fallback; `Channel.send` is the usual way).
   * The same `id` sent again returns the first result.
   */
  send<K extends keyof MessageBodies>(key: string, kind: K, body: MessageBodies[K], id?: string): Promise<Accepted>;
  send(key: string, kind: string, body: unknown, id?: string): Promise<Accepted>;
  send(key: string, kind: string, body: unknown, id: string = newMessageId()): Promise<Accepted> {
    return this.json({ method: "POST", path: ["v1", "sessions", key, "messages"], json: { id, kind, body } });
  }

  /** `POST /v1/sessions/{key}/ack`: everything up to `seq` is processed. */
  async ack(key: string, seq: number): Promise<void> {
    await this.raw({ method: "POST", path: ["v1", "sessions", key, "ack"], json: { seq } });
  }

  // ------------------------------------------------------------------------------ files

  /**
   * `POST /v1/blobs`: stores bytes, reporting progress. In a browser the upload goes through
   * `XMLHttpRequest` (the only way to see upload progress there); elsewhere through `fetch`.
   */
  async upload(
    data: Blob | Uint8Array | ArrayBuffer,
    opts: { onProgress?: (p: Progress) => void; mime?: string } = {},
  ): Promise<BlobInfo> {
    const blob = data instanceof Blob ? data : new Blob([data as BlobPart]);
    const total = blob.size;
    const contentType = opts.mime ?? (blob.type || "application/octet-stream");
    if (typeof XMLHttpRequest !== "undefined" && opts.onProgress) {
      return this.uploadXhr(blob, contentType, opts.onProgress);
    }
    const res = await this.raw({
      method: "POST",
      path: ["v1", "blobs"],
      body: blob,
      headers: { "content-type": contentType },
    });
    opts.onProgress?.({ loaded: total, total });
    return (await res.json()) as BlobInfo;
  }

  private async uploadXhr(blob: Blob, contentType: string, onProgress: (p: Progress) => void): Promise<BlobInfo> {
    const token = await this.auth.token();
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.url(["v1", "blobs"]));
      xhr.setRequestHeader("authorization", `Bearer ${token}`);
      xhr.setRequestHeader("content-type", contentType);
      xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.total || blob.size });
      xhr.onerror = () => reject(new CallsideError("network", `cannot reach the callside server at ${this.server}`));
      xhr.onload = () => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(xhr.responseText) as Record<string, unknown>;
        } catch {
          /* not JSON: reported below */
        }
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress({ loaded: blob.size, total: blob.size });
          resolve(body as unknown as BlobInfo);
        } else {
          reject(
            new CallsideError(
              String(body.code ?? "http_error"),
              String(body.detail ?? `HTTP ${xhr.status}`),
              xhr.status,
            ),
          );
        }
      };
      xhr.send(blob);
    });
  }

  /** `GET /v1/blobs/{id}`, the whole file or a byte range `[start, end]` (inclusive). */
  async download(id: string, range?: [number, number]): Promise<Download> {
    const res = await this.raw({
      method: "GET",
      path: ["v1", "blobs", id],
      ...(range ? { headers: { range: `bytes=${range[0]}-${range[1]}` } } : {}),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const whole = res.headers.get("content-range")?.split("/")[1];
    return {
      bytes,
      status: res.status,
      mime: res.headers.get("content-type") ?? "application/octet-stream",
      total: whole && whole !== "*" ? Number(whole) : bytes.length,
    };
  }

  /** Uploads `data` and sends it on a session as a `file` message. */
  async sendFile(
    key: string,
    data: Blob | Uint8Array | ArrayBuffer,
    name: string,
    opts: { onProgress?: (p: Progress) => void; mime?: string } = {},
  ): Promise<Accepted> {
    const blob = await this.upload(data, opts);
    return this.send(key, "file", { blob: blob.id, name, size: blob.size, mime: blob.mime });
  }

  // ------------------------------------------------------------------------------ invitations

  /** `POST /v1/invitations`: rings `to`'s devices with an invitation into a session. */
  invite(to: string, opts: { from?: string; session?: string } = {}): Promise<Invitation> {
    return this.json({ method: "POST", path: ["v1", "invitations"], json: { to, ...opts } });
  }

  /** `POST /v1/invitations/{id}/accept`. */
  acceptInvitation(id: string): Promise<Invitation> {
    return this.json({ method: "POST", path: ["v1", "invitations", id, "accept"], json: {} });
  }

  /** `POST /v1/invitations/{id}/decline`. */
  declineInvitation(id: string): Promise<Invitation> {
    return this.json({ method: "POST", path: ["v1", "invitations", id, "decline"], json: {} });
  }

  // ------------------------------------------------------------------------------ cards

  /** `GET /v1/me/card`. */
  card(): Promise<{ fields: unknown[]; [more: string]: unknown }> {
    return this.json({ method: "GET", path: ["v1", "me", "card"] });
  }

  /** `PUT /v1/me/card`. */
  putCard(card: { fields: unknown[]; [more: string]: unknown }): Promise<unknown> {
    return this.json({ method: "PUT", path: ["v1", "me", "card"], json: card });
  }
}

/** The error a non-2xx answer stands for. */
async function problemOf(res: Response): Promise<CallsideError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    /* not a problem document */
  }
  const retry = res.headers.get("retry-after");
  return new CallsideError(
    typeof body.code === "string" ? body.code : `http_${res.status}`,
    typeof body.detail === "string" ? body.detail : `HTTP ${res.status}`,
    res.status,
    retry === null ? undefined : Number(retry),
  );
}
