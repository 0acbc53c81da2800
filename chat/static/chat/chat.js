/* The chat room page: live messages, presence, typing and unread counts on the
 * page's one stream.
 *
 * The page works without this script (server-rendered history, plain form
 * post). With it, four channels join window.pageStream: the room's messages
 * (chat.room.<slug>), who is here (chat.presence.<slug>), who is typing
 * (chat.typing.<slug>, ephemeral) and the user's own chat.user.<pk>, whose
 * `room_activity` {room, id} events count unread messages in the other rooms.
 * New messages are appended as they arrive, older pages are prepended on
 * request, the form posts with fetch and counts down when rate-limited. Times
 * are shown in the browser's time zone with a separator between days. Message
 * text only ever goes through textContent: markup in a message is shown, never run.
 */
(function () {
  "use strict";

  const root = document.getElementById("chat");
  const stream = window.pageStream;
  if (!root || !stream) return;

  const slug = root.dataset.room;
  const me = root.dataset.me;
  const list = document.getElementById("chat-messages");
  const empty = document.getElementById("chat-empty");
  const olderButton = document.getElementById("chat-older");
  const startNote = document.getElementById("chat-start");
  const status = document.getElementById("chat-status");
  const typingBox = document.getElementById("chat-typing");
  const roomList = document.getElementById("chat-room-list");
  const presence = document.getElementById("chat-presence");
  const presenceCount = document.getElementById("chat-presence-count");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const button = form.querySelector("button[type=submit]");
  const errorBox = document.getElementById("chat-error");
  const waitBox = document.getElementById("chat-wait");
  const offlineBox = document.getElementById("chat-offline");
  const csrfToken = form.elements.csrfmiddlewaretoken.value;

  const TYPING_EVERY_MS = 2000;  // at most one "typing" POST this often while typing
  const TYPING_SHOWN_MS = 5000;  // "x is typing…" goes away this long after x's last signal
  const unreadCap = Number(root.dataset.unreadCap) || 100;

  // Send is off while a message is on its way, while rate-limited (until waitUntil), and
  // while the room is not live.
  let offline = false;
  let sending = false;
  let waitUntil = 0;

  stream.channels.push(root.dataset.channel, "chat.presence." + slug, "chat.typing." + slug,
    root.dataset.userChannel);

  // -- times and days -------------------------------------------------------

  // project/localtime.js (loaded with defer, so after this script) localises every
  // <time>, also ones added later, and names days; until it has loaded, and on a
  // site without it, the same formats from here.
  const clock = new Intl.DateTimeFormat(undefined, {hour: "numeric", minute: "2-digit"});
  const fullDate = new Intl.DateTimeFormat(undefined, {dateStyle: "full", timeStyle: "long"});
  const shortDay = new Intl.DateTimeFormat(undefined, {weekday: "short", month: "short", day: "numeric"});
  const shortDayYear = new Intl.DateTimeFormat(undefined, {year: "numeric", month: "short", day: "numeric"});

  function dayKey(d) {
    return d.getFullYear() + "-" + (d.getMonth() + 1) + "-" + d.getDate();
  }

  function dayLabel(d) {
    if (window.localTime && window.localTime.dayLabel) return window.localTime.dayLabel(d);
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (dayKey(d) === dayKey(today)) return "Today";
    if (dayKey(d) === dayKey(yesterday)) return "Yesterday";
    return (d.getFullYear() === today.getFullYear() ? shortDay : shortDayYear).format(d);
  }

  function localise(time) {
    if (window.localTime && window.localTime.localize) return window.localTime.localize(time);
    const d = new Date(time.dateTime);
    if (isNaN(d.getTime())) return;
    time.textContent = clock.format(d);
    time.title = fullDate.format(d);
  }

  function messageItems() {
    return Array.from(list.querySelectorAll("li.chat-message"));
  }

  // Called after every change to the list (messages arrive live, come in from
  // older pages, or are reloaded) and every minute (Today turns into Yesterday).
  // Separators already in place stay: the list is a live region, and a removed
  // and re-added "Today" would be read out again.
  function renderDays() {
    const kept = new Set();
    let previous = null;
    for (const li of messageItems()) {
      const time = li.querySelector("time");
      const d = new Date(time ? time.dateTime : NaN);
      if (isNaN(d.getTime())) continue;
      const key = dayKey(d);
      if (key === previous) continue;
      previous = key;
      let sep = li.previousElementSibling;
      if (!(sep && sep.classList.contains("chat-day") && sep.dataset.day === key)) {
        sep = document.createElement("li");
        sep.className = "chat-day";
        sep.dataset.day = key;
        sep.append(document.createElement("span"));
        list.insertBefore(sep, li);
      }
      const label = dayLabel(d);
      if (sep.firstChild.textContent !== label) sep.firstChild.textContent = label;
      kept.add(sep);
    }
    for (const sep of list.querySelectorAll("li.chat-day")) if (!kept.has(sep)) sep.remove();
  }

  // -- messages ---------------------------------------------------------------

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  function messageItem(m) {
    const own = m.user === me;
    const li = document.createElement("li");
    li.className = own ? "chat-message chat-message--own" : "chat-message";
    li.dataset.id = String(m.id);
    li.dataset.user = String(m.user);
    const who = document.createElement("span");
    who.className = "chat-author";
    who.textContent = m.user;
    if (own) {
      const you = document.createElement("span");
      you.className = "visually-hidden";
      you.textContent = " (you)";
      who.append(you);
    }
    const when = document.createElement("time");
    when.dateTime = m.created;
    when.dataset.style = "time";
    localise(when);
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = m.body;
    li.append(who, " ", when, " ", text);
    return li;
  }

  // Inserts in id order, each message once (the POST answer and the stream both
  // bring our own); true if it was new.
  function insertMessage(m) {
    if (!m || m.room !== slug || typeof m.id !== "number") return false;
    let before = null;
    for (const li of messageItems()) {
      const id = Number(li.dataset.id);
      if (id === m.id) return false;
      if (id > m.id && before === null) before = li;
    }
    list.insertBefore(messageItem(m), before);
    return true;
  }

  function addMessage(m) {
    const stick = nearBottom();
    if (!insertMessage(m)) return;
    renderDays();
    empty.hidden = true;
    if (stick || m.user === me) list.scrollTop = list.scrollHeight;
  }

  // Older pages go on top; what the reader was looking at stays where it was.
  // The message that was first is the anchor: the height added above it is not the
  // page's alone (its day separator may move up to the older messages).
  function prependPage(results) {
    const anchor = messageItems()[0] || null;
    const offset = () => anchor.getBoundingClientRect().top - list.getBoundingClientRect().top;
    const before = anchor ? offset() : 0;
    list.setAttribute("aria-busy", "true");
    let added = 0;
    for (const m of results) if (insertMessage(m)) added += 1;
    renderDays();
    if (anchor) list.scrollTop += offset() - before;
    list.setAttribute("aria-busy", "false");
    if (added) empty.hidden = true;
    return added;
  }

  function showOlder(more) {
    olderButton.hidden = !more;
    startNote.hidden = more || messageItems().length === 0;
  }

  async function loadOlder() {
    const first = messageItems()[0];
    if (!first) return showOlder(false);
    if (olderButton.disabled) return;  // a page is on its way
    olderButton.disabled = true;
    try {
      const url = root.dataset.messagesUrl + "?before=" + encodeURIComponent(first.dataset.id);
      const page = await getJSON(url);
      const added = prependPage(page.results);
      showOlder(Boolean(page.next));
      status.textContent = added === 1 ? "1 older message loaded." : added + " older messages loaded.";
      if (olderButton.hidden) list.focus();
    } catch (e) {
      status.textContent = "Loading older messages failed. Try again.";
    } finally {
      olderButton.disabled = false;
    }
  }

  // -- presence and typing -----------------------------------------------------

  function showPresence(users) {
    presence.replaceChildren(...users.map((name) => {
      const li = document.createElement("li");
      li.dataset.user = String(name);
      li.textContent = name;
      return li;
    }));
    presenceCount.textContent = String(users.length);
  }

  const typers = new Map();  // username -> timer that takes them off

  function showTyping() {
    const names = Array.from(typers.keys()).sort();
    let text = "";
    if (names.length === 1) text = names[0] + " is typing…";
    else if (names.length === 2) text = names[0] + " and " + names[1] + " are typing…";
    else if (names.length > 2) text = "Several people are typing…";
    typingBox.textContent = text;
    typingBox.dataset.users = names.join(" ");
  }

  function stoppedTyping(name) {
    clearTimeout(typers.get(name));
    if (typers.delete(name)) showTyping();
  }

  function startedTyping(data) {
    if (!data || data.room !== slug || typeof data.user !== "string" || data.user === me) return;
    clearTimeout(typers.get(data.user));
    typers.set(data.user, setTimeout(() => stoppedTyping(data.user), TYPING_SHOWN_MS));
    showTyping();
  }

  let typingSentAt = 0;

  function signalTyping() {
    const now = Date.now();
    if (!input.value.trim() || now - typingSentAt < TYPING_EVERY_MS) return;
    typingSentAt = now;
    post(root.dataset.typingUrl).catch(() => { /* only a hint: never worth an error */ });
  }

  // -- unread counts in the other rooms -----------------------------------------

  function roomItem(room) {
    return roomList.querySelector('li[data-room="' + CSS.escape(room) + '"]');
  }

  function setUnread(li, count) {
    const badge = li.querySelector(".chat-unread");
    if (!badge) return;  // the room on screen has no count
    li.dataset.unread = String(count);
    badge.querySelector(".chat-unread-n").textContent = count >= unreadCap ? "99+" : String(count);
    badge.hidden = count <= 0;
  }

  function roomActivity(data) {
    if (!data || typeof data.room !== "string" || typeof data.id !== "number" || data.room === slug) return;
    const li = roomItem(data.room);
    if (!li) {
      // A room this list does not show yet (new, or we were just let in): read the list again.
      refreshRooms();
      return;
    }
    // Ids at or below last-id are in the count the server gave us already.
    if (data.id <= Number(li.dataset.lastId)) return;
    li.dataset.lastId = String(data.id);
    setUnread(li, Number(li.dataset.unread) + 1);
  }

  function newRoomItem(room) {
    const li = document.createElement("li");
    li.dataset.room = room.slug;
    li.dataset.lastId = "0";
    li.dataset.unread = "0";
    const a = document.createElement("a");
    a.href = room.url;
    a.textContent = "#" + room.slug + " ";
    const badge = document.createElement("span");
    badge.className = "chat-unread";
    badge.hidden = true;
    const n = document.createElement("span");
    n.className = "chat-unread-n";
    const hint = document.createElement("span");
    hint.className = "visually-hidden";
    hint.textContent = " unread";
    badge.append(n, hint);
    a.append(badge);
    li.append(a);
    return li;
  }

  // The server's counts, read again when events may have been missed (the stream
  // was not open yet when the page was rendered, or it was reset).
  async function refreshRooms() {
    let page;
    try {
      page = await getJSON(root.dataset.roomsUrl);
    } catch (e) {
      return;
    }
    const readable = new Set();
    for (const room of page.results) {
      readable.add(room.slug);
      let li = roomItem(room.slug);
      if (!li) {
        li = newRoomItem(room);
        roomList.append(li);
      }
      if (room.slug === slug || room.last_id < Number(li.dataset.lastId)) continue;
      li.dataset.lastId = String(room.last_id);
      setUnread(li, room.unread);
    }
    for (const li of roomList.querySelectorAll("li[data-room]")) {
      if (!readable.has(li.dataset.room)) li.remove();  // we were taken out of a private room
    }
  }

  // Messages that arrive while the page is in view are read: the mark follows, so
  // this room's count starts from here when the user is in another one.
  let readTimer = null;

  function markRead() {
    if (readTimer !== null || document.visibilityState !== "visible") return;
    readTimer = setTimeout(() => {
      readTimer = null;
      post(root.dataset.readUrl).catch(() => { /* the next message or visit marks it */ });
    }, 1000);
  }

  // -- server ------------------------------------------------------------------

  async function getJSON(url) {
    const r = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken},
      body: JSON.stringify(body || {}),
    });
  }

  // After a `reset` the stream could not replay what we missed: load the state again.
  async function reload() {
    try {
      const page = await getJSON(root.dataset.messagesUrl);
      for (const li of messageItems()) li.remove();
      prependPage(page.results);
      list.scrollTop = list.scrollHeight;
      showOlder(Boolean(page.next));
      empty.hidden = messageItems().length > 0;
      showPresence((await getJSON(root.dataset.presenceUrl)).users);
    } catch (e) {
      console.error("reloading the room failed", e);
    }
    refreshRooms();
  }

  let sawMyself = false;

  stream.on("message", (data) => {
    addMessage(data);
    if (data && data.room === slug) {
      stoppedTyping(data.user);
      markRead();
    }
  });
  stream.on("presence", (data) => {
    if (!data || !Array.isArray(data.users)) return;
    showPresence(data.users);
    if (!sawMyself && data.users.includes(me)) {
      // From now on the server knows this page is open and sends us room_activity.
      sawMyself = true;
      refreshRooms();
    }
  });
  stream.on("typing", startedTyping);
  stream.on("room_activity", roomActivity);
  stream.on("reset", reload);
  stream.onState((state) => {
    root.dataset.state = state;
    // Reconnecting (the server restarts, the network is gone) or stopped: Send waits for the
    // room to be live again; the text box stays, so what is typed is kept.
    const wasOffline = offline;
    offline = state === "reconnecting" || (state === "stopped" && stream.stopReason !== null);
    if (offline !== wasOffline) {
      offlineBox.hidden = !offline;
      syncButton();
    }
    if (state === "live") refreshRooms();
  });
  document.addEventListener("visibilitychange", markRead);

  // -- sending -----------------------------------------------------------------

  function showError(text) {
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
  }

  function errorText(status, data) {
    if (data && Array.isArray(data.body) && data.body.length) return String(data.body[0]);
    if (data && typeof data.detail === "string") return data.detail;
    return "Sending failed (" + status + "). Try again.";
  }

  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
  }

  function syncButton() {
    button.disabled = offline || sending || Boolean(waitUntil);
  }

  // Rate-limited: the Send button waits out Retry-After, counting down (not a live
  // region: the alert above said it once; a reading every second would be noise).
  let waitTimer = null;

  function tick() {
    const left = Math.ceil((waitUntil - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(waitTimer);
      waitTimer = null;
      waitUntil = 0;
      waitBox.hidden = true;
      waitBox.textContent = "";
      showError("");
      syncButton();
      return;
    }
    waitBox.textContent = "You can send again in " + duration(left);
    waitBox.hidden = false;
  }

  function waitFor(seconds) {
    waitUntil = Date.now() + seconds * 1000;
    syncButton();
    clearInterval(waitTimer);
    waitTimer = setInterval(tick, 1000);
    tick();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (waitUntil || offline || sending) return;
    const body = input.value;
    if (!body.trim()) {
      showError("Write a message first: it is empty.");
      return;
    }
    sending = true;
    syncButton();
    try {
      const r = await post(root.dataset.messagesUrl, {body: body});
      let data = null;
      try { data = await r.json(); } catch (e) { data = null; }
      if (r.status === 201) {
        input.value = "";
        typingSentAt = 0;
        showError("");
        addMessage(data);
      } else if (r.status === 429) {
        showError("You are sending messages too fast.");
        waitFor(Math.max(1, parseInt(r.headers.get("Retry-After"), 10) || 5));
      } else {
        showError(errorText(r.status, data));
      }
    } catch (e) {
      showError("Could not reach the server. Try again.");
    } finally {
      sending = false;
      syncButton();
      input.focus();
    }
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", signalTyping);
  olderButton.addEventListener("click", loadOlder);
  // Scrolling up to the top of the list loads the page before it, as the button does (the
  // button stays, for keyboards and for a list too short to scroll).
  const NEAR_TOP = 80;
  let lastScrollTop = list.scrollTop;
  list.addEventListener("scroll", () => {
    const up = list.scrollTop < lastScrollTop;
    lastScrollTop = list.scrollTop;
    if (up && list.scrollTop < NEAR_TOP && !olderButton.hidden && !olderButton.disabled) loadOlder();
  }, {passive: true});

  // -- the server-rendered page -------------------------------------------------

  for (const time of list.querySelectorAll("time")) localise(time);
  renderDays();
  showOlder(olderButton.dataset.hasOlder === "true");
  const retryAfter = Number(waitBox.dataset.retryAfter);
  if (retryAfter > 0) waitFor(retryAfter);
  // Again once localtime.js has loaded (its day names win), and every minute:
  // "Today" becomes "Yesterday" at midnight on a page left open.
  document.addEventListener("DOMContentLoaded", renderDays);
  setInterval(renderDays, 60000);
  list.scrollTop = list.scrollHeight;
})();
