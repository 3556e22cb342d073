// Realtime: subscribes the page's topics on the htmx ws connection (<body ws-connect="/ws">),
// catches up after reconnects, and guards what the server pushes.
(function () {
  "use strict";

  var socket = null; // the ws extension's socket wrapper, set on htmx:wsOpen
  var subscribed = {};
  var NO_RECONNECT = ["log in first", "origin not allowed", "account unavailable"];
  var SUBSCRIBED = '<template data-realtime="subscribed"></template>'; // app/realtime/views.py

  function pageTopics() {
    var topics = [];
    document.querySelectorAll("[data-realtime-topic]").forEach(function (el) {
      var topic = el.getAttribute("data-realtime-topic");
      if (topic && topics.indexOf(topic) < 0) topics.push(topic);
    });
    return topics;
  }

  // What the page has for a topic; the server sends the rest (app/realtime/events.py, CatchUp).
  // A thread: the ids of the messages it shows (the newest MAX_HAVE) and a floor below them.
  // Not "after the newest": one's own message, shown from the HTTP answer, may be newer than
  // someone else's still on its way. The thread list: each row's version and the kinds shown.
  var MAX_HAVE = 200;
  function pageState(topic) {
    var kind = topic.slice(0, topic.indexOf(":"));
    if (kind === "thread") {
      var box = document.getElementById("messages-" + topic.slice(7));
      if (!box) return null;
      var ids = [];
      box.querySelectorAll("[id^='message-']").forEach(function (el) {
        var id = parseInt(el.id.slice(8), 10);
        if (id > 0) ids.push(id);
      });
      ids.sort(function (a, b) { return b - a; });
      ids = ids.slice(0, MAX_HAVE);
      return { after: ids.length ? ids[ids.length - 1] : 0, have: ids };
    }
    if (kind === "threads") {
      var list = document.getElementById("thread-list");
      if (!list) return null;
      var rows = {};
      list.querySelectorAll(".thread-item[data-version]").forEach(function (row) {
        rows[row.getAttribute("data-thread-id")] = row.getAttribute("data-version");
      });
      return { have: { kinds: listedKinds(list), rows: rows } };
    }
    if (kind === "ccplan") {
      // A control center page while planning: which occurrence it shows (the server sends only
      // that one's changes to it).
      var page = document.querySelector('[data-realtime-topic="' + topic + '"][data-occurrence]');
      return page ? { have: page.getAttribute("data-occurrence") } : null;
    }
    // A page that follows a room for something other than the call says so (the attendance
    // sheet): the server then sends it that, and spares the room pages.
    var marked = document.querySelector("[data-realtime-have][data-realtime-topic='" + topic + "']");
    if (marked) return { have: marked.getAttribute("data-realtime-have") };
    return null;
  }
  function listedKinds(list) {
    return (list.getAttribute("data-kinds") || "").split(" ").filter(Boolean);
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
    var add = [], after = {}, have = {};
    wanted.forEach(function (topic) {
      if (everything || !subscribed[topic]) {
        add.push(topic);
        var state = pageState(topic);
        if (state && state.after !== undefined) after[topic] = state.after;
        if (state && state.have !== undefined) have[topic] = state.have;
      }
    });
    if (add.length) {
      send({ type: "subscribe", topics: add, after: after, have: have });
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
    // "open" once the server has handled the subscriptions (and sent what was missed): from
    // then on nothing published for this page is lost, typing notices included.
  });
  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    if (evt.detail.message !== SUBSCRIBED) return;
    evt.preventDefault();
    if (socket) setState("open");
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
  // A pushed part may change the page's topics too (a planning control center turning live).
  document.addEventListener("htmx:wsAfterMessage", function () { sync(false); });

  // A live frame must not replace an element whose own request is on its way: htmx keeps that
  // request's state on the element (for a boosted link, "put this address in the bar"), and a
  // swap cleans it off, so the answer would show the next page at the old address. Such parts
  // wait until the request is over, then apply to whatever has their target's id by then.
  var busy = [], held = [];
  document.addEventListener("htmx:beforeSend", function (evt) {
    var elt = evt.detail.elt, xhr = evt.detail.xhr;
    if (!elt || !xhr) return;
    busy.push(elt);
    xhr.addEventListener("loadend", function () {
      var at = busy.indexOf(elt);
      if (at >= 0) busy.splice(at, 1);
      if (held.length) setTimeout(releaseHeld, 0); // after htmx has swapped the answer
    });
  });
  function holdsBusy(target) {
    return busy.some(function (elt) { return target === elt || target.contains(elt); });
  }
  function releaseHeld() {
    if (!held.length) return;
    var html = guard(held.splice(0).join(""), false);
    if (!html.trim()) return;
    htmx.swap(document.body, html, { swapStyle: "none" });
    document.body.dispatchEvent(new CustomEvent("htmx:wsAfterMessage", { detail: { message: html } }));
  }

  // Rows a list's filter leaves out (frames carry rows of every kind).
  function dropUnlisted(el, list) {
    var kinds = listedKinds(list);
    if (!kinds.length) return;
    Array.prototype.slice.call(el.querySelectorAll(".thread-item[data-kind]")).forEach(function (row) {
      if (kinds.indexOf(row.getAttribute("data-kind")) < 0) row.remove();
    });
  }

  // A thread stays in id order: a message that arrives after a newer one (someone else's
  // caught up after one's own was shown from the HTTP answer) goes before the first newer one,
  // under its own day's divider.
  function messageNumber(el) { return parseInt(el.id.slice(8), 10); }
  function keepInOrder(part, box) {
    var article = part.querySelector("[id^='message-']");
    if (!article) return;
    var id = messageNumber(article), next = null;
    Array.prototype.forEach.call(box.children, function (el) {
      if (el.id && el.id.indexOf("message-") === 0 && messageNumber(el) > id &&
          (!next || messageNumber(el) < messageNumber(next))) next = el;
    });
    if (!next) return;
    var divider = part.querySelector(".day-divider");
    var before = next.previousElementSibling;
    var anchor = before && before.classList.contains("day-divider") &&
      (!divider || divider.id !== before.id) ? before : next;
    if (divider && document.getElementById(divider.id)) divider.remove();
    part.setAttribute("hx-swap-oob", "beforebegin:#" + CSS.escape(anchor.id));
  }

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
      var target = selector && document.querySelector(selector);
      if (!target) { el.remove(); return; }
      if (onlyOob === false && holdsBusy(target)) { held.push(el.outerHTML); el.remove(); return; }
      if (target.id === "thread-list") dropUnlisted(el, target);
      if (style === "beforeend" && target.id.indexOf("messages-") === 0) {
        Array.prototype.slice.call(el.children).forEach(function (child) {
          if (child.id && document.getElementById(child.id)) child.remove();
        });
        if (!el.children.length) el.remove();
        else keepInOrder(el, target);
      } else if ((style === "beforeend" || style === "afterbegin") && !el.children.length) {
        el.remove(); // every row it brought is of a kind this list leaves out
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
