// Video and the direct link in the companion app (S1-F1's direct path, S2-C's video): offers and
// answers go through the SDK's PeerLink, which applies S2's rule (direct, retried, or through the
// relay); a retry of a link this side accepted is accepted without asking again; files go peer to
// peer while a link is open; ending a video returns the call to data only.

import { type Channel, type Client, type Message, PeerLink, type PeerFile } from "../../sdk/src/index.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export interface PeerHooks {
  client: () => Client | undefined;
  channel: () => Channel | undefined;
  selected: () => string | undefined;
  /** Shows a file that came (or went) over the link in the log. */
  showFile: (f: PeerFile, from: "you" | "them", path: string) => void;
  say: (text: string) => void;
}

let link: PeerLink | undefined;
/** A link being set up (offered, not open yet). */
let connecting = false;
let offer: Message | undefined;
/** The last link this side accepted: a retry that replaces it is accepted at once. */
let accepted: string | undefined;
let shown: string | undefined;
let hooks: PeerHooks;

/** Offers older than this are from an earlier moment of the call: not offered again. */
const FRESH_MS = 60_000;
/** How long a direct attempt may take to connect once answered. */
const DIRECT_TIMEOUT_MS = 8_000;

export function setUp(h: PeerHooks) {
  hooks = h;
  $("video-start").addEventListener("click", () => void start("video"));
  $("direct-start").addEventListener("click", () => void start("data"));
  $("peer-end").addEventListener("click", () => link?.end("back to data only"));
  $("peer-accept").addEventListener("click", () => void accept());
  $("peer-decline").addEventListener("click", () => void decline());
}

/** The selected session changed (or none is selected). */
export function show(session: string | undefined, open: boolean) {
  $("peer").hidden = !session || !open;
  if (session === shown) return;
  shown = session;
  if (link && link.session !== session) link.end("left the call's page");
  hideOffer();
}

/** The phone call or the session ended: a video or direct link on it ends too. */
export function sessionOver(session: string, why: string) {
  if (link?.session === session) link.end(why);
}

/** Whether files go over the link now. */
export function linkOpen(): boolean {
  return Boolean(link?.open);
}

/** Sends a file over the link; answers the path it took (`relay`, `direct`). */
export async function sendFile(
  bytes: Uint8Array,
  name: string,
  onProgress: (sent: number, total: number) => void,
): Promise<string> {
  if (!link) throw new Error("no direct link");
  await link.sendFile(bytes, name, onProgress);
  const path = await link.path();
  hooks.showFile({ name, bytes, sha256: "" }, "you", path);
  return path;
}

/** An `rtc/*` message on a session: an offer may be shown; the rest is the link's. */
export function onSignal(m: Message, me: string | undefined) {
  if (m.sender === me) return;
  if (m.kind === "rtc/offer" && m.session === hooks.selected() && !link && Date.now() - m.sent_at < FRESH_MS) {
    offer = m;
    const b = m.body as { media: string; replaces?: string; failures?: number };
    if (b.replaces && b.replaces === accepted) {
      state(`The direct path did not connect; trying again (${b.failures ?? 1} failed)…`);
      void accept();
      return;
    }
    $("peer-offer-text").textContent =
      b.media === "video" ? "The other side wants to start video." : "The other side wants a direct link for files.";
    $("peer-offer").hidden = false;
    $<HTMLButtonElement>("peer-accept").focus();
  } else if (m.kind === "rtc/end" && offer && (offer.body as { call: string }).call === (m.body as { call: string }).call) {
    hideOffer();
    hooks.say("The other side withdrew the offer.");
  }
}

function hideOffer() {
  offer = undefined;
  $("peer-offer").hidden = true;
}

async function media(): Promise<MediaStream> {
  return navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
}

async function start(kind: "video" | "data") {
  const client = hooks.client();
  const channel = hooks.channel();
  const session = hooks.selected();
  if (!client || !channel || !session || link || connecting) return;
  connecting = true;
  let stream: MediaStream | undefined;
  try {
    stream = kind === "video" ? await media() : undefined;
    const relay = $<HTMLInputElement>("relay-only").checked;
    const what = kind === "video" ? "Calling for video" : "Connecting directly";
    const l = await PeerLink.connect(channel, client, session, {
      media: kind,
      relay,
      directTimeoutMs: DIRECT_TIMEOUT_MS,
      ...(stream ? { stream } : {}),
      onAttempt: ({ failures, relay: viaRelay }) => {
        $("peer").dataset.failures = String(failures);
        if (failures === 0) state(viaRelay ? `${what} through the relay…` : `${what}…`);
        else
          state(
            `${failures} direct attempt${failures === 1 ? "" : "s"} did not connect; ` +
              (viaRelay ? "trying through the relay…" : "trying again…"),
          );
      },
    });
    adopt(l, stream);
  } catch (e) {
    stream?.getTracks().forEach((t) => t.stop());
    state(`Could not start: ${(e as Error).message}`);
  } finally {
    connecting = false;
  }
}

async function accept() {
  const client = hooks.client();
  const channel = hooks.channel();
  const m = offer;
  if (!client || !channel || !m) return;
  hideOffer();
  try {
    const video = (m.body as { media: string }).media === "video";
    const stream = video ? await media() : undefined;
    const l = await PeerLink.answer(channel, client, m, stream ? { stream } : {});
    accepted = l.call;
    adopt(l, stream);
  } catch (e) {
    state(`Could not accept: ${(e as Error).message}`);
  }
}

async function decline() {
  const channel = hooks.channel();
  const m = offer;
  hideOffer();
  if (channel && m) await PeerLink.decline(channel, m).catch(() => undefined);
}

function adopt(l: PeerLink, stream: MediaStream | undefined) {
  link = l;
  $("video-start").hidden = true;
  $("direct-start").hidden = true;
  $("peer-end").hidden = false;
  $("peer-end").textContent = l.media === "video" ? "End video" : "Close the direct link";
  if (stream) {
    $<HTMLVideoElement>("local-video").srcObject = stream;
    $("videos").hidden = false;
  }
  l.on("track", (remote) => {
    $<HTMLVideoElement>("remote-video").srcObject = remote;
    $("videos").hidden = false;
  });
  l.on("open", () => {
    void l.path().then((p) => {
      const via = p === "relay" ? "through the relay" : p === "direct" ? "peer to peer" : "connected";
      state(l.media === "video" ? `Video on (${via}).` : `Direct link open (${via}): files go over it.`);
      $("peer").dataset.path = p;
    });
  });
  l.on("file", (f) => void l.path().then((p) => hooks.showFile(f, "them", p)));
  l.on("ended", (reason) => {
    link = undefined;
    for (const v of ["local-video", "remote-video"]) {
      const video = $<HTMLVideoElement>(v);
      (video.srcObject as MediaStream | null)?.getTracks().forEach((t) => t.stop());
      video.srcObject = null;
    }
    $("videos").hidden = true;
    $("video-start").hidden = false;
    $("direct-start").hidden = false;
    $("peer-end").hidden = true;
    delete $("peer").dataset.path;
    state(reason === "back to data only" ? "Back to data only." : `Back to data only (${reason}).`);
  });
}

function state(text: string) {
  $("peer-state").textContent = text;
}
