// The call window's call to a merchant's telephone number (S4): through the operator's
// WebRTC-to-SIP gateway when there is one — the voice from the browser, JsSIP loaded only now
// (`sip.ts`, under the content-named file the page's `callside-sip` meta names) — or, without a
// gateway or a microphone, the number to dial from a phone.

import type { Dialling } from "./sip.js";
import { microphone, watchVoice } from "./talk.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let dialling: Dialling | undefined;
let mic: MediaStream | undefined;
let stopWatching: (() => void) | undefined;

/** Shows the number to dial from a phone, with why (when the browser could not call it). */
export function showNumber(destination: string, why = "") {
  $("call-title").textContent = "Call us";
  $("where").textContent = why ? `${why} Call our phone line instead:` : "This call goes to our phone line:";
  $<HTMLAnchorElement>("dial").href = `tel:${destination}`;
  $("dial").textContent = destination;
  $("number").hidden = false;
  $("hang-up").hidden = true;
}

function ended(destination: string, cause: string, failed: boolean, hungUp: boolean) {
  stopWatching?.();
  for (const t of mic?.getTracks() ?? []) t.stop();
  $("voice").textContent = "";
  $("hang-up").hidden = true;
  if (failed && !hungUp) {
    showNumber(destination, `The call did not go through (${cause}).`);
    return;
  }
  $("call-title").textContent = "Call ended";
  $("where").textContent = hungUp ? "You hung up." : "The call has ended. Thank you for calling.";
  $("detail").textContent = "You can close this window.";
}

/** Loads the merchant's page for a code the call centre keyed on its phone (`*76`), in the shop's
 * tab (this window's opener), or offers it as a link. */
async function pushKeyed(id: string, token: string, code: string) {
  const r = await fetch(`/v1/clicks/${encodeURIComponent(id)}/pages/${encodeURIComponent(code)}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!r.ok) return; // not one of the shop's codes: nothing to show
  const { url } = (await r.json()) as { url: string };
  if (!/^https?:\/\//.test(url)) return;
  const a = document.createElement("a");
  a.href = url;
  a.textContent = url;
  a.target = "_blank";
  a.rel = "noopener";
  const shop = window.opener as Window | null;
  if (shop && !shop.closed) {
    shop.location.href = url;
    $("pushed").replaceChildren("The call centre opened a page in the shop's window: ", a);
  } else {
    $("pushed").replaceChildren("The call centre sent you a page: ", a);
  }
}

/** Calls `destination` through `gateway` as call `id` (`token`: the visitor token). */
export async function callNumber(id: string, token: string, destination: string, gateway: string) {
  $("call-title").textContent = "Calling";
  $("where").textContent = "Calling the shop's call centre…";
  mic = await microphone();
  if (!mic) {
    showNumber(destination, "Your browser did not let this page use the microphone.");
    return;
  }
  const file = document.querySelector<HTMLMetaElement>('meta[name="callside-sip"]')?.content ?? "sip.js";
  let sip: typeof import("./sip.js");
  try {
    // A URL made at run time: the bundler leaves the import to the browser.
    const url = new URL(file, location.href).href;
    sip = (await import(url)) as typeof import("./sip.js");
  } catch {
    showNumber(destination, "The calling part of this page did not load.");
    return;
  }
  $("web-call").hidden = false;
  for (const chat of ["chat-title", "chat", "chat-form"]) $(chat).hidden = true;
  $("hang-up").hidden = false;
  let hungUp = false;
  // Keys the call centre presses: `*` starts a code, `#` or a pause of 1.5 s ends it.
  let keyed = "";
  let pause: ReturnType<typeof setTimeout> | undefined;
  const codeDone = () => {
    const code = keyed.replace(/#$/, "");
    keyed = "";
    if (code.length > 1) void pushKeyed(id, token, code).catch(() => undefined);
  };
  dialling = sip.dial(gateway, destination, id, mic, {
    dtmf: (tone) => {
      keyed = tone === "*" ? "*" : keyed + tone;
      clearTimeout(pause);
      if (tone === "#") codeDone();
      else pause = setTimeout(codeDone, 1500);
    },
    ringing: () => ($("where").textContent = "Ringing the shop's call centre…"),
    answered: (pc) => {
      $("call-title").textContent = "Connected";
      $("where").textContent = "You are through to the shop's call centre.";
      stopWatching = watchVoice(pc, (text) => ($("voice").textContent = text));
    },
    track: (stream) => {
      const audio = $<HTMLAudioElement>("audio");
      audio.srcObject = stream;
      void audio.play().catch(() => undefined);
    },
    ended: (cause, failed) => ended(destination, cause, failed, hungUp),
  });
  const hangUp = () => {
    hungUp = true;
    dialling?.hangUp();
  };
  $("hang-up").addEventListener("click", hangUp);
  // Closing the window hangs up too.
  addEventListener("pagehide", hangUp);
}
