// What the call window and the agent console share once an agent answers a web call (S4): the
// call's session over the SDK's Channel (the visitor with its visitor token, the agent with
// its own), the chat log, the microphone, and a voice indicator that reads the WebRTC link's
// statistics — "connected" only once the other side's audio is arriving.

import { Channel, Client, type Message, type PeerLink } from "../../sdk/src/index.js";

export interface Talk {
  client: Client;
  channel: Channel;
  session: string;
  /** Leaves the session (the channel closes; the call's end is the server's). */
  leave(): void;
}

/** Joins `session` with `token`; `onMessage` gets each of its messages once, in order. */
export async function join(
  token: string,
  session: string,
  onMessage: (m: Message, mine: boolean) => void | Promise<void>,
): Promise<Talk> {
  const client = new Client({ server: location.origin, auth: token });
  const channel = await Channel.connect(client);
  const off = channel.on("message", (e) => {
    if (e.message.session === session) return onMessage(e.message, e.message.sender === channel.principal);
  });
  return {
    client,
    channel,
    session,
    leave() {
      off();
      channel.close();
    },
  };
}

/** Sends what is typed in the chat form (`#chat-form`, `#chat-text`) on the current talk — once
 * it is joined, when the form is used while the page is still joining the call. */
export function wireChat(current: () => Talk | undefined | Promise<Talk | undefined>, failed: (text: string) => void) {
  const form = document.getElementById("chat-form") as HTMLFormElement;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("chat-text") as HTMLInputElement;
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    void (async () => {
      const talk = await current();
      if (!talk) {
        failed(`Not sent: not on a call`);
        return;
      }
      await talk.channel.sendText(talk.session, text);
    })().catch((err: Error) => failed(`Not sent: ${err.message}`));
  });
}

/** Adds a line to a chat log and keeps the newest in view. */
export function chatLine(list: HTMLElement, who: string, text: string, mine: boolean) {
  const li = document.createElement("li");
  li.className = mine ? "mine" : "theirs";
  const name = document.createElement("strong");
  name.textContent = `${who}: `;
  li.append(name, text);
  list.append(li);
  li.scrollIntoView({ block: "nearest" });
}

/** The microphone, or undefined (refused, or none): the call goes on as chat. */
export async function microphone(echoCancellation = true): Promise<MediaStream | undefined> {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation }, video: false });
  } catch {
    return undefined;
  }
}

/** Plays the link's remote audio in `audio`. */
export function play(link: PeerLink, audio: HTMLAudioElement) {
  link.on("track", (stream) => {
    audio.srcObject = stream;
    void audio.play().catch(() => undefined);
  });
}

/**
 * Tells `say` how the voice is doing, from the connection's statistics every second: "connected"
 * once audio from the other side arrives (`path` says whether through the relay), "no audio"
 * when it stops. Returns a function that stops watching.
 */
export function watchVoice(
  pc: RTCPeerConnection,
  say: (text: string) => void,
  path?: () => Promise<string>,
): () => void {
  let last = 0;
  const timer = setInterval(async () => {
    let received = 0;
    const stats = await pc.getStats().catch(() => undefined);
    stats?.forEach((s: { type: string; kind?: string; packetsReceived?: number }) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") received += s.packetsReceived ?? 0;
    });
    if (received > last) {
      const relayed = (await path?.()) === "relay";
      say(`Voice connected${relayed ? " (through the relay)" : ""}.`);
    } else if (last > 0) {
      say("No audio is arriving…");
    }
    last = received;
  }, 1000);
  return () => clearInterval(timer);
}

/** [`watchVoice`] for a peer link, which says "Voice ended." when the link ends. */
export function watchLink(link: PeerLink, say: (text: string) => void): () => void {
  const stop = watchVoice(link.pc, say, () => link.path());
  const off = link.on("ended", () => {
    stop();
    say("Voice ended.");
  });
  return () => {
    stop();
    off();
  };
}
