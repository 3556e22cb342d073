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

  // Reconnecting is decided here, not by the extension: after a few failures it waits up to
  // ~64 s, it gives up on codes such as 1008 (a missed heartbeat), and it cannot be told that
  // the network is back. Its own timer is pushed out of reach; this one retries with jittered
  // backoff while the server is away, and at once when the browser comes back online or the
  // page is shown again. Only a refusal (logged out, wrong origin) stops it.
  var NEVER = 2147483647; // the longest delay setTimeout accepts (~24 days)
  htmx.config.wsReconnectDelay = function () { return NEVER; };
  var wrapper = null, current = null, retryTimer = null, attempts = 0, refused = false;

  // One live socket per page: a new attempt closes any older one still connecting.
  var createSocket = htmx.createWebSocket || function (url) { return new WebSocket(url, []); };
  htmx.createWebSocket = function (url) {
    var previous = current;
    current = createSocket(url);
    if (previous && previous.readyState <= 1) previous.close();
    return current;
  };

  function setState(state) {
    document.documentElement.setAttribute("data-realtime", state);
    document.body.classList.toggle("realtime-offline", state !== "open");
  }
  function reconnectIn(delay) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () {
      retryTimer = null;
      if (wrapper && !socket && !refused) {
        attempts += 1;
        setState("connecting");
        wrapper.reconnect();
      }
    }, delay);
  }
  function backoff() {
    var cap = Math.min(30000, 1000 * Math.pow(2, attempts));
    return cap / 2 + Math.random() * cap / 2;
  }
  function reconnectNow() {
    if (wrapper && !socket && !refused) { attempts = 0; reconnectIn(0); }
  }

  document.addEventListener("htmx:wsOpen", function (evt) {
    if (evt.detail.event && evt.detail.event.target !== current) return;
    socket = wrapper = evt.detail.socketWrapper;
    subscribed = {};
    attempts = 0;
    sync(true); // after a reconnect too: the server sends what this page missed
    setState("open");
  });
  document.addEventListener("htmx:wsClose", function (evt) {
    var event = evt.detail.event;
    if (event && event.target !== current) return; // an older socket we replaced
    wrapper = evt.detail.socketWrapper;
    socket = null;
    setState("closed");
    if (NO_RECONNECT.indexOf(event.reason || "") >= 0) { refused = true; return; }
    reconnectIn(backoff());
  });
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") reconnectNow();
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
