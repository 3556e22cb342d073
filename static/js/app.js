// Page behaviour that needs script (everything else works without it). No inline script: CSP.
(function () {
  "use strict";

  // Below 1024px the header's sections fold into the Menu button (app.css).
  var narrow = window.matchMedia("(max-width: 1023px)");

  // The main menu is a <details>: open on a desktop, a closed drop-down on phones and tablets.
  // It arrives closed; a boosted navigation swaps in a fresh one, so each new one is opened once
  // on a desktop (data-synced), and all of them are set again when the window crosses the
  // breakpoint. The first setting never closes it: a tap that came before this script ran (a
  // fast finger, a busy phone) opened it on purpose.
  function syncMenu(force) {
    var menu = document.getElementById("site-menu");
    if (!menu || (menu.dataset.synced && !force)) return;
    if (force || !narrow.matches) menu.open = !narrow.matches;
    menu.dataset.synced = "1";
  }
  document.addEventListener("DOMContentLoaded", function () { syncMenu(false); });
  document.addEventListener("htmx:afterSettle", function () { syncMenu(false); });
  narrow.addEventListener("change", function () { syncMenu(true); });

  // htmx wires up what it swaps in only when the swap settles (20 ms later, much more on a
  // busy machine). A form submitted in between (Enter right after a message went, or after a
  // refusal) would be submitted by the browser itself: a full page load, not an htmx request.
  // The submit event reaches the form after this capturing listener, so wiring the form up
  // here lets htmx's own handler take it. htmx.process leaves a form it has wired alone.
  var HX_REQUEST = "[hx-post],[hx-get],[hx-put],[hx-patch],[hx-delete]";
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (window.htmx && form.matches && form.matches(HX_REQUEST)) {
      htmx.process(form);
    }
  }, true);
  // The same for a link or button clicked in that window (the next occurrence's "Cancel" right
  // after a move swapped the list in): the browser would follow its href, the full page
  // instead of the dialog.
  document.addEventListener("click", function (evt) {
    var el = evt.target.closest && evt.target.closest("a, button");
    if (window.htmx && el && el.matches(HX_REQUEST)) htmx.process(el);
  }, true);

  // A live update (an out-of-band swap: the socket's frames, a response's extra parts) that
  // replaces a part of the page someone is working in keeps what they were doing there: the
  // sections they opened (details, matched by position and summary), what they typed and
  // have not sent (a field whose value differs from the one the page gave it, matched by its
  // id, or its form's action and its name), and the focus. A tutor typing a note in a student's panel
  // keeps it when the student's progress re-renders the panel; a section opened just before
  // the page's catch-up frame arrived stays open. What answers the person's own request (its
  // target and its out-of-band parts) is left as the server sent it.
  function fieldKey(field) {
    if (field.id) return "#" + field.id;
    return (field.form ? field.form.getAttribute("action") || "" : "") + "|" + field.name;
  }
  function isDirty(field) {
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    if (field.tagName === "SELECT") {
      return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    if (field.type === "file" || field.type === "hidden") return false;
    return field.value !== field.defaultValue;
  }
  var pendingFocus = null, answering = false;
  // The out-of-band parts of an answer to the person's own request are swapped in the same
  // task as its htmx:beforeSwap (no swap delay is used here): that answer is what they asked
  // for (a bulk action clears its selection). A socket's frame is a task of its own.
  document.addEventListener("htmx:beforeSwap", function () {
    answering = true;
    setTimeout(function () { answering = false; }, 0);
  });
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var old = evt.detail.target, fresh = evt.detail.fragment;
    // A live update that says what the page already shows (the socket's copy of the answer
    // the person just got) is not swapped: replacing an element with its twin only loses a
    // tap that lands on it meanwhile (a roll call's chip, tapped again right after its answer).
    var twin = fresh && fresh.nodeType === 11 && fresh.childElementCount === 1 ? fresh.firstElementChild : null;
    if (old && twin && twin.id && twin.id === old.id && twin.isEqualNode(old)) {
      evt.detail.shouldSwap = false;
      return;
    }
    if (answering || !old || !fresh || !old.querySelectorAll || !fresh.querySelectorAll) return;
    var before = old.querySelectorAll("details"), after = fresh.querySelectorAll("details");
    Array.prototype.forEach.call(before, function (d, i) {
      var twin = after[i], summary = d.querySelector("summary"), twinSummary = twin && twin.querySelector("summary");
      if (d.open && twin && summary && twinSummary && summary.textContent === twinSummary.textContent) twin.setAttribute("open", "");
    });
    var typed = {};
    old.querySelectorAll("input[name], textarea[name], select[name]").forEach(function (field) {
      if (field.type !== "radio" && isDirty(field)) typed[fieldKey(field)] = field;
    });
    fresh.querySelectorAll("input[name], textarea[name], select[name]").forEach(function (field) {
      var was = typed[fieldKey(field)];
      if (!was || was.tagName !== field.tagName || was.type !== field.type) return;
      if (field.type === "checkbox") field.checked = was.checked;
      else if (field.tagName === "SELECT") field.value = was.value;
      else field.value = was.value;
    });
    var focused = document.activeElement;
    if (focused && focused.name && old.contains(focused)) {
      pendingFocus = { key: fieldKey(focused), start: focused.selectionStart, end: focused.selectionEnd };
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    if (!pendingFocus || !evt.target || !evt.target.querySelectorAll) return;
    var wanted = pendingFocus;
    evt.target.querySelectorAll("input[name], textarea[name], select[name]").forEach(function (field) {
      if (fieldKey(field) !== wanted.key || !pendingFocus) return;
      pendingFocus = null;
      field.focus();
      try { if (wanted.start != null) field.setSelectionRange(wanted.start, wanted.end); } catch (e) { /* not a text field */ }
    });
  });

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
