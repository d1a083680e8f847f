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

/** Calls `destination` through `gateway` as call `id`. */
export async function callNumber(id: string, destination: string, gateway: string) {
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
  dialling = sip.dial(gateway, destination, id, mic, {
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
