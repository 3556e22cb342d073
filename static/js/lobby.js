// A scheduled session's lobby (templates/live/room.html): whoever opened Join before the
// teacher started waits here; when the run starts (a "room-started" frame on room:<id>) the
// page becomes the call and joins it, as the person asked by opening Join. No polling.
(function () {
  "use strict";
  var root = document.getElementById("room");
  if (!root) return;
  var roomId = Number(root.getAttribute("data-room-id"));
  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    var text = evt.detail.message;
    if (typeof text !== "string" || text.charAt(0) !== "{") return;
    var msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    if (msg.type !== "room-started" || msg.room !== roomId) return;
    evt.preventDefault();
    var join = document.getElementById("room-join");
    var start = document.getElementById("room-start");
    if (start) start.closest("form").remove();
    if (!join || !join.hasAttribute("data-lobby")) return; // already the room
    join.removeAttribute("data-lobby");
    join.hidden = false;
    root.setAttribute("data-lobby", "started");
    var status = document.getElementById("room-status");
    if (status) status.textContent = "The session has started: joining…";
    join.click();
  });
})();
