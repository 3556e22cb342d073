// The room page (templates/live/room.html): joins a call with the engine the join answer names:
// the mesh (below) or Janus (static/js/room-janus.js, RoomJanus; same page, same controls).
// Media is asked for only when the person presses Join. Signalling rides the page's /ws socket as JSON frames
// (app/live/signalling.py); the roster the server publishes on room:<id> (#room-state) says whom
// to connect to, and is enforced here: a removed peer's connection is dropped, a moderator's
// mute stops this page's track. The mesh's peers (perfect negotiation, the roster's say on whom
// to connect to) are static/js/mesh.js, shared with the tutor's control center.
(function () {
  "use strict";
  var root = document.getElementById("room");
  if (!root) return;
  var roomId = parseInt(root.getAttribute("data-room-id"), 10);
  var myUser = parseInt(root.getAttribute("data-user-id"), 10);
  var grid = document.getElementById("video-grid");
  var statusEl = document.getElementById("room-status");
  var $ = function (id) { return document.getElementById(id); };

  var connectionId = null, joined = false, config = null, local = null, screen = null;
  var heartbeatTimer = null, lastState = null;
  // Offers can arrive between the join answer and the end of the camera prompt (the others
  // call as soon as the server lists this page): kept, and answered once media is settled.
  var joining = false, earlySignals = [];
  var rejoinWhenBack = false; // the stay ended with a dropped socket: join again once it is back

  function say(text) { if (statusEl) statusEl.textContent = text; }
  function post(url, body) { return ClasshubMesh.post(url, connectionId, body); }
  var mesh = ClasshubMesh.create({
    roomId: roomId, myUser: myUser, statusEl: statusEl, say: say,
    connection: function () { return connectionId; },
    config: function () { return config; },
    sends: function (kind) { return Boolean(local && (kind === "video" ? local.getVideoTracks() : local.getAudioTracks()).length); },
    setup: function (peer, remote) {
      peer.screenId = null;
      peer.tile = tile(remote, peer.name, false);
      if (local) local.getTracks().forEach(function (t) { peer.pc.addTrack(t, local); });
      // Said before the tracks (frames on the socket keep their order): the other side then
      // shows them as a screen tile rather than over the camera.
      if (screen) { mesh.send(remote, { screen: screen.id }); screen.getTracks().forEach(function (t) { peer.pc.addTrack(t, screen); }); }
    },
    onTrack: showTrack,
    onClose: function (peer, remote) { dropTile(remote); dropTile(remote + "-screen"); },
    onData: function (peer, data, msg) {
      if (!("screen" in data)) return false;
      peer.screenId = data.screen;
      if (!data.screen) dropTile(msg.from + "-screen");
      return true;
    }
  });
  var peers = mesh.peers; // connection id -> {pc, polite, makingOffer, ignoreOffer, tile, user, name}
  var sendSignal = mesh.send;

  // --- tiles -----------------------------------------------------------------------------------
  function usingJanus() { return Boolean(config && config.engine === "janus"); }
  // A tile is keyed by the mesh peer's connection, or by the Janus feed id
  // ("<participant key>~<connection>~<signature>"); data-connection names the page either way.
  function tile(key, name, isLocal) {
    var el = document.getElementById("tile-" + key);
    if (el) return el;
    el = document.createElement("figure");
    el.className = "video-tile" + (isLocal ? " local" : "");
    el.id = "tile-" + key;
    el.setAttribute("data-connection", key.indexOf("~") >= 0 ? key.split("~")[1] : key);
    var video = document.createElement("video");
    video.autoplay = true; video.playsInline = true; video.muted = Boolean(isLocal);
    var caption = document.createElement("figcaption");
    caption.textContent = name;
    el.appendChild(video); el.appendChild(caption);
    grid.appendChild(el);
    grid.setAttribute("data-count", grid.children.length);
    return el;
  }
  // A person's screen share: a tile of its own beside their camera (keyed by the same peer key).
  function screenTile(key, connection, name) {
    var id = "tile-" + key + "-screen", el = document.getElementById(id);
    if (el) return el;
    el = document.createElement("figure");
    el.className = "video-tile screen";
    el.id = id;
    el.setAttribute("data-connection", connection);
    var video = document.createElement("video");
    video.autoplay = true; video.playsInline = true; video.muted = true;
    var caption = document.createElement("figcaption");
    caption.textContent = name + "’s screen";
    el.appendChild(video); el.appendChild(caption);
    grid.appendChild(el);
    grid.setAttribute("data-count", grid.children.length);
    return el;
  }
  function dropTile(key) {
    var el = document.getElementById("tile-" + key);
    if (el) el.remove();
    grid.setAttribute("data-count", grid.children.length);
  }
  function watchSpeaking(stream, el) {
    if (el._stopSpeaking) el._stopSpeaking();
    el._stopSpeaking = ClasshubMesh.watchSpeaking(stream, el);
  }

  // --- what arrives from a peer ------------------------------------------------------------
  function showTrack(peer, evt, remote) {
    var incoming = evt.streams[0];
    // The screen: the stream the "screen" signal named, or (should that signal have been
    // refused by the relay's rate limit) a second stream while the camera's is still live.
    var camera = peer.tile.querySelector("video").srcObject;
    var second = camera && incoming && camera.id !== incoming.id &&
                 camera.getTracks().some(function (t) { return t.readyState === "live"; });
    if (incoming && (incoming.id === peer.screenId || second)) {
      var shared = screenTile(remote, remote, peer.name).querySelector("video");
      if (shared.srcObject !== incoming) {
        shared.srcObject = incoming;
        // Only while the tile still shows this stream: a new share comes on the same m-line
        // in a stream of its own, and the old stream may lose its track after the new one's
        // tile came (same key).
        incoming.onremovetrack = function () {
          var tile = document.getElementById("tile-" + remote + "-screen");
          if (!incoming.getTracks().length && tile && tile.querySelector("video").srcObject === incoming) dropTile(remote + "-screen");
        };
      }
      return;
    }
    var video = peer.tile.querySelector("video");
    if (video.srcObject !== evt.streams[0]) {
      video.srcObject = evt.streams[0];
      watchSpeaking(evt.streams[0], peer.tile);
    }
  }
  function closePeer(remote) { mesh.closePeer(remote); }
  function onSignal(msg) {
    if (!joined || !config) { if (joining) earlySignals.push(msg); return; }
    var known = (lastState && lastState.connections || []).filter(function (c) { return c.connection === msg.from; })[0];
    mesh.signal(msg, known);
  }

  // --- the roster ----------------------------------------------------------------------------
  function applyRoster() {
    var el = $("room-state");
    if (!el || !el.getAttribute("data-state")) return;
    var state;
    try { state = JSON.parse(el.getAttribute("data-state")); } catch (e) { return; }
    lastState = state;
    if (!joined) return;
    if (usingJanus()) {
      // Janus routes the media; the roster still decides: a page no longer in it is dropped.
      var present = {};
      state.connections.forEach(function (c) { present[c.connection] = true; });
      Array.prototype.forEach.call(grid.querySelectorAll(".video-tile:not(.local)"), function (t) {
        if (!present[t.getAttribute("data-connection")]) t.remove();
      });
      grid.setAttribute("data-count", grid.children.length);
    } else mesh.sync(state);
    state.participants.forEach(function (p) {
      state.connections.filter(function (c) { return c.user === p.user; }).forEach(function (c) {
        var t = grid.querySelector('.video-tile:not(.screen)[data-connection="' + c.connection + '"]');
        if (t) { t.classList.toggle("mic-off", p.audio_off); t.classList.toggle("camera-off", p.video_off);
                 t.querySelector("figcaption").textContent = (c.connection === connectionId ? "You" : p.name) + (p.audio_off ? " (muted)" : ""); }
      });
      if (p.user === myUser && local) {
        if (p.audio_muted) setTrack("audio", false, true);
        if (p.video_muted) setTrack("video", false, true);
        if (p.removed) stop("You were removed from this call.");
      }
    });
  }

  // --- local media and controls -------------------------------------------------------------
  function setTrack(kind, on, fromServer) {
    if (!local) return;
    var tracks = kind === "audio" ? local.getAudioTracks() : local.getVideoTracks();
    tracks.forEach(function (t) { t.enabled = on; });
    if (usingJanus() && window.RoomJanus) RoomJanus.setMuted(kind, !on);
    var button = $(kind === "audio" ? "room-mic" : "room-camera");
    button.setAttribute("aria-pressed", String(!on));
    button.textContent = kind === "audio" ? (on ? "Mute mic" : "Unmute mic") : (on ? "Camera off" : "Camera on");
    var tileEl = document.getElementById("tile-" + connectionId);
    if (tileEl) tileEl.classList.toggle(kind === "audio" ? "mic-off" : "camera-off", !on);
    if (!fromServer) post(root.getAttribute("data-media-url"), kind === "audio" ? { audio_off: !on } : { video_off: !on });
  }
  function getMedia(receiveOnly) {
    return ClasshubMesh.getMedia(config.publish, receiveOnly, say);
  }
  function fillDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    navigator.mediaDevices.enumerateDevices().then(function (devices) {
      [["audioinput", "room-mic-select"], ["videoinput", "room-camera-select"]].forEach(function (pair) {
        var select = $(pair[1]);
        select.innerHTML = "";
        devices.filter(function (d) { return d.kind === pair[0]; }).forEach(function (d, i) {
          var option = document.createElement("option");
          option.value = d.deviceId; option.textContent = d.label || (pair[0] === "audioinput" ? "Microphone " : "Camera ") + (i + 1);
          select.appendChild(option);
        });
      });
      $("room-devices").hidden = false;
    });
  }
  function switchDevice(kind, deviceId) {
    if (!local) return;
    var c = {}; c[kind] = { deviceId: { exact: deviceId } };
    navigator.mediaDevices.getUserMedia(c).then(function (s) {
      var track = kind === "audio" ? s.getAudioTracks()[0] : s.getVideoTracks()[0];
      var old = kind === "audio" ? local.getAudioTracks()[0] : local.getVideoTracks()[0];
      if (old) track.enabled = old.enabled;  // a muted microphone stays muted on the new one
      // The same m-line carries the new device (replaceTrack): no renegotiation, on either engine.
      var replaced = usingJanus() && window.RoomJanus ? RoomJanus.replaceTrack(kind, track) : Promise.all(
        Object.keys(peers).map(function (k) {
          return Promise.all(peers[k].pc.getSenders().map(function (sender) { return sender.track === old ? sender.replaceTrack(track) : null; }));
        }));
      return replaced.then(function () {
        if (old) { local.removeTrack(old); old.stop(); }
        local.addTrack(track);
      }, function (err) { track.stop(); throw err; });
    }).catch(function () { say("That device could not be used."); });
  }
  function screenButton(sharing) {
    // Gone when htmx has already swapped the page away (End for everyone goes to the chat).
    if (!$("room-screen")) return;
    $("room-screen").textContent = sharing ? "Stop sharing" : "Share screen";
    $("room-screen").setAttribute("aria-pressed", String(sharing));
  }
  // A share after the first sends on the m-line an earlier share left (its transceiver, now
  // receive-only): every new m-line adds ~4 KB to each offer, and a call whose screen was
  // shared again and again would outgrow what the relay carries.
  function sendScreenTrack(pc, track, stream) {
    var spare = pc.getTransceivers().filter(function (tr) {
      return tr.spareForScreen && !tr.sender.track && tr.receiver.track.kind === track.kind && !tr.stopped;
    })[0];
    if (!spare) { pc.addTrack(track, stream); return; }
    spare.spareForScreen = false;
    spare.sender.setStreams(stream);
    spare.sender.replaceTrack(track);
    spare.direction = "sendrecv";
  }
  function toggleScreen() {
    if (screen) {
      var stopped = screen;
      screen = null;
      if (usingJanus() && window.RoomJanus) RoomJanus.stopScreen().catch(function () {});
      else Object.keys(peers).forEach(function (k) {
        peers[k].pc.getTransceivers().forEach(function (tr) {
          if (tr.sender.track && stopped.getTracks().indexOf(tr.sender.track) >= 0) {
            peers[k].pc.removeTrack(tr.sender);
            tr.spareForScreen = true; // the next share sends on it (below)
          }
        });
        sendSignal(k, { screen: null });
      });
      stopped.getTracks().forEach(function (t) { t.stop(); });
      screenButton(false);
      return;
    }
    navigator.mediaDevices.getDisplayMedia({ video: true }).then(function (s) {
      if (!joined) { s.getTracks().forEach(function (t) { t.stop(); }); return; }
      screen = s;
      s.getVideoTracks()[0].onended = function () { if (screen === s) toggleScreen(); };
      screenButton(true);
      if (usingJanus() && window.RoomJanus) {
        return RoomJanus.shareScreen(s.getVideoTracks()[0]).catch(function () {
          if (screen === s) toggleScreen();
          say("Your screen could not be shared: try again.");
        });
      }
      Object.keys(peers).forEach(function (k) {
        sendSignal(k, { screen: s.id });
        s.getTracks().forEach(function (t) { sendScreenTrack(peers[k].pc, t, s); });
      });
    }).catch(function () { say("Screen sharing was cancelled or is not allowed."); });
  }

  function joinCall() {
    if (!connectionId) { say("Connecting to the server… press Join again in a moment."); return; }
    $("room-join").disabled = true;
    joining = true; earlySignals = [];
    say("Joining…");
    ClasshubMesh.join({
      after: leaving, post: post, url: root.getAttribute("data-join-url"), say: say,
      failed: function () { joining = false; $("room-join").disabled = false; },
      media: function (answer) { config = answer; return getMedia($("room-receive-only") && $("room-receive-only").checked); },
      joined: function (stream) {
        local = stream;
        joined = true; joining = false;
        var mine = tile(connectionId, "You", true);
        if (stream) { mine.querySelector("video").srcObject = stream; watchSpeaking(stream, mine); fillDevices(); }
        else mine.classList.add("receive-only");
        if (usingJanus()) startJanus(stream);
        $("room-join").hidden = true;
        if ($("room-receive-only")) $("room-receive-only").parentNode.hidden = true;
        $("room-leave").hidden = false;
        $("room-mic").hidden = !(stream && stream.getAudioTracks().length);
        $("room-camera").hidden = !(stream && stream.getVideoTracks().length);
        $("room-screen").hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia && config.publish.indexOf("screen") >= 0);
        if (!statusEl.textContent || statusEl.textContent === "Joining…") say(stream ? "You are in the call." : "You are in the call, receiving only.");
        root.setAttribute("data-joined", "true");
        heartbeatTimer = ClasshubMesh.heartbeat(post, root.getAttribute("data-heartbeat-url"),
          function (socketDown) {
            // Join stays hidden with the rejoin: pressed now, it would join with the gone socket's id.
            if (socketDown) { stop("The connection was interrupted: joining again…"); rejoinWhenBack = true; }
            // Closed behind the page's back (swept, or ended from another page): Join is
            // offered again, as after Leave, rather than leave the page with no way back in.
            else { stop("You are no longer in this call."); offerJoin(); }
          });
        applyRoster();
        earlySignals.splice(0).forEach(onSignal);
      }
    });
  }
  function startJanus(stream) {
    if (!window.RoomJanus) { say("This call needs its media script, which did not load: reload the page."); return; }
    RoomJanus.start(config, stream, {
      onRemoteStream: function (feed, remote, display, source) {
        if (!joined) return;
        var connection = feed.split("~")[1];
        var known = (lastState && lastState.connections || []).filter(function (c) { return c.connection === connection; })[0];
        var name = known ? known.name : (display || "Someone");
        var t = source === "screen" ? screenTile(feed, connection, name) : tile(feed, name, false);
        var video = t.querySelector("video");
        if (video.srcObject !== remote) { video.srcObject = remote; watchSpeaking(remote, t); }
        applyRoster();
      },
      onRemoteGone: function (feed, source) { dropTile(feed + "-screen"); if (source !== "screen") dropTile(feed); },
      onState: function (text) {
        if (/^(could not|disconnected)/.test(text)) say("Media server: " + text);
        else if (text === "media flowing again") say("You are in the call.");
      }
    }).catch(function () { say("The media server could not be reached: leave and join again in a moment."); });
  }
  function stop(text) {
    if (!joined) { say(text); return; }
    joined = false;
    clearInterval(heartbeatTimer);
    if (usingJanus() && window.RoomJanus) RoomJanus.leave();
    Array.prototype.forEach.call(grid.querySelectorAll(".video-tile:not(.local)"), function (t) { t.remove(); });
    Object.keys(peers).forEach(closePeer);
    [local, screen].forEach(function (s) { if (s) s.getTracks().forEach(function (t) { t.stop(); }); });
    local = screen = null;
    screenButton(false);
    dropTile(connectionId);
    ["room-mic", "room-camera", "room-screen", "room-leave", "room-devices"].forEach(function (id) { if ($(id)) $(id).hidden = true; });
    root.setAttribute("data-joined", "false");
    say(text);
  }
  var leaving = Promise.resolve();
  function leave() {
    rejoinWhenBack = false;
    if (connectionId && joined) {
      // A Join pressed right after waits for this: the server must close this stay before it
      // opens the next one.
      leaving = ClasshubMesh.leaveBeacon(root.getAttribute("data-leave-url"), connectionId)
        .catch(function () {});
    }
    stop("You left the call.");
    // Leaving is not the end: Join comes back (a new stay on this page; attendance counts it
    // as another join, and the time away as absence).
    offerJoin();
  }
  function offerJoin() {
    var join = $("room-join");
    if (join) { join.hidden = false; join.disabled = false; }
  }

  // --- frames from the socket -----------------------------------------------------------------
  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    var text = evt.detail.message;
    if (typeof text !== "string" || text.charAt(0) !== "{") return;
    var msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    evt.preventDefault(); // JSON is for this script, never an htmx swap
    if (msg.room !== roomId) return;
    if (msg.type === "hello") {
      // Back on a new socket after a drop: the server ended the stay of the old one when it
      // closed, so the page joins again by itself, as a person would expect (a new stay:
      // attendance counts the gap as time away). Refused (the call ended meanwhile, or they
      // were removed), it says why and offers Join.
      var rejoin = (joined && connectionId !== msg.connection) || rejoinWhenBack;
      rejoinWhenBack = false;
      if (rejoin) { stop("The connection was interrupted: joining again…"); if ($("room-join")) $("room-join").hidden = false; }
      connectionId = msg.connection;
      if (rejoin) joinCall();
    } else if (msg.type === "signal") onSignal(msg);
    else if (msg.type === "room-ended") { stop("The call has ended."); var end = $("room-end"); if (end) end.hidden = true; $("room-join") && ($("room-join").hidden = true); }
    else if (msg.type === "room-replaced") { stop("You are in this call from another page now (one page per instructor in a control center's call)."); offerJoin(); }
    else if (msg.type === "room-removed") { stop("You were removed from this call and cannot join it again."); $("room-join") && ($("room-join").hidden = true); }
    else if (msg.type === "signal-refused") console.warn("signal refused: " + msg.reason);
  });
  document.addEventListener("htmx:wsAfterMessage", applyRoster);
  document.addEventListener("htmx:afterSwap", applyRoster);

  if ($("room-join")) $("room-join").addEventListener("click", joinCall);
  $("room-leave").addEventListener("click", leave);
  $("room-mic").addEventListener("click", function () { setTrack("audio", $("room-mic").getAttribute("aria-pressed") === "true"); });
  $("room-camera").addEventListener("click", function () { setTrack("video", $("room-camera").getAttribute("aria-pressed") === "true"); });
  $("room-screen").addEventListener("click", toggleScreen);
  $("room-mic-select").addEventListener("change", function (e) { switchDevice("audio", e.target.value); });
  $("room-camera-select").addEventListener("change", function (e) { switchDevice("video", e.target.value); });
  window.addEventListener("pagehide", function () { if (joined) leave(); });
  applyRoster();
  // Video bytes received so far from each remote page (either engine): the connection check
  // the call tests use.
  function stats() {
    if (usingJanus() && window.RoomJanus) {
      return RoomJanus.stats().then(function (byFeed) { return Object.keys(byFeed).map(function (k) { return byFeed[k]; }); });
    }
    return mesh.stats();
  }
  // The label of each track this page sends ("audio"/"video"/"screen" -> labels): what a
  // device switch or a screen share changed, on either engine.
  function sending() {
    var out = { audio: [], video: [], screen: [] };
    var screenIds = screen ? screen.getTracks().map(function (t) { return t.id; }) : [];
    function add(track) {
      if (!track || track.readyState !== "live") return;
      var list = screenIds.indexOf(track.id) >= 0 ? out.screen : out[track.kind];
      if (list.indexOf(track.label) < 0) list.push(track.label);
    }
    if (usingJanus() && window.RoomJanus) {
      var mids = config.janus.mids, byMid = RoomJanus.sending();
      Object.keys(mids).forEach(function (kind) { if (byMid[mids[kind]] !== undefined && out[kind].indexOf(byMid[mids[kind]]) < 0) out[kind].push(byMid[mids[kind]]); });
    } else Object.keys(peers).forEach(function (k) { peers[k].pc.getSenders().forEach(function (s) { add(s.track); }); });
    return out;
  }
  window.classhubRoom = { peers: peers, stats: stats, sending: sending, engine: function () { return config && config.engine; },
                          state: function () { return lastState; },
                          connection: function () { return connectionId; } };
})();
