// Calendar and scheduling behaviour that needs script (CSP: no inline script). Everything here
// is progressive: without it, the forms open as pages of their own and still work.
(function () {
  "use strict";

  function dialogOf(el) {
    return el && el.closest ? el.closest("dialog") : null;
  }

  // A form swapped into the dialog's body opens the dialog (showModal: the page behind is
  // inert, focus stays inside, Escape closes). After a 422 answer, focus goes to what needs
  // fixing: the conflict warning, else the first invalid field.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var body = evt.detail.target;
    if (!body || body.id !== "dialog-body") return;
    var dialog = dialogOf(body);
    if (!dialog) return;
    if (!body.querySelector("form")) {
      if (dialog.open) dialog.close();
      return;
    }
    if (!dialog.open) dialog.showModal();
    var focus = body.querySelector("#conflicts") ||
      body.querySelector("[aria-invalid='true']") ||
      body.querySelector(".form-errors") ||
      body.querySelector("form input:not([type=hidden]), form select, form textarea");
    if (focus) {
      if (!focus.matches("input, select, textarea, button, [tabindex]")) focus.setAttribute("tabindex", "-1");
      focus.focus();
    }
  });

  // "Saved" lands in the flash region out of band; like app.js does for errors, make sure it
  // is seen (inserting it above the calendar can leave it under the sticky header).
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "flashes") {
      window.scrollTo({ top: 0, behavior: "smooth" });
    }
  });

  // The server says sessions changed (HX-Trigger after saving): the dialog is done.
  document.addEventListener("sessions-changed", function () {
    var dialog = document.getElementById("session-dialog");
    if (dialog && dialog.open) dialog.close();
  });

  // Leave no stale form behind a closed dialog ("close" does not bubble: listen in capture).
  document.addEventListener("close", function (evt) {
    if (evt.target && evt.target.id === "session-dialog") {
      var body = document.getElementById("dialog-body");
      if (body) body.replaceChildren();
    }
  }, true);

  document.addEventListener("click", function (evt) {
    var closer = evt.target.closest("[data-dialog-close]");
    if (closer) {
      var dialog = dialogOf(closer);
      if (dialog) dialog.close();
      return;
    }
    // A click on the backdrop (outside the dialog's box) closes it, as people expect.
    if (evt.target.id === "session-dialog") {
      var rect = evt.target.getBoundingClientRect();
      var inside = evt.clientX >= rect.left && evt.clientX <= rect.right &&
        evt.clientY >= rect.top && evt.clientY <= rect.bottom;
      if (!inside) evt.target.close();
      return;
    }
    // Clicking the empty part of a month day schedules on that day (its + button is the
    // keyboard way to do the same).
    var day = evt.target.closest("td.m-day.can-add");
    if (day && !evt.target.closest("a, button")) {
      var add = day.querySelector(".m-add");
      if (add) add.click();
    }
  });

  // Filter a picker list as the person types; ticked boxes stay ticked when hidden.
  function filterList(input) {
    var list = document.getElementById(input.dataset.filterList);
    if (!list) return;
    var query = input.value.trim().toLowerCase();
    var shown = 0;
    list.querySelectorAll("li").forEach(function (item) {
      var match = !query || (item.dataset.filterText || "").indexOf(query) !== -1;
      item.hidden = !match;
      if (match) shown += 1;
    });
    var empty = list.parentElement.querySelector("[data-filter-empty]");
    if (empty) empty.hidden = shown > 0;
  }

  document.addEventListener("input", function (evt) {
    if (evt.target.matches && evt.target.matches("[data-filter-list]")) filterList(evt.target);
  });

  // Enter in the filter box narrows the list; it must not submit the form.
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter" && evt.target.matches && evt.target.matches("[data-filter-list]")) {
      evt.preventDefault();
    }
  });

  // A weekly series starts on the date picked (the server refuses a date whose weekday is
  // not ticked), so picking a date ticks its weekday. A day ticked that way, and not touched
  // since, follows the date when it changes again ("every Monday" becomes "every Tuesday");
  // days the person ticked or unticked themselves stay as they set them.
  var WEEKDAY_CODES = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

  function weekdayOf(value) {
    var match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || "");
    if (!match) return null;
    var day = new Date(Date.UTC(+match[1], +match[2] - 1, +match[3]));
    return isNaN(day) ? null : WEEKDAY_CODES[(day.getUTCDay() + 6) % 7];
  }

  function weekdayBox(form, code) {
    return code ? form.querySelector("input[name=weekdays][value=" + code + "]") : null;
  }

  function followDate(dateInput) {
    var form = dateInput.form;
    if (!form || !form.querySelector("input[name=weekdays]")) return;
    var previous = form.dataset.lastDate !== undefined ? form.dataset.lastDate : dateInput.defaultValue;
    if (form.dataset.autoWeekday === undefined) {
      // As served: the only ticked day, on the served date, counts as ticked for the date.
      var served = weekdayBox(form, weekdayOf(previous));
      var ticked = form.querySelectorAll("input[name=weekdays]:checked");
      form.dataset.autoWeekday = served && served.checked && ticked.length === 1 ? served.value : "";
    }
    var code = weekdayOf(dateInput.value);
    if (!code) return;
    form.dataset.lastDate = dateInput.value;
    var auto = weekdayBox(form, form.dataset.autoWeekday);
    if (auto && auto.value !== code && auto.checked) auto.checked = false;
    var box = weekdayBox(form, code);
    if (!box.checked) {
      box.checked = true;
      form.dataset.autoWeekday = code;
    } else if (!auto || auto.value !== code) {
      form.dataset.autoWeekday = "";
    }
  }

  document.addEventListener("change", function (evt) {
    var target = evt.target;
    if (target.matches && target.matches("#session-form input[name=date]")) followDate(target);
    if (target.matches && target.matches("#session-form input[name=weekdays]") &&
        target.form && target.form.dataset.autoWeekday === target.value) {
      target.form.dataset.autoWeekday = "";  // the person decided about this day themselves
    }
  });

  document.addEventListener("change", function (evt) {
    var box = evt.target;
    if (!box.matches || !box.matches(".picker-list input[type=checkbox]")) return;
    var fieldset = box.closest("fieldset");
    var count = fieldset && fieldset.querySelector("[data-picked-count]");
    if (count) count.textContent = fieldset.querySelectorAll(".picker-list input:checked").length;
  });
})();
