// Classhub service worker: shows pushed notifications and opens their deep link on click.
// Served from /sw.js (scope "/") so it covers every page.
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (e) {
    data = { title: "Classhub", body: event.data ? event.data.text() : "" };
  }
  var title = data.title || "Classhub";
  var urgent = ["SESSION_REMINDER", "SESSION_LIVE", "INSTANT_CALL_STARTED"].indexOf(data.type) >= 0;
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "",
    tag: data.tag || undefined,
    renotify: Boolean(data.tag),
    requireInteraction: urgent,
    icon: "/static/icons/icon-192.png",
    // Android's status bar draws the badge as a mask: a white glyph on transparency.
    badge: data.badge || "/static/icons/badge-96.png",
    data: { url: data.url || "/", id: data.id, type: data.type },
    // An incoming call or a session gone live: the payload's "Join" action opens the room (a
    // plain click does too; closing dismisses it).
    actions: Array.isArray(data.actions) ? data.actions.slice(0, 2) : []
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  // "join" (the call's action) and a click on the notification both open its link.
  var id = event.notification.data && event.notification.data.id;
  // Through /notifications/<id>/open: marks it read, then redirects to the deep link.
  var target = new URL(id ? "/notifications/" + id + "/open" : (event.notification.data.url || "/"),
                       self.location.origin).href;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      var client = list[i];
      if (new URL(client.url).origin === self.location.origin && "focus" in client) {
        return client.focus().then(function (c) { return c.navigate ? c.navigate(target) : c; });
      }
    }
    return self.clients.openWindow(target);
  }));
});
