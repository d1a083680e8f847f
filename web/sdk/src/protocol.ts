/**
 * The wire format of docs/PROTOCOL.md: frames on the WebSocket and the JSON the HTTP API
 * answers. `parseServerFrame` checks what the SDK relies on, so a server that drifted from the
 * document is noticed at the first frame, not deep inside an app; the SDK's test checks every
 * example of the document against these parsers (the Rust protocol test parses the same ones).
 */

import { ProtocolError } from "./errors.js";
import type { NatType } from "./nat.js";

export type Origin = "paired_legs" | "network" | "invitation" | "conference" | "click" | (string & {});
export type CallState = "ringing" | "answered" | "ended" | (string & {});

export interface Participant {
  id: string;
  name: string;
  number?: string;
  history?: "share" | "withhold";
  joined_after?: number;
}

export interface SessionInfo {
  key: string;
  origin: Origin;
  lifecycle: "keep_after_call" | "close_with_call" | (string & {});
  call: CallState;
  participants: Participant[];
  created_at: number;
  closed?: string;
  last_seq: number;
}

/** A message on a session's log. `kind` says what `body` holds (see `MessageBodies`). */
export interface Message<B = unknown> {
  session: string;
  seq: number;
  id?: string;
  sender: string;
  kind: string;
  body: B;
  sent_at: number;
}

export interface Accepted {
  session: string;
  seq: number;
  id: string;
  duplicate: boolean;
}

export interface LegStatus {
  id: string;
  state: "pending" | "matched" | "no_match" | "answered" | "ended" | (string & {});
  reason?: string;
  self: string;
  other?: string;
  direction: "incoming" | "outgoing";
  session?: SessionInfo;
  reported_at: number;
  expires_at: number;
  [more: string]: unknown;
}

export interface Invitation {
  id: string;
  state: "pending" | "accepted" | "declined" | "cancelled" | "expired" | (string & {});
  inviter: string;
  from?: string;
  to: string;
  session?: string;
  created_at: number;
  expires_at: number;
  [more: string]: unknown;
}

export interface CallNote {
  id: string;
  kind: "composer" | "note" | (string & {});
  from: string;
  to: string;
  created_at: number;
  [more: string]: unknown;
}

/** Bodies of the message kinds the SDK knows (others arrive as `unknown`). */
export interface MessageBodies {
  text: { text: string };
  file: { blob: string; name: string; size: number; mime: string };
  location: {
    lat: number;
    lon: number;
    accuracy_m?: number;
    live?: boolean;
    request?: string;
    geo?: string;
  };
  "location/request": { request: string; timeout_secs?: number };
  "location/decline": { request: string };
  card: { fields: unknown[]; display?: Record<string, unknown> };
  screen: ScreenBody;
  "screen/ack": { screen: string; status: "shown" | "not_supported"; detail?: string };
  "screen/action": { screen: string; region: string; value?: Record<string, unknown> };
  "system/call": { state: CallState };
  "system/joined": { participant: Participant };
  "system/closed": { reason: string; by?: string };
  "system/transferred": { from: string; to: Participant };
  "system/diverted": { from: string; to: string; reason?: string };
  "rtc/offer": {
    call: string;
    media: "data" | "audio" | "video";
    sdp: string;
    relay?: boolean;
    nat?: NatType;
    retry?: boolean;
    failures?: number;
    replaces?: string;
  };
  "rtc/answer": { call: string; sdp: string; nat?: NatType; relay?: boolean };
  "rtc/candidate": { call: string; candidate: string; sdp_mid?: string; sdp_m_line_index?: number };
  "rtc/end": { call: string; reason?: string };
  /** The page a visitor on a web call is on (S4's page follow). */
  "page/view": { url: string; title?: string };
  /** An agent changes the visitor's media (S4 "K"). */
  "media/control": { volume?: number; echo_cancellation?: boolean };
  /** An agent pushed one of the merchant's pages (S4's page push). */
  "system/page": { url: string; code: string; by: string };
}

export interface ScreenRegion {
  id: string;
  label: string;
  icon?: string;
  display?: "steady" | "flashing";
  overlay?: boolean;
  action: { type: string; [more: string]: unknown };
  [more: string]: unknown;
}

export interface ScreenBody {
  id: string;
  owner?: string;
  mode: "predetermined" | "dynamic";
  target: string;
  automated?: boolean;
  title?: string;
  image?: string;
  regions: ScreenRegion[];
  [more: string]: unknown;
}

export type ServerFrame =
  | { type: "ready"; protocol: number; principal: string; heartbeat_secs: number; sessions: SessionInfo[] }
  | ({ type: "accepted" } & Accepted)
  | ({ type: "message" } & Message)
  | ({ type: "session" } & SessionInfo)
  | ({ type: "leg" } & LegStatus)
  | { type: "reported"; id: string; leg: LegStatus }
  | ({ type: "invitation" } & Invitation)
  | ({ type: "call_note" } & CallNote)
  | { type: "error"; code: string; detail: string; id?: string; session?: string }
  | { type: "pong"; nonce?: number };

export type ClientFrame =
  | { type: "send"; session: string; id: string; kind: string; body: unknown }
  | { type: "ack"; session: string; seq: number }
  | { type: "resume"; session: string; after?: number }
  | { type: "report"; id: string; leg: Record<string, unknown> }
  | { type: "ping"; nonce?: number };

/** Every frame type the server sends, as the document lists them. */
export const SERVER_FRAME_TYPES = [
  "ready",
  "accepted",
  "message",
  "session",
  "leg",
  "reported",
  "invitation",
  "call_note",
  "error",
  "pong",
] as const;

/** Every frame type a client sends. */
export const CLIENT_FRAME_TYPES = ["send", "ack", "resume", "report", "ping"] as const;

