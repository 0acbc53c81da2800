// What sse.d.mts lets a page write, and what it refuses (each @ts-expect-error must be an
// error, or tsc fails). tests/bundler/test_declarations.py runs tsc --noEmit --strict on it.
import SSEStream, {
  SSEStream as Named,
  type SSEMessage,
  type SSEState,
  type SSEStopReason,
  type SSEStreamOptions,
  type SSEHeadersProvider,
  type SSEToken,
} from "../../sse/static/sse/sse.mjs";

interface Events {
  order: {id: number; status: string};
  "item-html": string;
}

const everyOption: SSEStreamOptions = {
  url: "https://sse.example.com/sse/stream/?max_rate=0.5",
  channels: ["orders.customer.1"],
  auth: "token",
  withCredentials: true,
  tokenUrl: "https://sse.example.com/api/sse/tokens/",
  tokenCredentials: "include",
  tokenHeaders: async () => ({Authorization: "Bearer jwt"}),
  headers: async ({renew}) => (renew ? null : {Authorization: "Bearer jwt"}),
  csrfCookie: null,
  token: async (channels: string[]): Promise<SSEToken | null> =>
    channels.length ? {token: "t", expires_at: new Date()} : null,
  share: false,
  lastEventId: "1a-2b:3.4",
  maxBackoffMs: 10_000,
};

const stream: SSEStream<Events> = new SSEStream<Events>(everyOption);
stream.on("order", (order, event: SSEMessage) => {
  const id: number = order.id;
  const channel: string | null = event.channel;
  const raw: string = event.data;
  console.log(id, channel, raw, event.type, event.lastEventId);
});
stream.on("item-html", (html) => html.startsWith("<"));
stream.on("reset", (data) => data.reason.length);  // every stream's
stream
  .onState((state: SSEState, same) => same.on("order", () => state))
  .start()
  .channels.push("orders.customer.2");
stream.stop();
stream.stop("closed");
const reason: SSEStopReason | string | null = stream.stopReason;
const leader: boolean = stream.isLeader;
const last: string | null = stream.lastEventId;
console.log(reason, leader, last, stream.state === "live", stream.url, stream.auth);

// Without a type argument, any event name; its data is whatever the JSON was.
const loose = new Named({channels: ["broadcast"], tokenHeaders: {"X-Api-Key": "k"}, csrfCookie: "csrftoken"});
loose.on("broadcast", (data) => data.title);
const provider: ((channels: string[]) => unknown) | null = loose.tokenProvider;
const fixed = new SSEStream({channels: [], headers: {Authorization: "Token k"}});
const given: SSEHeadersProvider | Record<string, string> | null = fixed.headers;
console.log(provider, given);

// @ts-expect-error: the channels are required
new SSEStream({});
// @ts-expect-error: not an event of Events
stream.on("orders", () => {});
// @ts-expect-error: no such field in the event's data
stream.on("order", (order) => order.total);
// @ts-expect-error: auth is "session" or "token"
new SSEStream({channels: [], auth: "jwt"});
// @ts-expect-error: a token function gets the channels and answers a token, {token, expires_at} or null
new SSEStream({channels: [], token: async () => 42});
// @ts-expect-error: the header values are text
new SSEStream({channels: [], tokenHeaders: {"X-Retry": 3}});
// @ts-expect-error: a headers function gets {renew} and answers headers or null
new SSEStream({channels: [], headers: async (renew: string) => renew});
// @ts-expect-error: the stream sets its state
stream.state = "live";
// @ts-expect-error: no such state
const never: SSEState = "open";
console.log(never);
