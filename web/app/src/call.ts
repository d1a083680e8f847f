// The visitor's call window at /call/ (S4): the merchant page's loader opens it with the signed
// button and what the page chose to share in the fragment (never sent to any server); this page
// — on callside's own origin, so no CORS is needed — makes the click, then follows the call with
// the visitor token the click answered: its place in the queue and the expected wait, the agent
// who took it, the end. Hanging up, or closing the window, ends it. Once an agent answers, the
// call's session carries the voice (WebRTC, offered from here with the microphone), the chat,
// the pages the agent pushes (loaded in the shop's tab, this window's opener), the agent's media
// controls, and the shop page the visitor is on (the loader on each page answers this window's
// asking).

import { type Message, PeerLink } from "../../sdk/src/index.js";
import { callNumber, showNumber } from "./call-number.js";
import { chatLine, join, microphone, play, type Talk, watchLink, wireChat } from "./talk.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const KEY = "callside.call";

interface Visitor {
  id: string;
  token: string;
  destination: string;
  /** For a call to a number: the WebRTC-to-SIP gateway to dial it through. */
  gateway?: string;
  /** For a call to a number: the channel id an agent keys to open the call's chat. */
  channel?: string;
}

interface Standing {
  state: "routed" | "queued" | "ringing" | "answered" | "ended";
  position?: number;
  expected_wait_secs?: number;
  agent?: string;
  outcome?: string;
  session?: string;
}

let me: Visitor | undefined;
let over = false;
/** The visitor pressed Hang up (its end may reach this window through the poll first). */
let hungUp = false;
let talk: Talk | undefined;
let talking: string | undefined;
let link: PeerLink | undefined;
let mic: MediaStream | undefined;
let stopWatching: (() => void) | undefined;
let asking: ReturnType<typeof setInterval> | undefined;

function b64urlJson(s: string): unknown {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}

async function click(): Promise<Visitor> {
  const f = new URLSearchParams(location.hash.slice(1));
  const merchant = f.get("m");
  const button = f.get("b");
  // Reloaded: the same call (a new button click brings a new fragment).
  const saved = sessionStorage.getItem(KEY);
  if ((!merchant || !button) && saved) return JSON.parse(saved) as Visitor;
  if (!merchant || !button) throw new Error("this window was not opened by a call button");
  const context = f.get("c") ? b64urlJson(f.get("c") as string) : {};
  const r = await fetch("/v1/clicks", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ merchant, button, context }),
  });
  const body = (await r.json()) as {
    id: string;
    destination: string;
    visitor_token?: string;
    sip_gateway?: string;
    channel?: string;
    detail?: string;
  };
  if (!r.ok) throw new Error(body.detail ?? `HTTP ${r.status}`);
  const v: Visitor = { id: body.id, token: body.visitor_token ?? "", destination: body.destination };
  if (body.sip_gateway) v.gateway = body.sip_gateway;
  if (body.channel) v.channel = body.channel;
  sessionStorage.setItem(KEY, JSON.stringify(v));
  // The button and context have done their work: not left in the address bar or history.
  history.replaceState(null, "", location.pathname);
  return v;
}

function minutes(secs: number): string {
  const m = Math.max(1, Math.round(secs / 60));
  return m === 1 ? "about a minute" : `about ${m} minutes`;
}

function show(s: Standing) {
  const where = $("where");
  const detail = $("detail");
  $("hang-up").hidden = s.state === "ended";
  switch (s.state) {
    case "queued":
      // An agent who answered dropped the call: its session is over, the next agent's is new.
      stopTalk();
      $("call-title").textContent = "Please hold";
      where.textContent = s.position === 1 ? "You are next in line." : `You are number ${s.position ?? "?"} in line.`;
      detail.textContent =
        s.expected_wait_secs !== undefined
          ? `Expected wait: ${minutes(s.expected_wait_secs)}.`
          : "No agent is available right now; you keep your place.";
      break;
    case "ringing":
      $("call-title").textContent = "Connecting";
      where.textContent = "An agent is picking up…";
      detail.textContent = "";
      break;
    case "answered":
      $("call-title").textContent = "Connected";
      where.textContent = `${s.agent ?? "An agent"} has taken your call.`;
      detail.textContent = "They can see the page you called from.";
      if (s.session && s.session !== talking) void startTalk(s.session, s.agent ?? "Agent");
      break;
    case "ended":
      over = true;
      stopTalk();
      $("call-title").textContent = "Call ended";
      where.textContent = hungUp || s.outcome === "abandoned" ? "You hung up." : "The call has ended. Thank you for calling.";
      detail.textContent = "You can close this window.";
      break;
    default:
      break;
  }
}

