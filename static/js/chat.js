// Chat behaviour: Enter to send, typing notices, scrolling, read receipts, message grouping,
// pickers. Reading and sending work without it (plain links and forms); this makes them live.
(function () {
  "use strict";

  var GROUP_WINDOW_MS = 5 * 60 * 1000; // the same rule as templates/chat/_message.html
  var touch = window.matchMedia("(pointer: coarse)");

  function pane() { return document.querySelector(".thread-pane[data-thread-id]"); }
  function messagesBox() {
    var p = pane();
    return p ? document.getElementById("messages-" + p.getAttribute("data-thread-id")) : null;
  }
  function nearBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 160; }
  function scrollToBottom(box) { box.scrollTop = box.scrollHeight; }
  // Scroll the message list only: scrollIntoView would scroll the page too, and slide the
  // thread's header under the sticky site header.
  function scrollWithin(box, el, where) {
    var offset = el.getBoundingClientRect().top - box.getBoundingClientRect().top;
    if (where === "center") offset -= (box.clientHeight - el.offsetHeight) / 2;
    else offset -= 8;
    box.scrollTop += offset;
  }

  // Opening a thread: show the searched-for message, else the first unread, else the end.
  function openThread() {
    var box = messagesBox();
    if (!box || box.dataset.opened) return;
    box.dataset.opened = "1";
    regroup(box);
    var at = new URLSearchParams(window.location.search).get("at");
    var focus = at && document.getElementById("message-" + at);
    var unread = document.getElementById("first-unread");
    if (focus) { focus.classList.add("highlight"); scrollWithin(box, focus, "center"); }
    else if (unread) { scrollWithin(box, unread, "start"); }
    else { scrollToBottom(box); }
    var composer = document.querySelector("[data-composer]");
    if (composer && window.matchMedia("(min-width: 761px)").matches) composer.focus({ preventScroll: true });
    markRead(); // opening a thread (a GET) changes nothing: the page says what it has shown
  }
  document.addEventListener("DOMContentLoaded", openThread);
  document.addEventListener("htmx:afterSettle", openThread);

  // Consecutive messages from one person within a few minutes read as one block (no repeated
  // avatar and name). The server renders it so; after live changes (an edit, a deletion, a
  // message arriving) the page applies the same rule.
  function messageTime(el) {
    var t = el.querySelector("time[datetime]");
    return t ? Date.parse(t.getAttribute("datetime")) : NaN;
  }
  function regroup(box) {
    if (!box) return;
    var previous = null;
    Array.prototype.forEach.call(box.children, function (el) {
      if (!el.classList.contains("message")) { previous = null; return; }
      var sender = el.getAttribute("data-sender-id");
      var system = el.classList.contains("kind-system");
      var continued = Boolean(previous && sender && !system &&
        previous.getAttribute("data-sender-id") === sender &&
        previous.className.match(/kind-\w+/)[0] === el.className.match(/kind-\w+/)[0] &&
        messageTime(el) - messageTime(previous) < GROUP_WINDOW_MS);
      el.classList.toggle("continued", continued);
      previous = el.hasAttribute("data-sender-id") ? el : null;
    });
  }

  // The open conversation's row in the list stays marked while the server re-renders rows, and
  // a list filtered by kind keeps out rows of other kinds that new activity brings to the top.
  function markActiveRow() {
    var p = pane(), list = document.getElementById("thread-list");
    if (!list) return;
    var id = p ? p.getAttribute("data-thread-id") : null;
    var kind = list.getAttribute("data-kind");
    list.querySelectorAll(".thread-item").forEach(function (row) {
      if (kind && row.getAttribute("data-kind") !== kind) { row.remove(); return; }
      var active = row.getAttribute("data-thread-id") === id;
      row.classList.toggle("active", active);
      if (active) row.classList.remove("unread");
      var link = row.querySelector("a");
      if (link) {
        if (active) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
    });
  }

  // --- the composer ----------------------------------------------------------------------------
  // The composer grows with its text: CSS field-sizing where supported, else more rows (never
  // an inline style: the CSP refuses those, and htmx copies attributes when it swaps).
  var autoSized = window.CSS && CSS.supports && CSS.supports("field-sizing", "content");
  function grow(textarea) {
    if (autoSized) return;
    textarea.rows = 1;
    while (textarea.rows < 8 && textarea.scrollHeight > textarea.clientHeight) textarea.rows += 1;
  }
  // Enter sends, Shift+Enter is a new line (not while an IME is composing). On touch screens
  // the keyboard's Enter makes a new line and the Send button sends, as in phone messengers.
  document.addEventListener("keydown", function (evt) {
    var target = evt.target;
    if (!target.matches || !target.matches("[data-composer]")) return;
    if (evt.key === "Enter" && !evt.shiftKey && !evt.isComposing && !touch.matches) {
      evt.preventDefault();
      var files = target.form.querySelector("input[type=file]");
      if (target.value.trim() || (files && files.files.length)) target.form.requestSubmit();
    }
  });
  document.addEventListener("input", function (evt) {
    if (evt.target.matches && evt.target.matches("[data-composer]")) grow(evt.target);
  });

  // Sending clears the box at once, so the next message can be typed while this one is on its
  // way; whatever is typed meanwhile survives the composer being replaced by the answer. One
  // send at a time, in order: Enter while a send is on its way queues that text (htmx would
  // queue the request on the form the answer replaces, and drop it). A refused or failed send
  // puts its text back, with anything queued behind it, unsent.
  // Keyed by the composer's id: the form that sent is not the form that the answer brings.
  var inFlight = {}, queued = {}, typedMeanwhile = {}, carry = {}, sendWhenSettled = {};
  // Each composed message has its own key (the hidden client_key field). The server stores a
  // key once, so the same message sent again after a failure (the worker died after saving it,
  // the network dropped the answer) is never stored twice. The next message gets a new key as
  // soon as this one is on its way; a failed one gets its key back with its text.
  var inFlightKey = {};
  function newClientKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function composerOf(evt) {
    var elt = evt.detail && evt.detail.elt;
    return elt && elt.matches && elt.matches("form.composer") ? elt : null;
  }
  function textBox(id) {
    var form = document.getElementById(id);
    return form ? form.querySelector("[data-composer]") : null;
  }
  function joinTexts(texts) {
    return texts.filter(function (t) { return t && t.trim(); }).join("\n");
  }
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form.matches || !form.matches("form.composer") || !(form.id in inFlight)) return;
    evt.preventDefault();
    evt.stopPropagation();
    var box = form.querySelector("[data-composer]");
    var files = form.querySelector("input[type=file]");
    if (!box.value.trim() || (files && files.files.length)) return; // files: send once free
    (queued[form.id] = queued[form.id] || []).push(box.value);
    box.value = "";
    grow(box);
  }, true);
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var form = composerOf(evt);
    if (!form) return;
    var box = form.querySelector("[data-composer]");
    inFlight[form.id] = box.value; // htmx has already taken the form's values
    var keyField = form.querySelector("[data-client-key]");
    if (keyField) {
      inFlightKey[form.id] = keyField.value;
      keyField.value = newClientKey();
    }
    box.value = carry[form.id] || "";
    delete carry[form.id];
    grow(box);
  });
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var form = composerOf(evt);
    if (!form || !(form.id in inFlight)) return;
    var box = textBox(form.id);
    typedMeanwhile[form.id] = box ? box.value : "";
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    var form = composerOf(evt);
    var box = form && textBox(form.id);
    if (!form || !box || !(form.id in inFlight)) return;
    var id = form.id, typed = typedMeanwhile[id] || "", waiting = queued[id] || [];
    delete typedMeanwhile[id];
    delete inFlight[id];
    delete inFlightKey[id];
    delete queued[id];
    if (box.value) {
      // Refused (the answer holds the text and says why): nothing behind it is sent either.
      box.value = joinTexts([box.value].concat(waiting, [typed]));
    } else if (waiting.length) {
      box.value = waiting.shift();
      queued[id] = waiting;
      carry[id] = typed;
      sendWhenSettled[id] = true; // htmx wires up the new form when it settles
    } else {
      box.value = typed;
    }
    grow(box);
  });
  document.addEventListener("htmx:afterSettle", function (evt) {
    var form = evt.target;
    if (!form || !form.id || !sendWhenSettled[form.id]) return;
    delete sendWhenSettled[form.id];
    form.requestSubmit();
  });
  function restoreUnsent(evt) {
    var form = composerOf(evt);
    if (!form || !(form.id in inFlight)) return;
    var box = textBox(form.id) || form.querySelector("[data-composer]");
    var sentText = inFlight[form.id];
    box.value = joinTexts([sentText].concat(queued[form.id] || [], [box.value]));
    // The same text goes out again under the same key. Text joined with more typed since is a
    // new message: under the old key it would be answered with the first part alone (if that
    // was stored after all) and the rest lost.
    var keyField = box.form && box.form.querySelector("[data-client-key]");
    if (keyField && inFlightKey[form.id] && box.value === sentText) keyField.value = inFlightKey[form.id];
    grow(box);
    delete inFlight[form.id];
    delete inFlightKey[form.id];
    delete queued[form.id];
  }
  document.addEventListener("htmx:sendError", restoreUnsent);
  document.addEventListener("htmx:responseError", restoreUnsent);

  // "Sam is typing…": at most one notice every 3 s while typing; never stored.
  var lastTyping = 0;
  document.addEventListener("input", function (evt) {
    var target = evt.target;
    if (!target.matches || !target.matches("[data-composer]") || !window.classhubRealtime) return;
    var now = Date.now();
    if (now - lastTyping > 3000 && target.value.trim()) {
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

  // --- reading ---------------------------------------------------------------------------------
  // Read receipts: tell the server what this visible page has shown (debounced).
  var readTimer = null, readRetry = null, readFailures = 0;
  function markRead() {
    var p = pane(), box = messagesBox();
    if (!p || !box || document.visibilityState !== "visible") return;
    var ids = Array.prototype.map.call(box.querySelectorAll("[data-message-id]"), function (el) {
      return parseInt(el.getAttribute("data-message-id"), 10);
    });
    if (!ids.length) return;
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      // A receipt lost to the network is sent again a little later (and with the next message).
      clearTimeout(readRetry);
      htmx.ajax("POST", p.getAttribute("data-read-url"), {
        source: p, swap: "none", values: { message_id: Math.max.apply(null, ids) }
      }).then(function () { readFailures = 0; }, function () {
        readFailures += 1;
        if (readFailures <= 3) readRetry = setTimeout(markRead, 3000 * readFailures);
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
    regroup(box);
    var last = box.lastElementChild;
    if (box.dataset.stick || (last && last.classList.contains("own"))) scrollToBottom(box);
    var typing = document.getElementById("typing-" + pane().getAttribute("data-thread-id"));
    if (typing) typing.textContent = "";
    markRead();
  });
  // Typing notices fade on their own: the server never sends "stopped typing".
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var el = evt.detail.target;
    if (!el || !el.id || el.id.indexOf("typing-") !== 0) return;
    clearTimeout(typingTimers[el.id]);
    typingTimers[el.id] = setTimeout(function () {
      var node = document.getElementById(el.id);
      if (node) node.textContent = "";
    }, 5000);
  });
  // After every websocket frame: rows re-rendered for the list keep the open one marked, and
  // an edited or deleted message keeps its place in its block.
  document.addEventListener("htmx:wsAfterMessage", function () {
    markActiveRow();
    regroup(messagesBox());
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    var box = messagesBox();
    if (!box) return;
    // "Load earlier" may bring a day divider the page already shows below it: keep the upper one.
    var seen = {};
    box.querySelectorAll(".day-divider").forEach(function (el) {
      if (seen[el.id]) el.remove(); else seen[el.id] = true;
    });
    regroup(box); // an edit, a cancelled edit or a deletion swaps a message on its own
  });

  // "Jump to first unread" scrolls the list, not the page.
  document.addEventListener("click", function (evt) {
    var link = evt.target.closest && evt.target.closest("a.jump-unread");
    var unread = document.getElementById("first-unread"), box = messagesBox();
    if (!link || !unread || !box) return;
    evt.preventDefault();
    scrollWithin(box, unread, "start");
  });

  // --- pickers ---------------------------------------------------------------------------------
  // Student pickers: filter the checkbox list by name or email; count who is selected.
  document.addEventListener("input", function (evt) {
    var input = evt.target;
    if (!input.matches || !input.matches("[data-picker-filter]")) return;
    var q = input.value.trim().toLowerCase();
    var picker = input.closest("[data-picker]"), shown = 0;
    picker.querySelectorAll("[data-picker-item]").forEach(function (item) {
      item.hidden = Boolean(q) && item.getAttribute("data-name").indexOf(q) < 0;
      if (!item.hidden) shown += 1;
    });
    var none = picker.querySelector("[data-picker-none]");
    if (none) none.hidden = shown > 0;
  });
  document.addEventListener("change", function (evt) {
    var box = evt.target;
    if (!box.matches || !box.matches("[data-picker] input[type=checkbox]")) return;
    var picker = box.closest("[data-picker]");
    var count = picker.querySelector("[data-picker-count]");
    if (count) count.textContent = picker.querySelectorAll("input[type=checkbox]:checked").length + " selected";
  });
})();
