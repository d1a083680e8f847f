// The visitor's call window at /call/ (S4): the merchant page's loader opens it with the signed
// button and what the page chose to share in the fragment (never sent to any server); this page
// — on callside's own origin, so no CORS is needed — makes the click, then follows the call with
// the visitor token the click answered: its place in the queue and the expected wait, the agent
// who took it, the end. Hanging up, or closing the window, ends it.

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const KEY = "callside.call";

interface Visitor {
  id: string;
  token: string;
  destination: string;
}

interface Standing {
  state: "routed" | "queued" | "ringing" | "answered" | "ended";
  position?: number;
  expected_wait_secs?: number;
  agent?: string;
  outcome?: string;
}

let me: Visitor | undefined;
let over = false;

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
  const body = (await r.json()) as { id: string; destination: string; visitor_token?: string; detail?: string };
  if (!r.ok) throw new Error(body.detail ?? `HTTP ${r.status}`);
  const v = { id: body.id, token: body.visitor_token ?? "", destination: body.destination };
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
      break;
    case "ended":
      over = true;
      $("call-title").textContent = "Call ended";
      where.textContent = s.outcome === "abandoned" ? "You hung up." : "The call has ended. Thank you for calling.";
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

function hangUp(keepalive: boolean) {
  if (!me || over || !me.token) return;
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

$("hang-up").addEventListener("click", () => hangUp(false));
// Closing the window hangs up (S4: either side can hang up; closing the window counts).
addEventListener("pagehide", (e) => {
  if (!e.persisted) hangUp(true);
});

try {
  me = await click();
  if (me.token) {
    $("hang-up").hidden = false;
    await follow(me);
  } else {
    // Routed to a number: the visitor calls it from a phone.
    over = true;
    $("call-title").textContent = "Call us";
    $("where").textContent = "This call goes to our phone line:";
    $<HTMLAnchorElement>("dial").href = `tel:${me.destination}`;
    $("dial").textContent = me.destination;
    $("number").hidden = false;
  }
} catch (e) {
  $("call-title").textContent = "The call could not start";
  $("error").textContent = (e as Error).message;
}

// A module of its own (its names are not the other pages').
export {};
