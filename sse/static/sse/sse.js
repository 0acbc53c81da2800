/* sse.js: one EventSource per page for every channel it needs.
 *
 *   const stream = new SSEStream({channels: ["broadcast", "notifications.user.3"]});
 *   stream.on("notification", (data, ev) => ...);      // data is parsed JSON
 *   stream.onState((state) => ...);                     // "connecting" | "live" | "reconnecting" | "stopped"
 *   stream.start();
 *
 * Options (all optional but channels; a same-origin page needs none of the others):
 *   url               the stream, default "/sse/stream/"; may be absolute, on another origin
 *   channels          the channel names
 *   auth              "session" (cookies) or "token" (a stream token in ?token=); "token"
 *                     when a `token` function is given, else "session"
 *   withCredentials   true: the EventSource is opened with {withCredentials: true}, so the
 *                     stream's origin gets its cookies cross-origin (its CORS answer must
 *                     allow credentials), and this client's own requests to the stream use
 *                     credentials: "include"
 *   tokenUrl          where to POST {"channels": [...]} for {"token", "expires_at"}, default
 *                     "/api/sse/tokens/"; may be absolute, on the stream's origin
 *   tokenCredentials  the credentials mode of that POST: "same-origin", "include" or "omit";
 *                     default "include" with withCredentials, else "same-origin" (a tokenUrl
 *                     on another origin signed in by session cookie needs "include")
 *   tokenHeaders      extra headers for that POST: an object, or a function returning one
 *   csrfCookie        the cookie whose value goes in X-CSRFToken, default "csrftoken" (null:
 *                     never); sent only when this page can read it and the POST carries
 *                     cookies (same origin, or tokenCredentials "include")
 *   token             async (channels) => a token string or {token, expires_at}: used instead
 *                     of tokenUrl, for a page whose own backend mints tokens; return null to
 *                     refuse (the stream stops), throw to have it retried later (an error
 *                     whose .status is 400, 401, 403 or 404 refuses too)
 *   lastEventId       resume after this id; maxBackoffMs (default 30000)
 *
 * It remembers the last event id. A token whose expires_at has passed is renewed
 * before connecting, and when the stream ends while the token is expired it renews
 * it instead of letting the browser retry with it. When the browser gives up on the
 * stream (a 401 from an expired token, a server error) it asks why, fetches a fresh
 * token where that helps, and reconnects with ?lastEventId=, backing off with jitter.
 * A token endpoint (or function) that refuses (400, 401, 403, 404) stops the stream:
 * stopReason "refused".
 */
