/* The operator console: the live event tail, the open streams of every process, the composer.
 *
 * Rides on the page's one stream (window.pageStream): `tail` events on console.tail carry
 * batches of log rows and the deliveries processes recorded as they happened, `streams`
 * events on console.streams carry one process's streams.
 *
 * The tail is one line per event (time to the millisecond, channel, event, the payload cut
 * to the line, how many streams it reached); a line opens to the full payload, its id, its
 * absolute time and the streams it was delivered to. Filters take names or patterns per
 * channel and per event; "!name" hides; the dashboard's metrics are hidden by default.
 */
(function (global) {
  "use strict";

  const MAX_TAIL_ROWS = 500;
  const SILENT_MS = 10000;  // a process not heard from for this long leaves the streams list

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  // -- times: to the millisecond, in the reader's zone ---------------------------
  const clock = new Intl.DateTimeFormat(undefined, {hour: "2-digit", minute: "2-digit", second: "2-digit",
    fractionalSecondDigits: 3, hourCycle: "h23"});
  const dateAndClock = new Intl.DateTimeFormat(undefined, {year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hourCycle: "h23",
    timeZoneName: "short"});

  function clockTime(iso) { return clock.format(new Date(iso)); }
  function absolute(iso) { return dateAndClock.format(new Date(iso)); }

  function ago(iso, now) {
    const s = Math.max(0, Math.round(((now || Date.now()) - new Date(iso).getTime()) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s ago";
    const h = Math.floor(s / 3600);
    return h < 48 ? h + " h " + Math.floor((s % 3600) / 60) + " min ago" : Math.floor(h / 24) + " days ago";
  }

  // -- filters ----------------------------------------------------------------------
  // "chat.room.*, !dashboard" -> a test of a name, null when the text is empty. A name
  // without * or ? stands for itself and what lies under it ("dashboard": "dashboard.*").
  function globRegExp(glob) {
    const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return new RegExp("^" + body + (/[*?]/.test(glob) ? "" : "(\\..*)?") + "$");
  }

  function globTest(text) {
    const words = text.split(/[\s,]+/).filter(Boolean);
    const include = words.filter((w) => !w.startsWith("!")).map(globRegExp);
    const exclude = words.filter((w) => w.startsWith("!") && w.length > 1).map((w) => globRegExp(w.slice(1)));
    if (!include.length && !exclude.length) return null;
    return (name) => (!include.length || include.some((re) => re.test(name))) && !exclude.some((re) => re.test(name));
  }

  function pretty(data) {
    try { return JSON.stringify(JSON.parse(data), null, 2); } catch (e) { return data; }
  }

  function start(stream) {
    stream.channels.push("console.tail", "console.streams");
    const reports = new Map();  // process -> {report, seen}
    const seenRows = new Set();
    const delivered = new Map();  // row -> Map("process/serial" -> user), recorded as it happened
    const tailBody = document.getElementById("tail-rows");
    const channelInput = document.getElementById("tail-channels");
    const eventInput = document.getElementById("tail-events");
    const pauseButton = document.getElementById("tail-pause");
    const tailStatus = document.getElementById("tail-status");
    let channelTest = globTest(channelInput.value);
    let eventTest = globTest(eventInput.value);
    let paused = false;
    let held = [];
    let skipped = 0;

    // -- the tail ---------------------------------------------------------------
    function applyFilter(li) {
      li.hidden = (channelTest !== null && !channelTest(li.dataset.channel)) ||
        (eventTest !== null && !eventTest(li.dataset.event));
    }

    function showDelivered(li) {
      const found = delivered.get(Number(li.dataset.row));
      const count = li.querySelector(".console-delivered-count");
      const full = li.querySelector(".console-delivered");
      if (!found && !li.dataset.recorded) {
        count.textContent = "·";
        count.title = full.textContent = "not recorded (published before this page opened)";
        return;
      }
      if (!found) {
        count.textContent = "→ 0";
        count.title = full.textContent = "no open stream so far (recorded as it happens)";
        return;
      }
      const users = [...found.values()];
      count.textContent = "→ " + users.length;
      count.title = "delivered to " + users.length + " stream" + (users.length === 1 ? "" : "s");
      const names = [...found.entries()].map(([key, user]) => user + " (stream " + key + ")");
      full.textContent = names.join(", ");
    }

    function tailRow(e, recorded) {
      const li = el("li", null, {class: "console-line", "data-row": e.row, "data-channel": e.channel, "data-event": e.event});
      if (recorded) li.dataset.recorded = "1";
      const details = el("details");
      const summary = el("summary");
      summary.append(el("span", clockTime(e.created), {class: "console-when", "data-at": e.created}), " ",
        el("span", e.channel, {class: "console-channel"}), " ", el("span", e.event, {class: "console-event"}), " ",
        el("span", e.data, {class: "console-payload-line"}), " ", el("span", "·", {class: "console-delivered-count"}));
      const facts = el("dl", null, {class: "console-facts"});
      const fact = (name, value, cls) => {
        const div = el("div");
        div.append(el("dt", name), el("dd", value, cls ? {class: cls} : {}));
        facts.append(div);
      };
      fact("at", absolute(e.created), "console-at");
      fact("id", e.id, "console-id");
      fact("size", e.size + " bytes" + (e.truncated ? " (cut)" : ""));
      fact("delivered to", "", "console-delivered");
      details.append(summary, facts,
        el("pre", pretty(e.data) + (e.truncated ? "\n… (" + e.size + " bytes, cut)" : ""), {class: "console-payload"}));
      li.append(details);
      showDelivered(li);
      applyFilter(li);
      return li;
    }

    function showTail(events, recorded) {
      for (const e of events) {
        if (seenRows.has(e.row)) continue;  // another process's reader published it too
        seenRows.add(e.row);
        tailBody.prepend(tailRow(e, recorded));
      }
      while (tailBody.children.length > MAX_TAIL_ROWS) {
        delivered.delete(Number(tailBody.lastElementChild.dataset.row));
        tailBody.lastElementChild.remove();
      }
    }

    function recordDeliveries(list) {
      for (const {row, streams} of list || []) {
        const found = delivered.get(row) || new Map();
        for (const s of streams) found.set(s.process + "/" + s.serial, s.user);
        delivered.set(row, found);
        const li = tailBody.querySelector(`li[data-row="${row}"]`);
        if (li) showDelivered(li);
      }
    }

    function tailSummary() {
      const all = tailBody.children.length;
      const shown = [...tailBody.children].filter((li) => !li.hidden).length;
      let text = shown + " of " + all + " events shown";
      if (shown < all) text += " (" + (all - shown) + " hidden by the filters)";
      if (paused) text += "; paused, " + held.length + " waiting";
      if (skipped) text += "; " + skipped + " skipped while busy (at most 50 a second are shown)";
      tailStatus.textContent = text;
    }

    function refilter() {
      channelTest = globTest(channelInput.value);
      eventTest = globTest(eventInput.value);
      for (const li of tailBody.children) applyFilter(li);
      tailSummary();
    }

    // What the page was rendered with (the server's lines are for readers without scripts).
    tailBody.replaceChildren();
    showTail(JSON.parse(document.getElementById("console-events").textContent), false);
    tailSummary();

    channelInput.addEventListener("input", refilter);
    eventInput.addEventListener("input", refilter);
    pauseButton.addEventListener("click", () => {
      paused = !paused;
      pauseButton.setAttribute("aria-pressed", String(paused));
      pauseButton.textContent = paused ? "Resume" : "Pause";
      if (!paused) { showTail(held, true); held = []; }
      tailSummary();
    });

    stream.on("tail", (batch) => {
      skipped += batch.skipped || 0;
      if (paused) held.push(...batch.events);
      else showTail(batch.events, true);
      recordDeliveries(batch.deliveries);
      tailSummary();
    });

    // -- open streams -------------------------------------------------------------
    const streamBody = document.getElementById("stream-rows");
    const summary = document.getElementById("streams-summary");
    const disconnectForm = document.getElementById("disconnect-form");
    const dialog = document.getElementById("disconnect-dialog");
    const dialogWhat = document.getElementById("disconnect-what");
    const reasonInput = document.getElementById("disconnect-reason");
    const confirmation = document.getElementById("disconnect-status");
    const disconnecting = new Set();  // "process/serial" asked to end
    let asked = null;  // {stream, button} the dialog is about

    function describeStream(s) {
      return s.user + "'s stream " + s.serial + " on " + s.process + " (" + s.channels.join(", ") + ")";
    }

    function streamRow(s, now) {
      const key = s.process + "/" + s.serial;
      const li = el("li", null, {class: "console-stream", "data-process": s.process, "data-serial": s.serial, "data-user": s.user});
      const head = el("div", null, {class: "console-stream-head"});
      const button = el("button", disconnecting.has(key) ? "Disconnecting…" : "Disconnect",
        {type: "button", class: "console-disconnect", "aria-label": "Disconnect " + s.user + "'s stream " + s.serial});
      button.disabled = disconnecting.has(key);
      button.addEventListener("click", () => ask(s, button));
      head.append(el("strong", s.user, {class: "console-stream-user"}),
        el("span", s.channels.join(", "), {class: "console-channel"}), button);
      const facts = el("dl", null, {class: "console-facts"});
      const fact = (name, value, attrs) => {
        const div = el("div");
        div.append(el("dt", name), el("dd", value, attrs || {}));
        facts.append(div);
      };
      fact("since", absolute(s.since) + " · " + ago(s.since, now), {class: "console-since", "data-at": s.since});
      fact("transport", s.transport || "unknown");
      fact("bytes sent", bytes(s.bytes));
      fact("lag", s.queued ? s.queued + " queued, " + s.lag_s + " s" : "none");
      fact("last event id", s.last_event_id || "none yet", {class: "console-id"});
      fact("process", s.process + ", stream " + s.serial);
      fact("user agent", s.user_agent || "unknown", {class: "console-agent", title: s.user_agent || ""});
      li.append(head, facts);
      return li;
    }

    function renderStreams() {
      const now = Date.now();
      for (const [name, r] of reports) if (now - r.seen > SILENT_MS) reports.delete(name);
      const rows = [];
      let total = 0, listed = 0;
      for (const {report} of reports.values()) {
        total += report.total;
        listed += report.streams.length;
        for (const s of report.streams) rows.push(s);
      }
      rows.sort((a, b) => (a.since < b.since ? 1 : -1));
      // Keep a focused Disconnect button where it was.
      const focused = document.activeElement && streamBody.contains(document.activeElement)
        ? document.activeElement.closest("li").dataset : null;
      streamBody.replaceChildren(...rows.map((s) => streamRow(s, now)));
      if (focused) {
        const again = streamBody.querySelector(`li[data-process="${CSS.escape(focused.process)}"][data-serial="${focused.serial}"] button`);
        if (again) again.focus();
        else confirmation.focus();  // its stream is gone: focus stays in the section, on the news
      }
      if (asked && !dialog.open) asked = null;
      const procs = reports.size;
      summary.textContent = total + " open stream" + (total === 1 ? "" : "s") + " on " + procs + " server process" +
        (procs === 1 ? "" : "es") + (listed < total ? " (newest " + listed + " listed)" : "");
    }

    function confirm(text) {
      confirmation.textContent = text;
      confirmation.hidden = false;
      confirmation.focus();
    }

    function ask(s, button) {
      asked = {stream: s, button};
      dialogWhat.textContent = "End " + describeStream(s) + "?";
      reasonInput.value = "";
      dialog.returnValue = "";  // Escape leaves the last answer: it must not read as "confirm"
      dialog.showModal();
      reasonInput.focus();
    }

    dialog.addEventListener("close", () => {
      const what = asked;
      asked = null;
      if (!what) return;
      if (dialog.returnValue === "confirm") {
        disconnect(what.stream, reasonInput.value.trim());
      } else {
        // Back to the button that opened it (its row may have been redrawn meanwhile).
        const again = streamBody.querySelector(`li[data-process="${CSS.escape(what.stream.process)}"][data-serial="${what.stream.serial}"] button`);
        if (again) again.focus();
      }
    });

    async function disconnect(s, reason) {
      const key = s.process + "/" + s.serial;
      disconnecting.add(key);
      confirm("Disconnecting " + describeStream(s) + "…");
      renderStreams();
      const body = new FormData(disconnectForm);
      body.set("process", s.process);
      body.set("serial", s.serial);
      body.set("reason", reason);
      let r;
      try {
        r = await fetch(disconnectForm.action, {method: "POST", body, credentials: "same-origin"});
      } catch (e) {
        r = null;
      }
      const because = reason ? " Reason: " + reason + "." : " No reason given.";
      if (r && r.ok) {
        const answer = await r.json();
        confirm((answer.outcome === "closed" ? "Disconnected " : "Disconnect sent to its process for ") +
          describeStream(s) + "." + because + " Its page reconnects by itself.");
      } else if (r && r.status === 404) {
        disconnecting.delete(key);
        confirm("Nothing to disconnect: " + describeStream(s) + " had already ended.");
      } else {
        disconnecting.delete(key);
        confirm("Disconnect failed (" + (r ? r.status : "no answer") + "): " + describeStream(s) + " is still open.");
      }
      renderStreams();
      // Else the stream ends; the next report of its process leaves it out (or shows the reconnected one).
    }

    stream.on("streams", (report) => {
      reports.set(report.process, {report, seen: Date.now()});
      for (const key of [...disconnecting]) {
        if (!report.streams.some((s) => s.process + "/" + s.serial === key) && key.startsWith(report.process + "/")) disconnecting.delete(key);
      }
      renderStreams();
    });
    const first = JSON.parse(document.getElementById("console-report").textContent);
    reports.set(first.process, {report: first, seen: Date.now()});
    renderStreams();
    setInterval(renderStreams, 5000);

    // -- the composer --------------------------------------------------------------
    const form = document.getElementById("compose");
    const errors = document.getElementById("compose-errors");
    const preview = document.getElementById("compose-preview");
    const receipt = document.getElementById("compose-receipt");

    function kind() { return form.querySelector("input[name=kind]:checked").value; }

    function toggleFields() {
      const k = kind(), audience = form.elements.audience.value;
      const shown = {
        notification: k === "notification",
        broadcast: k === "broadcast",
        group: k === "broadcast" && audience === "group",
        users: k === "notification" || audience === "users",
      };
      for (const field of form.querySelectorAll("[data-for]")) field.hidden = !shown[field.dataset.for];
    }
    form.addEventListener("change", toggleFields);
    toggleFields();

    // Streams other processes reported on these channels, and their readers.
    function elsewhere(answer) {
      const channels = new Set(answer.channels);
      let streams = 0;
      const users = new Set();
      for (const [name, {report}] of reports) {
        if (name === answer.process) continue;
        for (const s of report.streams) {
          if (s.channels.some((c) => channels.has(c))) { streams++; users.add(s.user); }
        }
      }
      return {streams, users};
    }

    function describe(answer) {
      const other = elsewhere(answer);
      const online = new Set([...answer.online, ...(answer.recipients === null ? other.users : [...other.users].filter((u) => answer.offline.includes(u)))]);
      const offline = (answer.offline || []).filter((u) => !online.has(u));
      const streams = answer.streams + other.streams;
      const who = answer.recipients === null ? "everyone signed in" : answer.recipients + " user" + (answer.recipients === 1 ? "" : "s");
      const lines = [
        (answer.sent ? "Sent to " : "Would go to ") + who + ".",
        (answer.sent ? "Open streams reached: " : "Open streams now: ") + streams + ".",
        "Online: " + (online.size ? [...online].sort().join(", ") : "nobody") + ".",
      ];
      if (offline.length) lines.push("Not online (sees it on next page load): " + offline.join(", ") + ".");
      return lines;
    }

    function showLines(box, heading, lines, extra) {
      box.replaceChildren(el("h3", heading), ...(extra || []), ...lines.map((line) => el("p", line)));
      box.hidden = false;
    }

    function previewCard() {
      const level = form.elements.level.value;
      const card = el("div", null, {class: "console-card level-" + level});
      card.append(el("strong", form.elements.title.value || "(no title)"));
      if (form.elements.body.value) card.append(el("p", form.elements.body.value));
      if (kind() === "notification" && form.elements.url.value) card.append(el("p", "Link: " + form.elements.url.value));
      return card;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const action = event.submitter ? event.submitter.value : "preview";
      const body = new FormData(form);
      body.set("action", action);
      errors.replaceChildren();
      // Not form.action: the buttons named "action" shadow that property.
      const r = await fetch(form.getAttribute("action"), {method: "POST", body, credentials: "same-origin"});
      const answer = await r.json();
      if (!r.ok) {
        const all = answer.errors || {__all__: [{message: answer.error || "failed: " + r.status}]};
        for (const [field, list] of Object.entries(all)) {
          for (const e of list) errors.append(el("li", (field === "__all__" ? "" : field + ": ") + e.message));
        }
        return;
      }
      if (answer.sent) {
        showLines(receipt, "Delivery receipt", describe(answer));
        preview.hidden = true;
      } else {
        showLines(preview, "Preview", describe(answer), [previewCard()]);
      }
    });
  }

  global.ConsolePage = {start, globTest, clockTime};
})(window);
