// The agent console at /agent/ (S4's call centre): an agent signs in with its token, sets its
// presence, and long-polls for the call ringing it — shown with what the visitor's page shared
// (the screen pop) — to accept, decline or end it. Polling is also how the server knows the
// agent is still there: a console that stops polling for 45 s loses its call to the queue. Once
// it answers, the call's session carries voice, chat, page push and follow (agent-talk.ts).

import { startTalk, stopTalk, wire } from "./agent-talk.js";
import { startBoard, stopBoard } from "./board.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const KEY = "callside.agent.token";

interface CallRecord {
  id: string;
  destination: string;
  link?: string;
  customer?: string;
  context: { page?: string; referrer?: string; recent_pages?: string[]; form?: Record<string, unknown> };
  created_at: number;
}

interface AgentCall {
  state: "ringing" | "talking";
  call: CallRecord;
  session?: string;
}

class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
  }
}

let token = sessionStorage.getItem(KEY) ?? "";
let current: AgentCall | undefined;
/** Bumped by every action: a poll answer from before it is stale. */
let epoch = 0;
/** Bumped on sign-out: a poll of an older generation stops. */
let generation = 0;

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  const r = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!r.ok) {
    const p = (await r.json().catch(() => ({}))) as { code?: string; detail?: string };
    throw new Problem(r.status, p.code ?? "error", p.detail ?? `HTTP ${r.status}`);
  }
  return r;
}

function say(text: string) {
  $("state").textContent = text;
}

async function signIn(t: string) {
  token = t;
  await api("POST", "/v1/agent/presence", { status: "available" });
  sessionStorage.setItem(KEY, t);
  $("sign-in").hidden = true;
  $("desk").hidden = false;
  $("sign-out").hidden = false;
  $<HTMLSelectElement>("presence").value = "available";
  const me = (await (await api("GET", "/v1/me")).json()) as { name: string };
  $("who").textContent = `Signed in as ${me.name}`;
  say("You are available: calls of your groups ring here.");
  void startBoard(api);
  void poll(++generation);
}

async function signOut() {
  generation++;
  await api("POST", "/v1/agent/presence", { status: "offline" }).catch(() => undefined);
  sessionStorage.removeItem(KEY);
  token = "";
  stopBoard();
  show(undefined);
  $("desk").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("who").textContent = "";
  say("Signed out.");
}

