/* The browser side of the Janus call engine (app/live/engines/janus.py).
 *
 * Needs, loaded before it: static/vendor/janus/adapter-8.2.0.min.js, then janus-1.1.2.js.
 *
 * The small interface every engine adapter exposes, so the room page can use either:
 *
 *   RoomJanus.start(config, localStream, callbacks) -> Promise (resolves once joined)
 *     config: the JoinConfig JSON (engine "janus"): {iceServers, publish: [...kinds],
 *             janus: {server, room, token, feed, display, mids}}
 *     localStream: a MediaStream to publish (its audio and/or video), or null to only receive
 *             (kinds not in config.publish are never sent).
 *     callbacks: {onRemoteStream(peerKey, stream, display), onRemoteGone(peerKey), onState(text)}
 *             peerKey: the remote feed id ("<participant key>~<connection>~<sig>": the part
 *             before the first "~" is the participant's engine key, for the roster).
 *             onRemoteStream fires again for the same peerKey when its tracks change.
 *   RoomJanus.setMuted(kind, muted)   kind "audio" | "video": stop/resume sending it.
 *   RoomJanus.leave()                 leave the room and close every connection.
 *   RoomJanus.stats() -> Promise({peerKey: bytesReceived})  media received per remote feed.
 *
 * Contract with the server: audio is always published as m-line mid "0" and video as mid "1"
 * (config.janus.mids), so the app can moderate a kind without asking the browser. When only
 * video is sent, a silent audio track keeps mid "0" for audio.
 */
