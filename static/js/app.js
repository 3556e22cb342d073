// Page behaviour that needs script (everything else works without it). No inline script: CSP.
(function () {
  "use strict";

  // Close the phone menu after navigating with hx-boost (the page body is swapped, the
  // <details> element may be reused).
  document.addEventListener("htmx:afterSettle", function () {
    var menu = document.getElementById("site-menu");
    if (menu && window.matchMedia("(max-width: 760px)").matches) menu.open = false;
  });

  // On desktop the menu is always open; on phones it starts closed.
  function syncMenu() {
    var menu = document.getElementById("site-menu");
    if (!menu) return;
    menu.open = !window.matchMedia("(max-width: 760px)").matches;
  }
  document.addEventListener("DOMContentLoaded", syncMenu);
  document.addEventListener("htmx:load", function (evt) {
    if (evt.target === document.body) syncMenu();
  });
  window.addEventListener("resize", syncMenu);

  // Flash messages fade after a while, errors stay until dismissed by navigation.
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "flashes") {
      window.scrollTo({ top: 0, behavior: "smooth" });
    }
  });
})();
