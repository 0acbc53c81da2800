/* jobs.js: live job rows (/jobs/) and a live job page (/jobs/<uuid>/).
 * Both listen on the page's one stream (window.pageStream) and re-read the
 * job state from the API whenever the stream (re)connects, so nothing that
 * happened between rendering and connecting is missed. While the stream is
 * not live the page says so instead of guessing: unfinished jobs show
 * "unknown (server unreachable)" and the buttons wait.
 */
(function (global) {
  "use strict";

  const FINAL = {complete: "succeeded", failed: "failed", cancelled: "cancelled"};
  const ORDER = ["queued", "running", "succeeded", "failed", "cancelled"];
  const UNREACHABLE = "unknown (server unreachable)";
  const TEXT_SHOWN = 60;  // as jobs/views.py TEXT_SHOWN
  const finished = (s) => s === "succeeded" || s === "failed" || s === "cancelled";

  // What this page knows about its stream.
  const page = {live: false, unreachable: false, kindTitles: {}, paramLabels: {}};

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function api(method, url, body) {
    const r = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken()},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return {status: r.status, ok: r.ok, data};
  }

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A value as people read it, the way jobs/views.py readable() renders it: 1,000,000; 0.5; long text cut short.
  function readable(value) {
    if (value === null || value === undefined) return "none";
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "number") return value.toLocaleString("en-US", {maximumFractionDigits: 3});
    const text = typeof value === "string" ? value : JSON.stringify(value);
    const chars = Array.from(text);  // code points, as Python counts them
    if (chars.length <= TEXT_SHOWN) return text;
    return chars.slice(0, TEXT_SHOWN).join("") + "… (" + chars.length.toLocaleString("en-US") + " characters)";
  }

  // Params by their form labels ("Seconds per step: 1"), as jobs/views.py param_labels().
  function renderParams(box, params, kind) {
    box.replaceChildren();
    // The server rendered them with labels; without the labels here (the job page) keep those.
    if (!page.paramLabels[kind] && box.childElementCount) return;
    const labels = page.paramLabels[kind] || {};
    for (const [name, value] of Object.entries(params)) {
      const kv = el("span", {class: "kv"});
      kv.append(el("b", {}, labels[name] || name), ": " + readable(value));
      box.append(kv, " ");
    }
  }

  // The result cell: a download link for a file, else key: value pairs; the error for a failure.
  function renderResult(box, job) {
    box.replaceChildren();
    if (job.status === "succeeded" && job.result) {
      const r = job.result;
      if (r.download_url) {
        box.append(el("a", {class: "download", href: r.download_url, download: ""}, "Download " + r.file));
        box.append(" ", el("small", {}, "(" + readable(r.bytes) + " bytes)"));
      } else if (typeof r === "object") {
        for (const [k, v] of Object.entries(r)) {
          const kv = el("span", {class: "kv"});
          kv.append(el("b", {}, k), ": " + readable(v));
          box.append(kv, " ");
        }
      } else {
        box.append(String(r));
      }
    } else if (job.status === "failed") {
      box.append(el("span", {class: "error"}, job.error || "failed"));
    } else if (job.status === "cancelled") {
      box.append(el("span", {class: "muted"}, "cancelled"));
    }
  }

  // The status badge: the last known status, or "unknown" for an unfinished job while the server is away.
  function paintStatus(root) {
    const status = root.dataset.status;
    const shown = page.unreachable && !finished(status) ? "unknown" : status;
    const target = root.querySelector(".job-status");
    target.textContent = shown === "unknown" ? UNREACHABLE : status;
    target.className = target.className.replace(/status-\w+/, "status-" + shown);
  }

  // Cancel for unfinished jobs, Run again for finished ones; both wait while the stream is not live.
  function paintActions(root) {
    const done = finished(root.dataset.status), busy = root.dataset.busy === "1";
    const cancel = root.querySelector(".cancel-form"), again = root.querySelector(".run-again");
    if (cancel) {
      cancel.hidden = done;
      cancel.querySelector("button").disabled = !page.live || busy;
    }
    if (again) {
      again.hidden = !done;
      again.disabled = !page.live || busy;
    }
    keepFocus(root);
  }

  // A pressed button that is disabled or hidden meanwhile (Cancel while the server answers,
  // then gone once the job is cancelled) leaves focus in the job, on what can be done next,
  // rather than on <body>; focus the reader moved elsewhere stays where it is.
  function keepFocus(root) {
    if (root.dataset.keepFocus !== "1" || !root.isConnected) return;
    const active = document.activeElement;
    const lost = !active || active === document.body;
    const stale = root.contains(active) && (active.disabled || active.closest("[hidden]"));
    // Parked on the job's link while Cancel waited: on to Run again once the job has finished.
    const parked = root.contains(active) && active.matches("a.kind") && finished(root.dataset.status);
    if (!lost && !stale && !parked) {
      if (!root.contains(active)) delete root.dataset.keepFocus;
      return;
    }
    const next = [".run-again", ".cancel-form button", "a.kind"]
      .map((selector) => root.querySelector(selector))
      .find((b) => b && !b.disabled && !b.closest("[hidden]"));
    if (next) next.focus();
    if (next && next.matches(".run-again")) delete root.dataset.keepFocus;
  }

  // Apply a job state (an API job, or an event's data with its status) to a row or the detail card.
  function apply(root, job) {
    const kindLink = root.querySelector("a.kind");
    if (job.kind) {
      root.dataset.kind = job.kind;
      const title = page.kindTitles[job.kind] || job.kind;
      if (kindLink) kindLink.textContent = title;
      // Names that start with what the buttons show (axe: label-content-name-mismatch).
      const cancelButton = root.querySelector(".cancel-form button"), againButton = root.querySelector(".run-again");
      if (cancelButton && root.matches(".job-row")) cancelButton.setAttribute("aria-label", "Cancel " + title + " job");
      if (againButton && root.matches(".job-row")) againButton.setAttribute("aria-label", "Run again: " + title + ", same params");
    }
    const params = root.querySelector(".params");
    if (params && job.params && typeof job.params === "object") renderParams(params, job.params, job.kind || root.dataset.kind);
    const time = root.querySelector("td.created time");
    if (time && job.created && !time.getAttribute("datetime")) {
      time.setAttribute("datetime", job.created);
      time.textContent = job.created.replace("T", " ").slice(0, 19);
    }
    // A late event or an API answer older than the last event never moves a job back.
    const rank = (s) => (finished(s) ? 2 : s === "running" ? 1 : 0);
    if (job.status && rank(job.status) < rank(root.dataset.status)) return;
    if (finished(root.dataset.status) && !finished(job.status)) return;
    if (job.status === root.dataset.status && job.done !== undefined && root.dataset.done !== undefined &&
        Number(job.done) < Number(root.dataset.done)) return;
    if (job.status && ORDER.includes(job.status)) root.dataset.status = job.status;
    paintStatus(root);
    if (job.percent !== undefined) {
      const percent = job.status === "succeeded" ? 100 : job.percent;
      root.dataset.percent = String(percent);
      root.querySelector("progress").value = percent;
      root.querySelector(".percent").textContent = percent + "%";
    }
    if (job.done !== undefined) {
      const done = root.querySelector(".done"), total = root.querySelector(".total");
      if (done) done.textContent = readable(job.done);
      if (total) total.textContent = readable(job.total);
      root.dataset.done = String(job.done);
      root.dataset.total = String(job.total);
    }
    if (job.message !== undefined) root.querySelector(".message").textContent = job.message;
    if (finished(job.status)) renderResult(root.querySelector(".result"), job);
    const eta = root.querySelector(".eta-row");  // the job page: no time left once it has finished
    if (eta) eta.hidden = finished(root.dataset.status);
    paintActions(root);
  }

  function fromEvent(name, data) {
    if (FINAL[name]) return Object.assign({}, data, {status: FINAL[name]});
    return data;
  }

  function problem(r) {
    const data = r.data || {};
    if (data.detail) return String(data.detail);
    const params = data.params && typeof data.params === "object" ? data.params : {};
    const lines = Object.entries(params).map(([name, messages]) => name + ": " + [].concat(messages).join(" "));
    return lines.length ? lines.join("; ") : "the server answered " + r.status;
  }

  // Runs a button's work once at a time, and shows what went wrong next to the buttons.
  async function act(root, work) {
    if (root.dataset.busy === "1") return;
    if (root.contains(document.activeElement)) root.dataset.keepFocus = "1";
    const error = root.querySelector(".action-error");
    if (error) error.textContent = "";
    root.dataset.busy = "1";
    paintActions(root);
    try {
      await work();
    } catch (e) {
      const text = e instanceof TypeError ? "the server could not be reached; try again" : e.message;
      if (error) error.textContent = text;
    } finally {
      delete root.dataset.busy;
      paintActions(root);
    }
  }

  function cancelJob(root) {
    return act(root, async () => {
      const r = await api("POST", "/api/jobs/" + root.dataset.job + "/cancel/");
      const job = r.data && (r.data.job || r.data);  // 409 (already finished) says how it finished
      if (!job || !job.status) throw new Error(problem(r));
      apply(root, job);
    });
  }

  // The same kind and params as a new job, then that job's page.
  function runAgain(root) {
    return act(root, async () => {
      const old = await api("GET", "/api/jobs/" + root.dataset.job + "/");
      if (!old.ok || !old.data) throw new Error(problem(old));
      const r = await api("POST", "/api/jobs/", {kind: old.data.kind, params: old.data.params});
      if (r.status !== 201 || !r.data) throw new Error(problem(r));
      global.location.assign(r.data.url || "/jobs/" + r.data.id + "/");
    });
  }

  // One listener for every row's buttons, rows added later included.
  function wireActions(container, rootOf) {
    container.addEventListener("submit", (ev) => {
      const form = ev.target.closest(".cancel-form");
      if (!form) return;
      ev.preventDefault();
      cancelJob(rootOf(form));
    });
    container.addEventListener("click", (ev) => {
      const button = ev.target.closest(".run-again");
      if (button) runAgain(rootOf(button));
    });
  }

  // Tracks whether the page's stream is live; re-reads the jobs each time it is.
  function followStream(stream, repaint, refresh) {
    if (!stream) {
      page.live = true;
      return;
    }
    stream.onState((state) => {
      page.live = state === "live";
      // "stopped" before the first start is the page loading, not the server going away.
      page.unreachable = state === "reconnecting" || (state === "stopped" && stream.stopReason !== null);
      repaint();
      if (page.live) refresh();
    });
  }

  function actionsCell(job) {
    const td = el("td", {class: "actions"});
    const title = job.kind ? (page.kindTitles[job.kind] || job.kind) : "this";
    const form = el("form", {method: "post", action: "/jobs/" + job.id + "/cancel/", class: "cancel-form"});
    form.append(el("button", {type: "submit", "aria-label": "Cancel " + title + " job"}, "Cancel"));
    const again = el("button", {type: "button", class: "run-again", hidden: "", "aria-label": "Run again: " + title + ", same params"}, "Run again");
    td.append(form, " ", again, " ", el("span", {class: "action-error error", role: "alert"}));
    return td;
  }

  function rowFor(job) {
    const tr = el("tr", {id: "job-" + job.id, class: "job-row", "data-job": job.id, "data-status": job.status || "queued"});
    const link = el("a", {class: "kind", href: "/jobs/" + job.id + "/"}, job.kind ? (page.kindTitles[job.kind] || job.kind) : "job");
    const td = (cls) => el("td", cls ? {class: cls} : {});
    const what = td("what"); what.append(link, " ", el("small", {class: "params muted"}));
    const status = td("status"); status.append(el("span", {class: "job-status status-queued"}, "queued"));
    const bar = td("bar"); bar.append(el("progress", {max: "100", value: "0", "aria-label": "progress"}), " ", el("span", {class: "percent"}, "0%"));
    const created = td("created"); created.append(el("time", {datetime: job.created || ""}, (job.created || "").replace("T", " ").slice(0, 19)));
    tr.append(what, status, bar, td("message"), td("result"), created, actionsCell(job));
    return tr;
  }

  function listPage(opts) {
    const stream = opts.stream;
    const tbody = document.getElementById("job-rows");
    page.kindTitles = opts.kindTitles || {};
    page.paramLabels = opts.paramLabels || {};
    let refreshTimer = null;
    const ensureRow = (job) => {
      let row = document.getElementById("job-" + job.id);
      if (!row) {
        const empty = tbody.querySelector("tr.empty");
        if (empty) empty.remove();
        row = rowFor(job);
        tbody.prepend(row);
        // Created from an event (another tab, or before our POST answered): fetch its details.
        if (!job.kind && !refreshTimer) refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 200);
      }
      return row;
    };
    async function refresh() {
      const r = await api("GET", "/api/jobs/");
      if (!r.ok || !r.data) return;
      for (const job of (r.data.results || []).slice().reverse()) apply(ensureRow(job), job);
    }
    wireActions(tbody, (node) => node.closest(".job-row"));
    followStream(stream, () => {
      for (const row of tbody.querySelectorAll("tr.job-row")) { paintStatus(row); paintActions(row); }
    }, refresh);
    if (stream) {
      stream.channels.push(opts.channel);
      for (const name of ["progress", "complete", "failed", "cancelled"]) {
        stream.on(name, (data) => {
          if (!data || !data.id) return;
          const known = document.getElementById("job-" + data.id);
          if (!known && name !== "progress") return refresh();
          apply(ensureRow(data), fromEvent(name, data));
        });
      }
      stream.on("reset", refresh);
    }
    for (const form of document.querySelectorAll("form.job-form")) {
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const kind = form.dataset.kind;
        const params = {};
        for (const field of form.querySelectorAll("[name^='" + kind + "-']")) {
          params[field.name.slice(kind.length + 1)] = field.value;
        }
        for (const ul of form.querySelectorAll("ul.errors")) ul.replaceChildren();
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          const r = await api("POST", "/api/jobs/", {kind, params});
          if (r.status === 201) {
            const row = ensureRow(r.data);
            apply(row, r.data);
            showStarted(row);
          } else {
            showErrors(form, r.data || {detail: "error " + r.status});
          }
        } catch (e) {
          showErrors(form, {detail: "the server could not be reached; try again"});
        } finally {
          button.disabled = false;
        }
      });
    }
  }

  // A started job is shown, not left below the fold: its row comes into view with focus on
  // its link, and a status line says where it is.
  function showStarted(row) {
    const status = document.getElementById("job-started");
    const link = row.querySelector("a.kind");
    if (status) status.textContent = "Started " + (link ? link.textContent : "a job") + ": it is first in Your jobs below.";
    for (const other of document.querySelectorAll(".job-row.just-started")) other.classList.remove("just-started");
    row.classList.add("just-started");
    if (link) link.focus({preventScroll: true});
    row.scrollIntoView({block: "center"});
  }

  function showErrors(form, data) {
    const put = (name, messages) => {
      const ul = form.querySelector('ul[data-errors-for="' + name + '"]') || form.querySelector('ul[data-errors-for="__all__"]');
      for (const m of [].concat(messages)) ul.append(el("li", {}, String(m)));
    };
    for (const [key, value] of Object.entries(data)) {
      if (key === "params" && value && typeof value === "object" && !Array.isArray(value)) {
        for (const [name, messages] of Object.entries(value)) put(name === "non_field_errors" ? "__all__" : name, messages);
      } else {
        put("__all__", value);
      }
    }
  }

  function fmtSeconds(s) {
    if (!isFinite(s) || s < 0) return "–";
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + sec + " s";
  }

  function detailPage(opts) {
    const stream = opts.stream;
    const root = document.getElementById("job");
    // Server timestamps only: a page's own clock would restart the count after a reload or a restart.
    let started = root.dataset.started ? Date.parse(root.dataset.started) : null;
    let finishedAt = root.dataset.finished ? Date.parse(root.dataset.finished) : null;
    let refreshing = null;

    function tick() {
      const status = root.dataset.status;
      const elapsedEl = root.querySelector(".elapsed"), etaEl = root.querySelector(".eta");
      root.querySelector(".eta-row").hidden = finished(status);
      if (finished(status)) {
        // Until the API says when it finished, keep the last value rather than guess.
        if (started && finishedAt) elapsedEl.textContent = fmtSeconds((finishedAt - started) / 1000);
        else if (!started) elapsedEl.textContent = "–";
        return;
      }
      if (page.unreachable) {
        elapsedEl.textContent = UNREACHABLE;
        etaEl.textContent = "–";
        return;
      }
      if (status !== "running" || !started) {
        elapsedEl.textContent = "–";
        etaEl.textContent = "–";
        return;
      }
      const elapsed = Math.max(0, (Date.now() - started) / 1000);
      elapsedEl.textContent = fmtSeconds(elapsed);
      const done = Number(root.dataset.done || 0), total = Number(root.dataset.total || 0);
      etaEl.textContent = done > 0 && total > done && elapsed > 0 ? fmtSeconds(elapsed * (total - done) / done) : "–";
    }
    setInterval(tick, 500);
    tick();

    // Started and finished as <time> elements (shown in the browser's time zone by the site's script).
    function showTime(cell, iso) {
      if (!cell || !iso || (cell.querySelector("time") || {}).dateTime === iso) return;
      cell.replaceChildren(el("time", {datetime: iso, "data-style": "datetime"}, iso.replace("T", " ").slice(0, 19)));
      const row = cell.closest("[hidden]");
      if (row) row.hidden = false;
    }

    async function refresh() {
      const r = await api("GET", "/api/jobs/" + opts.id + "/");
      if (!r.ok || !r.data) return;
      if (r.data.started) started = Date.parse(r.data.started);
      if (r.data.finished) finishedAt = Date.parse(r.data.finished);
      showTime(root.querySelector("dd.started"), r.data.started);
      showTime(root.querySelector("dd.finished"), r.data.finished);
      apply(root, r.data);
      tick();
    }
    // Events carry no timestamps: ask the API once when a start or an end needs one.
    function refreshForTimes() {
      const status = root.dataset.status;
      const missing = (status === "running" && !started) || (finished(status) && !finishedAt);
      if (!missing || refreshing) return;
      refreshing = refresh().catch(() => {}).finally(() => { refreshing = null; });
    }
    wireActions(root, () => root);
    followStream(stream, () => { paintStatus(root); paintActions(root); tick(); }, refresh);
    if (stream) {
      stream.channels.push(opts.channel);
      for (const name of ["progress", "complete", "failed", "cancelled"]) {
        stream.on(name, (data) => {
          if (!data || data.id !== opts.id) return;
          apply(root, fromEvent(name, data));
          tick();
          refreshForTimes();
        });
      }
      stream.on("reset", refresh);
    }
  }

  global.JobsUI = {listPage, detailPage, apply, renderResult, readable};
})(window);
