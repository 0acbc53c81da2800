/* sse-htmx.js: server-sent HTML fragments into htmx pages, through sse.js.
 *
 *   <script src="{% static 'sse/sse.js' %}"></script>
 *   <script src="{% static 'sse/sse-htmx.js' %}"></script>
 *   <div {% sse_stream "chat.room.lobby" %}>                 (from {% load sse %})
 *     <ul sse-swap="message-html" hx-swap="beforeend"></ul>  (rendered by sse.publish_html)
 *   </div>
 *
 * Every element with data-sse-stream (what the sse_stream tag writes) opens one SSEStream
 * on its URL and channels when the document is loaded. Each element under it with
 * sse-swap="name[,name...]" gets the data of those events swapped in by htmx.swap, with
 * the element's hx-swap style (default innerHTML): htmx 2 and htmx 4 alike, loaded before
 * this file or after it. The events are swapped one after the other, in the order the
 * stream sent them.
 *
 * Only fragments are swapped: an event whose data (the raw text, ev.data) starts with "<".
 * sse.publish_html's data always does; sse.publish()'s is JSON, which never does (it starts
 * with { [ " - a digit, t, f or n). Any other event under a swapped name is left alone, with
 * one console warning per root: JSON, whatever its name and channel, is never inserted as HTML.
 *
 * One stream per page (browsers allow six connections per site): when the page's layout
 * has made window.pageStream (an SSEStream on the same URL, not started yet), the root's
 * channels join it and the layout starts it; load this file after the root then. A page
 * can also attach a stream of its own making:
 *   SSEHtmx.attach(rootElement, stream)   // before stream.start(); the root needs no data-sse-stream
 *
 * Why sse.js and not htmx's own SSE support: sse.js resumes with ?lastEventId= after any
 * failure (a 503 from a proxy, a restart), with back-off, so no event is lost or doubled;
 * htmx-ext-sse reopens the first URL without the id, and htmx 4's hx-sse does not swap
 * named events. On `reset` (the id could not be resumed) the page reloads, to render its
 * state afresh, unless a listener of the "sse:reset" event on the root calls preventDefault().
 * The root's data-sse-state follows the stream: connecting, live, reconnecting, stopped.
 */
(function (global) {
  "use strict";

  function htmxMajor(htmx) {
    return parseInt(String(htmx.version || "2"), 10);
  }

  function swapStyle(el) {
    return (el.getAttribute("hx-swap") || "innerHTML").trim().split(/\s+/)[0];
  }

  // Swap `html` into `el` the way htmx would swap a response: htmx 4 takes a context
  // (its swap is async), htmx 2 a target, the content and a swap specification.
  function swapInto(el, html) {
    const htmx = global.htmx;
    if (!htmx || typeof htmx.swap !== "function") {
      console.error("sse-htmx: htmx is not loaded; cannot swap an event into", el);
      return Promise.resolve();
    }
    const style = swapStyle(el);
    if (htmxMajor(htmx) >= 4) {
      return htmx.swap({text: html, sourceElement: el, target: el, swap: style + " swapEmpty:false"});
    }
    htmx.swap(el, html, {swapStyle: style, swapDelay: 0, settleDelay: htmx.config.defaultSettleDelay}, {contextElement: el});
    return Promise.resolve();
  }

  function swapTargets(root) {
    const byName = new Map();
    for (const el of root.querySelectorAll("[sse-swap],[data-sse-swap]")) {
      const names = el.getAttribute("sse-swap") || el.getAttribute("data-sse-swap");
      for (const name of names.split(",").map((n) => n.trim()).filter(Boolean)) {
        if (!byName.has(name)) byName.set(name, []);
        byName.get(name).push(el);
      }
    }
    return byName;
  }

  // The event's data if it is a fragment (its raw text starts with "<"), else null.
  function fragmentOf(ev) {
    const raw = ev && typeof ev.data === "string" ? ev.data : null;
    return raw !== null && raw.charAt(0) === "<" ? raw : null;
  }

  function attach(root, stream) {
    if (root._sseStream) return root._sseStream;
    root._sseStream = stream;
    let queue = Promise.resolve();  // one swap at a time, in the stream's order
    let warned = false;
    for (const [name, elements] of swapTargets(root)) {
      stream.on(name, (data, ev) => {
        const html = fragmentOf(ev);
        if (html === null) {
          if (!warned) {
            warned = true;
            console.warn("sse-htmx: not swapped: the data of a \"" + name + "\" event does not start " +
              "with \"<\" (JSON, not a fragment of sse.publish_html); such events are never swapped", root);
          }
          return;
        }
        for (const el of elements) {
          queue = queue.then(() => (el.isConnected ? swapInto(el, html) : null)).catch((e) => console.error(e));
        }
      });
    }
    stream.on("reset", (data) => {
      const go = root.dispatchEvent(new CustomEvent("sse:reset", {detail: data, cancelable: true, bubbles: true}));
      if (go) global.location.reload();
    });
    stream.onState((state) => { root.dataset.sseState = state; });
    return stream;
  }

  // The page's layout may have made the page's one stream already, not yet started
  // (window.pageStream, to which pages add their channels): join it rather than open another.
  function pageStreamFor(options) {
    const s = global.pageStream;
    if (!s || !(s instanceof global.SSEStream) || s.state !== "stopped" || s.stopReason !== null) return null;
    const here = global.location.href;
    if (new URL(s.url, here).href !== new URL(options.url, here).href) return null;
    if ((s.auth === "token") !== (options.auth === "token")) return null;
    return s;
  }

  function open(root) {
    if (root._sseStream) return root._sseStream;
    const options = {
      url: root.getAttribute("data-sse-stream"),
      channels: JSON.parse(root.getAttribute("data-sse-channels") || "[]"),
    };
    if (root.getAttribute("data-sse-auth") === "token") {
      options.auth = "token";
      options.tokenUrl = root.getAttribute("data-sse-token-url");
    }
    const shared = pageStreamFor(options);
    if (shared) {
      for (const c of options.channels) if (!shared.channels.includes(c)) shared.channels.push(c);
      return attach(root, shared);  // the layout starts it
    }
    const stream = attach(root, new global.SSEStream(options));
    stream.start();
    return stream;
  }

  function openAll() {
    for (const root of document.querySelectorAll("[data-sse-stream]")) open(root);
  }

  global.SSEHtmx = {attach, open, openAll, swapInto};
  // Now, for the roots above this script (so a layout's page stream can still be joined),
  // and once the document is parsed, for the rest.
  openAll();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", openAll);
})(window);