(function (global) {
  "use strict";

  // A token this close to its expires_at counts as expired (clocks tick in whole seconds server-side).
  const EXPIRY_MARGIN_MS = 1000;
  const REFUSED = [400, 401, 403, 404];

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
      this.csrfCookie = o.csrfCookie === undefined ? "csrftoken" : o.csrfCookie;
      this.maxBackoffMs = o.maxBackoffMs || 30000;
      this.lastEventId = o.lastEventId || null;
      this.state = "stopped";
      this.stopReason = null;
      this._handlers = {};
      this._stateHandlers = [];
      this._source = null;
      this._token = null;
      this._tokenExpiresAt = null;  // ms since the epoch, when the token said
      this._tokenUsed = false;  // a fresh token is tried once, whatever the clocks say
      this._attempt = 0;
      this._timer = null;
      this._stopped = true;
    }

    on(name, handler) {
      (this._handlers[name] = this._handlers[name] || []).push(handler);
      if (this._source) this._listen(this._source, name);
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
      this._connect();
      return this;
    }

    stop(reason) {
      this._stopped = true;
      this.stopReason = reason || "stopped";
      clearTimeout(this._timer);
      if (this._source) this._source.close();
      this._source = null;
      this._setState("stopped");
    }

    _setState(state) {
      if (state === this.state) return;
      this.state = state;
      for (const h of this._stateHandlers) {
        try { h(state, this); } catch (e) { console.error(e); }
      }
    }

    _streamUrl() {
      const u = new URL(this.url, global.location.href);
      for (const c of this.channels) u.searchParams.append("channel", c);
      if (this.lastEventId) u.searchParams.set("lastEventId", this.lastEventId);
      if (this.auth === "token" && this._token) u.searchParams.set("token", this._token);
      return u.toString();
    }

    _tokenExpired() {
      return this._tokenExpiresAt !== null && this._tokenExpiresAt - EXPIRY_MARGIN_MS <= Date.now();
    }

    _setToken(value) {
      const token = typeof value === "string" ? value : value && value.token;
      if (!token) {
        const err = new Error("no token");
        err.status = 403;
        throw err;
      }
      const expires = epochMs(value && value.expires_at);
      this._token = token;
      this._tokenExpiresAt = Number.isFinite(expires) ? expires : null;
      this._tokenUsed = false;
    }

    async _fetchToken() {
      if (this.tokenProvider) {
        this._setToken(await this.tokenProvider(this.channels.slice()));
        return;
      }
      const headers = {"Content-Type": "application/json"};
      // Django's CSRF check guards a session: only when cookies go along, and only a cookie we can read.
      const credentials = this.tokenCredentials;
      if (credentials === "include" || (credentials === "same-origin" && sameOrigin(this.tokenUrl))) {
        const csrf = cookie(this.csrfCookie);
        if (csrf) headers["X-CSRFToken"] = csrf;
      }
      const extra = typeof this.tokenHeaders === "function" ? await this.tokenHeaders() : this.tokenHeaders;
      Object.assign(headers, extra || {});
      const r = await fetch(this.tokenUrl, {
        method: "POST",
        credentials,
        headers,
        body: JSON.stringify({channels: this.channels}),
      });
      if (!r.ok) {
        const err = new Error("token refused: " + r.status);
        err.status = r.status;
        throw err;
      }
      this._setToken(await r.json());
    }

    async _connect() {
      if (this._stopped) return;
      this._setState(this._attempt ? "reconnecting" : "connecting");
      if (this.auth === "token" && this._token && this._tokenUsed && this._tokenExpired()) this._token = null;
      if (this.auth === "token" && !this._token) {
        try {
          await this._fetchToken();
        } catch (e) {
          if (this._stopped) return;
          if (REFUSED.includes(e.status)) return this.stop("refused");
          if (e.status === undefined) console.error(e);
          return this._retryLater();
        }
      }
      if (this._stopped) return;
      const source = new EventSource(this._streamUrl(), {withCredentials: this.withCredentials});
      this._source = source;
      this._tokenUsed = true;
      source.onopen = () => {
        this._attempt = 0;
        this._setState("live");
      };
      source.onerror = () => {
        if (source !== this._source) return;
        if (source.readyState === EventSource.CONNECTING) {
          this._setState("reconnecting");
          if (this.auth === "token" && this._tokenExpired()) {
            // The browser would retry with the expired token in the URL: renew it first.
            source.close();
            this._source = null;
            this._token = null;
            this._retryLater();
          }
          return;  // else the browser retries by itself
        }
        source.close();
        this._source = null;
        this._afterGiveUp();
      };
      for (const name of Object.keys(this._handlers)) this._listen(source, name);
      this._listen(source, "message");
      this._listen(source, "reset");
    }

    _listen(source, name) {
      source._sseNames = source._sseNames || new Set();
      if (source._sseNames.has(name)) return;
      source._sseNames.add(name);
      source.addEventListener(name, (ev) => {
        if (ev.lastEventId) this.lastEventId = ev.lastEventId;
        let data = ev.data;
        try { data = JSON.parse(ev.data); } catch (e) { /* not JSON: pass the text */ }
        for (const h of this._handlers[name] || []) {
          try { h(data, ev); } catch (e) { console.error(e); }
        }
      });
    }

    async _afterGiveUp() {
      // The browser closed for good: a non-200 answer (or, cross-origin, one it may not read). Find out which.
      this._setState("reconnecting");
      let status = 0;
      try {
        const ctrl = new AbortController();
        const r = await fetch(this._streamUrl(), {
          credentials: this.withCredentials ? "include" : "same-origin",
          signal: ctrl.signal,
        });
        status = r.status;
        ctrl.abort();
      } catch (e) { status = 0; }
      if (this._stopped) return;
      if (status === 204) return this.stop("finished");
      if (status === 401 && this.auth === "token") {
        this._token = null;  // expired: the next attempt fetches a fresh one
      } else if (status === 401 || status === 403 || status === 404 || status === 400) {
        return this.stop(status === 401 ? "unauthorized" : "refused");
      }
      this._retryLater();
    }

    _retryLater() {
      this._attempt += 1;
      const base = Math.min(this.maxBackoffMs, 500 * 2 ** Math.min(this._attempt, 10));
      const delay = base / 2 + Math.random() * base / 2;
      clearTimeout(this._timer);
      this._timer = setTimeout(() => this._connect(), delay);
    }
  }

  global.SSEStream = SSEStream;
})(window);
