// Types of sse.mjs (sse.js as an ES module): what sse.js implements, and no more.
// Usage: docs/bundlers.md. The global a <script src="sse.js"> defines: sse.d.ts.

/** What a stream shows the page: "live" once its connection is subscribed to every channel of this stream. */
export type SSEState = "connecting" | "live" | "reconnecting" | "stopped";

/**
 * Why a stream stopped:
 * - "finished": the stream answered 204 (a finished job, say);
 * - "unauthorized": 401 with session auth (signed out); with a `headers` function, a second 401
 *   in a row (after asking it for a new credential), or the function refusing;
 * - "refused": 400, 403 or 404 from the stream, or the token endpoint or `token` function refused;
 * - "stopped": `stop()` without a reason; `stop(reason)` keeps the reason it is given.
 */
export type SSEStopReason = "finished" | "unauthorized" | "refused" | "stopped";

/** A stream token, as POST tokenUrl answers it. */
export interface SSEToken {
  token: string;
  /** When it expires (ISO 8601 text, ms since the epoch, or a Date): it is renewed before connecting after that. */
  expires_at?: string | number | Date | null;
}

/**
 * A page's own source of stream tokens, called with every channel the connection carries (all
 * tabs' when tabs share it). Return null (or undefined, or a falsy token) to refuse: the stream
 * stops with "refused". Throw to be called again after a back-off; a thrown error whose
 * `status` is 400, 401, 403 or 404 refuses too.
 */
export type SSETokenProvider = (
  channels: string[],
) => string | SSEToken | null | undefined | PromiseLike<string | SSEToken | null | undefined>;

/** Extra headers: of the token POST (merged over Content-Type and X-CSRFToken), or of the stream request. */
export type SSEHeaders = Record<string, string>;

/**
 * The headers of the stream request, called before every (re)connect: a page refreshes its
 * short-lived JWT here. `renew` is true after a 401 (the credential was refused: get a new one).
 * Return null to stop the stream ("unauthorized"); throw to be called again after a back-off (a
 * thrown error whose `status` is 400, 401, 403 or 404 stops it).
 */
export type SSEHeadersProvider = (context: {
  renew: boolean;
}) => SSEHeaders | null | undefined | PromiseLike<SSEHeaders | null | undefined>;

export interface SSEStreamOptions {
  /** The stream, default "/sse/stream/"; may be absolute, on another origin; its query is kept. */
  url?: string;
  /** The channel names. The array is kept as `stream.channels`. */
  channels: string[];
  /** "session" (cookies) or "token" (a stream token in ?token=); default "token" with a `token` function, else "session". */
  auth?: "session" | "token";
  /** The stream's origin gets its cookies cross-origin (its CORS answer must allow credentials); default false. */
  withCredentials?: boolean;
  /** Where to POST {"channels": [...]} for an SSEToken, default "/api/sse/tokens/". */
  tokenUrl?: string;
  /** The credentials mode of that POST; default "include" with withCredentials, else "same-origin". */
  tokenCredentials?: "same-origin" | "include" | "omit";
  /** Extra headers for that POST, or a function (async or not) returning them, called before every POST. */
  tokenHeaders?: SSEHeaders | (() => SSEHeaders | null | undefined | PromiseLike<SSEHeaders | null | undefined>) | null;
  /**
   * Headers of the stream request itself, on every (re)connect: the site's own API credential,
   * `{Authorization: "Bearer " + jwt}` (the server's SSE_AUTHENTICATION_CLASSES read it). An
   * object, or an SSEHeadersProvider. The stream ends when that credential expires and comes back
   * with what the provider gives then.
   */
  headers?: SSEHeaders | SSEHeadersProvider | null;
  /** The cookie whose value goes in X-CSRFToken, default "csrftoken"; null: never. */
  csrfCookie?: string | null;
  /** Tokens from the page's own backend instead of tokenUrl (sets auth to "token"). */
  token?: SSETokenProvider;
  /** Share one connection with the other tabs of this browser on the same url and auth; default true. */
  share?: boolean;
  /** Resume after this event id. */
  lastEventId?: string | null;
  /** The longest wait between reconnection attempts, default 30000. */
  maxBackoffMs?: number;
}

/** An event as it came: handlers get it after the parsed data. */
export interface SSEMessage {
  /** The event's name ("message" when the server sent none). */
  type: string;
  /** Its data as sent (the text, not parsed). */
  data: string;
  /** The stream's last event id when it came. */
  lastEventId: string;
  /** The channel it was published on; null when its id does not say (a `reset`, another endpoint's id). */
  channel: string | null;
}

/** The events every stream may send, whatever the page listens to. */
export interface SSEStandardEvents {
  /** The id to resume from could not be resumed (too old, unknown): reload the page's state. */
  reset: {reason: string};
}

/**
 * One live stream over the channels a page needs; see sse.js.
 *
 * `Events` maps event names to the type of their data (what sse.publish() sent, parsed from
 * JSON; data that is not JSON, such as sse.publish_html's fragments, comes as its text):
 *
 *     new SSEStream<{order: {id: number; status: string}}>({channels: ["orders.customer.1"]})
 */
export declare class SSEStream<Events extends object = Record<string, any>> {
  constructor(options: SSEStreamOptions);

  /** The channels `start()` subscribes to: a page may add to them before it. */
  channels: string[];
  readonly url: string;
  readonly auth: "session" | "token";
  readonly withCredentials: boolean;
  readonly tokenUrl: string;
  readonly tokenCredentials: "same-origin" | "include" | "omit";
  readonly tokenHeaders: NonNullable<SSEStreamOptions["tokenHeaders"]> | null;
  readonly tokenProvider: SSETokenProvider | null;
  readonly headers: NonNullable<SSEStreamOptions["headers"]> | null;
  readonly csrfCookie: string | null;
  readonly maxBackoffMs: number;
  readonly share: boolean;
  /** The id of the last event (or id-only block) this stream had; where it resumes. */
  readonly lastEventId: string | null;
  readonly state: SSEState;
  /** null until the stream stops (and again after start()). */
  readonly stopReason: SSEStopReason | (string & {}) | null;
  /** This tab holds the connection the tabs share. */
  readonly isLeader: boolean;
  /** While reconnecting: when the next attempt starts (ms since the epoch, as Date.now()); null
   * while one is under way and in every other state. State handlers are called again when it changes. */
  readonly retryAt: number | null;

  /** Call `handler` with each event of that name: its parsed data, then the event. Handlers' errors are logged. */
  on<K extends keyof (Events & SSEStandardEvents) & string>(
    name: K,
    handler: (data: (Events & SSEStandardEvents)[K], event: SSEMessage) => void,
  ): this;

  /** Call `handler` with the state now, and with each change. */
  onState(handler: (state: SSEState, stream: this) => void): this;

  /** Connect (or join the tabs' shared connection) and keep the stream going until stop(). */
  start(): this;

  /** Close for good; `stopReason` becomes `reason`, default "stopped". */
  stop(reason?: string): void;

  /** While reconnecting, start the next attempt now instead of at `retryAt` (a "Retry now" button). */
  reconnectNow(): void;
}

export default SSEStream;
