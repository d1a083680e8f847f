// A web call to a merchant's telephone number (S4), through the operator's WebRTC-to-SIP gateway
// (Kamailio over WebSocket, rtpengine for the media; deploy/webrtc-gateway): JsSIP places the
// call from the browser with the visitor's microphone. Its own file, which the call window loads
// only for such a call (JsSIP is most of its size).

import { UA, WebSocketInterface } from "jssip";

export interface Dialling {
  /** The call's WebRTC connection, once there is one. */
  pc(): RTCPeerConnection | undefined;
  hangUp(): void;
}

export interface DialEvents {
  ringing(): void;
  answered(pc: RTCPeerConnection): void;
  /** The call ended or failed, with JsSIP's cause (`Terminated`, `Busy`, `Rejected`…). */
  ended(cause: string, failed: boolean): void;
  /** The other side's audio. */
  track(stream: MediaStream): void;
  /** A key the other side pressed (DTMF, as SIP INFO through the gateway). */
  dtmf(tone: string): void;
}

/**
 * Dials `sip:<to>@<the gateway's host>` through `gateway` (a ws:// or wss:// URL) with `stream`
 * as the caller's audio; `caller` (the call's id) is the From user, so the call centre finds the
 * call's record — its screen pop — by it.
 */
export function dial(gateway: string, to: string, caller: string, stream: MediaStream, on: DialEvents): Dialling {
  const host = new URL(gateway).hostname;
  const ua = new UA({
    sockets: [new WebSocketInterface(gateway)],
    uri: `sip:${caller}@${host}`,
    register: false,
    session_timers: false,
  });
  let session: ReturnType<UA["call"]> | undefined;
  let over = false;
  const finish = (cause: string, failed: boolean) => {
    if (over) return;
    over = true;
    on.ended(cause, failed);
    ua.stop();
  };
  ua.on("connected", () => {
    if (session || over) return;
    session = ua.call(`sip:${to}@${host}`, {
      mediaStream: stream,
      pcConfig: { iceServers: [] },
      rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
      eventHandlers: {
        progress: () => on.ringing(),
        confirmed: () => {
          if (session?.connection) on.answered(session.connection);
        },
        ended: (e: { cause: string }) => finish(e.cause, false),
        failed: (e: { cause: string }) => finish(e.cause, true),
      },
    });
    session.on("newDTMF", (e: { originator: string; dtmf: { tone: string } }) => {
      if (e.originator === "remote") on.dtmf(e.dtmf.tone);
    });
    session.connection?.addEventListener("track", (e) => {
      on.track(e.streams[0] ?? new MediaStream([e.track]));
    });
  });
  ua.on("disconnected", () => {
    if (!session) finish("the gateway is not reachable", true);
  });
  ua.start();
  return {
    pc: () => session?.connection,
    hangUp() {
      if (session && !session.isEnded()) session.terminate();
      else finish("Canceled", false);
    },
  };
}
