// The companion web app (issue 14): a browser linked to a phone shows the data side of the
// phone's calls — who is calling and why, messages, files with previews, locations, cards and
// screens from automated systems — and can reply, send files, and start a session by typing the
// two numbers of a call made on a plain phone (S1-F22).

import {
  BrowserSession,
  type BrowserTokens,
  CallsideError,
  Channel,
  type Client,
  type Message,
  type PeerFile,
  type ScreenBody,
  type SessionInfo,
} from "../../sdk/src/index.js";
import * as peer from "./peer.js";

const STORE = "callside.browser";
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface State {
  session?: BrowserSession;
  client?: Client;
  channel?: Channel;
  me?: { id: string; name: string; numbers: string[] };
  sessions: Map<string, SessionInfo>;
  unread: Map<string, number>;
  selected?: string;
  /** Screens this browser already acknowledged, by `session/screen id`. */
  acknowledged: Set<string>;
  objectUrls: string[];
}

const state: State = { sessions: new Map(), unread: new Map(), acknowledged: new Set(), objectUrls: [] };

function say(text: string) {
  $("status").textContent = text;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

// ------------------------------------------------------------------------------ linking

function keep(tokens: BrowserTokens) {
  localStorage.setItem(STORE, JSON.stringify(tokens));
}

function showLink(reason?: string) {
  $("main-view").hidden = true;
  $("sign-out").hidden = true;
  $("notify").hidden = true;
  $("who").textContent = "";
  $("link-view").hidden = false;
  $("link-error").textContent = reason ?? "";
  say("");
  $<HTMLInputElement>("code").focus();
}

async function link(event: SubmitEvent) {
  event.preventDefault();
  const code = $<HTMLInputElement>("code").value;
  const name = $<HTMLInputElement>("name").value.trim() || undefined;
  $("link-error").textContent = "";
  try {
    const session = await BrowserSession.link(code, name, { server: location.origin, onTokens: keep });
    $<HTMLInputElement>("code").value = "";
    await start(session);
  } catch (e) {
    $("link-error").textContent =
      e instanceof CallsideError && e.code === "invalid_link_code"
        ? "That code does not work: it may be mistyped, used already, or older than five minutes. Ask the phone for a new one."
        : `Could not link: ${(e as Error).message}`;
  }
}

async function unlinkSelf() {
  try {
    await state.client?.signOutBrowser();
  } catch {
    /* unlinked already */
  }
  stop();
  showLink("This browser is unlinked.");
}

function stop() {
  peer.show(undefined, false);
  state.channel?.close();
  localStorage.removeItem(STORE);
  state.session = undefined;
  state.client = undefined;
  state.channel = undefined;
  state.sessions.clear();
  state.unread.clear();
  state.selected = undefined;
  state.me = undefined;
  // Nothing of the calls stays on the screen or in memory.
  for (const u of state.objectUrls.splice(0)) URL.revokeObjectURL(u);
  $("log").replaceChildren();
  $("sessions").replaceChildren();
  $("call-note").hidden = true;
  $("manual-status").textContent = "";
  $("session-title").textContent = "No call selected";
  $("session-state").textContent = "";
}

// ------------------------------------------------------------------------------ running

async function start(session: BrowserSession) {
  state.session = session;
  const client = session.client();
  state.client = client;
  const me = await client.me();
  state.me = me;
  $("who").textContent = `${session.browser.name} · linked to ${me.name}${me.numbers.length ? ` (${me.numbers.join(", ")})` : ""}`;
  const own = $<HTMLSelectElement>("manual-own");
  own.replaceChildren(...me.numbers.map((n) => el("option", { value: n }, n)));
  $("link-view").hidden = true;
  $("main-view").hidden = false;
  $("sign-out").hidden = false;
  $("notify").hidden = !("serviceWorker" in navigator && "PushManager" in window);
  const channel = await Channel.connect(client);
  state.channel = channel;
  channel.on("reconnected", (e) => {
    for (const s of e.sessions) state.sessions.set(s.key, s);
    renderSessions();
    say("Connected again.");
  });
  channel.on("disconnected", () => say("Connection lost; reconnecting…"));
  channel.on("session", (e) => {
    state.sessions.set(e.session.key, e.session);
    renderSessions();
    if (!state.selected) void select(e.session.key);
  });
  channel.on("call_note", (e) => {
    const note = e.note as { from: string; from_name?: string; composer?: { subject?: string } };
    const subject = note.composer?.subject;
    const banner = $("call-note");
    banner.textContent = `Call from ${note.from_name ?? note.from}${subject ? `: “${subject}”` : ""}`;
    banner.hidden = false;
  });
  channel.on("message", (e) => onMessage(e.message));
  channel.on("closed", (e) => {
    stop();
    showLink(`This browser was signed out: ${e.reason}`);
  });
  for (const s of channel.sessions) state.sessions.set(s.key, s);
  renderSessions();
  say("Connected.");
  const first = [...state.sessions.values()].sort((a, b) => b.created_at - a.created_at)[0];
  if (first && !state.selected) await select(first.key);
}

function onMessage(m: Message) {
  if (m.kind.startsWith("rtc/")) peer.onSignal(m, state.me?.id);
  const s = state.sessions.get(m.session);
  if (s && m.kind === "system/call") s.call = (m.body as { state: string }).state;
  if (s && m.kind === "system/closed") s.closed = (m.body as { reason: string }).reason;
  // The video and the direct link follow the phone call and the session.
  if (m.kind === "system/call" && (m.body as { state: string }).state === "ended") peer.sessionOver(m.session, "the call ended");
  if (m.kind === "system/closed") peer.sessionOver(m.session, "the session closed");
  if (s && m.kind === "system/joined") {
    const p = (m.body as { participant: SessionInfo["participants"][number] }).participant;
    if (!s.participants.some((x) => x.id === p.id)) s.participants.push(p);
  }
  if (m.session === state.selected) {
    append(m);
    renderHeader();
  } else {
    state.unread.set(m.session, (state.unread.get(m.session) ?? 0) + 1);
  }
  renderSessions();
}

// ------------------------------------------------------------------------------ sessions

function otherParty(s: SessionInfo): string {
  const others = s.participants.filter((p) => p.id !== state.me?.id);
  if (others.length === 0) return "(waiting for the other side)";
  return others.map((p) => (p.number ? `${p.name} ${p.number}` : p.name)).join(", ");
}

function renderSessions() {
  const list = [...state.sessions.values()].sort((a, b) => b.created_at - a.created_at);
  $("no-sessions").hidden = list.length > 0;
  $("sessions").replaceChildren(
    ...list.map((s) => {
      const unread = state.unread.get(s.key) ?? 0;
      const b = el(
        "button",
        { type: "button", "aria-current": String(s.key === state.selected) },
        otherParty(s),
        el("span", { class: "muted" }, ` · ${s.closed ? "closed" : s.call}`),
      );
      if (unread) b.append(el("span", { class: "badge", "aria-label": `${unread} new` }, String(unread)));
      b.addEventListener("click", () => void select(s.key));
      return el("li", {}, b);
    }),
  );
}

function renderHeader() {
  const s = state.selected ? state.sessions.get(state.selected) : undefined;
  $("session-title").textContent = s ? `Call with ${otherParty(s)}` : "No call selected";
  $("session-state").textContent = s
    ? `${s.closed ? `Closed (${s.closed})` : `Call ${s.call}`} · started ${new Date(s.created_at).toLocaleString()}`
    : "";
  $("reply-form").hidden = !s || Boolean(s.closed);
  // Video and direct links are between people's devices, not with automated systems.
  const people = s?.participants.some((p) => p.id !== state.me?.id && p.id.startsWith("dev_"));
  peer.show(s?.key, Boolean(s && !s.closed && people));
}

async function select(key: string) {
  state.selected = key;
  state.unread.delete(key);
  for (const u of state.objectUrls.splice(0)) URL.revokeObjectURL(u);
  $("log").replaceChildren();
  renderHeader();
  renderSessions();
  const client = state.client;
  if (!client) return;
  let after = 0;
  for (;;) {
    const page = await client.messages(key, { after });
    if (state.selected !== key) return;
    for (const m of page) append(m);
    if (page.length === 0) break;
    after = page[page.length - 1]?.seq ?? after;
    if (page.length < 100) break;
  }
  renderHeader();
}

// ------------------------------------------------------------------------------ messages

function nameOf(session: string, id: string): string {
  if (id === state.me?.id) return "You";
  return state.sessions.get(session)?.participants.find((p) => p.id === id)?.name ?? id;
}

function append(m: Message) {
  const log = $("log");
  if (log.querySelector(`[data-seq="${m.seq}"]`)) return;
  // The signalling of a direct link is the link's business, not the reader's.
  if (m.kind === "rtc/answer" || m.kind === "rtc/candidate") return;
  const item = el("li", { "data-seq": String(m.seq), "data-kind": m.kind });
  const mine = m.sender === state.me?.id;
  if (mine) item.classList.add("mine");
  if (m.kind.startsWith("system/") || m.kind.startsWith("rtc/")) {
    item.classList.add("system");
    item.append(m.kind.startsWith("rtc/") ? rtcLine(m) : systemLine(m));
  } else {
    item.append(el("span", { class: "from" }, `${nameOf(m.session, m.sender)} · ${new Date(m.sent_at).toLocaleTimeString()}`));
    item.append(body(m));
  }
  // In order of seq, whatever order they arrive in.
  const later = [...log.children].find((c) => Number((c as HTMLElement).dataset.seq) > m.seq);
  log.insertBefore(item, later ?? null);
  log.scrollTop = log.scrollHeight;
}

function rtcLine(m: Message): string {
  const who = nameOf(m.session, m.sender);
  const b = m.body as { media?: string; reason?: string };
  if (m.kind === "rtc/offer") return `${who} offered ${b.media === "video" ? "video" : "a direct link"}.`;
  return `${who} ended the ${b.reason === "declined" ? "offer (declined)" : `link${b.reason ? ` (${b.reason})` : ""}`}.`;
}

function otherName(): string {
  const s = state.selected ? state.sessions.get(state.selected) : undefined;
  return s?.participants.find((p) => p.id !== state.me?.id)?.name ?? "The other side";
}

/** A file that went over the direct link: in the log, marked as such, with its preview. */
function showPeerFile(f: PeerFile, from: "you" | "them", path: string) {
  const item = el("li", { "data-kind": "peer-file" });
  if (from === "you") item.classList.add("mine");
  const via = path === "relay" ? "through the relay" : "peer to peer";
  item.append(
    el(
      "span",
      { class: "from" },
      `${from === "you" ? "You" : otherName()} · ${new Date().toLocaleTimeString()}`,
    ),
    el("p", {}, `${f.name} · ${formatSize(f.bytes.length)} · sent ${via}, SHA-256 checked`),
  );
  if (/\.(png|jpe?g|gif|webp)$/i.test(f.name)) {
    const url = URL.createObjectURL(new Blob([f.bytes as BlobPart]));
    state.objectUrls.push(url);
    item.append(el("img", { alt: f.name, src: url }));
  }
  $("log").append(item);
  $("log").scrollTop = $("log").scrollHeight;
}

function systemLine(m: Message): string {
  const b = m.body as Record<string, unknown>;
  switch (m.kind) {
    case "system/call":
      return `The call is ${String(b.state)}.`;
    case "system/joined":
      return `${(b.participant as { name: string }).name} joined.`;
    case "system/closed":
      return `The session closed (${String(b.reason)}).`;
    case "system/diverted":
      return `The call went to ${String(b.to)}${b.reason ? ` (${String(b.reason)})` : ""}.`;
    case "system/transferred":
      return `${nameOf(m.session, String(b.from))} moved to another device.`;
    default:
      return m.kind.slice("system/".length).replace(/_/g, " ");
  }
}

function body(m: Message): Node {
  const b = m.body as Record<string, unknown>;
  switch (m.kind) {
    case "text":
      return el("p", {}, String(b.text));
    case "file":
      return fileView(b as { blob: string; name: string; size: number; mime: string });
    case "location":
      return locationView(b as { lat: number; lon: number; accuracy_m?: number });
    case "location/request":
      return el("p", {}, "asks where you are.");
    case "card":
      return cardView(b as { fields: { label?: string; kind: string; value: unknown }[]; display?: { name?: string } });
    case "screen":
      return screenView(m.session, m.sender, b as unknown as ScreenBody);
    case "screen/ack":
      return el("p", { class: "muted" }, `screen “${String(b.screen)}”: ${String(b.status).replace("_", " ")}`);
    case "screen/action":
      return el("p", { class: "muted" }, `pressed “${String(b.region)}” on “${String(b.screen)}”`);
    default:
      return el("p", { class: "muted" }, `${m.kind}: ${JSON.stringify(b)}`);
  }
}

function fileView(f: { blob: string; name: string; size: number; mime: string }): Node {
  const box = el("div", {}, el("p", {}, `${f.name} · ${formatSize(f.size)}`));
  const client = state.client;
  if (!client) return box;
  if (f.mime.startsWith("image/")) {
    const img = el("img", { alt: f.name });
    box.append(img);
    void client.download(f.blob).then(({ bytes, mime }) => {
      const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: mime }));
      state.objectUrls.push(url);
      img.src = url;
    });
  }
  const save = el("button", { type: "button" }, `Download ${f.name}`);
  save.addEventListener("click", async () => {
    const { bytes, mime } = await client.download(f.blob);
    const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: mime }));
    const a = el("a", { href: url, download: f.name });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  box.append(save);
  return box;
}

