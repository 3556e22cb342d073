// "Copy link" buttons: <button data-copy-text="..." data-copied-label="Copied">. Delegated, so
// rows swapped in by htmx work too. No inline script (CSP).
(function () {
  "use strict";

  function fallbackCopy(text) {
    // Clipboard API needs a secure context (https or localhost); elsewhere select a field.
    var field = document.createElement("textarea");
    field.value = text;
    field.setAttribute("readonly", "");
    field.className = "visually-hidden";
    document.body.appendChild(field);
    field.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(field);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function showState(button, label) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = label;
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () {
      button.textContent = button.dataset.label;
    }, 2000);
  }

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-copy-text]");
    if (!button) return;
    evt.preventDefault();
    var text = button.getAttribute("data-copy-text");
    var copy = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text) : fallbackCopy(text);
    copy.then(function () {
      showState(button, button.getAttribute("data-copied-label") || "Copied");
    }, function () {
      // Could not write the clipboard: show the link so it can be copied by hand.
      window.prompt("Copy this link:", text);
    });
  });
})();