async function follow(v: Visitor) {
  for (let wait = 0; !over; wait = 20) {
    try {
      const r = await fetch(`/v1/clicks/${encodeURIComponent(v.id)}?wait=${wait}`, {
        headers: { authorization: `Bearer ${v.token}` },
      });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      show((await r.json()) as Standing);
    } catch {
      $("detail").textContent = "Reconnecting…";
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/** A call to a number: an agent who keys its channel id opens the call's chat. */
async function followChannel(v: Visitor) {
  $("channel").textContent = v.channel ?? "";
  $("channel-line").hidden = false;
  for (let wait = 0; ; wait = 20) {
    try {
      const r = await fetch(`/v1/clicks/${encodeURIComponent(v.id)}?wait=${wait}`, {
        headers: { authorization: `Bearer ${v.token}` },
      });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const s = (await r.json()) as Standing;
      if (s.state === "answered" && s.session && s.session !== talking) {
        $("channel-line").hidden = true;
        void startTalk(s.session, s.agent ?? "The agent", false);
      }
      if (s.state === "ended") {
        stopTalk();
        return;
      }
    } catch {
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function hangUp(keepalive: boolean) {
  if (!me || over || !me.token) return;
  hungUp = true;
  // Closing: nothing more to follow.
  if (keepalive) over = true;
  void fetch(`/v1/clicks/${encodeURIComponent(me.id)}/hangup`, {
    method: "POST",
    headers: { authorization: `Bearer ${me.token}`, "content-type": "application/json" },
    body: "{}",
    keepalive,
  }).then(() => {
    if (!keepalive) show({ state: "ended", outcome: "abandoned" });
  });
}

/** The agent's side of the session, as the visitor sees it. */
function onMessage(m: Message, mine: boolean, agent: string) {
  const b = m.body as Record<string, unknown>;
  switch (m.kind) {
    case "text":
      chatLine($("chat"), mine ? "You" : agent, String(b.text), mine);
      break;
    case "system/page":
      showPage(String(b.url));
      break;
    case "media/control":
      if (typeof b.volume === "number") {
        $<HTMLAudioElement>("audio").volume = b.volume;
        $("pushed").textContent = `The agent set how loud you hear them to ${Math.round(b.volume * 100)}%.`;
      }
      if (typeof b.echo_cancellation === "boolean") {
        // The link sends its own copy of the microphone's track.
        for (const sender of link?.pc.getSenders() ?? []) {
          void sender.track?.applyConstraints({ echoCancellation: b.echo_cancellation }).catch(() => undefined);
        }
        $("pushed").textContent = `The agent turned echo suppression ${b.echo_cancellation ? "on" : "off"}.`;
      }
      break;
    default:
      break;
  }
}

/** Loads a page the agent pushed in the shop's tab (this window's opener), or offers a link. */
function showPage(url: string) {
  if (!/^https?:\/\//.test(url)) return;
  const a = document.createElement("a");
  a.href = url;
  a.textContent = url;
  a.target = "_blank";
  a.rel = "noopener";
  const shop = window.opener as Window | null;
  if (shop && !shop.closed) {
    shop.location.href = url;
    $("pushed").replaceChildren("The agent opened a page in the shop's window: ", a);
  } else {
    $("pushed").replaceChildren("The agent sent you a page: ", a);
  }
}

/** Joins the call's session: chat, pages, media control, and — unless the voice goes another
 * way (a call to a number) — the voice. */
async function startTalk(session: string, agent: string, voice = true) {
  if (!me) return;
  talking = session;
  $("web-call").hidden = false;
  for (const chat of ["chat-title", "chat", "chat-form"]) $(chat).hidden = false;
  if (voice) $("voice").textContent = "Connecting voice…";
  else $("pushed").textContent = `${agent} joined: you can chat, and they can show you pages.`;
  // Joining is tried three times (a connection lost on the way); its failure is said where the
  // visitor looks: the voice line on a web call, the chat's on a call to a number.
  for (let attempt = 1; !talk; attempt++) {
    try {
      talk = await join(me.token, session, (m, mine) => onMessage(m, mine, agent));
    } catch (e) {
      if (attempt === 3 || talking !== session) {
        $(voice ? "voice" : "pushed").textContent = `The call's data side is not reachable: ${(e as Error).message}`;
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  // Page follow: the shop's page in the opener says where the visitor is (its loader answers).
  let seen = "";
  addEventListener("message", (e) => {
    const d = e.data as { callside?: string; url?: string; title?: string } | null;
    if (e.source !== window.opener || d?.callside !== "page" || !d.url || d.url === seen || !talk) return;
    seen = d.url;
    void talk.channel.send(talk.session, "page/view", { url: d.url, ...(d.title ? { title: d.title.slice(0, 200) } : {}) });
  });
  asking = setInterval(() => (window.opener as Window | null)?.postMessage("callside:where", "*"), 1000);
  if (!voice) return;
  mic = await microphone();
  if (!mic) {
    $("voice").textContent = "No microphone: you can still chat with the agent below.";
    return;
  }
  try {
    const t = talk;
    link = await PeerLink.connect(t.channel, t.client, session, {
      media: "audio",
      stream: mic,
      directTimeoutMs: 8000,
      onAttempt: ({ failures, relay }) => {
        if (failures > 0) $("voice").textContent = relay ? "Connecting voice through the relay…" : "Trying voice again…";
      },
    });
    play(link, $<HTMLAudioElement>("audio"));
    stopWatching = watchLink(link, (text) => ($("voice").textContent = text));
  } catch (e) {
    $("voice").textContent = `Voice could not connect (${(e as Error).message}); you can still chat below.`;
  }
}

function stopTalk() {
  if (!talking) return;
  if (me?.channel) {
    // A call to a number: its voice goes on; only the chat closes.
    talking = undefined;
    clearInterval(asking);
    talk?.leave();
    talk = undefined;
    for (const chat of ["chat-title", "chat", "chat-form"]) $(chat).hidden = true;
    $("pushed").textContent = "The agent closed the chat.";
    return;
  }
  talking = undefined;
  clearInterval(asking);
  stopWatching?.();
  link?.end("hung up");
  link = undefined;
  for (const t of mic?.getTracks() ?? []) t.stop();
  mic = undefined;
  talk?.leave();
  talk = undefined;
  $("voice").textContent = "";
  $("web-call").hidden = true;
}

wireChat(
  () => talk,
  (text) => ($("pushed").textContent = text),
);
$("hang-up").addEventListener("click", () => hangUp(false));
// Closing the window hangs up (S4: either side can hang up; closing the window counts).
addEventListener("pagehide", (e) => {
  if (!e.persisted) hangUp(true);
});

try {
  me = await click();
  if (me.channel) {
    // A call to a number: the voice goes through the gateway (or a phone); the chat opens when
    // an agent keys the call's channel id.
    over = true;
    void followChannel(me);
    if (me.gateway) await callNumber(me.id, me.token, me.destination, me.gateway);
    else showNumber(me.destination);
  } else {
    $("hang-up").hidden = false;
    await follow(me);
  }
} catch (e) {
  $("call-title").textContent = "The call could not start";
  $("error").textContent = (e as Error).message;
}

// A module of its own (its names are not the other pages').
export {};
