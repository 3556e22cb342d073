// The tutor's control center in the star call (templates/control_center/page.html, #cc-call):
// joins the session's live run like the room page does (static/js/mesh.js: the same peers and
// negotiation), puts each student's video in their panel's .cc-tile with their name, speaking
// ring and muted / camera-off state, and is the "cone of silence": every student's connection
// gets its own clone of the tutor's microphone track, enabled only while that student's panel
// is on Teach (data-mode, kept current by control-center.js, which fires "cc:modechange").
// The tutor's camera goes to every student: seeing the tutor busy with someone else is what
// tells a student to wait, and it costs no privacy (nothing is heard).
(function () {
  "use strict";
  // The strip may come later than the page: a page opened while planning gets it when the
  // session starts (the page pushed whole on ccplan:<session>): each new strip starts here once.
  var started = null;
  function boot() {
    var strip = document.getElementById("cc-call");
    if (!strip || strip === started || !window.ClasshubMesh) return;
    started = strip;
    startCall(strip);
  }
  document.addEventListener("DOMContentLoaded", boot);
  document.addEventListener("htmx:load", boot);
  boot();

  function startCall(root) {
  var $ = function (id) { return document.getElementById(id); };
  var roomId = parseInt(root.getAttribute("data-room-id"), 10);
  var myUser = parseInt(root.getAttribute("data-user-id"), 10);
  var statusEl = $("cc-call-status");
  var connectionId = null, config = null, local = null, joined = false, joining = false;
  var rejoinWhenBack = false; // as in room.js
  var earlySignals = [], lastState = null, heartbeatTimer = null, micOn = true;

  function say(text) { statusEl.textContent = text; }
  // htmx may swap the page away (a boosted link, End lesson going to the reports) while this
  // script lives on: the call leaves with its page, and later frames find nothing to update.
  function gone() { return !root.isConnected; }
  function show_(id, visible) { var el = $(id); if (el) el.hidden = !visible; }
  function post(url, body) { return ClasshubMesh.post(url, connectionId, body); }
  function panelOf(userId) { return document.querySelector('.cc-panel[data-user-id="' + userId + '"]'); }

  // Whether the person on the other end of a connection hears the tutor: a student while their
  // panel is on Teach; another instructor (no panel) always; nobody while the mic is muted.
  function hears(userId) {
    if (!micOn) return false;
    var panel = panelOf(userId);
    return !panel || panel.getAttribute("data-mode") === "TEACH";
  }
  function routeAudio() {
    Object.keys(mesh.peers).forEach(function (k) {
      var peer = mesh.peers[k];
      if (peer.audio) peer.audio.enabled = hears(peer.user);
    });
  }

  var mesh = ClasshubMesh.create({
    roomId: roomId, myUser: myUser, statusEl: statusEl, say: say,
    connection: function () { return connectionId; },
    config: function () { return config; },
    sends: function (kind) { return Boolean(local && (kind === "video" ? local.getVideoTracks() : local.getAudioTracks()).length); },
    setup: function (peer) {
      if (!local) return;
      local.getVideoTracks().forEach(function (t) { peer.pc.addTrack(t, local); });
      local.getAudioTracks().forEach(function (t) {
        // This connection's own copy of the microphone: muting it mutes this student only.
        var clone = t.clone();
        clone.enabled = hears(peer.user);
        peer.audio = clone;
        peer.pc.addTrack(clone, local);
      });
    },
    onTrack: function (peer, evt) { if (evt.streams[0]) show(peer, evt.streams[0]); },
    onClose: function (peer) { if (peer.audio) peer.audio.stop(); unshow(peer); }
  });

  // --- students' videos in their panels ------------------------------------------------------
  function figureFor(peer) {
    var id = "cc-video-" + peer.remote, el = $(id);
    if (el) return el;
    el = document.createElement("figure");
    el.className = "cc-video";
    el.id = id;
    el.setAttribute("data-user-id", peer.user);
    var video = document.createElement("video");
    video.autoplay = true; video.playsInline = true;
    var caption = document.createElement("figcaption");
    var name = document.createElement("span");
    name.className = "cc-video-name";
    name.textContent = peer.name;
    var state = document.createElement("span");
    state.className = "cc-video-state";
    caption.appendChild(name); caption.appendChild(state);
    el.appendChild(video); el.appendChild(caption);
    var tileEl = document.querySelector('.cc-tile[data-user-id="' + peer.user + '"]');
    (tileEl || $("cc-call-others")).appendChild(el);
    return el;
  }
  function show(peer, stream) {
    var el = figureFor(peer), video = el.querySelector("video");
    if (video.srcObject === stream) return;
    video.srcObject = stream;
    if (el._stopSpeaking) el._stopSpeaking();
    el._stopSpeaking = ClasshubMesh.watchSpeaking(stream, el);
    showStates();
  }
  function unshow(peer) {
    var el = $("cc-video-" + peer.remote);
    if (!el) return;
    if (el._stopSpeaking) el._stopSpeaking();
    el.remove();
  }
  // Names, "muted" and "camera off" from the roster (what each student's page reported).
  function showStates() {
    if (!lastState) return;
    var byUser = {};
    lastState.participants.forEach(function (p) { byUser[p.user] = p; });
    Array.prototype.forEach.call(document.querySelectorAll(".cc-video"), function (el) {
      var p = byUser[el.getAttribute("data-user-id")];
      if (!p) return;
      el.classList.toggle("mic-off", p.audio_off);
      el.classList.toggle("camera-off", p.video_off);
      el.querySelector(".cc-video-name").textContent = p.name;
      el.querySelector(".cc-video-state").textContent =
        [p.audio_off ? "muted" : "", p.video_off ? "camera off" : ""].filter(Boolean).join(", ");
    });
  }

  // --- the roster and the socket -------------------------------------------------------------
  function applyRoster() {
    if (gone()) { if (joined) leave(); return; }
    var el = $("room-state");
    if (!el || !el.getAttribute("data-state")) return;
    try { lastState = JSON.parse(el.getAttribute("data-state")); } catch (e) { return; }
    if (!joined) return;
    mesh.sync(lastState);
    showStates();
    var me = lastState.participants.filter(function (p) { return p.user === myUser; })[0];
    if (me && me.removed) stop("You were removed from this call.");
    else if (me && me.audio_muted && micOn) setMic(false, true);
  }
  function onSignal(msg) {
    if (!joined || !config) { if (joining) earlySignals.push(msg); return; }
    var known = (lastState && lastState.connections || []).filter(function (c) { return c.connection === msg.from; })[0];
    mesh.signal(msg, known);
  }
  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    var text = evt.detail.message;
    if (typeof text !== "string" || text.charAt(0) !== "{") return;
    var msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    evt.preventDefault(); // JSON is for this script, never an htmx swap
    if (msg.room !== roomId || gone()) return;
    if (msg.type === "hello") {
      // Back on a new socket after a drop: joins again by itself (as room.js does).
      var rejoin = (joined && connectionId !== msg.connection) || rejoinWhenBack;
      rejoinWhenBack = false;
      if (rejoin) { stop("The connection was interrupted: joining again…"); show_("cc-call-join", true); }
      connectionId = msg.connection;
      if (rejoin) joinCall();
    } else if (msg.type === "signal") onSignal(msg);
    else if (msg.type === "room-ended") { stop("The call has ended."); show_("cc-call-join", false); }
    else if (msg.type === "room-removed") { stop("You were removed from this call."); show_("cc-call-join", false); }
    else if (msg.type === "room-replaced") stop("You are in this call from another page now: join here again to take it back.");
  });
  document.addEventListener("htmx:wsAfterMessage", applyRoster);
  document.addEventListener("htmx:afterSwap", applyRoster);
  // Teach / Observe: at once, from the panels' stored mode (a push from another instructor's
  // page counts as much as this tutor's click).
  document.addEventListener("cc:modechange", routeAudio);

  // --- joining, controls, leaving ------------------------------------------------------------
  function setMic(on, fromServer) {
    if (!local) return;
    micOn = on;
    local.getAudioTracks().forEach(function (t) { t.enabled = on; });
    routeAudio();
    $("cc-call-mic").setAttribute("aria-pressed", String(!on));
    $("cc-call-mic").textContent = on ? "Mute mic" : "Unmute mic";
    if (!fromServer) post(root.getAttribute("data-media-url"), { audio_off: !on });
  }
  function setCamera(on) {
    if (!local) return;
    local.getVideoTracks().forEach(function (t) { t.enabled = on; });
    $("cc-call-self").classList.toggle("camera-off", !on);
    $("cc-call-camera").setAttribute("aria-pressed", String(!on));
    $("cc-call-camera").textContent = on ? "Camera off" : "Camera on";
    post(root.getAttribute("data-media-url"), { video_off: !on });
  }
  function joinCall() {
    if (!connectionId) { say("Connecting to the server… press Join the call again in a moment."); return; }
    $("cc-call-join").disabled = true;
    joining = true; earlySignals = [];
    say("Joining…");
    ClasshubMesh.join({
      after: leaving, post: post, url: root.getAttribute("data-join-url"), say: say,
      failed: function () { joining = false; $("cc-call-join").disabled = false; },
      media: function (answer) { config = answer; return ClasshubMesh.getMedia(config.publish, false, say); },
      joined: function (stream) {
        local = stream; micOn = true;
        joined = true; joining = false;
        var self = $("cc-call-self");
        if (stream) { self.querySelector("video").srcObject = stream; self.hidden = false; }
        $("cc-call-join").hidden = true; $("cc-call-join").disabled = false;
        $("cc-call-leave").hidden = false;
        $("cc-call-mic").hidden = !(stream && stream.getAudioTracks().length);
        $("cc-call-camera").hidden = !(stream && stream.getVideoTracks().length);
        if (statusEl.textContent === "Joining…") say("You are in the call. Students hear you only while their panel is on Teach.");
        root.setAttribute("data-joined", "true");
        heartbeatTimer = ClasshubMesh.heartbeat(post, root.getAttribute("data-heartbeat-url"),
          function (socketDown) {
            // Join waits with the rejoin: pressed now, it would join with the gone socket's id.
            if (socketDown) { stop("The connection was interrupted: joining again…"); show_("cc-call-join", false); rejoinWhenBack = true; }
            else stop("You are no longer in this call.");
          });
        applyRoster();
        earlySignals.splice(0).forEach(onSignal);
      }
    });
  }
  function stop(text) {
    say(text);
    if (!joined) return;
    joined = false;
    clearInterval(heartbeatTimer);
    mesh.closeAll();
    if (local) local.getTracks().forEach(function (t) { t.stop(); });
    local = null;
    ["cc-call-self", "cc-call-mic", "cc-call-camera", "cc-call-leave"].forEach(function (id) { show_(id, false); });
    show_("cc-call-join", true);
    root.setAttribute("data-joined", "false");
  }
  var leaving = Promise.resolve();
  function leave() {
    rejoinWhenBack = false;
    // A Join pressed right after waits for this (the server closes this stay first).
    if (connectionId && joined) {
      leaving = ClasshubMesh.leaveBeacon(root.getAttribute("data-leave-url"), connectionId)
        .catch(function () {});
    }
    stop("You left the call.");
  }
  $("cc-call-join").addEventListener("click", joinCall);
  $("cc-call-leave").addEventListener("click", leave);
  $("cc-call-mic").addEventListener("click", function () { setMic($("cc-call-mic").getAttribute("aria-pressed") === "true"); });
  $("cc-call-camera").addEventListener("click", function () { setCamera($("cc-call-camera").getAttribute("aria-pressed") === "true"); });
  window.addEventListener("pagehide", function () { if (joined) leave(); });
  applyRoster();

  // For the call tests: what each connection sends (whose it is, and whether the tutor's
  // microphone clone on it is enabled), and the video bytes received per connection.
  window.classhubCcCall = {
    peers: mesh.peers,
    connection: function () { return connectionId; },
    stats: mesh.stats,
    audioSenders: function () {
      return Object.keys(mesh.peers).map(function (k) {
        var peer = mesh.peers[k];
        var sender = peer.pc.getSenders().filter(function (s) { return s.track && s.track.kind === "audio"; })[0];
        return { user: peer.user, enabled: Boolean(sender && sender.track.enabled), clone: Boolean(sender && sender.track === peer.audio) };
      });
    }
  };
  }
})();