async function poll(gen: number) {
  while (gen === generation) {
    try {
      const seen = current ? `&seen=${encodeURIComponent(`${current.call.id}/${current.state}`)}` : "";
      const started = epoch;
      const r = await api("GET", `/v1/agent/call?wait=20${seen}`);
      const answer = r.status === 204 ? undefined : ((await r.json()) as AgentCall);
      if (gen !== generation) return;
      if (started === epoch) show(answer);
    } catch (e) {
      if (gen !== generation) return;
      const p = e as Problem;
      if (p.status === 401 || p.code === "not_an_agent") {
        say(`Signed out: ${p.message}`);
        void signOut();
        return;
      }
      if (p.code === "signed_out") {
        // The server lost us (a restart, or no poll for a while): sign in again.
        await api("POST", "/v1/agent/presence", { status: $<HTMLSelectElement>("presence").value }).catch(
          () => undefined,
        );
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function row(dl: HTMLElement, term: string, value: string | Node) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.append(value);
  dl.append(dt, dd);
}

function link(url: string): Node {
  const a = document.createElement("a");
  a.href = /^https?:/.test(url) ? url : "about:blank";
  a.textContent = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

function show(c: AgentCall | undefined) {
  const same = c && current && c.call.id === current.call.id && c.state === current.state;
  current = c;
  // A call to a number (joined by its channel id) has its voice on the telephone.
  const byPhone = Boolean(c && !c.call.destination.startsWith("agents:"));
  if (c?.state === "talking" && c.session) void startTalk(api, token, c.call.id, c.session, say, !byPhone);
  else stopTalk();
  if (same) return;
  $("call").hidden = !c;
  $("idle").hidden = Boolean(c);
  $("channel-form").hidden = Boolean(c);
  if (!c) return;
  const ringing = c.state === "ringing";
  $("call-title").textContent = ringing ? "Incoming call" : "On a call";
  const pop = $("pop");
  pop.replaceChildren();
  const ctx = c.call.context ?? {};
  if (c.call.link) row(pop, "Button", c.call.link);
  if (c.call.customer) row(pop, "Customer", c.call.customer);
  if (ctx.page) row(pop, "Page", link(ctx.page));
  if (ctx.referrer) row(pop, "Came from", link(ctx.referrer));
  for (const [k, v] of Object.entries(ctx.form ?? {})) row(pop, `Form: ${k}`, String(v));
  if (ctx.recent_pages?.length) {
    const list = document.createElement("ul");
    list.className = "pages";
    for (const p of ctx.recent_pages) {
      const li = document.createElement("li");
      li.append(link(p));
      list.append(li);
    }
    row(pop, "Seen before", list);
  }
  row(pop, "Waiting since", new Date(c.call.created_at).toLocaleTimeString());
  // On a phone call the console holds only its chat: ending it leaves the telephone call be.
  $("end").textContent = byPhone ? "Close the chat" : "End call";
  $("accept").hidden = !ringing;
  $("decline").hidden = !ringing;
  $("end").hidden = ringing;
  if (ringing) $("accept").focus();
  else $("end").focus();
  say(ringing ? "A visitor is calling." : "You are on the call.");
}

async function act(what: "accept" | "decline" | "end") {
  const c = current;
  if (!c) return;
  epoch++;
  try {
    await api("POST", `/v1/agent/calls/${encodeURIComponent(c.call.id)}/${what}`, {});
    // A poll started while the action was under way may answer what it replaced.
    epoch++;
    if (what === "decline") $<HTMLSelectElement>("presence").value = "away";
    if (what === "accept") {
      // The answer opened the call's session: the console joins it.
      const r = await api("GET", "/v1/agent/call");
      show(r.status === 204 ? undefined : ((await r.json()) as AgentCall));
    } else show(undefined);
    say(what === "accept" ? "You are on the call." : what === "decline" ? "Declined: you are away now." : "Call ended.");
  } catch (e) {
    say(`Could not ${what}: ${(e as Error).message}`);
  }
}

$("sign-in-form").addEventListener("submit", (e) => {
  e.preventDefault();
  $("sign-in-error").textContent = "";
  void signIn($<HTMLInputElement>("token").value.trim()).catch((err: Error) => {
    token = "";
    $("sign-in-error").textContent = `Could not sign in: ${err.message}`;
  });
});
$("sign-out").addEventListener("click", () => void signOut());
$("presence").addEventListener("change", () => {
  const status = $<HTMLSelectElement>("presence").value;
  void api("POST", "/v1/agent/presence", { status })
    .then(() => say(status === "available" ? "You are available." : "You are away: no new calls ring here."))
    .catch((e: Error) => say(`Could not change your status: ${e.message}`));
});
wire(api, say);
// S4's chat channel: a visitor on the phone (a call to the merchant's number) reads out the code
// its call window shows; keying it makes the call this agent's, with chat and page push.
$("channel-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("channel-code");
  const channel = input.value.replace(/\D/g, "");
  epoch++;
  void api("POST", "/v1/agent/channels", { channel })
    .then(async (r) => {
      input.value = "";
      epoch++;
      show((await r.json()) as AgentCall);
      say("You joined the visitor's call: chat and pages here.");
    })
    .catch((err: Error) => say(`Could not join call ${channel}: ${err.message}`));
});
$("accept").addEventListener("click", () => void act("accept"));
$("decline").addEventListener("click", () => void act("decline"));
$("end").addEventListener("click", () => void act("end"));
if (token) void signIn(token).catch(() => void signOut());

// A module of its own (its names are not the other pages').
export {};
