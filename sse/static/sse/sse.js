/* sse.js: one live stream for every channel a page needs, shared by the tabs of a browser.
 *
 *   const stream = new SSEStream({channels: ["broadcast", "notifications.user.3"]});
 *   stream.on("notification", (data, ev) => ...);      // data is parsed JSON; ev = {type, data, lastEventId, channel}
 *   stream.onState((state) => ...);                     // "connecting" | "live" | "reconnecting" | "stopped"
 *   stream.retryAt;                                     // while reconnecting: when the next attempt starts (ms since the epoch)
 *   stream.reconnectNow();                              // start that attempt at once
 *   stream.start();
 *
 * Options (all optional but channels; a same-origin page needs none of the others):
 *   url               the stream, default "/sse/stream/"; may be absolute, on another origin
 *   channels          the channel names
 *   auth              "session" (cookies) or "token" (a stream token in ?token=); "token"
 *                     when a `token` function is given, else "session"
 *   withCredentials   true: the stream's origin gets its cookies cross-origin (its CORS answer
 *                     must allow credentials), and so does the token POST by default
 *   headers           headers for the stream request itself, sent on every (re)connect: an
 *                     object, or a function (async or not) called before each one with
 *                     {renew} and returning one. The site's own API credential goes here
 *                     ({Authorization: "Bearer " + jwt}: the server's SSE_AUTHENTICATION_CLASSES
 *                     read it), so a page refreshes a short-lived JWT in the function. The
 *                     stream ends when the JWT expires and comes back with what the function
 *                     gives then; after a 401 it is called once more with renew: true (the
 *                     credential was refused: get a new one), and a second 401 in a row stops
 *                     the stream ("unauthorized"). Return null to stop it ("unauthorized": the
 *                     user must sign in again); throw to have it tried again later (an error
 *                     whose .status is 400, 401, 403 or 404 stops it too)
 *   tokenUrl          where to POST {"channels": [...]} for {"token", "expires_at"}, default
 *                     "/api/sse/tokens/"; may be absolute, on the stream's origin
 *   tokenCredentials  the credentials mode of that POST: "same-origin", "include" or "omit";
 *                     default "include" with withCredentials, else "same-origin"
 *   tokenHeaders      extra headers for that POST: an object, or a function (async or not)
 *                     returning one, called before every POST (a page whose API takes a
 *                     short-lived JWT refreshes it there: an expired one gets a 401, which
 *                     stops the stream)
 *   csrfCookie        the cookie whose value goes in X-CSRFToken, default "csrftoken" (null:
 *                     never); sent only when this page can read it and the POST carries cookies
 *   token             async (channels) => a token string or {token, expires_at}: used instead
 *                     of tokenUrl, for a page whose own backend mints tokens; return null to
 *                     refuse (the stream stops), throw to have it retried later (an error
 *                     whose .status is 400, 401, 403 or 404 refuses too)
 *   share             true (default): share one connection with the other tabs of this browser
 *                     on the same url and auth (see below); false: a connection of its own
 *   lastEventId       resume after this id; maxBackoffMs (default 30000)
 *
 * Delivery. The stream is read with fetch() and parsed here (the WHATWG event-stream rules),
 * so every id the server sends is known, the one that opens a quiet stream included. Whatever
 * ends a connection (a restart, a proxy's 502 or 503, a refused connection, a renewed token),
 * the next one resumes with ?lastEventId=, backing off with jitter: no event is lost, none
 * comes twice. A token whose expires_at has passed is renewed before connecting.
 *
 * Ends. 204: stopReason "finished". 401: "unauthorized" with session auth (signed out); with
 * token auth the token is renewed, and a token endpoint (or function) that refuses (400, 401,
 * 403, 404) stops the stream with "refused", as do 400, 403 and 404 from the stream itself;
 * with a `headers` function, it is asked once for a new credential, then "unauthorized".
 *
 * Tabs. Browsers open at most six HTTP/1.1 connections per site, for all its tabs together.
 * So the tabs of a browser share one connection: one tab (stream.isLeader) holds it, carrying
 * the channels of every tab, and passes each event to the others over a BroadcastChannel;
 * each tab gets the events of its own channels only. When that tab closes or moves on,
 * another takes over (Web Locks) and resumes from the last id any tab had. A tab joining
 * with channels the connection lacks makes it reconnect once, adding them from now on. With
 * token auth, the tab holding the connection gets the token for every tab's channels (from
 * tokenUrl, or from its own `token` function, called with all of them); with `headers`, its
 * own headers go with the connection (streams with and without `headers` never share). A
 * browser without Web Locks or BroadcastChannel (or a page not served over https or from
 * localhost, where Web Locks are missing) gives each stream a connection of its own.
 *
 * Loading. As a classic <script>, this file defines the global SSEStream. Bundlers (esbuild,
 * Vite, webpack, Rollup) and <script type="module"> import sse.mjs, which runs this file and
 * exports that SSEStream (types: sse.d.mts; the global's: sse.d.ts); see docs/bundlers.md.
 *
 * Waiting. While reconnecting, stream.retryAt is the time (Date.now() terms) the next attempt
 * starts, or null while an attempt is under way; state handlers are called again, with the
 * same state, each time it changes (a page shows a countdown). reconnectNow() starts the
 * attempt at once (a "Retry now" button); in a tab that does not hold the shared connection it
 * asks the tab that does.
 *
 * Pages left for another. On pagehide the stream lets its connection go (a page kept in the
 * back/forward cache holds none); when the page is shown again from the cache, it resumes
 * from its last id, and gets what was published meanwhile.
 */
