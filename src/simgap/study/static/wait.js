// simgap study "you are next" page: asks every 3 s whether it is this person's turn, keeps the
// text up to date, and starts the chat (submits the start form) when it is. Without
// JavaScript the page refreshes every 5 s and the person presses "Start the chat".
(function () {
  "use strict";
  var box = document.getElementById("waiting");
  var form = document.getElementById("startform");
  if (!box || !form || !window.fetch) return;
  var heading = box.querySelector("h1");
  var line = document.getElementById("wait-line");
  var started = false;

  function show(pos) {
    if (pos === 1) {
      heading.textContent = "You are next";
      if (line) line.textContent = "The agent is busy with other people right now. Your chat starts by itself as soon as one of their conversations ends; please keep this page open.";
    } else if (pos > 1) {
      heading.textContent = "Please wait a moment";
      if (line) line.textContent = "The agent is busy with other people right now. " + (pos - 1) + (pos === 2 ? " person is" : " people are") + " ahead of you. Your chat starts by itself when it is your turn; please keep this page open.";
    }
    box.setAttribute("data-position", String(pos));
  }

  function start() {
    if (started) return;
    started = true;
    heading.textContent = "It is your turn";
    if (line) line.textContent = "Starting your chat…";
    form.submit();
  }

  async function tick() {
    try {
      var r = await fetch("/p/wait/state", {
        headers: { "X-Requested-With": "fetch" }, credentials: "same-origin", cache: "no-store"
      });
      if (r.ok) {
        var st = await r.json();
        if (st.next) { window.location.assign(st.next); return; }
        if (st.start) { start(); return; }
        show(st.position);
      }
    } catch (e) { /* the server is unreachable for a moment: ask again */ }
    setTimeout(tick, 3000);
  }

  if (box.getAttribute("data-position") === "0") start(); else setTimeout(tick, 3000);
})();
