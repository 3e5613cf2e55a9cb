// simgap study chat: posts messages with fetch and long-polls for the agent's reply.
// Without JavaScript the same forms post normally and the page refreshes while the agent types.
// Text from the server is only ever inserted with textContent (never as HTML).
// While the server cannot be reached, a "Connection lost. Retrying…" line shows and both the
// long-poll and a message being sent are retried (the message keeps its id: never stored twice).
(function () {
  "use strict";
  var chat = document.getElementById("chat");
  if (!chat || !window.fetch) return;

  var csrf = chat.getAttribute("data-csrf");
  var last = parseInt(chat.getAttribute("data-last"), 10);
  var list = document.getElementById("messages");
  var typing = document.getElementById("typing");
  var typingText = document.getElementById("typing-text");
  var conn = document.getElementById("conn");
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
  function offline(on) { if (conn) conn.hidden = !on; }
  // Retry after 1 s, 2 s, 4 s, then every 5 s.
  function backoff(n) { return Math.min(5000, 1000 * Math.pow(2, n)); }
  // The server is unreachable or a proxy answered for it: worth retrying. Any other answer
  // (including our own 500) is final.
  function unreachable(r) { return r.status === 502 || r.status === 503 || r.status === 504; }

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
    if (typingText) typingText.textContent = st.wait_text || "typing…";
    if (counter && typeof st.user_turns === "number") counter.textContent = st.user_turns + " /" + maxTurns;
    if (st.ended) { window.location.assign(st.next || "/p"); return false; }
    setThinking(!!st.thinking);
    return !!st.thinking;
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      for (var fails = 0; ;) {
        var r, st;
        try {
          r = await fetch("/p/chat/state?after=" + last + "&wait=20", {
            headers: { "X-Requested-With": "fetch" }, credentials: "same-origin", cache: "no-store"
          });
          if (unreachable(r)) throw new Error("HTTP " + r.status);
          st = r.ok ? await r.json() : null;
        } catch (e) {
          offline(true);
          await sleep(backoff(fails++));
          continue;
        }
        offline(false);
        fails = 0;
        if (!st) { window.location.assign("/p"); return; }  // signed out, or the chat is gone
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
    for (var fails = 0; ;) {
      try {
        r = await fetch(form.action, {
          method: "POST", body: body, credentials: "same-origin",
          headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf }
        });
        if (unreachable(r)) throw new Error("HTTP " + r.status);
      } catch (e) {
        offline(true);  // the same message (same id) is sent again until it gets through
        await sleep(backoff(fails++));
        continue;
      }
      try { st = await r.json(); } catch (e) { st = {}; }  // an answer, if not JSON: final
      break;
    }
    offline(false);
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

  // The scenario sits beside the chat on wide screens (open); on phones it is a bar above the
  // chat that opens on a tap, so the message box stays on screen.
  var scenario = document.getElementById("scenario");
  if (scenario && window.matchMedia("(min-width: 900px)").matches) scenario.open = true;

  scrollDown();
  if (thinking) poll();
})();
