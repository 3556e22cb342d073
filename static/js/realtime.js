// Realtime: subscribes the page's topics on the htmx ws connection (<body ws-connect="/ws">),
// catches up after reconnects, and guards what the server pushes.
(function () {
  "use strict";

  var socket = null; // the ws extension's socket wrapper, set on htmx:wsOpen
  var subscribed = {};
  var NO_RECONNECT = ["log in first", "origin not allowed", "account unavailable"];

  function pageTopics() {
    var topics = [];
    document.querySelectorAll("[data-realtime-topic]").forEach(function (el) {
      var topic = el.getAttribute("data-realtime-topic");
      if (topic && topics.indexOf(topic) < 0) topics.push(topic);
    });
    return topics;
  }

  // The newest message id the page has for a thread: the server sends what came after it.
  function lastIdFor(topic) {
    if (topic.indexOf("thread:") !== 0) return null;
    var box = document.getElementById("messages-" + topic.slice(7));
    if (!box) return null;
    var last = 0;
    box.querySelectorAll("[data-message-id]").forEach(function (el) {
      var id = parseInt(el.getAttribute("data-message-id"), 10);
      if (id > last) last = id;
    });
    return last;
  }

  function send(message) {
    if (socket) socket.send(JSON.stringify(message));
  }

  function sync(everything) {
    if (!socket) return;
    var wanted = pageTopics();
    Object.keys(subscribed).forEach(function (topic) {
      if (wanted.indexOf(topic) < 0) {
        send({ type: "unsubscribe", topic: topic });
        delete subscribed[topic];
      }
    });
    var add = [], after = {};
    wanted.forEach(function (topic) {
      if (everything || !subscribed[topic]) {
        add.push(topic);
        var last = lastIdFor(topic);
        if (last !== null) after[topic] = last;
      }
    });
    if (add.length) {
      send({ type: "subscribe", topics: add, after: after });
      add.forEach(function (topic) { subscribed[topic] = true; });
    }
  }

  document.addEventListener("htmx:wsOpen", function (evt) {
    socket = evt.detail.socketWrapper;
    subscribed = {};
    document.body.classList.remove("realtime-offline");
    sync(true); // after a reconnect too: the server sends what this page missed
  });
  document.addEventListener("htmx:wsClose", function (evt) {
    var wrapper = evt.detail.socketWrapper;
    var code = evt.detail.event.code, reason = evt.detail.event.reason || "";
    socket = null;
    document.body.classList.add("realtime-offline");
    // The extension itself retries only 1006/1011/1012/1013. A missed heartbeat (1008 from the
    // server's ping) or a proxy's 1001 must come back too; a refusal must not loop.
    if ([1000, 1006, 1011, 1012, 1013].indexOf(code) < 0 && NO_RECONNECT.indexOf(reason) < 0) {
      setTimeout(function () { wrapper.reconnect(); }, 1000 + Math.random() * 2000);
    }
  });
  document.addEventListener("htmx:afterSettle", function () { sync(false); });

  // Frames are all out-of-band swaps. Drop the parts whose target is not on this page (htmx
  // would log an error) and messages the page already has (exactly once, whatever the path).
  function guard(html, onlyOob) {
    var template = document.createElement("template");
    template.innerHTML = html;
    Array.prototype.slice.call(template.content.children).forEach(function (el) {
      var oob = el.getAttribute("hx-swap-oob");
      if (!oob) {
        if (!onlyOob) el.remove();
        return;
      }
      var colon = oob.indexOf(":");
      var style = colon >= 0 ? oob.slice(0, colon) : oob;
      var selector = colon >= 0 ? oob.slice(colon + 1) : (el.id ? "#" + CSS.escape(el.id) : null);
      if (!selector || !document.querySelector(selector)) { el.remove(); return; }
      if (style === "beforeend") {
        Array.prototype.slice.call(el.children).forEach(function (child) {
          if (child.id && document.getElementById(child.id)) child.remove();
        });
        if (!el.children.length) el.remove();
      }
    });
    return template.innerHTML;
  }

  htmx.defineExtension("realtime-guard", {
    transformResponse: function (text, xhr) {
      // xhr is null for websocket frames. HTTP answers are left alone unless they carry oob
      // parts (the composer's answer does); whole pages (hx-boost) must never be re-serialized.
      if (xhr !== null && (text.indexOf("hx-swap-oob") < 0 || /<html[\s>]/i.test(text))) return text;
      return guard(text, xhr !== null);
    }
  });

  window.classhubRealtime = { send: send, sync: sync };
})();
