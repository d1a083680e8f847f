/**
 * callside's TypeScript SDK: the data side of phone calls from a browser or Node.
 *
 * - `Client`: typed calls for the HTTP API (sessions, messages, legs, files with upload
 *   progress and ranged downloads, invitations, cards, browser linking).
 * - `Channel`: the one WebSocket for all sessions and events, with resume, backoff,
 *   exactly-once delivery per process and re-sent sends.
 * - `BrowserSession`: a browser linked to a device, with refreshing short-lived tokens.
 * - `parseServerFrame` and the wire types of docs/PROTOCOL.md.
 */

export { BrowserSession, type BrowserSessionOptions } from "./browser.js";
export { Channel, type ChannelEvent, type ChannelOptions } from "./channel.js";
export {
  Client,
  type BlobInfo,
  type BrowserInfo,
  type BrowserTokens,
  type ClientOptions,
  type ConnectionData,
  type Download,
  type Me,
  type Progress,
  type ReportLeg,
  type TokenSource,
} from "./client.js";
export { CallsideError, ProtocolError } from "./errors.js";
export { newMessageId } from "./ids.js";
export * from "./protocol.js";
export {
  PeerLink,
  type ConnectOptions,
  type PeerFile,
  type PeerLinkOptions,
  type RtcAnswer,
  type RtcMedia,
  type RtcOffer,
} from "./rtc.js";
export { choosePath, detectNat, MAX_DIRECT_FAILURES, NAT_TYPES, natFromCandidates, type NatType, stunOnly } from "./nat.js";
