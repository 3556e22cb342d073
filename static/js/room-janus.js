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
 *     callbacks: {onRemoteStream(peerKey, stream, display, source), onRemoteGone(peerKey, source),
 *                 onState(text)}
 *             peerKey: the remote feed id ("<participant key>~<connection>~<sig>": the part
 *             before the first "~" is the participant's engine key, for the roster).
 *             source: "camera" (camera and microphone) or "screen" (that feed's screen share,
 *             a stream of its own, so the page shows it as a tile of its own).
 *             onRemoteStream fires again for the same peerKey when its tracks change.
 *   RoomJanus.setMuted(kind, muted)   kind "audio" | "video": stop/resume sending it.
 *   RoomJanus.shareScreen(track) -> Promise   publish a screen (a video track) as mid "2".
 *   RoomJanus.stopScreen() -> Promise         stop publishing it (the m-line goes inactive).
 *   RoomJanus.replaceTrack(kind, track) -> Promise   another camera or microphone, same m-line.
 *   RoomJanus.leave()                 leave the room and close every connection.
 *   RoomJanus.stats() -> Promise({peerKey: bytesReceived})  media received per remote feed.
 *   RoomJanus.sending() -> {mid: label}  the track each published m-line sends now.
 *
 * Contract with the server: audio is always published as m-line mid "0", video as mid "1" and a
 * screen share as mid "2" (config.janus.mids), so the app can moderate a kind without asking the
 * browser. When only video is sent, a silent audio track keeps mid "0" for audio; a screen
 * shared without a camera is preceded by a blank (disabled) video track that keeps mid "1".
 * Janus 1.x carries the screen in the same feed (multistream); the others subscribe to the new
 * stream when Janus announces the feed's streams again.
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

  // A video track that sends nothing visible: holds mid "1" for a page without a camera that
  // shares its screen (the screen must be mid "2").
  function blankVideoTrack() {
    const canvas = document.createElement("canvas");
    canvas.width = 16; canvas.height = 12;
    const track = canvas.captureStream(1).getVideoTracks()[0];
    track.enabled = false;
    return track;
  }

  // ICE to the media server failed (a firewall between this page and Janus, or a relay that
  // refused this page's credentials): say so in words, once per direction, instead of leaving
  // tiles black; "connected" again (an ICE restart, a network change) clears it.
  let iceFailed = {};
  function iceWatcher(direction) {
    return function (ice) {
      if (ice === "failed" && !iceFailed[direction]) {
        iceFailed[direction] = true;
        state("could not " + (direction === "send" ? "send your audio and video to" : "receive audio and video from") +
              " the media server: the network between you and it blocks them. Leave and join again, or try another network.");
      } else if ((ice === "connected" || ice === "completed") && iceFailed[direction]) {
        iceFailed[direction] = false;
        state("media flowing again");
      }
    };
  }

  function publisherPc() { return publisher && publisher.webrtcStuff && publisher.webrtcStuff.pc; }

  // Renegotiate the publisher with these track changes, then tell Janus (configure).
  function renegotiate(tracks) {
    return new Promise(function (resolve, reject) {
      publisher.createOffer({
        tracks: tracks,
        success: function (jsep) {
          publisher.send({message: {request: "configure", audio: true, video: true}, jsep: jsep});
          resolve();
        },
        error: function (error) { reject(error instanceof Error ? error : new Error(String(error))); },
      });
    });
  }

  function shareScreen(track) {
    if (!publisher || !privateId) return Promise.reject(new Error("not in the call yet"));
    const mids = current.config.janus.mids, pc = publisherPc();
    const used = pc && pc.getTransceivers().find(function (t) { return t.mid === mids.screen; });
    let tracks;
    if (used) {
      // Shared before: the same m-line again (a new one would be mid "3").
      tracks = [{type: "screen", mid: mids.screen, capture: track, replace: true, recv: false}];
    } else {
      tracks = [];
      if (!pc) {
        localTracks.audio = silentAudioTrack();
        tracks.push({type: "audio", capture: localTracks.audio, recv: false});
      }
      if (!localTracks.video) {
        localTracks.video = blankVideoTrack();
        tracks.push({type: "video", capture: localTracks.video, recv: false});
      }
      tracks.push({type: "screen", capture: track, recv: false});
    }
    track.dontStop = true;  // the page stops its own capture
    return renegotiate(tracks);
  }

  function stopScreen() {
    if (!publisher || !publisherPc()) return Promise.resolve();
    return renegotiate([{type: "screen", mid: current.config.janus.mids.screen, remove: true, recv: false}]);
  }

  function replaceTrack(kind, track) {
    if (!publisher || !publisherPc()) return Promise.reject(new Error("not publishing"));
    return new Promise(function (resolve, reject) {
      track.dontStop = true;
      publisher.replaceTracks({
        tracks: [{type: kind, mid: current.config.janus.mids[kind], capture: track, recv: false}],
        success: function () { localTracks[kind] = track; resolve(); },
        error: function (error) { reject(error instanceof Error ? error : new Error(String(error))); },
      });
    });
  }

  // ICE that never connects does not always end in "failed" (a relay that refuses every
  // allocation leaves no candidate at all, and the connection waits in "new"/"checking"):
  // after MEDIA_WATCHDOG_MS without a connection the page is told, with the reason when it
  // can be read off the connection's statistics.
  const MEDIA_WATCHDOG_MS = 12000;
  function watchPublisherMedia() {
    const session = current;
    setTimeout(function () {
      const pc = publisherPc();
      if (!pc || current !== session || iceFailed.send) return;
      if (["connected", "completed"].includes(pc.iceConnectionState)) return;
      pc.getStats().then(function (report) {
        let local = 0;
        report.forEach(function (s) { if (s.type === "local-candidate") local += 1; });
        if (current !== session || iceFailed.send || ["connected", "completed"].includes(pc.iceConnectionState)) return;
        iceFailed.send = true;
        const relayOnly = session.config.iceTransportPolicy === "relay";
        state("could not send your audio and video to the media server: " +
              (relayOnly && !local ? "the call's relay server refused the connection (ask your administrator to check the TURN settings)."
                                   : "the network between you and it blocks them. Leave and join again, or try another network."));
      });
    }, MEDIA_WATCHDOG_MS);
  }

  function publish(localStream) {
    const tracks = publishTracks(localStream, current.config.publish || []);
    if (!tracks.length) { state("joined (receiving only)"); return; }
    publisher.createOffer({
      tracks: tracks,
      success: function (jsep) {
        publisher.send({message: {request: "configure", audio: true, video: true}, jsep: jsep});
        watchPublisherMedia();
      },
      error: function (error) { state("could not publish: " + (error.message || error)); },
    });
  }

  function subscribe(feed) {
    if (!current || feed.id === current.config.janus.feed) return;
    if (current.subscribers.has(feed.id)) { subscribeToNewStreams(feed); return; }
    const cfg = current.config.janus;
    const stream = new MediaStream();
    // byMid: this subscription's mid -> the publisher's mid it carries (null once inactive);
    // asked: publisher mids requested and not yet seen in an update.
    const entry = {handle: null, stream: stream, screen: new MediaStream(), display: feed.display || "",
                   byMid: {}, asked: new Set(), feed: feed};
    current.subscribers.set(feed.id, entry);
    janus.attach({
      plugin: "janus.plugin.videoroom",
      success: function (handle) {
        entry.handle = handle;
        handle.send({message: {request: "join", ptype: "subscriber", room: cfg.room,
                               streams: [{feed: feed.id}], private_id: privateId, token: cfg.token}});
      },
      error: function (error) { state("could not receive " + entry.display + ": " + error); },
      iceState: iceWatcher("receive"),
      onmessage: function (msg, jsep) {
        if (msg.error) { state("could not receive " + entry.display + ": " + msg.error); return; }
        if (msg.streams) readStreams(feed.id, entry, msg.streams);
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
        const isScreen = entry.byMid[mid] === cfg.mids.screen;
        const target = isScreen ? entry.screen : stream;
        target.getTracks().filter(function (t) { return t.kind === track.kind && (!on || t.id !== track.id); })
          .forEach(function (t) { target.removeTrack(t); });
        if (on) target.addTrack(track);
        if (isScreen && !target.getTracks().length) current.callbacks.onRemoteGone(feed.id, "screen");
        else if (target.getTracks().length) current.callbacks.onRemoteStream(feed.id, target, entry.display, isScreen ? "screen" : "camera");
      },
      oncleanup: function () { gone(feed.id); },
    });
  }

  // Janus's list of this subscription's streams ("attached", "updated"): which publisher mid
  // each carries, and whether the screen share is still there.
  function readStreams(feedId, entry, streams) {
    const screenMid = current.config.janus.mids.screen;
    streams.forEach(function (s) {
      if (s.type === "data" || s.mid === undefined) return;
      entry.byMid[s.mid] = s.active === false ? null : s.feed_mid;
      entry.asked.delete(s.feed_mid);
    });
    const sharing = Object.keys(entry.byMid).some(function (mid) { return entry.byMid[mid] === screenMid; });
    if (!sharing && entry.screen.getTracks().length) {
      entry.screen.getTracks().forEach(function (t) { entry.screen.removeTrack(t); });
      current.callbacks.onRemoteGone(feedId, "screen");
    }
  }

  // A feed Janus announces again: it published another stream (e.g. a screen), which this page
  // subscribes to, or stopped one ("disabled"; Janus does not update the subscriptions to it
  // by itself), which this page drops and unsubscribes from.
  function subscribeToNewStreams(feed) {
    const entry = current.subscribers.get(feed.id);
    if (!entry || !entry.handle) return;
    const receiving = new Set(Object.values(entry.byMid).filter(Boolean));
    const streams = (feed.streams || []).filter(function (s) { return s.type !== "data"; });
    const missing = streams.filter(function (s) { return !s.disabled && !receiving.has(s.mid) && !entry.asked.has(s.mid); });
    const stopped = streams.filter(function (s) { return s.disabled && receiving.has(s.mid); });
    if (stopped.length) {
      Object.keys(entry.byMid).forEach(function (mid) {
        if (stopped.some(function (s) { return s.mid === entry.byMid[mid]; })) entry.byMid[mid] = null;
      });
      readStreams(feed.id, entry, []);
      entry.handle.send({message: {request: "unsubscribe",
                                   streams: stopped.map(function (s) { return {feed: feed.id, mid: s.mid}; })}});
    }
    if (!missing.length) return;
    missing.forEach(function (s) { entry.asked.add(s.mid); });
    entry.handle.send({message: {request: "subscribe",
                                 streams: missing.map(function (s) { return {feed: feed.id, mid: s.mid}; })}});
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
          // "relay": media only through TURN (ICE_TRANSPORT_POLICY); janus.js hands it to every PeerConnection.
          iceTransportPolicy: config.iceTransportPolicy || "all",
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
              iceState: iceWatcher("send"),
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
    publisher = null; privateId = null; current = null; janus = null; iceFailed = {};
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

  // What the publisher sends now, per m-line: {mid: track label} (a device switch shows here).
  function sending() {
    const pc = publisherPc(), out = {};
    if (pc) pc.getTransceivers().forEach(function (t) {
      if (t.mid !== null && t.sender.track && t.direction !== "inactive") out[t.mid] = t.sender.track.label;
    });
    return out;
  }

  window.RoomJanus = {start: start, sending: sending, setMuted: setMuted, leave: leave, stats: stats,
                      shareScreen: shareScreen, stopScreen: stopScreen, replaceTrack: replaceTrack};
})();