function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A small drawn map: the point, its accuracy, a scale, and a link to a full map. */
function locationView(p: { lat: number; lon: number; accuracy_m?: number }): Node {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 240 140");
  svg.setAttribute("width", "240");
  svg.setAttribute("height", "140");
  svg.setAttribute("class", "map");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Map: ${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}`);
  const add = (tag: string, attrs: Record<string, string | number>) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    svg.append(e);
    return e;
  };
  add("rect", { x: 0, y: 0, width: 240, height: 140, fill: "#e8eef5" });
  for (let i = 1; i < 6; i++) add("line", { x1: i * 40, y1: 0, x2: i * 40, y2: 140, stroke: "#c9d3df" });
  for (let i = 1; i < 4; i++) add("line", { x1: 0, y1: i * 35, x2: 240, y2: i * 35, stroke: "#c9d3df" });
  if (p.accuracy_m) add("circle", { cx: 120, cy: 70, r: Math.min(60, 8 + Math.log2(1 + p.accuracy_m) * 4), fill: "#0b5fff33" });
  add("circle", { cx: 120, cy: 70, r: 6, fill: "#0b5fff", stroke: "#fff", "stroke-width": 2 });
  const label = add("text", { x: 8, y: 132, "font-size": 11, fill: "#223" });
  label.textContent = `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}${p.accuracy_m ? ` ± ${Math.round(p.accuracy_m)} m` : ""}`;
  const link = el(
    "a",
    {
      href: `https://www.openstreetmap.org/?mlat=${p.lat}&mlon=${p.lon}#map=16/${p.lat}/${p.lon}`,
      target: "_blank",
      rel: "noopener noreferrer",
    },
    "Open in a map",
  );
  return el("div", {}, svg, el("p", {}, link));
}

