/** A problem the server answered (RFC 9457), or one the SDK met on the way. */
export class CallsideError extends Error {
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** The stable machine code (`not_participant`, `rate_limited`, … or `network`, `protocol`). */
  readonly code: string;
  /** Seconds to wait before retrying, from `Retry-After`. */
  readonly retryAfter: number | undefined;

  constructor(code: string, message: string, status?: number, retryAfter?: number) {
    super(message);
    this.name = "CallsideError";
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** The server's answer could not be what the protocol says. */
export class ProtocolError extends CallsideError {
  constructor(message: string) {
    super("protocol", message);
    this.name = "ProtocolError";
  }
}
