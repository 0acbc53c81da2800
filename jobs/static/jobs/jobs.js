/* jobs.js: live job rows (/jobs/) and a live job page (/jobs/<uuid>/).
 * Both listen on the page's one stream (window.pageStream) and re-read the
 * job state from the API whenever the stream (re)connects, so nothing that
 * happened between rendering and connecting is missed.
 */
(function (global) {
  "use strict";

  const FINAL = {complete: "succeeded", failed: "failed", cancelled: "cancelled"};

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

  // The result cell: a download link for a file, else key: value pairs; the error for a failure.
  function renderResult(box, job) {
    box.replaceChildren();
    if (job.status === "succeeded" && job.result) {
      const r = job.result;
      if (r.download_url) {
        box.append(el("a", {class: "download", href: r.download_url, download: ""}, "Download " + r.file));
        box.append(" ", el("small", {}, "(" + r.bytes + " bytes)"));
      } else if (typeof r === "object") {
        for (const [k, v] of Object.entries(r)) {
          const kv = el("span", {class: "kv"});
          kv.append(el("b", {}, k), ": " + (typeof v === "object" ? JSON.stringify(v) : String(v)));
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

  // Apply a job state (an API job, or an event's data with its status) to a row or the detail card.
  function apply(root, job) {
    const kindLink = root.querySelector("a.kind");
    if (kindLink && job.kind) kindLink.textContent = job.kind;
    const time = root.querySelector("td.created time");
    if (time && job.created && !time.getAttribute("datetime")) {
      time.setAttribute("datetime", job.created);
      time.textContent = job.created.replace("T", " ").slice(0, 19);
    }
    const order = ["queued", "running", "succeeded", "failed", "cancelled"];
    const finished = (s) => s === "succeeded" || s === "failed" || s === "cancelled";
    // A late event or an API answer older than the last event never moves a job back.
    const rank = (s) => (finished(s) ? 2 : s === "running" ? 1 : 0);
    if (job.status && rank(job.status) < rank(root.dataset.status)) return;
    if (finished(root.dataset.status) && !finished(job.status)) return;
    if (job.status === root.dataset.status && job.done !== undefined && root.dataset.done !== undefined &&
        Number(job.done) < Number(root.dataset.done)) return;
    if (job.status && order.includes(job.status)) {
      root.dataset.status = job.status;
      const target = root.querySelector(".job-status");
      target.textContent = job.status;
      target.className = target.className.replace(/status-\w+/, "status-" + job.status);
    }
    if (job.percent !== undefined) {
      const percent = job.status === "succeeded" ? 100 : job.percent;
      root.dataset.percent = String(percent);
      root.querySelector("progress").value = percent;
      root.querySelector(".percent").textContent = percent + "%";
    }
    if (job.done !== undefined) {
      const done = root.querySelector(".done"), total = root.querySelector(".total");
      if (done) done.textContent = String(job.done);
      if (total) total.textContent = String(job.total);
      root.dataset.done = String(job.done);
      root.dataset.total = String(job.total);
    }
    if (job.message !== undefined) root.querySelector(".message").textContent = job.message;
    if (finished(job.status)) renderResult(root.querySelector(".result"), job);
  }

  function fromEvent(name, data) {
    if (FINAL[name]) return Object.assign({}, data, {status: FINAL[name]});
    return data;
  }

  function rowFor(job) {
    const tr = el("tr", {id: "job-" + job.id, class: "job-row", "data-job": job.id, "data-status": job.status || "queued"});
    const link = el("a", {class: "kind", href: "/jobs/" + job.id + "/"}, job.kind || "job");
    const td = (cls) => el("td", cls ? {class: cls} : {});
    const kind = td(); kind.append(link);
    const status = td("status"); status.append(el("span", {class: "job-status status-queued"}, "queued"));
    const bar = td("bar"); bar.append(el("progress", {max: "100", value: "0"}), " ", el("span", {class: "percent"}, "0%"));
    const created = td("created"); created.append(el("time", {datetime: job.created || ""}, (job.created || "").replace("T", " ").slice(0, 19)));
    tr.append(kind, status, bar, td("message"), td("result"), created);
    return tr;
  }

  function listPage(opts) {
    const stream = opts.stream;
    const tbody = document.getElementById("job-rows");
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
      stream.onState((state) => { if (state === "live") refresh(); });
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
            apply(ensureRow(r.data), r.data);
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
    const cancelForm = root.querySelector(".cancel-form");
    let started = root.dataset.started ? Date.parse(root.dataset.started) : null;
    let finishedAt = root.dataset.finished ? Date.parse(root.dataset.finished) : null;
    const finished = () => ["succeeded", "failed", "cancelled"].includes(root.dataset.status);

    function tick() {
      const elapsedEl = root.querySelector(".elapsed"), etaEl = root.querySelector(".eta");
      if (!started && root.dataset.status === "running") started = Date.now();
      if (finished() && !finishedAt) finishedAt = Date.now();
      const end = finishedAt || Date.now();
      const elapsed = started ? (end - started) / 1000 : NaN;
      elapsedEl.textContent = fmtSeconds(elapsed);
      const done = Number(root.dataset.done || 0), total = Number(root.dataset.total || 0);
      if (finished()) etaEl.textContent = "0 s";
      else if (done > 0 && total > done && elapsed > 0) etaEl.textContent = fmtSeconds(elapsed * (total - done) / done);
      else etaEl.textContent = "–";
      if (cancelForm) cancelForm.hidden = finished();
    }
    setInterval(tick, 500);
    tick();

    async function refresh() {
      const r = await api("GET", "/api/jobs/" + opts.id + "/");
      if (!r.ok || !r.data) return;
      if (r.data.started) started = Date.parse(r.data.started);
      if (r.data.finished) finishedAt = Date.parse(r.data.finished);
      apply(root, r.data);
      tick();
    }
    if (stream) {
      stream.channels.push(opts.channel);
      for (const name of ["progress", "complete", "failed", "cancelled"]) {
        stream.on(name, (data) => {
          if (!data || data.id !== opts.id) return;
          apply(root, fromEvent(name, data));
          tick();
        });
      }
      stream.on("reset", refresh);
      stream.onState((state) => { if (state === "live") refresh(); });
    }
    if (cancelForm) {
      cancelForm.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const r = await api("POST", "/api/jobs/" + opts.id + "/cancel/");
        if (r.data && (r.data.status || (r.data.job && r.data.job.status))) apply(root, r.data.job || r.data);
        tick();
      });
    }
  }

  global.JobsUI = {listPage, detailPage, apply, renderResult};
})(window);
