/* sse.js: one EventSource per page for every channel it needs.
 *
 *   const stream = new SSEStream({channels: ["broadcast", "notifications.user.3"]});
 *   stream.on("notification", (data, ev) => ...);      // data is parsed JSON
 *   stream.onState((state) => ...);                     // "connecting" | "live" | "reconnecting" | "stopped"
 *   stream.start();
 *
 * Options: url (default "/sse/stream/"), channels, auth ("session" | "token"),
 * tokenUrl (default "/api/sse/tokens/"), maxBackoffMs.
 * It remembers the last event id; when the browser gives up on the stream
 * (401 from an expired token, a server error) it asks why, fetches a fresh
 * token where that helps, and reconnects with lastEventId, backing off with jitter.
 */
(function (global) {
  "use strict";

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  class SSEStream {
    constructor(options) {
      const o = options || {};
      this.url = o.url || "/sse/stream/";
      this.channels = o.channels || [];
      this.auth = o.auth || "session";
      this.tokenUrl = o.tokenUrl || "/api/sse/tokens/";
      this.maxBackoffMs = o.maxBackoffMs || 30000;
      this.lastEventId = o.lastEventId || null;
      this.state = "stopped";
      this.stopReason = null;
      this._handlers = {};
      this._stateHandlers = [];
      this._source = null;
      this._token = null;
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

    async _fetchToken() {
      const r = await fetch(this.tokenUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
        body: JSON.stringify({channels: this.channels}),
      });
      if (!r.ok) {
        const err = new Error("token refused: " + r.status);
        err.status = r.status;
        throw err;
      }
      this._token = (await r.json()).token;
    }

    async _connect() {
      if (this._stopped) return;
      this._setState(this._attempt ? "reconnecting" : "connecting");
      if (this.auth === "token" && !this._token) {
        try {
          await this._fetchToken();
        } catch (e) {
          if (e.status === 401 || e.status === 403 || e.status === 404) return this.stop("refused");
          return this._retryLater();
        }
      }
      if (this._stopped) return;
      const source = new EventSource(this._streamUrl());
      this._source = source;
      source.onopen = () => {
        this._attempt = 0;
        this._setState("live");
      };
      source.onerror = () => {
        if (source !== this._source) return;
        if (source.readyState === EventSource.CONNECTING) {
          this._setState("reconnecting");  // the browser retries by itself
          return;
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
      // The browser closed for good: a non-200 answer. Find out which.
      this._setState("reconnecting");
      let status = 0;
      try {
        const ctrl = new AbortController();
        const r = await fetch(this._streamUrl(), {credentials: "same-origin", signal: ctrl.signal});
        status = r.status;
        ctrl.abort();
      } catch (e) { status = 0; }
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
