// My Day (templates/my_day/page.html): its sections are fetched again from GET /my-day/sections
// (the same partials, swapped by id) when the myday:<id> topic names them
// (templates/my_day/_stale.html), each time the socket has subscribed (the first time too: what
// changed between the page's render and the subscription is not sent again), and when a row
// changes by itself (a section's data-refresh-in, in seconds: a Join window opens, an
// occurrence starts or ends, a catch-up falls due, the day ends).
(function () {
  "use strict";

  var SUBSCRIBED = '<template data-realtime="subscribed"></template>'; // app/realtime/views.py
  var pending = {}, flushing = null, timers = {};

  function page() { return document.querySelector(".my-day[data-sections-url]"); }

  function allSections() {
    return Array.prototype.map.call(document.querySelectorAll("[data-my-day-section]"),
      function (el) { return el.getAttribute("data-my-day-section"); });
  }

  // Several changes close together (a burst of messages) make one request.
  function refresh(names) {
    names.forEach(function (name) { pending[name] = true; });
    if (flushing) return;
    flushing = setTimeout(function () {
      flushing = null;
      var root = page(), asked = Object.keys(pending);
      pending = {};
      if (!root || !asked.length) return;
      fetch(root.getAttribute("data-sections-url") + "?only=" + asked.join(","),
        { credentials: "same-origin", headers: { "HX-Request": "true" } })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(apply)
        .catch(function () { /* offline: the next subscription fetches everything */ });
    }, 150);
  }

  // Each section replaces the one of its id, if this page still shows it (the person may have
  // gone to another page while the request was on its way).
  function apply(html) {
    if (!html || !page()) return;
    var template = document.createElement("template");
    template.innerHTML = html;
    Array.prototype.slice.call(template.content.children).forEach(function (el) {
      if (!el.id || !document.getElementById(el.id)) el.remove();
    });
    if (template.content.children.length) {
      htmx.swap(document.body, template.innerHTML, { swapStyle: "none" });
    }
  }

  document.addEventListener("htmx:wsAfterMessage", function () {
    var box = document.getElementById("my-day-stale");
    if (!box) return;
    var names = [];
    box.querySelectorAll("template[data-stale]").forEach(function (tpl) {
      names.push(tpl.getAttribute("data-stale"));
      tpl.remove();
    });
    if (names.length) refresh(names);
  });

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    if (evt.detail.message === SUBSCRIBED && page()) refresh(allSections());
  });

  function schedule() {
    document.querySelectorAll("[data-my-day-section][data-refresh-in]:not([data-scheduled])")
      .forEach(function (section) {
        section.setAttribute("data-scheduled", "");
        var name = section.getAttribute("data-my-day-section");
        var seconds = parseInt(section.getAttribute("data-refresh-in"), 10);
        clearTimeout(timers[name]);
        if (seconds > 0 && seconds < 2 * 86400) {
          timers[name] = setTimeout(function () { refresh([name]); }, seconds * 1000);
        }
      });
  }
  document.addEventListener("DOMContentLoaded", schedule);
  document.addEventListener("htmx:afterSettle", schedule);
  document.addEventListener("htmx:oobAfterSwap", function () { setTimeout(schedule, 0); });
})();