function cardView(c: { fields: { label?: string; kind: string; value: unknown }[]; display?: { name?: string } }): Node {
  const dl = el("dl");
  for (const f of c.fields) {
    const v = f.value;
    const text = typeof v === "string" ? v : v && typeof v === "object" ? Object.values(v).filter(Boolean).join(" ") : String(v);
    dl.append(el("dt", {}, f.label ?? f.kind.replace(/_/g, " ")), el("dd", {}, text));
  }
  return el("div", { class: "card" }, el("strong", {}, c.display?.name ?? "Card"), dl);
}

function screenView(session: string, sender: string, s: ScreenBody): Node {
  const regions = el("div", { class: "regions" });
  for (const r of s.regions) {
    const b = el("button", { type: "button" }, r.label);
    if (r.display === "flashing") b.classList.add("flashing");
    if (sender === state.me?.id) b.disabled = true;
    b.addEventListener("click", async () => {
      try {
        await state.channel?.press(session, s.id, r.id);
        say(`Sent “${r.label}”.`);
      } catch (e) {
        say(`Could not press “${r.label}”: ${(e as Error).message}`);
      }
    });
    regions.append(b);
  }
  const box = el(
    "div",
    { class: "screen", role: "group", "aria-label": s.title ?? s.id },
    el("strong", {}, s.title ?? s.id),
    s.automated ? el("p", { class: "muted" }, "This call is with an automated system.") : "",
    regions,
  );
  const ack = `${session}/${s.id}`;
  if (sender !== state.me?.id && !state.acknowledged.has(ack)) {
    state.acknowledged.add(ack);
    void state.channel?.acknowledgeScreen(session, s.id, "shown").catch(() => undefined);
  }
  return box;
}

