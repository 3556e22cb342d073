// Page behaviour that needs script (everything else works without it). No inline script: CSP.
(function () {
  "use strict";

  var phone = window.matchMedia("(max-width: 760px)");

  // The main menu is a <details>: open on desktop, a closed drop-down on phones. It arrives
  // closed; a boosted navigation swaps in a fresh one, so each new one is opened once on a
  // desktop (data-synced), and all of them are set again when the window crosses the
  // breakpoint. The first setting never closes it: a tap that came before this script ran (a
  // fast finger, a busy phone) opened it on purpose.
  function syncMenu(force) {
    var menu = document.getElementById("site-menu");
    if (!menu || (menu.dataset.synced && !force)) return;
    if (force || !phone.matches) menu.open = !phone.matches;
    menu.dataset.synced = "1";
  }
  document.addEventListener("DOMContentLoaded", function () { syncMenu(false); });
  document.addEventListener("htmx:afterSettle", function () { syncMenu(false); });
  phone.addEventListener("change", function () { syncMenu(true); });

  // htmx wires up what it swaps in only when the swap settles (20 ms later, much more on a
  // busy machine). A form submitted in between (Enter right after a message went, or after a
  // refusal) would be submitted by the browser itself: a full page load, not an htmx request.
  // The submit event reaches the form after this capturing listener, so wiring the form up
  // here lets htmx's own handler take it. htmx.process leaves a form it has wired alone.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (window.htmx && form.matches && form.matches("[hx-post],[hx-get],[hx-put],[hx-patch],[hx-delete]")) {
      htmx.process(form);
    }
  }, true);

  // Messages swapped into the flash region (errors from HTMX requests) must be seen.
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "flashes") {
      window.scrollTo({ top: 0, behavior: "smooth" });
    }
  });
})();

// A toast's Dismiss (e.g. an incoming call: templates/live/_ringing_toast.html).
document.addEventListener("click", function (evt) {
  var button = evt.target.closest && evt.target.closest("[data-dismiss]");
  if (!button) return;
  var target = document.getElementById(button.getAttribute("data-dismiss"));
  if (target) target.remove();
});

// What the socket says about a session's call (templates/live/_session_card_updates.html):
// each template[data-replaces] replaces the element of that id where this page shows it (the
// session page's call card, an upcoming list's Join) and is dropped where it does not; a
// template[data-removes] removes that element (a "live" toast once the call has ended).
document.addEventListener("htmx:wsAfterMessage", function () {
  document.querySelectorAll("template[data-replaces]").forEach(function (tpl) {
    var target = document.getElementById(tpl.getAttribute("data-replaces"));
    if (target) {
      var fresh = tpl.content.firstElementChild;
      if (fresh) {
        fresh = document.importNode(fresh, true);
        target.replaceWith(fresh);
        if (window.htmx) htmx.process(fresh);
      }
    }
    tpl.remove();
  });
  document.querySelectorAll("template[data-removes]").forEach(function (tpl) {
    var target = document.getElementById(tpl.getAttribute("data-removes"));
    if (target) target.remove();
    tpl.remove();
  });
});