(function () {
  "use strict";

  let janus = null;
  let publisher = null;
  let privateId = null;
  let current = null;            // {config, callbacks, subscribers: Map(feed -> handle)}
  let localTracks = {audio: null, video: null};

  function state(text) {
    if (current && current.callbacks.onState) current.callbacks.onState(text);
  }

  function initJanus() {
    return new Promise(function (resolve) {
      Janus.init({debug: false, dependencies: Janus.useDefaultDependencies(), callback: resolve});
    });
  }

  function silentAudioTrack() {
    const context = new AudioContext();
    return context.createMediaStreamDestination().stream.getAudioTracks()[0];
  }

  function publishTracks(localStream, allowed) {
    const audio = localStream && allowed.includes("audio") ? localStream.getAudioTracks()[0] : null;
    const video = localStream && allowed.includes("video") ? localStream.getVideoTracks()[0] : null;
    if (!audio && !video) return [];
    localTracks = {audio: audio || silentAudioTrack(), video: video};
    const tracks = [{type: "audio", capture: localTracks.audio, recv: false}];
    if (video) tracks.push({type: "video", capture: video, recv: false});
    return tracks;
  }

  function publish(localStream) {
    const tracks = publishTracks(localStream, current.config.publish || []);
    if (!tracks.length) { state("joined (receiving only)"); return; }
    publisher.createOffer({
      tracks: tracks,
      success: function (jsep) {
        publisher.send({message: {request: "configure", audio: true, video: true}, jsep: jsep});
      },
      error: function (error) { state("could not publish: " + (error.message || error)); },
    });
  }

  function subscribe(feed) {
    if (!current || current.subscribers.has(feed.id) || feed.id === current.config.janus.feed) return;
    const cfg = current.config.janus;
    const stream = new MediaStream();
    const entry = {handle: null, stream: stream, display: feed.display || ""};
    current.subscribers.set(feed.id, entry);
    janus.attach({
      plugin: "janus.plugin.videoroom",
      success: function (handle) {
        entry.handle = handle;
        handle.send({message: {request: "join", ptype: "subscriber", room: cfg.room,
                               streams: [{feed: feed.id}], private_id: privateId, token: cfg.token}});
      },
      error: function (error) { state("could not receive " + entry.display + ": " + error); },
      onmessage: function (msg, jsep) {
        if (msg.error) { state("could not receive " + entry.display + ": " + msg.error); return; }
        if (!jsep) return;
        entry.handle.createAnswer({
          jsep: jsep,
          tracks: [{type: "data"}],  // audio/video offered are accepted receive-only
          success: function (answer) {
            entry.handle.send({message: {request: "start", room: cfg.room}, jsep: answer});
          },
          error: function (error) { state("could not receive " + entry.display + ": " + error); },
        });
      },
      onremotetrack: function (track, mid, on) {
        if (!current || !current.subscribers.has(feed.id)) return;
        stream.getTracks().filter(function (t) { return t.kind === track.kind && (!on || t.id !== track.id); })
          .forEach(function (t) { stream.removeTrack(t); });
        if (on) stream.addTrack(track);
        current.callbacks.onRemoteStream(feed.id, stream, entry.display);
      },
      oncleanup: function () { gone(feed.id); },
    });
  }

  function gone(feedId) {
    if (!current) return;
    const entry = current.subscribers.get(feedId);
    if (!entry) return;
    current.subscribers.delete(feedId);
    if (entry.handle) entry.handle.detach();
    current.callbacks.onRemoteGone(feedId);
  }

  function onPublisherMessage(msg, jsep, localStream, joined, failed) {
    const event = msg.videoroom;
    if (event === "joined") {
      privateId = msg.private_id;
      state("joined");
      joined();
      publish(localStream);
    } else if (event === "destroyed") {
      state("the call has ended");
      leave();
      return;
    } else if (msg.error) {
      if (!privateId) failed(new Error(msg.error)); else state(msg.error);
      return;
    }
    (msg.publishers || []).forEach(subscribe);
    const left = msg.leaving || msg.unpublished || msg.kicked;
    if (left === "ok") { state("you were removed from the call"); leave(); return; }
    if (left) gone(left);
    if (jsep) publisher.handleRemoteJsep({jsep: jsep});
  }

  function start(config, localStream, callbacks) {
    if (current) leave();
    current = {config: config, callbacks: callbacks || {}, subscribers: new Map()};
    const cfg = config.janus;
    ["onRemoteStream", "onRemoteGone", "onState"].forEach(function (name) {
      if (typeof current.callbacks[name] !== "function") current.callbacks[name] = function () {};
    });
    return initJanus().then(function () {
      return new Promise(function (joined, failed) {
        state("connecting");
        janus = new Janus({
          server: cfg.server,
          iceServers: config.iceServers || [],
          success: function () {
            janus.attach({
              plugin: "janus.plugin.videoroom",
              success: function (handle) {
                publisher = handle;
                handle.send({message: {request: "join", ptype: "publisher", room: cfg.room,
                                       id: cfg.feed, display: cfg.display, token: cfg.token}});
              },
              error: failed,
              onmessage: function (msg, jsep) { onPublisherMessage(msg, jsep, localStream, joined, failed); },
              webrtcState: function (up) { state(up ? "sending" : "not sending"); },
            });
          },
          error: function (error) { state("disconnected: " + error); failed(new Error(String(error))); },
        });
      });
    });
  }

  function setMuted(kind, muted) {
    if (!publisher) return;
    const mid = current.config.janus.mids[kind];
    if (kind === "audio") { if (muted) publisher.muteAudio(mid); else publisher.unmuteAudio(mid); }
    if (kind === "video") { if (muted) publisher.muteVideo(mid); else publisher.unmuteVideo(mid); }
  }

  function leave() {
    const session = janus;
    if (current) {
      Array.from(current.subscribers.keys()).forEach(gone);
    }
    if (publisher) {
      try { publisher.send({message: {request: "leave"}}); } catch (e) { /* already gone */ }
      publisher.hangup();
    }
    publisher = null; privateId = null; current = null; janus = null;
    localTracks = {audio: null, video: null};
    if (session) session.destroy({cleanupHandles: true});
  }

  // Bytes received so far per remote feed (inbound-rtp, all kinds): for the room page's
  // connection indicator and for tests that check media really flows.
  function stats() {
    if (!current) return Promise.resolve({});
    const entries = Array.from(current.subscribers.entries());
    return Promise.all(entries.map(function (pair) {
      const pc = pair[1].handle && pair[1].handle.webrtcStuff && pair[1].handle.webrtcStuff.pc;
      if (!pc) return [pair[0], 0];
      return pc.getStats().then(function (report) {
        let bytes = 0;
        report.forEach(function (s) { if (s.type === "inbound-rtp") bytes += s.bytesReceived || 0; });
        return [pair[0], bytes];
      });
    })).then(function (pairs) { return Object.fromEntries(pairs); });
  }

  window.RoomJanus = {start: start, setMuted: setMuted, leave: leave, stats: stats};
})();