// ------------------------------------------------------------------------------ sending

async function reply(event: SubmitEvent) {
  event.preventDefault();
  const input = $<HTMLInputElement>("reply");
  const text = input.value.trim();
  if (!text || !state.selected || !state.channel) return;
  try {
    await state.channel.sendText(state.selected, text);
    input.value = "";
  } catch (e) {
    say(`Not sent: ${(e as Error).message}`);
  }
}

async function sendFile() {
  const input = $<HTMLInputElement>("file");
  const file = input.files?.[0];
  if (!file || !state.selected || !state.client) return;
  const bar = $<HTMLProgressElement>("upload");
  bar.hidden = false;
  bar.value = 0;
  try {
    if (peer.linkOpen()) {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const path = await peer.sendFile(bytes, file.name, (sent, total) => {
        bar.value = total ? sent / total : 1;
      });
      say(path === "relay" ? `Sent ${file.name} over the direct link, through the relay.` : `Sent ${file.name} directly.`);
      return;
    }
    await state.client.sendFile(state.selected, file, file.name, {
      onProgress: ({ loaded, total }) => {
        bar.value = total ? loaded / total : 1;
      },
    });
    say(`Sent ${file.name}.`);
  } catch (e) {
    say(`Could not send ${file.name}: ${(e as Error).message}`);
  } finally {
    bar.hidden = true;
    input.value = "";
  }
}

