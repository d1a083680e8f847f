// The agent's side of an answered web call (S4): it joins the call's session with its own
// token, answers the visitor's voice offer with its microphone, chats, shows the shop page the
// visitor is on as it changes (page follow), pushes one of the merchant's pages by picking it
// or keying its code (`*76`), and sets how loud the visitor hears it and the visitor's echo
// suppression (`media/control`).

import { type Message, PeerLink, type RtcOffer } from "../../sdk/src/index.js";
import { chatLine, join, microphone, play, type Talk, watchLink, wireChat } from "./talk.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

type Api = (method: string, path: string, body?: unknown) => Promise<Response>;

let talk: Talk | undefined;
/** The session joined or being joined. */
let joined: string | undefined;
/** Its joining, which a message typed meanwhile waits for. */
let joining: Promise<Talk | undefined> = Promise.resolve(undefined);
let call = "";
let link: PeerLink | undefined;
let mic: MediaStream | undefined;
let stopWatching: (() => void) | undefined;

function say(text: string) {
  $("voice").textContent = text;
}

function pageLink(url: string, title?: string): Node {
  const a = document.createElement("a");
  a.href = /^https?:/.test(url) ? url : "about:blank";
  a.textContent = title ? `${title} (${url})` : url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

/** Answers the visitor's voice offer (a retry replaces the attempt before it). */
async function answer(m: Message) {
  const t = talk;
  if (!t || (m.body as RtcOffer).media !== "audio") return;
  link?.end("replaced");
  stopWatching?.();
  mic ??= await microphone();
  say(mic ? "Connecting voice…" : "No microphone here: the visitor cannot hear you; chat below.");
  // Each link gets its own copy of the microphone: ending one stops only its copy.
  const l = await PeerLink.answer(t.channel, t.client, m, mic ? { stream: mic.clone() } : {});
  if (talk !== t) {
    l.end("hung up");
    return;
  }
  link = l;
  play(l, $<HTMLAudioElement>("audio"));
  stopWatching = watchLink(l, say);
}

function onMessage(m: Message, mine: boolean) {
  const b = m.body as Record<string, unknown>;
  switch (m.kind) {
    case "text":
      chatLine($("chat"), mine ? "You" : "Visitor", String(b.text), mine);
      break;
    case "page/view":
      $("now-on").replaceChildren(pageLink(String(b.url), typeof b.title === "string" ? b.title : undefined));
      break;
    case "system/page":
      chatLine($("chat"), "Pushed", `${String(b.code)} → ${String(b.url)}`, true);
      break;
    case "rtc/offer":
      if (!mine) void answer(m).catch((e: Error) => say(`Voice could not connect: ${e.message}`));
      break;
    default:
      break;
  }
}

async function loadPages(api: Api) {
  const { pages } = (await (await api("GET", "/v1/agent/pages")).json()) as { pages: { code: string; url: string }[] };
  const select = $<HTMLSelectElement>("push-code");
  select.replaceChildren(new Option("Choose a page…", ""));
  for (const p of pages) select.append(new Option(`${p.code} — ${p.url}`, p.code));
}

/** Joins the call's session; `say` reports what went wrong. */
/** Joins the call's session; `voice`: the visitor's voice comes over it (not for a call to a
 * number, whose voice is on the telephone). */
export async function startTalk(
  api: Api,
  token: string,
  callId: string,
  session: string,
  note: (t: string) => void,
  voice = true,
) {
  if (joined === session) return;
  stopTalk();
  joined = session;
  call = callId;
  $("talk").hidden = false;
  $("chat").replaceChildren();
  $("now-on").textContent = "the page they called from";
  $<HTMLInputElement>("volume").value = "100";
  $<HTMLInputElement>("echo").checked = true;
  say(voice ? "Waiting for the visitor's voice…" : "The visitor is on the phone with you: chat and pages here.");
  void loadPages(api).catch((e: Error) => note(`Could not load the pages: ${e.message}`));
  joining = join(token, session, onMessage).then(
    (t) => {
      if (joined !== session) {
        t.leave();
        return undefined;
      }
      talk = t;
      return t;
    },
    (e: Error) => {
      note(`The call's data side is not reachable: ${e.message}`);
      return undefined;
    },
  );
  await joining;
}

export function stopTalk() {
  joined = undefined;
  joining = Promise.resolve(undefined);
  stopWatching?.();
  stopWatching = undefined;
  link?.end("hung up");
  link = undefined;
  for (const t of mic?.getTracks() ?? []) t.stop();
  mic = undefined;
  talk?.leave();
  talk = undefined;
  $("talk").hidden = true;
}

/** Wires the talk panel's controls once. */
export function wire(api: Api, note: (t: string) => void) {
  wireChat(() => talk ?? joining, note);

  $("push-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const keyed = $<HTMLInputElement>("push-keyed");
    const code = keyed.value.trim() || $<HTMLSelectElement>("push-code").value;
    if (!code) {
      note("Choose a page or key its code first.");
      return;
    }
    void api("POST", `/v1/agent/calls/${encodeURIComponent(call)}/push`, { code })
      .then(async (r) => {
        const page = (await r.json()) as { url: string };
        keyed.value = "";
        note(`Pushed ${code}: the visitor's shop window loads ${page.url}.`);
      })
      .catch((err: Error) => note(`Could not push ${code}: ${err.message}`));
  });
  const control = (body: Record<string, unknown>, done: string) => {
    if (!talk) return;
    void talk.channel
      .send(talk.session, "media/control", body)
      .then(() => note(done))
      .catch((err: Error) => note(`Could not change the visitor's media: ${err.message}`));
  };
  $("volume").addEventListener("change", () => {
    const v = Number($<HTMLInputElement>("volume").value);
    control({ volume: v / 100 }, `The visitor hears you at ${v}% now.`);
  });
  $("echo").addEventListener("change", () => {
    const on = $<HTMLInputElement>("echo").checked;
    control({ echo_cancellation: on }, `The visitor's echo suppression is ${on ? "on" : "off"}.`);
  });
}
