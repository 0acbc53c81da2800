/*
 * htmx-ext-sse (htmx 2's SSE extension) on sse.js: load sse.js, then the extension, then this.
 *
 *   <script src="{% static 'sse/sse.js' %}"></script>
 *   <script src=".../htmx-ext-sse/sse.js"></script>
 *   <script src="{% static 'sse/sse-htmx-ext.js' %}"></script>
 *   <div hx-ext="sse" sse-connect="{% sse_stream_url 'chat.room.lobby' %}"> ... sse-swap ... </div>
 *
 * The extension opens its streams through htmx.createEventSource(url). This file makes that
 * an SSEStream on the same URL and channels, wrapped to look like an EventSource, so the page
 * gets what sse.js gives: resume with the last id after any failure (a proxy's 503, a refused
 * connection, a restart), none lost or doubled; the connection shared with the page's other
 * streams and the browser's other tabs; nothing held while the page sits in the back/forward
 * cache. The extension's own retry never runs: sse.js retries, and a stream that ends for
 * good (401 signed out, 403, 404, a finished stream) stays ended.
 *
 * As with sse-htmx.js, only HTML fragments (sse.publish_html) are swapped: an event whose data
 * does not start with "<" (anything published as JSON) is not.
 *
 * The sse-connect element's data-sse-state follows the stream: connecting, live,
 * reconnecting, stopped (data-sse-stop-reason says why). A `reset` (the id could not be
 * resumed) reloads the page, which renders its state afresh, unless a listener of the
 * "sse:reset" event on the element calls preventDefault().
 */
(function (global) {
  "use strict";

  const CONNECTING = 0;
  const OPEN = 1;
  const CLOSED = 2;

  function connectElements(url) {
    return Array.from(document.querySelectorAll("[sse-connect],[data-sse-connect]")).filter(
      (el) => (el.getAttribute("sse-connect") || el.getAttribute("data-sse-connect")) === url
    );
  }

  // What the extension uses of an EventSource: readyState, onopen, onerror, add/removeEventListener, close().
  class StreamSource {
    constructor(url, options) {
      const u = new URL(url, global.location.href);
      const channels = u.searchParams.getAll("channel");
      const lastEventId = u.searchParams.get("lastEventId");
      u.searchParams.delete("channel");
      u.searchParams.delete("lastEventId");
      this.url = url;
      this.withCredentials = Boolean(options && options.withCredentials);
      this.readyState = CONNECTING;
      this.onopen = null;
      this.onerror = null;
      this.onmessage = null;
      this._listeners = new Map();
      this._elements = connectElements(url);
      this._stream = new global.SSEStream({
        url: u.origin === global.location.origin ? u.pathname + u.search : u.href,
        channels,
        lastEventId,
        withCredentials: u.origin !== global.location.origin,
      });
      this._stream.on("reset", (data) => {
        const go = this._elements.every((el) =>
          el.dispatchEvent(new CustomEvent("sse:reset", {detail: data, cancelable: true, bubbles: true}))
        );
        if (go) global.location.reload();
      });
      this._stream.onState((state, stream) => this._state(state, stream));
      this._stream.start();
    }

    _state(state, stream) {
      for (const el of this._elements) {
        el.dataset.sseState = state;
        if (stream.stopReason) el.dataset.sseStopReason = stream.stopReason;
        else delete el.dataset.sseStopReason;
      }
      if (state === "live" && this.readyState !== OPEN) {
        this.readyState = OPEN;
        if (this.onopen) this.onopen(new Event("open"));
      } else if (state === "reconnecting" && this.readyState === OPEN) {
        this.readyState = CONNECTING;  // sse.js comes back by itself: no onerror, nothing for the extension to do
      } else if (state === "stopped") {
        this.readyState = CLOSED;  // for good: no onerror, so the extension does not retry either
      }
    }

    addEventListener(name, listener) {
      if (!this._listeners.has(name)) {
        this._listeners.set(name, new Set());
        this._stream.on(name, (data, ev) => {
          const event = new MessageEvent(name, {data: ev.data, lastEventId: ev.lastEventId, origin: global.location.origin});
          if (name === "message" && this.onmessage) this.onmessage(event);
          for (const l of Array.from(this._listeners.get(name))) l.call(this, event);
        });
      }
      this._listeners.get(name).add(listener);
    }

    removeEventListener(name, listener) {
      const set = this._listeners.get(name);
      if (set) set.delete(listener);
    }

    close() {
      this.readyState = CLOSED;
      this._stream.stop("closed");
    }
  }
  StreamSource.CONNECTING = CONNECTING;
  StreamSource.OPEN = OPEN;
  StreamSource.CLOSED = CLOSED;

  if (!global.htmx || !global.SSEStream) {
    console.error("sse-htmx-ext: load sse.js and htmx (with htmx-ext-sse) before this file");
    return;
  }
  global.htmx.createEventSource = (url) => new StreamSource(url, {withCredentials: true});

  // Only server-rendered fragments are swapped (docs/htmx.md): sse.publish_html's data always
  // starts with "<", JSON never does, so what a publisher sent as JSON is never taken for HTML.
  let warned = false;
  document.addEventListener("htmx:sseBeforeMessage", (e) => {
    const data = e.detail && e.detail.data;
    if (typeof data === "string" && data[0] === "<") return;
    e.preventDefault();
    if (!warned) console.warn("sse-htmx: not swapped: the data of a '" + (e.detail && e.detail.type) + "' event is not an HTML fragment");
    warned = true;
  });
  global.SSEHtmxExt = {StreamSource};
})(window);
