// Chat behaviour: Enter to send, typing notices, scrolling, read receipts, pickers.
(function () {
  "use strict";

  function pane() { return document.querySelector(".thread-pane[data-thread-id]"); }
  function messagesBox() {
    var p = pane();
    return p ? document.getElementById("messages-" + p.getAttribute("data-thread-id")) : null;
  }
  function nearBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 160; }
  function scrollToBottom(box) { box.scrollTop = box.scrollHeight; }

  // Opening a thread: show the searched-for message, else the first unread, else the end.
  function openThread() {
    var box = messagesBox();
    if (!box || box.dataset.opened) return;
    box.dataset.opened = "1";
    var at = new URLSearchParams(window.location.search).get("at");
    var focus = at && document.getElementById("message-" + at);
    var unread = document.getElementById("first-unread");
    if (focus) { focus.classList.add("highlight"); focus.scrollIntoView({ block: "center" }); }
    else if (unread) { unread.scrollIntoView({ block: "start" }); }
    else { scrollToBottom(box); }
    var composer = document.querySelector("[data-composer]");
    if (composer && window.matchMedia("(min-width: 761px)").matches) composer.focus();
  }
  document.addEventListener("DOMContentLoaded", openThread);
  document.addEventListener("htmx:afterSettle", openThread);

  // Enter sends, Shift+Enter is a new line (not while an IME is composing).
  document.addEventListener("keydown", function (evt) {
    var target = evt.target;
    if (!target.matches || !target.matches("[data-composer]")) return;
    if (evt.key === "Enter" && !evt.shiftKey && !evt.isComposing) {
      evt.preventDefault();
      if (target.value.trim() || (target.form.querySelector("input[type=file]").files || []).length) {
        target.form.requestSubmit();
      }
    }
  });

  // "Sam is typing…": at most one notice every 3 s while typing; never stored.
  var lastTyping = 0;
  document.addEventListener("input", function (evt) {
    var target = evt.target;
    if (!target.matches || !target.matches("[data-composer]") || !window.classhubRealtime) return;
    var now = Date.now();
    if (now - lastTyping > 3000) {
      lastTyping = now;
      window.classhubRealtime.send({ type: "typing", topic: "thread:" + target.form.getAttribute("data-thread-id") });
    }
  });

  // Selected files are listed under the composer.
  document.addEventListener("change", function (evt) {
    var input = evt.target;
    if (!input.matches || !input.matches(".composer input[type=file]")) return;
    var names = Array.prototype.map.call(input.files, function (f) { return f.name; });
    var out = input.form.querySelector("[data-composer-files]");
    if (out) out.textContent = names.length ? "Attached: " + names.join(", ") : "";
  });

  // Read receipts: tell the server what this visible page has shown (debounced).
  var readTimer = null;
  function markRead() {
    var p = pane(), box = messagesBox();
    if (!p || !box || document.visibilityState !== "visible") return;
    var ids = Array.prototype.map.call(box.querySelectorAll("[data-message-id]"), function (el) {
      return parseInt(el.getAttribute("data-message-id"), 10);
    });
    if (!ids.length) return;
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      htmx.ajax("POST", p.getAttribute("data-read-url"), {
        source: p, swap: "none", values: { message_id: Math.max.apply(null, ids) }
      });
    }, 600);
  }
  document.addEventListener("visibilitychange", markRead);

  // A new message keeps the view at the bottom if the reader was there (or wrote it); someone
  // reading older messages is not yanked down.
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    if (target && target.id && target.id.indexOf("messages-") === 0) {
      target.dataset.stick = nearBottom(target) ? "1" : "";
    }
  });
  var typingTimers = {};
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || !target.id || target.id.indexOf("messages-") !== 0) return;
    var box = messagesBox();
    if (!box || box.id !== target.id) return;
    var last = box.querySelector(".message:last-of-type");
    if (box.dataset.stick || (last && last.classList.contains("own"))) scrollToBottom(box);
    var typing = document.getElementById("typing-" + pane().getAttribute("data-thread-id"));
    if (typing) typing.textContent = "";
    markRead();
  });
  // Typing notices fade on their own: the server never sends "stopped typing".
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var el = evt.detail.target;
    if (!el || !el.id || el.id.indexOf("typing-") !== 0) return;
    var current = document.getElementById(el.id);
    clearTimeout(typingTimers[el.id]);
    typingTimers[el.id] = setTimeout(function () {
      var node = document.getElementById(el.id);
      if (node) node.textContent = "";
    }, 5000);
    if (current) current.hidden = false;
  });

  // "Load earlier" may bring a day divider the page already shows below it: keep the upper one.
  document.addEventListener("htmx:afterSwap", function () {
    var box = messagesBox();
    if (!box) return;
    var seen = {};
    box.querySelectorAll(".day-divider").forEach(function (el) {
      if (seen[el.id]) el.remove(); else seen[el.id] = true;
    });
  });

  // Student pickers: filter the checkbox list by name or email.
  document.addEventListener("input", function (evt) {
    var input = evt.target;
    if (!input.matches || !input.matches("[data-picker-filter]")) return;
    var q = input.value.trim().toLowerCase();
    input.closest("[data-picker]").querySelectorAll("[data-picker-item]").forEach(function (item) {
      item.hidden = q && item.getAttribute("data-name").indexOf(q) < 0;
    });
  });
})();
