// The control center's clocks (templates/control_center/*): timers count down to their stored
// end and say so when they end (a visible, aria-live alert, once per timer per page); wait
// timers, time present and time on the current work count up. Nothing is pushed per second:
// the server sends end times and start times, this ticks them. Also the Teach/Observe hook:
// a panel whose data-mode changed fires "cc:modechange" {userId, mode} on document (the star
// call listens to it to route the tutor's audio).
(function () {
  "use strict";
  var alerted = {}; // timer id -> true: announced once per page, whatever swaps it again
  var modes = {}; // user id -> the mode last announced

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }
  function alertRegion() { return document.getElementById("cc-alert"); }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-ends-at]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-ends-at")) - now) / 1000;
      var shown = el.querySelector("[data-countdown]");
      if (left > 0) {
        if (shown) shown.textContent = duration(Math.ceil(left));
        return;
      }
      if (shown) shown.textContent = "Time's up";
      el.classList.add("cc-timer-ended");
      var id = el.getAttribute("data-timer-id");
      if (!alerted[id]) {
        alerted[id] = true;
        var region = alertRegion();
        if (region) {
          region.textContent = "Time's up: " + (el.getAttribute("data-label") || "timer") + ".";
          region.classList.add("is-shown");
        }
      }
    });
    document.querySelectorAll("[data-count-up]").forEach(function (el) {
      if (!el.hasAttribute("data-live")) return;
      var since = el.getAttribute("data-since");
      if (since) {
        el.textContent = duration((now - Date.parse(since)) / 1000);
        return;
      }
      // Seconds known at render time, plus what passed since this element appeared.
      var base = parseInt(el.getAttribute("data-seconds"), 10) || 0;
      var from = el._ccFrom || (el._ccFrom = now);
      el.textContent = duration(base + (now - from) / 1000);
    });
  }

  function announceModes() {
    document.querySelectorAll(".cc-panel[data-mode]").forEach(function (panel) {
      var user = panel.getAttribute("data-user-id"), mode = panel.getAttribute("data-mode");
      if (modes[user] === mode) return;
      modes[user] = mode;
      document.dispatchEvent(new CustomEvent("cc:modechange",
        { detail: { userId: parseInt(user, 10), mode: mode, panel: panel } }));
    });
  }

  function refresh() { tick(); announceModes(); }
  document.addEventListener("htmx:afterSettle", refresh);
  document.addEventListener("htmx:oobAfterSwap", refresh);
  document.addEventListener("htmx:wsAfterMessage", refresh);
  document.addEventListener("click", function (evt) {
    var region = alertRegion();
    if (region && evt.target === region) { region.textContent = ""; region.classList.remove("is-shown"); }
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", refresh);
  else refresh();
  setInterval(tick, 1000);
  window.classhubControlCenter = {
    modeOf: function (userId) { return modes[userId] || null; },
  };
})();
