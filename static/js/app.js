// Page behaviour that needs script (everything else works without it). No inline script: CSP.
(function () {
  "use strict";

  var phone = window.matchMedia("(max-width: 760px)");

  // The main menu is a <details>: open on desktop, a closed drop-down on phones. A boosted
  // navigation swaps in a fresh element, so each new one is set once (data-synced), and all of
  // them again when the window crosses the breakpoint.
  function syncMenu(force) {
    var menu = document.getElementById("site-menu");
    if (!menu || (menu.dataset.synced && !force)) return;
    menu.open = !phone.matches;
    menu.dataset.synced = "1";
  }
  document.addEventListener("DOMContentLoaded", function () { syncMenu(false); });
  document.addEventListener("htmx:afterSettle", function () { syncMenu(false); });
  phone.addEventListener("change", function () { syncMenu(true); });

  // Messages swapped into the flash region (errors from HTMX requests) must be seen.
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "flashes") {
      window.scrollTo({ top: 0, behavior: "smooth" });
    }
  });
})();
