/**
 * `BrowserSession`: a browser linked to a device (docs/PROTOCOL.md, "Browsers linked to a
 * device"). It holds the browser's own short-lived access token and its refresh token — never
 * the device's token — refreshes a minute before the access token expires (or when the server
 * says it did), and tells the app each time the tokens change so it can keep them (for example
 * in `localStorage`). Use it as a `Client`'s `auth`.
 */

import { type BrowserTokens, Client, type TokenSource } from "./client.js";
import { CallsideError } from "./errors.js";

export interface BrowserSessionOptions {
  server: string;
  /** Called with the new tokens after linking and after each refresh; keep them. */
  onTokens?: (tokens: BrowserTokens) => void;
  fetch?: typeof fetch;
}

export class BrowserSession implements TokenSource {
  private tokens: BrowserTokens;
  private refreshing: Promise<string> | undefined;
  private readonly anonymous: Client;
  private readonly onTokens: ((t: BrowserTokens) => void) | undefined;

  private constructor(tokens: BrowserTokens, options: BrowserSessionOptions) {
    this.tokens = tokens;
    this.onTokens = options.onTokens;
    this.anonymous = new Client({
      server: options.server,
      auth: "-",
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  /** Links this browser with the code the device showed. */
  static async link(code: string, name: string | undefined, options: BrowserSessionOptions): Promise<BrowserSession> {
    const probe = new Client({ server: options.server, auth: "-", ...(options.fetch ? { fetch: options.fetch } : {}) });
    const tokens = await probe.linkBrowser(code, name);
    const session = new BrowserSession(tokens, options);
    options.onTokens?.(tokens);
    return session;
  }

  /** Resumes with tokens kept earlier. */
  static resume(tokens: BrowserTokens, options: BrowserSessionOptions): BrowserSession {
    return new BrowserSession(tokens, options);
  }

  /** The browser as the server knows it. */
  get browser(): BrowserTokens["browser"] {
    return this.tokens.browser;
  }

  /** A `Client` that acts as the linked device through this browser's tokens. */
  client(fetchFn?: typeof fetch): Client {
    return new Client({ server: this.anonymous.server, auth: this, ...(fetchFn ? { fetch: fetchFn } : {}) });
  }

  async token(): Promise<string> {
    if (Date.now() > this.tokens.access_expires_at - 60_000) return this.expired();
    return this.tokens.access_token;
  }

  /** Refreshes now (one refresh at a time: a refresh token is spent on use). */
  expired(): Promise<string> {
    this.refreshing ??= (async () => {
      try {
        const next = await this.anonymous.refreshBrowser(this.tokens.refresh_token);
        this.tokens = next;
        this.onTokens?.(next);
        return next.access_token;
      } catch (e) {
        if (e instanceof CallsideError && e.status === 401) {
          throw new CallsideError(e.code, `this browser must be linked again: ${e.message}`, 401);
        }
        throw e;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }
}
