/* The chat room page: live messages and presence on the page's one stream.
 *
 * The page works without this script (server-rendered history, plain form
 * post). With it, the room's two channels join window.pageStream (messages on
 * chat.room.<slug>, who is here on chat.presence.<slug>), new messages are
 * appended as they arrive, the form posts with fetch, and the presence list
 * follows the room's `presence` events. Message text only ever goes through
 * textContent: markup in a message is shown, never run.
 */
(function () {
  "use strict";

  const root = document.getElementById("chat");
  const stream = window.pageStream;
  if (!root || !stream) return;

  const slug = root.dataset.room;
  const list = document.getElementById("chat-messages");
  const empty = document.getElementById("chat-empty");
  const presence = document.getElementById("chat-presence");
  const presenceCount = document.getElementById("chat-presence-count");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const button = form.querySelector("button[type=submit]");
  const errorBox = document.getElementById("chat-error");

  stream.channels.push(root.dataset.channel, "chat.presence." + slug);

  function timeLabel(iso) {
    const d = new Date(iso);
    return isNaN(d.getTime()) ? "" : d.toISOString().slice(11, 16);
  }

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  function messageItem(m) {
    const li = document.createElement("li");
    li.className = "chat-message";
    li.dataset.id = String(m.id);
    li.dataset.user = String(m.user);
    const who = document.createElement("span");
    who.className = "chat-author";
    who.textContent = m.user;
    const when = document.createElement("time");
    when.dateTime = m.created;
    when.textContent = timeLabel(m.created);
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = m.body;
    li.append(who, " ", when, " ", text);
    return li;
  }

  function addMessage(m) {
    if (!m || m.room !== slug || typeof m.id !== "number") return;
    // The POST answer and the stream both bring our own messages: keep one, in id order.
    let before = null;
    for (const li of list.children) {
      const id = Number(li.dataset.id);
      if (id === m.id) return;
      if (id > m.id && before === null) before = li;
    }
    const stick = nearBottom();
    list.insertBefore(messageItem(m), before);
    empty.hidden = true;
    if (stick || m.user === root.dataset.me) list.scrollTop = list.scrollHeight;
  }

  function showPresence(users) {
    presence.replaceChildren(...users.map((name) => {
      const li = document.createElement("li");
      li.dataset.user = String(name);
      li.textContent = name;
      return li;
    }));
    presenceCount.textContent = String(users.length);
  }

  function showError(text) {
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
  }

  async function getJSON(url) {
    const r = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  // After a `reset` the stream could not replay what we missed: load the state again.
  async function reload() {
    try {
      const page = await getJSON(root.dataset.messagesUrl);
      list.replaceChildren();
      for (const m of page.results.slice().reverse()) addMessage(m);
      empty.hidden = list.children.length > 0;
      showPresence((await getJSON(root.dataset.presenceUrl)).users);
    } catch (e) {
      console.error("reloading the room failed", e);
    }
  }

  stream.on("message", (data) => addMessage(data));
  stream.on("presence", (data) => {
    if (data && Array.isArray(data.users)) showPresence(data.users);
  });
  stream.on("reset", reload);
  stream.onState((state) => { root.dataset.state = state; });

  function errorText(status, data) {
    if (data && Array.isArray(data.body) && data.body.length) return String(data.body[0]);
    if (data && typeof data.detail === "string") return data.detail;
    return "Sending failed (" + status + "). Try again.";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = input.value;
    if (!body.trim()) {
      showError("Write a message first: it is empty.");
      return;
    }
    button.disabled = true;
    try {
      const r = await fetch(root.dataset.messagesUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": form.elements.csrfmiddlewaretoken.value,
        },
        body: JSON.stringify({body: body}),
      });
      let data = null;
      try { data = await r.json(); } catch (e) { data = null; }
      if (r.status === 201) {
        input.value = "";
        showError("");
        addMessage(data);
      } else {
        showError(errorText(r.status, data));
      }
    } catch (e) {
      showError("Could not reach the server. Try again.");
    } finally {
      button.disabled = false;
      input.focus();
    }
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  list.scrollTop = list.scrollHeight;
})();
