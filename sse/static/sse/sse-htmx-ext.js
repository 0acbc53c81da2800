/*
 * Resume for pages on htmx-ext-sse (htmx 2's SSE extension), which opens its own
 * EventSource from the sse-connect attribute.
 *
 * An EventSource resumes by itself after a network error (it sends Last-Event-ID).
 * After a non-200 answer (a proxy's 503 while the server restarts) it stops for good,
 * and the extension opens a new one from the sse-connect URL, which would start over
 * and lose what was published meanwhile. So after every event a page swaps, this
 * script writes that event's id into the sse-connect URL as ?lastEventId=, which the
 * extension reads again when it reconnects: the new stream resumes where the old one
 * stopped. A `reset` (the id cannot be resumed) reloads the page, which renders the
 * state afresh.
 */
(function () {
  "use strict";

  function connectAttribute(root) {
    return root.hasAttribute("sse-connect") ? "sse-connect" : "data-sse-connect";
  }

  document.addEventListener("htmx:sseMessage", function (e) {
    var message = e.detail;
    var id = message && message.lastEventId;
    var root = e.target.closest && e.target.closest("[sse-connect],[data-sse-connect]");
    if (!id || !root) return;
    var attribute = connectAttribute(root);
    var url = new URL(root.getAttribute(attribute), window.location.href);
    url.searchParams.set("lastEventId", id);
    root.setAttribute(attribute, url.origin === window.location.origin ? url.pathname + url.search : url.href);
  });

  document.addEventListener("htmx:sseOpen", function (e) {
    var source = e.detail && e.detail.source;
    if (!source || source.sseResetWatched) return;
    source.sseResetWatched = true;
    source.addEventListener("reset", function () {
      window.location.reload();
    });
  });
})();