type Check = (v: Record<string, unknown>, where: string) => void;

function fail(where: string, what: string): never {
  throw new ProtocolError(`${where}: ${what}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const str = (v: Record<string, unknown>, k: string, where: string) => {
  if (typeof v[k] !== "string") fail(where, `\`${k}\` must be a string`);
};
const optStr = (v: Record<string, unknown>, k: string, where: string) => {
  if (v[k] !== undefined && typeof v[k] !== "string") fail(where, `\`${k}\` must be a string`);
};
const num = (v: Record<string, unknown>, k: string, where: string) => {
  if (typeof v[k] !== "number" || !Number.isFinite(v[k])) fail(where, `\`${k}\` must be a number`);
};
const seqOf = (v: Record<string, unknown>, k: string, where: string) => {
  num(v, k, where);
  if (!Number.isSafeInteger(v[k]) || (v[k] as number) < 0) fail(where, `\`${k}\` must be a count`);
};

const participant: Check = (p, where) => {
  str(p, "id", where);
  str(p, "name", where);
  optStr(p, "number", where);
};

const session: Check = (s, where) => {
  str(s, "key", where);
  str(s, "origin", where);
  str(s, "lifecycle", where);
  str(s, "call", where);
  num(s, "created_at", where);
  seqOf(s, "last_seq", where);
  optStr(s, "closed", where);
  if (!Array.isArray(s.participants)) fail(where, "`participants` must be a list");
  for (const p of s.participants) {
    if (!isObject(p)) fail(where, "a participant must be an object");
    participant(p, `${where} participant`);
  }
};

const checks: Record<ServerFrame["type"], Check> = {
  ready: (f, w) => {
    num(f, "protocol", w);
    str(f, "principal", w);
    num(f, "heartbeat_secs", w);
    if (!Array.isArray(f.sessions)) fail(w, "`sessions` must be a list");
    for (const s of f.sessions) {
      if (!isObject(s)) fail(w, "a session must be an object");
      session(s, `${w} session`);
    }
  },
  accepted: (f, w) => {
    str(f, "session", w);
    seqOf(f, "seq", w);
    str(f, "id", w);
    if (typeof f.duplicate !== "boolean") fail(w, "`duplicate` must be true or false");
  },
  message: (f, w) => {
    str(f, "session", w);
    seqOf(f, "seq", w);
    optStr(f, "id", w);
    str(f, "sender", w);
    str(f, "kind", w);
    num(f, "sent_at", w);
    if (!("body" in f)) fail(w, "`body` is missing");
  },
  session,
  leg: (f, w) => {
    str(f, "id", w);
    str(f, "state", w);
    str(f, "self", w);
    str(f, "direction", w);
  },
  reported: (f, w) => {
    str(f, "id", w);
    if (!isObject(f.leg)) fail(w, "`leg` must be an object");
    const leg = f.leg as Record<string, unknown>;
    for (const k of ["id", "state", "self", "direction"]) str(leg, k, w);
  },
  invitation: (f, w) => {
    str(f, "id", w);
    str(f, "state", w);
    str(f, "inviter", w);
    str(f, "to", w);
  },
  call_note: (f, w) => {
    str(f, "id", w);
    str(f, "kind", w);
    str(f, "from", w);
    str(f, "to", w);
  },
  error: (f, w) => {
    str(f, "code", w);
    str(f, "detail", w);
    optStr(f, "id", w);
    optStr(f, "session", w);
  },
  pong: (f, w) => {
    if (f.nonce !== undefined) num(f, "nonce", w);
  },
};

/**
 * Reads one server frame. Throws `ProtocolError` for text that is not JSON, a frame without a
 * known `type`, or one missing a field the SDK relies on. Unknown extra fields are kept.
 */
export function parseServerFrame(text: string): ServerFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError("a server frame is not JSON");
  }
  if (!isObject(value) || typeof value.type !== "string") {
    throw new ProtocolError("a server frame has no `type`");
  }
  const check = (checks as Record<string, Check | undefined>)[value.type];
  if (!check) throw new ProtocolError(`unknown server frame \`${value.type}\``);
  check(value, `\`${value.type}\` frame`);
  return value as ServerFrame;
}

/** Reads a session as the HTTP API answers it. */
export function parseSession(value: unknown): SessionInfo {
  if (!isObject(value)) throw new ProtocolError("a session must be an object");
  session(value, "session");
  return value as unknown as SessionInfo;
}

/** Reads a message as the HTTP API answers it. */
export function parseMessage(value: unknown): Message {
  if (!isObject(value)) throw new ProtocolError("a message must be an object");
  checks.message(value, "message");
  return value as unknown as Message;
}

/** Reads one client frame (the SDK writes these; the document's examples are checked too). */
export function parseClientFrame(text: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError("a client frame is not JSON");
  }
  if (!isObject(value) || typeof value.type !== "string") {
    throw new ProtocolError("a client frame has no `type`");
  }
  const w = `\`${value.type}\` frame`;
  switch (value.type) {
    case "send":
      str(value, "session", w);
      str(value, "id", w);
      str(value, "kind", w);
      if (!("body" in value)) fail(w, "`body` is missing");
      break;
    case "ack":
      str(value, "session", w);
      seqOf(value, "seq", w);
      break;
    case "resume":
      str(value, "session", w);
      if (value.after !== undefined) seqOf(value, "after", w);
      break;
    case "report":
      str(value, "id", w);
      if (!isObject(value.leg)) fail(w, "`leg` must be an object");
      break;
    case "ping":
      if (value.nonce !== undefined) num(value, "nonce", w);
      break;
    default:
      throw new ProtocolError(`unknown client frame \`${value.type}\``);
  }
  return value as ClientFrame;
}
