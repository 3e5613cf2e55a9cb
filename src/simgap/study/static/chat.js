// simgap study chat: posts messages with fetch and long-polls for the agent's reply.
// Without JavaScript the same forms post normally and the page refreshes while the agent types.
// Text from the server is only ever inserted with textContent (never as HTML).
(function () {
  "use strict";
  var chat = document.getElementById("chat");
  if (!chat || !window.fetch) return;

  var csrf = chat.getAttribute("data-csrf");
  var last = parseInt(chat.getAttribute("data-last"), 10);
  var list = document.getElementById("messages");
  var typing = document.getElementById("typing");
  var form = document.getElementById("composer");
  var text = document.getElementById("text");
  var send = document.getElementById("send");
  var errBox = document.getElementById("chat-error");
  var endForm = document.getElementById("endform");
  var endBtn = document.getElementById("end");
  var counter = document.getElementById("counter");
  var maxTurns = counter ? counter.textContent.split("/")[1] : "";
  var polling = false;
  var thinking = chat.getAttribute("data-thinking") === "1";
  var pendingId = null;
  var pendingText = null;

  function newId() {
    var a = new Uint8Array(9);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function scrollDown() { list.scrollTop = list.scrollHeight; }
  function showError(msg) { errBox.textContent = msg; errBox.hidden = !msg; }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function add(m) {
    if (m.idx <= last) return;
    var wrap = document.createElement("div");
    wrap.className = "msg " + (m.role === "agent" ? "agent" : "user");
    var who = document.createElement("div");
    who.className = "who";
    who.textContent = m.role === "agent" ? "Agent" : "You";
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.dir = "auto";  // isolated: direction controls in the text cannot reorder the page
    bubble.textContent = m.text;
    wrap.appendChild(who);
    wrap.appendChild(bubble);
    list.insertBefore(wrap, typing);
    last = m.idx;
  }

  function setThinking(on) {
    thinking = on;
    typing.hidden = !on;
    send.disabled = on;
    scrollDown();
  }

  function apply(st) {
    (st.messages || []).forEach(add);
    if (counter && typeof st.user_turns === "number") counter.textContent = st.user_turns + " /" + maxTurns;
    if (st.ended) { window.location.assign(st.next || "/p"); return false; }
    setThinking(!!st.thinking);
    return !!st.thinking;
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      for (;;) {
        var r;
        try {
          r = await fetch("/p/chat/state?after=" + last + "&wait=20", {
            headers: { "X-Requested-With": "fetch" }, credentials: "same-origin", cache: "no-store"
          });
        } catch (e) { await sleep(2000); continue; }
        if (!r.ok) { await sleep(2000); continue; }
        var st = await r.json();
        if (!apply(st)) break;
      }
    } finally {
      polling = false;
    }
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var value = text.value.trim();
    if (!value) { showError("Please type a message first."); return; }
    if (thinking) { showError("Please wait for the agent's reply before sending another message."); return; }
    if (value !== pendingText) { pendingId = newId(); pendingText = value; }
    var body = new FormData(form);
    body.set("text", value);
    body.set("msg_id", pendingId);
    send.disabled = true;
    showError("");
    var r, st;
    try {
      r = await fetch(form.action, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf }
      });
      st = await r.json();
    } catch (e) {
      showError("Connection problem: please press Send again (your message will not be duplicated).");
      send.disabled = false;
      return;
    }
    if (!r.ok) {
      showError(st.error || "Your message could not be sent.");
      if (st.code === "ended" || st.ended) { window.location.assign(st.next || "/p"); return; }
      send.disabled = thinking;
      return;
    }
    pendingId = null;
    pendingText = null;
    text.value = "";
    if (apply(st)) poll();
  });

  text.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && window.matchMedia("(pointer: fine)").matches) {
      ev.preventDefault();
      if (!send.disabled) form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  endForm.addEventListener("submit", function (ev) {
    if (!window.confirm("End the conversation and go to the questions?")) { ev.preventDefault(); return; }
    endBtn.disabled = true;
    endBtn.textContent = thinking ? "Ending after the agent's reply…" : "Ending…";
  });

  scrollDown();
  if (thinking) poll();
})();