/** S1-F22: a call on a plain phone, its two numbers typed here. */
async function manual(event: SubmitEvent) {
  event.preventDefault();
  const client = state.client;
  if (!client) return;
  const own = $<HTMLSelectElement>("manual-own").value;
  const other = $<HTMLInputElement>("manual-other").value.trim();
  const direction = (new FormData($<HTMLFormElement>("manual-form")).get("direction") ?? "outgoing") as
    | "incoming"
    | "outgoing";
  const status = $("manual-status");
  status.textContent = "Waiting for the other side to report the call…";
  try {
    let leg = await client.reportLeg({ self: own, other, direction }, 30);
    while (leg.state === "pending") leg = await client.leg(leg.id, 30);
    if (leg.state === "matched" && leg.session) {
      status.textContent = "Connected.";
      state.sessions.set(leg.session.key, leg.session);
      await select(leg.session.key);
    } else {
      status.textContent = `No session: ${leg.reason ?? leg.state}.`;
    }
  } catch (e) {
    status.textContent = `Could not start: ${(e as Error).message}`;
  }
}

async function notifications() {
  const client = state.client;
  if (!client) return;
  try {
    const { vapid_public_key } = await client.pushSubscriptions();
    if (!vapid_public_key) {
      say("This server does not send browser notifications.");
      return;
    }
    const reg = await navigator.serviceWorker.register("sw.js", { scope: "/app/" });
    const key = Uint8Array.from(atob(vapid_public_key.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    const json = sub.toJSON() as { endpoint: string; keys: { p256dh: string; auth: string } };
    await client.registerWebPush({ endpoint: json.endpoint, p256dh: json.keys.p256dh, auth: json.keys.auth });
    say("You will be notified of calls while this page is closed.");
  } catch (e) {
    say(`Notifications are not available: ${(e as Error).message}`);
  }
}

// ------------------------------------------------------------------------------ start

function main() {
  peer.setUp({
    client: () => state.client,
    channel: () => state.channel,
    selected: () => state.selected,
    showFile: showPeerFile,
    say,
  });
  $<HTMLFormElement>("link-form").addEventListener("submit", (e) => void link(e));
  $<HTMLFormElement>("reply-form").addEventListener("submit", (e) => void reply(e));
  $<HTMLFormElement>("manual-form").addEventListener("submit", (e) => void manual(e));
  $("file").addEventListener("change", () => void sendFile());
  $("sign-out").addEventListener("click", () => void unlinkSelf());
  $("notify").addEventListener("click", () => void notifications());
  // A link like /app/#link=7KQ2M-XH4PD fills the code in (and leaves no code in the history),
  // also when it is opened in a tab already showing the app.
  const takeCode = () => {
    const code = new URLSearchParams(location.hash.slice(1)).get("link");
    if (code) {
      $<HTMLInputElement>("code").value = code;
      history.replaceState(null, "", location.pathname);
    }
    return code;
  };
  window.addEventListener("hashchange", () => {
    if (takeCode() && state.session) {
      stop();
      showLink("Link this browser with the new code.");
      $<HTMLInputElement>("code").value = $<HTMLInputElement>("code").value;
    }
  });
  const code = takeCode();
  const kept = localStorage.getItem(STORE);
  if (kept && !code) {
    const session = BrowserSession.resume(JSON.parse(kept) as BrowserTokens, { server: location.origin, onTokens: keep });
    start(session).catch((e: unknown) => {
      stop();
      showLink(`Link this browser again: ${(e as Error).message}`);
    });
  } else {
    showLink();
  }
}

main();
