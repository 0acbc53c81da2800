/* The operator console: the live event tail, the open streams of every process, the composer.
 *
 * Rides on the page's one stream (window.pageStream): `tail` events on console.tail carry
 * batches of log rows, `streams` events on console.streams carry one process's streams.
 */
(function (global) {
  "use strict";

  const MAX_TAIL_ROWS = 300;
  const SILENT_MS = 10000;  // a process not heard from for this long leaves the streams table

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function timeEl(iso, style) {
    return el("time", iso, {datetime: iso, "data-style": style || "time"});
  }

  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  // "chat.room.*, jobs.?" -> a test of a channel name; null matches everything.
  function globTest(text) {
    const globs = text.split(/[\s,]+/).filter(Boolean);
    if (!globs.length) return null;
    const res = globs.map((g) => new RegExp("^" + g.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$"));
    return (name) => res.some((re) => re.test(name));
  }

  function csrfFrom(form) {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function start(stream) {
    stream.channels.push("console.tail", "console.streams");
    const reports = new Map();  // process -> {report, seen}
    const seenRows = new Set();
    const tailBody = document.getElementById("tail-rows");
    const filterInput = document.getElementById("tail-filter");
    const pauseButton = document.getElementById("tail-pause");
    const tailStatus = document.getElementById("tail-status");
    let matches = null;
    let paused = false;
    let held = [];
    let skipped = 0;

    // -- who delivers a channel: the processes that reported streams on it -----
    function processesOn(channel) {
      const names = [];
      for (const [name, {report}] of reports) {
        if (report.streams.some((s) => s.channels.includes(channel))) names.push(name);
      }
      return names.length ? names.join(", ") : "no open stream";
    }

    // -- the tail ---------------------------------------------------------------
    function applyFilter(tr) {
      tr.hidden = matches !== null && !matches(tr.dataset.channel);
    }

    function tailRow(e) {
      const tr = el("tr", null, {"data-row": e.row, "data-channel": e.channel});
      const when = el("td"); when.append(timeEl(e.created));
      const payload = el("td", null, {class: "console-payload"});
      const details = el("details");
      details.append(el("summary", e.data.length > 60 ? e.data.slice(0, 59) + "…" : e.data));
      details.append(el("pre", e.data + (e.truncated ? "\n… (" + e.size + " bytes, cut)" : "")));
      payload.append(details);
      tr.append(when, el("td", e.channel, {class: "console-channel"}), el("td", e.event),
        el("td", e.id, {class: "console-id"}), payload, el("td", processesOn(e.channel), {class: "console-process"}));
      applyFilter(tr);
      return tr;
    }

    function showTail(events) {
      for (const e of events) {
        if (seenRows.has(e.row)) continue;  // another process's reader published it too
        seenRows.add(e.row);
        tailBody.prepend(tailRow(e));
      }
      while (tailBody.rows.length > MAX_TAIL_ROWS) tailBody.lastElementChild.remove();
    }

    function tailSummary() {
      const shown = [...tailBody.rows].filter((tr) => !tr.hidden).length;
      let text = shown + " of " + tailBody.rows.length + " events shown";
      if (paused) text += "; paused, " + held.length + " waiting";
      if (skipped) text += "; " + skipped + " skipped while busy (at most 50 a second are shown)";
      tailStatus.textContent = text;
    }

    for (const tr of tailBody.rows) seenRows.add(Number(tr.dataset.row));

    filterInput.addEventListener("input", () => {
      matches = globTest(filterInput.value);
      for (const tr of tailBody.rows) applyFilter(tr);
      tailSummary();
    });
    pauseButton.addEventListener("click", () => {
      paused = !paused;
      pauseButton.setAttribute("aria-pressed", String(paused));
      pauseButton.textContent = paused ? "Resume" : "Pause";
      if (!paused) { showTail(held); held = []; }
      tailSummary();
    });

    stream.on("tail", (batch) => {
      skipped += batch.skipped || 0;
      if (paused) held.push(...batch.events);
      else showTail(batch.events);
      tailSummary();
    });

    // -- open streams -------------------------------------------------------------
    const streamBody = document.getElementById("stream-rows");
    const summary = document.getElementById("streams-summary");
    const disconnectForm = document.getElementById("disconnect-form");
    const disconnecting = new Set();  // "process/serial" asked to end

    function streamRow(s) {
      const key = s.process + "/" + s.serial;
      const tr = el("tr", null, {"data-process": s.process, "data-serial": s.serial, "data-user": s.user});
      const since = el("td"); since.append(timeEl(s.since, "relative"));
      const lag = s.queued ? s.queued + " queued, " + s.lag_s + " s" : "none";
      const action = el("td");
      const button = el("button", disconnecting.has(key) ? "Disconnecting…" : "Disconnect",
        {type: "button", class: "console-disconnect", "aria-label": "Disconnect " + s.user + "'s stream on " + s.channels.join(", ")});
      button.disabled = disconnecting.has(key);
      button.addEventListener("click", () => disconnect(s, button));
      action.append(button);
      tr.append(el("td", s.user), el("td", s.channels.join(", "), {class: "console-channel"}), since,
        el("td", s.process), el("td", bytes(s.bytes)), el("td", lag), action);
      return tr;
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
      // Keep a focused Disconnect button where it was: only rebuild when the rows changed.
      const focused = document.activeElement && streamBody.contains(document.activeElement)
        ? document.activeElement.closest("tr").dataset : null;
      streamBody.replaceChildren(...rows.map(streamRow));
      if (focused) {
        const again = streamBody.querySelector(`tr[data-process="${CSS.escape(focused.process)}"][data-serial="${focused.serial}"] button`);
        if (again) again.focus();
      }
      // Who delivers each channel of the tail, as the processes last reported.
      for (const tr of tailBody.rows) tr.querySelector(".console-process").textContent = processesOn(tr.dataset.channel);
      const procs = reports.size;
      summary.textContent = total + " open stream" + (total === 1 ? "" : "s") + " on " + procs + " server process" +
        (procs === 1 ? "" : "es") + (listed < total ? " (newest " + listed + " listed)" : "");
    }

    async function disconnect(s, button) {
      const key = s.process + "/" + s.serial;
      disconnecting.add(key);
      button.disabled = true;
      button.textContent = "Disconnecting…";
      const body = new FormData(disconnectForm);
      body.set("process", s.process);
      body.set("serial", s.serial);
      const r = await fetch(disconnectForm.action, {method: "POST", body, credentials: "same-origin"});
      if (!r.ok && r.status !== 404) {
        disconnecting.delete(key);
        button.disabled = false;
        button.textContent = "Disconnect";
        summary.textContent = "Disconnect failed: " + r.status;
      }
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

  global.ConsolePage = {start, globTest};
})(window);
