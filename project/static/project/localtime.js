// Times in the reader's time zone. The server writes every time as
// <time datetime="2026-11-30T04:39:00+00:00">2026-11-30 04:39 UTC</time> (a fallback for
// readers without JavaScript); this rewrites each into the browser's zone, with a relative
// label that stays current ("just now", "5 min ago"), and the full local time in the title.
// Elements added later (live events, loaded pages) are rewritten as they arrive.
//
// data-style on the element picks the text:
//   "time"      09:39 PM            (the time of day alone; chat rows under a day separator)
//   "datetime"  Mon, Nov 30, 9:39 PM
//   "relative"  5 min ago
//   (none)      Mon, Nov 30, 9:39 PM · 5 min ago
// window.localTime.dayLabel(date) gives "Today", "Yesterday" or a date, for day separators.
(function () {
  "use strict";

  const MINUTE = 60 * 1000;
  const HOUR = 60 * MINUTE;
  const DAY = 24 * HOUR;

  const timeOfDay = new Intl.DateTimeFormat(undefined, {hour: "numeric", minute: "2-digit"});
  const fullDate = new Intl.DateTimeFormat(undefined, {weekday: "short", month: "short", day: "numeric"});
  const fullDateYear = new Intl.DateTimeFormat(undefined, {year: "numeric", month: "short", day: "numeric"});
  const long = new Intl.DateTimeFormat(undefined, {dateStyle: "full", timeStyle: "long"});

  function parse(el) {
    const value = el.getAttribute("datetime");
    if (!value) return null;
    const date = new Date(value);
    return isNaN(date.getTime()) ? null : date;
  }

  function startOfDay(date) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  }

  function dayLabel(date, now = new Date()) {
    const days = Math.round((startOfDay(now) - startOfDay(date)) / DAY);
    if (days === 0) return "Today";
    if (days === 1) return "Yesterday";
    return (date.getFullYear() === now.getFullYear() ? fullDate : fullDateYear).format(date);
  }

  function relative(date, now = new Date()) {
    const ago = now.getTime() - date.getTime();
    const span = Math.abs(ago);
    let label;
    if (span < 45 * 1000) return "just now";
    if (span < HOUR) label = Math.round(span / MINUTE) + " min";
    else if (span < DAY) label = Math.round(span / HOUR) + " h";
    else if (span < 30 * DAY) {
      const days = Math.round(span / DAY);
      label = days + (days === 1 ? " day" : " days");
    } else return dayLabel(date, now);
    return ago >= 0 ? label + " ago" : "in " + label;
  }

  function dateTime(date, now = new Date()) {
    const day = date.getFullYear() === now.getFullYear() ? fullDate : fullDateYear;
    return day.format(date) + ", " + timeOfDay.format(date);
  }

  function text(el, date, now) {
    switch (el.dataset.style) {
      case "time":
        return timeOfDay.format(date);
      case "datetime":
        return dateTime(date, now);
      case "relative":
        return relative(date, now);
      default:
        return dateTime(date, now) + " · " + relative(date, now);
    }
  }

  function localize(el, now = new Date()) {
    const date = parse(el);
    if (date === null) return;
    const shown = text(el, date, now);
    // Writing only on change keeps the observer below from seeing its own edits as news.
    if (el.textContent !== shown) el.textContent = shown;
    const title = long.format(date);
    if (el.title !== title) el.title = title;
    el.dataset.localized = "";
  }

  function localizeWithin(root, now = new Date()) {
    if (root.nodeType !== Node.ELEMENT_NODE) return;
    if (root.matches("time[datetime]")) localize(root, now);
    for (const el of root.querySelectorAll("time[datetime]")) localize(el, now);
  }

  const observer = new MutationObserver((records) => {
    const now = new Date();
    for (const record of records) {
      if (record.type === "attributes") localizeWithin(record.target, now);
      for (const node of record.addedNodes) localizeWithin(node, now);
    }
  });

  function start() {
    localizeWithin(document.body);
    observer.observe(document.body, {childList: true, subtree: true, attributes: true, attributeFilter: ["datetime", "data-style"]});
    // Relative labels age: "just now" becomes "1 min ago" without a reload.
    setInterval(() => localizeWithin(document.body), 30 * 1000);
  }

  // The server renders in the zone this cookie names (project.middleware.time_zone_middleware),
  // so the admin and the fallbacks agree with what this script shows.
  function rememberZone() {
    let zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
    if (!/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) return;
    const current = (document.cookie.match(/(?:^|;\s*)tz=([^;]*)/) || [])[1];
    if (current !== zone) document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
  }
  rememberZone();

  window.localTime = {localize, refresh: () => localizeWithin(document.body), relative, dayLabel, dateTime};
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