(function (global) {
  "use strict";

  // A token this close to its expires_at counts as expired (clocks tick in whole seconds server-side).
  const EXPIRY_MARGIN_MS = 1000;
  const TOKEN_REFUSED = [400, 401, 403, 404];
  const STREAM_REFUSED = [400, 403, 404];
  const DEFAULT_RETRY_MS = 3000;
  // A tab taking over waits this long for the last messages of the tab that held the connection.
  const TAKEOVER_DELAY_MS = 100;
  // Tabs that join together change the shared connection's channels once.
  const CHANNELS_SETTLE_MS = 50;
  // A page shown again from the back/forward cache asks for the shared lock this much later, once the
  // page it replaces has let the lock go: a request that waits on a page in the cache evicts that page.
  const RESTORE_DELAY_MS = 150;
  // How often the tab holding the connection looks for tabs that went without a word (crashed).
  const PRUNE_MS = 5000;

  function cookie(name) {
    if (!name) return "";
    for (const part of document.cookie.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
    }
    return "";
  }

  function sameOrigin(url) {
    return new URL(url, global.location.href).origin === global.location.origin;
  }

  function epochMs(value) {
    if (value instanceof Date) return value.getTime();
    if (typeof value === "number") return value;
    if (typeof value === "string") return Date.parse(value);
    return NaN;
  }

  function sortedUnique(names) {
    return Array.from(new Set(names)).sort();
  }

  function sameList(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  function randomId() {
    return Math.random().toString(36).slice(2) + Date.now().toString(36);
  }

  // -- event ids ---------------------------------------------------------------------------
  //
  // The server stamps each event of a stream over channels c1..ck (sorted) with
  // "<log>-<tag>:<pos1>.<pos2>...<posk>": the event log's name, a CRC-32 of the channel
  // list in base 36, and where the stream is on each channel: "<seq>_<check>", the seq of the
  // last event of that channel and the check the log keeps with that event (four base-36
  // characters; none at seq 0), so a log restored from a backup answers with a reset. The
  // position that moved names the event's channel; "*" asks the server to start that
  // channel at its head.

  const POS = "(?:[0-9]{1,18}(?:_[0-9a-z]{4})?|\\*)";
  const CURSOR = new RegExp("^(?:([0-9a-z]{1,8})-)?([0-9a-z]{1,7}):(" + POS + "(?:\\." + POS + ")*)$");
  let crcTable = null;

  function crc32(text) {
    if (!crcTable) {
      crcTable = new Uint32Array(256);
      for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        crcTable[n] = c >>> 0;
      }
    }
    let crc = 0xffffffff;
    for (const byte of new TextEncoder().encode(text)) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  }

  function channelTag(channels) {
    return crc32(channels.join("\n")).toString(36);
  }

  // Where a stream is on each channel: {log, seqs: {channel: seq}, checks: {channel: check}},
  // read from its ids (a check is the "_xxxx" after the seq, "" when the id has none).
  class Position {
    constructor(channels) {
      this.channels = [];
      this.tag = "";
      this.log = null;
      this.seqs = new Map();
      this.checks = new Map();
      this.other = null;  // an id that is not a cursor of these channels (another endpoint's)
      this.setChannels(channels);
    }

    setChannels(channels) {
      if (this.other !== null && !sameList(channels, this.channels)) this.other = null;
      this.channels = channels;
      this.tag = channelTag(channels);
    }

    // Read an event id; the channel whose position moved (null if none or several), its seq and check.
    read(id) {
      const m = CURSOR.exec(id);
      const positions = m && m[2] === this.tag ? m[3].split(".") : null;
      if (!positions || positions.length !== this.channels.length) {
        this.other = id;
        return {channel: null, seq: null, check: null, log: null};
      }
      this.other = null;
      const log = m[1] || "";
      if (log !== this.log) {
        this.log = log;
        this.seqs.clear();
        this.checks.clear();
      }
      let moved = null;
      let count = 0;
      positions.forEach((p, i) => {
        if (p === "*") return;
        const channel = this.channels[i];
        const [s, check = ""] = p.split("_");
        const seq = Number(s);
        if (this.seqs.get(channel) !== seq || this.checks.get(channel) !== check) {
          moved = channel;
          count += 1;
        }
        this.seqs.set(channel, seq);
        this.checks.set(channel, check);
      });
      if (count !== 1) return {channel: null, seq: null, check: null, log};
      return {channel: moved, seq: this.seqs.get(moved), check: this.checks.get(moved), log};
    }

    snapshot() {
      return {
        log: this.log,
        seqs: Object.fromEntries(this.seqs),
        checks: Object.fromEntries(this.checks),
        other: this.other,
      };
    }

    restore(snap) {
      if (!snap) return;
      if (snap.log !== null && snap.log !== undefined) {
        this.log = snap.log;
        this.seqs = new Map(Object.entries(snap.seqs || {}));
        this.checks = new Map(Object.entries(snap.checks || {}));
      }
      this.other = snap.other || null;
    }

    // Go back to `floor` ({log, seqs, checks}) where it is behind: a tab back from the cache needs those events.
    lower(floor) {
      if (!floor || floor.log === null || floor.log === undefined) return false;
      if (this.log !== null && floor.log !== this.log) return false;
      this.log = floor.log;
      const checks = floor.checks || {};
      let lowered = false;
      for (const [channel, seq] of Object.entries(floor.seqs || {})) {
        const had = this.seqs.get(channel);
        if (had === undefined || seq < had) {
          this.seqs.set(channel, seq);
          this.checks.set(channel, checks[channel] || "");
          lowered = true;
        }
      }
      return lowered;
    }

    // The id to resume from: the positions known, "*" for channels not known yet (they start at their head).
    resumeId() {
      if (this.other !== null) return this.other;
      if (this.log === null || !this.channels.some((c) => this.seqs.has(c))) return null;
      const positions = this.channels.map((c) => {
        if (!this.seqs.has(c)) return "*";
        const check = this.checks.get(c);
        return String(this.seqs.get(c)) + (check ? "_" + check : "");
      });
      return (this.log ? this.log + "-" : "") + this.tag + ":" + positions.join(".");
    }
  }

  // -- the event-stream format -------------------------------------------------------------

  // Lines in, one call per block out: {type, data (null when the block had no data), id, idSet, retry}.
  class EventStreamParser {
    constructor(onBlock) {
      this.onBlock = onBlock;
      this.rest = "";
      this.skipLF = false;
      this.data = [];
      this.type = "";
      this.id = "";
      this.idSet = false;
      this.retry = null;
    }

    feed(chunk) {
      let text = chunk;
      if (this.skipLF && text[0] === "\n") text = text.slice(1);
      this.skipLF = false;
      text = this.rest + text;
      let pos = 0;
      let cr = text.indexOf("\r");
      for (;;) {
        if (cr !== -1 && cr < pos) cr = text.indexOf("\r", pos);
        const lf = text.indexOf("\n", pos);
        const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
        if (end === -1) break;
        this.line(text.slice(pos, end));
        pos = end + 1;
        if (text[end] === "\r") {
          if (pos === text.length) this.skipLF = true;
          else if (text[pos] === "\n") pos += 1;
        }
      }
      this.rest = text.slice(pos);
    }

    line(line) {
      if (line === "") return this.dispatch();
      if (line[0] === ":") return;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value[0] === " ") value = value.slice(1);
      if (field === "data") this.data.push(value);
      else if (field === "event") this.type = value;
      else if (field === "id") {
        if (!value.includes("\0")) {
          this.id = value;
          this.idSet = true;
        }
      } else if (field === "retry") {
        if (/^[0-9]+$/.test(value)) this.retry = Number(value);
      }
    }

    dispatch() {
      const block = {
        type: this.type || "message",
        data: this.data.length ? this.data.join("\n") : null,
        id: this.id,
        idSet: this.idSet,
      };
      this.data = [];
      this.type = "";
      this.idSet = false;
      this.onBlock(block);
    }
  }

  // -- one connection ------------------------------------------------------------------------

  // The connection of one tab, for its own channels or for every tab's: tokens, back-off,
  // resume. `owner` is the SSEStream whose options it follows; `sink` gets event(ev, snapshot),
  // position(snapshot), state(state, stopReason), retry(at): when the next attempt starts (null:
  // one is under way, or none is due) and covers(channels): the channels of a connection now
  // subscribed (its first block has come), so their events from now on arrive.
  class Connection {
    constructor(owner, sink, channels, position) {
      this.owner = owner;
      this.sink = sink;
      this.position = new Position(channels);
      this.position.restore(position);
      this.channels = channels;
      this.state = "stopped";
      this.retryMs = DEFAULT_RETRY_MS;
      this.attempt = 0;
      this.timer = null;
      this.retryAt = null;
      this.controller = null;
      this.stopped = true;
      this.token = null;
      this.tokenExpiresAt = null;  // ms since the epoch, when the token said
      this.tokenUsed = false;  // a fresh token is tried once, whatever the clocks say
      this.tokenChannels = null;
      this.renew = false;  // the last attempt was answered 401: the headers function is asked for a new credential
      this.covered = [];  // the channels of the open connection, once subscribed
    }

    start() {
      this.stopped = false;
      this.connect();
    }

    // Let the connection go (the page is left, or another tab holds it now); start() again later.
    stop(reason) {
      this.stopped = true;
      this.retryAt = null;
      clearTimeout(this.timer);
      this.abort();
      if (reason) this.setState("stopped", reason);
    }

    // The channels change (tabs joined or left), or tabs need older events (`floors`): reconnect once.
    update(channels, floors) {
      const changed = !sameList(channels, this.channels);
      if (changed) {
        this.channels = channels;
        this.position.setChannels(channels);
      }
      let lowered = false;
      for (const floor of floors) lowered = this.position.lower(floor) || lowered;
      if ((changed || lowered) && !this.stopped && this.controller) {
        this.abort();
        this.connect(this.state === "live");  // the tabs stay live on what is covered meanwhile
      }
    }

    abort() {
      const controller = this.controller;
      this.controller = null;
      if (controller) controller.abort();
    }

    setState(state, reason) {
      if (state === this.state && !reason) return;
      this.state = state;
      this.sink.state(state, reason || null);
    }

    streamUrl() {
      const u = new URL(this.owner.url, global.location.href);
      for (const c of this.channels) u.searchParams.append("channel", c);
      const resumeId = this.position.resumeId();
      if (resumeId) u.searchParams.set("lastEventId", resumeId);
      if (this.owner.auth === "token" && this.token) u.searchParams.set("token", this.token);
      return u.toString();
    }

    tokenExpired() {
      return this.tokenExpiresAt !== null && this.tokenExpiresAt - EXPIRY_MARGIN_MS <= Date.now();
    }

    setToken(value) {
      const token = typeof value === "string" ? value : value && value.token;
      if (!token) {
        const err = new Error("no token");
        err.status = 403;
        throw err;
      }
      const expires = epochMs(value && value.expires_at);
      this.token = token;
      this.tokenExpiresAt = Number.isFinite(expires) ? expires : null;
      this.tokenUsed = false;
    }

    async fetchToken() {
      const o = this.owner;
      const channels = this.channels.slice();
      this.tokenChannels = channels;
      if (o.tokenProvider) {
        this.setToken(await o.tokenProvider(channels));
        return;
      }
      const headers = {"Content-Type": "application/json"};
      // Django's CSRF check guards a session: only when cookies go along, and only a cookie we can read.
      const credentials = o.tokenCredentials;
      if (credentials === "include" || (credentials === "same-origin" && sameOrigin(o.tokenUrl))) {
        const csrf = cookie(o.csrfCookie);
        if (csrf) headers["X-CSRFToken"] = csrf;
      }
      const extra = typeof o.tokenHeaders === "function" ? await o.tokenHeaders() : o.tokenHeaders;
      Object.assign(headers, extra || {});
      const r = await fetch(o.tokenUrl, {method: "POST", credentials, headers, body: JSON.stringify({channels})});
      if (!r.ok) {
        const err = new Error("token refused: " + r.status);
        err.status = r.status;
        throw err;
      }
      this.setToken(await r.json());
    }

    async connect(quiet) {
      if (this.stopped) return;
      this.waitUntil(null);
      const controller = new AbortController();
      this.controller = controller;
      const current = () => this.controller === controller && !this.stopped;
      if (!quiet) {
        this.covered = [];
        this.setState(this.attempt ? "reconnecting" : "connecting");
      }
      if (this.owner.auth === "token") {
        const stale = this.token && this.tokenUsed && this.tokenExpired();
        if (stale || !sameList(this.tokenChannels || [], this.channels)) this.token = null;
        if (!this.token) {
          try {
            await this.fetchToken();
          } catch (e) {
            if (!current()) return;
            if (TOKEN_REFUSED.includes(e.status)) return this.stop("refused");
            if (e.status === undefined) console.error(e);
            return this.retryLater();
          }
          if (!current()) return;
        }
        this.tokenUsed = true;
      }
      let extra = null;
      if (this.owner.headers) {
        try {
          const given = this.owner.headers;
          extra = typeof given === "function" ? await given({renew: this.renew}) : given;
        } catch (e) {
          if (!current()) return;
          if (TOKEN_REFUSED.includes(e.status)) return this.stop("unauthorized");
          if (e.status === undefined) console.error(e);
          return this.retryLater();
        }
        if (!current()) return;
        if (extra === null) return this.stop("unauthorized");
      }
      let response;
      try {
        response = await fetch(this.streamUrl(), {
          credentials: this.owner.withCredentials ? "include" : "same-origin",
          cache: "no-store",
          headers: Object.assign({}, extra, {Accept: "text/event-stream"}),
          signal: controller.signal,
        });
      } catch (e) {
        if (current()) this.refused(0);
        return;
      }
      if (!current()) return;
      if (response.status !== 200 || !response.body) {
        controller.abort();
        return this.refused(response.status);
      }
      let gotBlock = false;
      const parser = new EventStreamParser((block) => {
        if (!current()) return;
        if (!gotBlock && (block.idSet || block.data !== null)) {
          // Subscribed: the server sends its first block once the stream is on its channels.
          this.attempt = 0;
          this.renew = false;
          this.covered = this.channels;
          this.setState("live");
          this.sink.covers(this.channels);
        }
        gotBlock = true;
        this.block(block);
      });
      try {
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const {value, done} = await reader.read();
          if (done || !current()) break;
          parser.feed(decoder.decode(value, {stream: true}));
          if (parser.retry !== null) this.retryMs = parser.retry;
        }
      } catch (e) {
        /* the connection broke: come back as after its end */
      }
      if (!current()) return;
      this.controller = null;
      this.covered = [];
      if (!gotBlock) return this.retryLater();  // it ended before its first block: back off
      this.attempt = 1;  // reconnecting, after the server's retry:
      this.setState("reconnecting");
      this.later(this.retryMs);
    }

    block(block) {
      let moved = {channel: null, seq: null, check: null, log: null};
      if (block.idSet) moved = this.position.read(block.id);
      if (block.data === null) {
        if (block.idSet) this.sink.position(this.position.snapshot(), block.id);
        return;
      }
      this.sink.event(
        {
          type: block.type,
          data: block.data,
          lastEventId: block.id,
          channel: moved.channel,
          seq: moved.seq,
          check: moved.check,
          log: moved.log,
        },
        this.position.snapshot(),
      );
    }

    refused(status) {
      this.controller = null;
      if (status === 204) return this.stop("finished");
      if (status === 401 && this.owner.auth === "token") {
        this.token = null;  // expired or revoked: the next attempt fetches a fresh one
      } else if (status === 401 && typeof this.owner.headers === "function" && !this.renew) {
        this.renew = true;  // the credential expired or was revoked: ask the page for a new one, once
      } else if (status === 401) {
        return this.stop("unauthorized");
      } else if (STREAM_REFUSED.includes(status)) {
        return this.stop("refused");
      }
      this.retryLater();
    }

    retryLater() {
      this.controller = null;
      this.setState("reconnecting");
      this.attempt += 1;
      const base = Math.min(this.owner.maxBackoffMs, 500 * 2 ** Math.min(this.attempt, 10));
      this.later(base / 2 + (Math.random() * base) / 2);
    }

    // The next attempt, in `delay` ms; the sink is told when.
    later(delay) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), delay);
      this.waitUntil(Date.now() + delay);
    }

    waitUntil(at) {
      if (at === this.retryAt) return;
      this.retryAt = at;
      this.sink.retry(at);
    }

    // A "Retry now": the attempt that was waiting starts at once.
    reconnectNow() {
      if (this.stopped || this.retryAt === null) return;
      clearTimeout(this.timer);
      this.connect();
    }
  }

  // -- the stream a page uses ----------------------------------------------------------------

  function canShare() {
    return typeof global.BroadcastChannel === "function" && Boolean(global.navigator && global.navigator.locks);
  }

  class SSEStream {
    constructor(options) {
      const o = options || {};
      this.url = o.url || "/sse/stream/";
      this.channels = o.channels || [];
      this.tokenProvider = typeof o.token === "function" ? o.token : null;
      this.auth = o.auth || (this.tokenProvider ? "token" : "session");
      this.withCredentials = Boolean(o.withCredentials);
      this.tokenUrl = o.tokenUrl || "/api/sse/tokens/";
      this.tokenCredentials = o.tokenCredentials || (this.withCredentials ? "include" : "same-origin");
      this.tokenHeaders = o.tokenHeaders || null;
      this.headers = o.headers || null;
      this.csrfCookie = o.csrfCookie === undefined ? "csrftoken" : o.csrfCookie;
      this.maxBackoffMs = o.maxBackoffMs || 30000;
      this.share = o.share !== false;
      this.lastEventId = o.lastEventId || null;
      this.state = "stopped";
      this.stopReason = null;
      this.retryAt = null;
      this.isLeader = false;
      this._handlers = {};
      this._stateHandlers = [];
      this._stopped = true;
      this._suspended = false;
      this._own = [];  // this stream's channels, sorted
      this._seen = new Map();  // channel -> the last seq handed to the handlers
      this._seenChecks = new Map();  // channel -> that event's check ("" when its id had none)
      this._seenLog = null;
      this._known = null;  // the last position of the connection (this tab's, or the one shared)
      this._connectionState = "connecting";
      this._covered = [];
      this._connection = null;
      this._group = null;
      this._pageWatched = false;
    }

    on(name, handler) {
      (this._handlers[name] = this._handlers[name] || []).push(handler);
      return this;
    }

    onState(handler) {
      this._stateHandlers.push(handler);
      handler(this.state, this);
      return this;
    }

    start() {
      this._stopped = false;
      this.stopReason = null;
      this._own = sortedUnique(this.channels);
      if (this._known === null && this.lastEventId) {
        // Resume after this id: where this stream's connection starts, or (a tab joining the
        // shared one) how far back the connection goes again for it.
        const p = new Position(this._own);
        p.read(this.lastEventId);
        this._known = p.snapshot();
        if (p.log !== null) {
          this._seenLog = p.log;
          this._seen = new Map(p.seqs);
          this._seenChecks = new Map(p.checks);
        }
      }
      this._watchPage();
      this._open();
      return this;
    }

    stop(reason) {
      this._stopped = true;
      this.stopReason = reason || "stopped";
      this._close();
      this._setState("stopped");
    }

    reconnectNow() {
      if (this._connection) this._connection.reconnectNow();
      else if (this._group) this._group.post({t: "retry-now"});
    }

    _open() {
      this._connectionState = "connecting";
      this._covered = [];
      this._setState("connecting");
      if (this.share && canShare()) this._group = new TabGroup(this);
      else this._lead(this._known, null, []);
    }

    _close() {
      if (this._group) this._group.leave();
      this._group = null;
      this._resign();
    }

    // Hold the connection: for this stream alone, or (group) for every tab's channels, from
    // `position` (or, for a channel, from further back where one of `floors` says so).
    _lead(position, group, floors) {
      const sink = {
        event: (ev, snap) => {
          this._known = snap;
          if (group) group.post({t: "ev", ev, pos: snap});
          this._receive(ev);
        },
        position: (snap, id) => {
          this._known = snap;
          if (id) this.lastEventId = id;
          if (group) group.post({t: "pos", pos: snap, id});
        },
        state: (state, reason) => {
          if (group) group.post({t: "state", state, reason});
          this._leaderState(state, reason);
        },
        retry: (at) => {
          if (group) group.post({t: "retry", at});
          this._retryAt(at);
        },
        covers: (channels) => {
          if (group) group.post({t: "covers", channels});
          this._covers(channels);
        },
      };
      const channels = group ? group.union() : this._own;
      this._connection = new Connection(this, sink, channels, position);
      for (const floor of floors || []) this._connection.position.lower(floor);
      this.isLeader = Boolean(group);
      this._connection.start();
      return this._connection;
    }

    _resign() {
      if (this._connection) this._connection.stop();
      this._connection = null;
      this.isLeader = false;
    }

    // The connection's state, as the tab that holds it reports it. This stream is live once the
    // connection is and covers its channels (a connection adding them for this tab is not yet).
    _leaderState(state, reason) {
      if (state === "stopped" && reason) {
        if (!this._stopped) this.stop(reason);
        return;
      }
      if (state !== "live") this._covered = [];
      this._connectionState = state;
      this._showState();
    }

    _retryAt(at) {
      const next = this.state === "reconnecting" ? at : null;
      if (next === this.retryAt) return;
      this.retryAt = next;
      this._notify();
    }

    _covers(channels) {
      this._covered = channels;
      this._showState();
    }

    _showState() {
      const covered = this._own.every((c) => this._covered.includes(c));
      const state = this._connectionState;
      this._setState(state === "live" && !covered ? "connecting" : state);
    }

    _receive(ev) {
      if (ev.lastEventId) this.lastEventId = ev.lastEventId;
      if (ev.type === "reset") {
        this._seen.clear();
        this._seenChecks.clear();
      } else if (ev.channel !== null && ev.channel !== undefined) {
        if (!this._own.includes(ev.channel)) return;  // another tab's channel
        if (ev.log !== this._seenLog) {
          this._seen.clear();
          this._seenChecks.clear();
          this._seenLog = ev.log;
        }
        const had = this._seen.get(ev.channel);
        if (had !== undefined && ev.seq <= had) return;  // had it already (a replay for another tab)
        this._seen.set(ev.channel, ev.seq);
        this._seenChecks.set(ev.channel, ev.check || "");
      }
      let data = ev.data;
      try { data = JSON.parse(ev.data); } catch (e) { /* not JSON: pass the text */ }
      const event = {type: ev.type, data: ev.data, lastEventId: ev.lastEventId, channel: ev.channel};
      for (const h of this._handlers[ev.type] || []) {
        try { h(data, event); } catch (e) { console.error(e); }
      }
    }

    // What this tab was given last, per channel: where a connection resumes for it.
    _floor() {
      if (this._seenLog === null || !this._seen.size) return null;
      return {log: this._seenLog, seqs: Object.fromEntries(this._seen), checks: Object.fromEntries(this._seenChecks)};
    }

    _setState(state) {
      if (state === this.state) return;
      this.state = state;
      if (state !== "reconnecting") this.retryAt = null;
      this._notify();
    }

    _notify() {
      for (const h of this._stateHandlers) {
        try { h(this.state, this); } catch (e) { console.error(e); }
      }
    }

    // The back/forward cache: a page left behind lets its connection go, and resumes when shown again.
    _watchPage() {
      if (this._pageWatched) return;
      this._pageWatched = true;
      global.addEventListener("pagehide", () => {
        if (this._stopped) return;
        this._suspended = true;
        this._close();
      });
      global.addEventListener("pageshow", (e) => {
        if (!e.persisted || !this._suspended || this._stopped) return;
        this._suspended = false;
        this._setState("connecting");
        setTimeout(() => {
          if (!this._suspended && !this._stopped && !this._connection && !this._group) this._open();
        }, RESTORE_DELAY_MS);
      });
    }
  }

  // -- tabs sharing one connection -----------------------------------------------------------
  //
  // Every tab of a stream's url and auth is on a BroadcastChannel and holds a Web Lock of its
  // own ("<key> tab <id>"); the one that gets the lock "<key>" holds the connection. Messages:
  //   {t: "join", tab, channels, floor}   a tab arrives (or answers one that did)
  //   {t: "leave", tab}                   a tab goes
  //   {t: "ev", ev, pos}, {t: "pos", pos, id}  the connection's events and position, from the holder
  //   {t: "state", state, reason}         the connection's state, from the holder
  //   {t: "covers", channels}             the channels its connection is subscribed to now
  //   {t: "retry", at}                    when its next attempt starts (null: under way)
  //   {t: "retry-now"}                    a tab asks the holder to start that attempt at once

  class TabGroup {
    constructor(stream) {
      this.stream = stream;
      this.key = "sse.js " + JSON.stringify([
        new URL(stream.url, global.location.href).href,
        stream.auth,
        stream.withCredentials,
        stream.auth === "token" ? new URL(stream.tokenUrl, global.location.href).href : "",
        Boolean(stream.headers),
      ]);
      this.tab = randomId();
      this.members = new Map([[this.tab, stream._own]]);
      this.floors = [];
      this.locks = new AbortController();
      this.releases = [];
      this.leading = false;
      this.joined = false;  // this tab's own lock is held, and it said so
      this.settle = null;
      this.pruneTimer = null;
      this.channel = new BroadcastChannel(this.key);
      this.channel.onmessage = (e) => this.receive(e.data);
      const locks = global.navigator.locks;
      const hold = () => new Promise((resolve) => this.releases.push(resolve));
      const signal = this.locks.signal;
      // Joined once this tab's own lock is held: the holder watches it to see the tab go.
      locks.request(this.key + " tab " + this.tab, {signal}, () => {
        if (signal.aborted) return null;
        this.joined = true;
        this.post({t: "join", tab: this.tab, channels: stream._own, floor: stream._floor()});
        return hold();
      }).catch(() => {});
      locks.request(this.key, {signal}, () => this.lead()).catch(() => {});
    }

    post(message) {
      if (this.channel) this.channel.postMessage(message);
    }

    union() {
      const all = [];
      for (const channels of this.members.values()) all.push(...channels);
      return sortedUnique(all);
    }

    async lead() {
      if (this.locks.signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, TAKEOVER_DELAY_MS));
      if (this.locks.signal.aborted) return;
      this.leading = true;
      const stream = this.stream;
      stream._lead(stream._known, this, [stream._floor(), ...this.floors.splice(0)]);
      this.prune();
      return new Promise((resolve) => this.releases.push(resolve));
    }

    // A tab that went without a word (it crashed) no longer holds its lock: drop its channels.
    // (Asked, not waited for: a lock request waiting on a page in the back/forward cache evicts it.)
    async prune() {
      clearTimeout(this.pruneTimer);
      if (!this.leading) return;
      try {
        const held = new Set((await global.navigator.locks.query()).held.map((lock) => lock.name));
        let changed = false;
        for (const tab of Array.from(this.members.keys())) {
          if (tab !== this.tab && !held.has(this.key + " tab " + tab)) changed = this.members.delete(tab) || changed;
        }
        if (changed) this.channelsChanged();
      } catch (e) { /* try again later */ }
      if (this.leading) this.pruneTimer = setTimeout(() => this.prune(), PRUNE_MS);
    }

    channelsChanged(floor) {
      if (floor) this.floors.push(floor);
      if (!this.leading || this.settle) return;
      this.settle = setTimeout(() => {
        this.settle = null;
        const connection = this.stream._connection;
        if (!this.leading || !connection) return;
        connection.update(this.union(), this.floors.splice(0));
      }, CHANNELS_SETTLE_MS);
    }

    receive(m) {
      const stream = this.stream;
      if (!m || typeof m !== "object") return;
      if (m.t === "join") {
        const known = this.members.has(m.tab);
        this.members.set(m.tab, sortedUnique(m.channels || []));
        if (!known && this.joined) this.post({t: "join", tab: this.tab, channels: stream._own, floor: null});
        if (this.leading) {
          this.channelsChanged(m.floor);
          const connection = stream._connection;
          if (connection) {
            this.post({t: "state", state: connection.state, reason: null});
            this.post({t: "retry", at: connection.retryAt});
            this.post({t: "covers", channels: connection.covered});
          }
        } else if (m.floor) {
          this.floors.push(m.floor);  // kept in case this tab takes over before the holder served it
        }
      } else if (m.t === "leave") {
        if (this.members.delete(m.tab) && this.leading) this.channelsChanged();
      } else if (m.t === "ev") {
        if (this.leading) return;
        stream._known = m.pos;
        stream._receive(m.ev);
      } else if (m.t === "pos") {
        if (this.leading) return;
        stream._known = m.pos;
        if (m.id) stream.lastEventId = m.id;
      } else if (m.t === "state") {
        if (!this.leading) stream._leaderState(m.state, m.reason);
      } else if (m.t === "covers") {
        if (!this.leading) stream._covers(m.channels || []);
      } else if (m.t === "retry") {
        if (!this.leading) stream._retryAt(m.at === undefined ? null : m.at);
      } else if (m.t === "retry-now") {
        if (this.leading && stream._connection) stream._connection.reconnectNow();
      }
    }

    leave() {
      this.post({t: "leave", tab: this.tab});
      this.leading = false;
      clearTimeout(this.settle);
      clearTimeout(this.pruneTimer);
      this.locks.abort();
      for (const release of this.releases.splice(0)) release();
      if (this.channel) this.channel.close();
      this.channel = null;
    }
  }

  // One SSEStream per page: a second copy of this file (a <script> and a bundle importing
  // sse.mjs) keeps the first, so `instanceof SSEStream` holds whichever made a stream.
  if (typeof global.SSEStream !== "function") global.SSEStream = SSEStream;
})(globalThis);
