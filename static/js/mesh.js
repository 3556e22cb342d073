// The built-in engine's peers (the "mesh" CallEngine, app/live/engines/mesh.py), shared by the
// room page (room.js) and the tutor's control center (cc-call.js): one RTCPeerConnection per
// remote page, MDN's "perfect negotiation" (both sides may offer at once), signalling as JSON
// frames on the page's /ws socket (app/live/signalling.py), the roster deciding whom to connect
// to (in a star, learners connect to the instructors only), and media failures explained.
// What a page sends to each peer and where it shows what arrives are the page's own (hooks).
(function () {
  "use strict";

  function csrfToken() {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
  }
  // A call endpoint (join, heartbeat, leave, media): JSON, the page's connection id included.
  function post(url, connection, body) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(Object.assign({ connection: connection }, body || {})) });
  }
  function leaveBeacon(url, connection) {
    return fetch(url, { method: "POST", keepalive: true, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ connection: connection }) });
  }

  // The camera and microphone the join config lets this person publish; with what there is
  // when one is refused or missing (``say`` explains), or null (receiving only).
  function getMedia(publish, receiveOnly, say) {
    if (receiveOnly || !navigator.mediaDevices) return Promise.resolve(null);
    var want = { audio: publish.indexOf("audio") >= 0, video: publish.indexOf("video") >= 0 };
    if (!want.audio && !want.video) return Promise.resolve(null);
    return navigator.mediaDevices.getUserMedia(want).catch(function (err) {
      // Try with what there is (a camera refused or missing still leaves the microphone).
      return navigator.mediaDevices.getUserMedia({ audio: want.audio }).then(function (s) {
        say("Your camera is " + (err.name === "NotAllowedError" ? "blocked" : "not available") + ": you are in the call with your microphone only.");
        return s;
      }).catch(function (err2) {
        say(err2.name === "NotAllowedError"
          ? "Camera and microphone are blocked for this site: you can see and hear the others. Allow them in your browser's site settings and join again to be seen."
          : "No camera or microphone found: you are in the call receiving only.");
        return null;
      });
    });
  }

  // Joining, the same on every call page: once the last Leave has reached the server (``after``),
  // ask to join with the page's ``post``. A refusal or a network failure is said and ``failed``
  // runs (the page offers Join again). Else the answer's roster goes to the page's #room-state,
  // ``media(config)`` gets what this person publishes (the page keeps the config), then
  // ``joined(stream)`` shows the page in the call and ``heartbeat(stop)`` keeps the stay open.
  function join(options) {
    return options.after.then(function () { return options.post(options.url); }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (answer) {
      if (!answer.ok) { options.say(answer.body.error || "You could not join this call."); options.failed(); return; }
      var config = answer.body, state = document.getElementById("room-state");
      if (config.roster && state) state.setAttribute("data-state", JSON.stringify(config.roster));
      return options.media(config).then(options.joined);
    }).catch(function () { options.say("The call could not be joined (network problem). Try again."); options.failed(); });
  }
  // Every 20 s the page says it is still in the call; an answer that it is not (the server
  // closed the stay) calls ``gone(socketDown)``: ``socketDown`` when the page's socket is away
  // just then, whose closing is what closed the stay (the page joins again once it is back).
  // Returns the timer, for clearInterval on leaving.
  function heartbeat(post, url, gone) {
    return setInterval(function () {
      post(url).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body && body.in_call === false)
            gone(document.documentElement.getAttribute("data-realtime") !== "open");
        })
        .catch(function () {});  // offline for a beat: the next one asks again
    }, 20000);
  }

  // The speaking ring: ``el`` gets the class "speaking" while the stream's audio is loud.
  // Returns a function that stops watching (a tile whose stream changed or went).
  function watchSpeaking(stream, el) {
    if (!window.AudioContext || !stream.getAudioTracks().length) return function () {};
    try {
      var ctx = new AudioContext(), analyser = ctx.createAnalyser(), data = new Uint8Array(256);
      ctx.createMediaStreamSource(stream).connect(analyser);
      var timer = setInterval(function () {
        analyser.getByteFrequencyData(data);
        var sum = 0; for (var i = 0; i < data.length; i++) sum += data[i];
        el.classList.toggle("speaking", sum / data.length > 12);
      }, 250);
      return function () { clearInterval(timer); el.classList.remove("speaking"); ctx.close().catch(function () {}); };
    } catch (e) { return function () {}; /* no audio analysis: no speaking ring */ }
  }

  // Whether this page connects to ``c`` (a connection of the roster): everyone in a mesh; in a
  // star an instructor connects to everyone and a learner to the instructors only.
  function wanted(state, c, myConnection, myUser) {
    if (c.connection === myConnection) return false;
    if (state.topology !== "star") return true;
    var me = state.participants.filter(function (p) { return p.user === myUser; })[0];
    return (me && me.role === "INSTRUCTOR") || c.role === "INSTRUCTOR";
  }

  // options: roomId, myUser, connection() (this page's socket id), config() (the join answer),
  //   statusEl, say(text),
  //   setup(peer, remote, initiating): add this page's tracks to peer.pc (before negotiating),
  //   sends(kind): whether this page sends "audio" / "video" on its camera/microphone m-lines,
  //   onTrack(peer, evt, remote), onClose(peer, remote), onData(peer, data, msg) -> true when
  //   the page handled a signal of its own kind (e.g. "screen").
  function create(options) {
    var peers = {}; // connection id -> {pc, polite, makingOffer, ignoreOffer, user, name}
    var say = options.say || function () {};
    var statusEl = options.statusEl;

    function sendSignal(to, data) {
      if (window.classhubRealtime) window.classhubRealtime.send({ type: "signal", room: options.roomId, to: to, data: data });
    }
    function mediaFailure(peer) {
      if (statusEl) statusEl.setAttribute("data-media-failed", peer.name);
      return "Your audio and video cannot reach " + peer.name + ": " +
        (peer.relayRefused ? "the call's relay server refused the connection (ask your administrator to check the TURN settings)."
                           : "the network between you blocks it. Leave and join again, or try another network.");
    }

    // ``initiating``: this page calls (from the roster), rather than answering an offer.
    function peerFor(remote, user, name, initiating) {
      if (peers[remote]) return peers[remote];
      var config = options.config();
      var pc = new RTCPeerConnection({ iceServers: config.iceServers,
                                       iceTransportPolicy: config.iceTransportPolicy || "all" });
      var peer = { pc: pc, polite: options.connection() < remote, makingOffer: false, ignoreOffer: false,
                   user: user, name: name || "Someone", remote: remote };
      peers[remote] = peer;
      if (options.setup) options.setup(peer, remote, initiating);
      // A page without a camera or microphone that calls needs m-lines to receive on; one that
      // answers receives on the offer's own (extra transceivers there would start a second,
      // colliding negotiation before the first is done: the connection never came up).
      if (initiating && !options.sends("video")) pc.addTransceiver("video", { direction: "recvonly" });
      if (initiating && !options.sends("audio")) pc.addTransceiver("audio", { direction: "recvonly" });
      pc.ontrack = function (evt) { if (options.onTrack) options.onTrack(peer, evt, remote); };
      pc.onicecandidate = function (evt) { sendSignal(remote, { candidate: evt.candidate ? evt.candidate.toJSON() : null }); };
      pc.onnegotiationneeded = function () {
        peer.makingOffer = true;
        pc.setLocalDescription().then(function () {
          sendSignal(remote, { description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
        }).catch(function (e) { console.warn("offer not made: " + e.message); }).then(function () { peer.makingOffer = false; });
      };
      // A relay (TURN) server that refuses this page's credentials: with "relay" there is no
      // other way for media, so say it at once rather than leave a black tile; otherwise the
      // direct path may still work, and only a failed connection is reported.
      pc.onicecandidateerror = function (evt) {
        if (!/^turns?:/.test(evt.url || "")) return;
        peer.relayRefused = evt.errorCode === 401 || evt.errorCode === 403 || peer.relayRefused;
        if (peer.relayRefused && options.config().iceTransportPolicy === "relay") say(mediaFailure(peer));
      };
      pc.onconnectionstatechange = function () {
        if (pc.connectionState === "failed") { say(mediaFailure(peer)); pc.restartIce(); }
        else if (pc.connectionState === "connected" && statusEl && statusEl.getAttribute("data-media-failed") === peer.name) {
          statusEl.removeAttribute("data-media-failed");
          say("You are in the call.");
        }
      };
      return peer;
    }
    function closePeer(remote) {
      var peer = peers[remote];
      if (!peer) return;
      peer.pc.close();
      delete peers[remote];
      if (options.onClose) options.onClose(peer, remote);
    }
    // A signal frame from ``msg.from``; ``known``: its roster entry if the roster has it yet
    // (the server relays only from connections in the call; the roster may lag the first offer).
    function signal(msg, known) {
      var peer = peerFor(msg.from, msg.from_user, known && known.name, false);
      var pc = peer.pc, data = msg.data;
      if (known) peer.name = known.name;
      if (options.onData && options.onData(peer, data, msg)) return;
      if (data.description) {
        var collision = data.description.type === "offer" && (peer.makingOffer || pc.signalingState !== "stable");
        peer.ignoreOffer = !peer.polite && collision;
        if (peer.ignoreOffer) return;
        pc.setRemoteDescription(data.description).then(function () {
          if (data.description.type !== "offer") return;
          return pc.setLocalDescription().then(function () {
            sendSignal(msg.from, { description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
          });
        }).catch(function (e) { console.warn("description not applied: " + e.message); });
      } else if ("candidate" in data) {
        // A candidate for an offer this side ignored (perfect negotiation) fails harmlessly.
        pc.addIceCandidate(data.candidate || undefined).catch(function (e) { if (!peer.ignoreOffer) console.warn("ICE candidate not used: " + e.message); });
      }
    }
    // The roster decides: connect to whom this page should (the newer side calls: connecting
    // to everyone already there is the joiner's job), drop whoever is no longer in it.
    function sync(state) {
      var keep = {}, mine = options.connection();
      state.connections.forEach(function (c) {
        if (!wanted(state, c, mine, options.myUser)) return;
        keep[c.connection] = true;
        if (peers[c.connection]) peers[c.connection].name = c.name;
        else if (c.connection < mine) peerFor(c.connection, c.user, c.name, true);
      });
      Object.keys(peers).forEach(function (remote) { if (!keep[remote]) closePeer(remote); });
    }
    function closeAll() { Object.keys(peers).forEach(closePeer); }
    // Video bytes received so far from each peer (the call tests' connection check).
    function stats() {
      return Promise.all(Object.keys(peers).map(function (k) {
        return peers[k].pc.getStats().then(function (report) {
          var bytes = 0;
          report.forEach(function (s) { if (s.type === "inbound-rtp" && s.kind === "video") bytes += s.bytesReceived; });
          return bytes;
        });
      }));
    }
    return { peers: peers, peerFor: peerFor, closePeer: closePeer, closeAll: closeAll,
             signal: signal, sync: sync, send: sendSignal, stats: stats };
  }

  window.ClasshubMesh = { create: create, post: post, leaveBeacon: leaveBeacon, getMedia: getMedia,
                          join: join, heartbeat: heartbeat, watchSpeaking: watchSpeaking,
                          wanted: wanted };
})();
