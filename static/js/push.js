// Web push on this device: register the service worker, subscribe on a user gesture, keep the
// server's copy of the subscription current, and forget it on logout.
(function () {
  "use strict";
  var supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; }
    catch (e) { return ""; }
  }
  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }
  function registration() {
    return navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready;
    });
  }
  function saveSubscription(subscription) {
    return fetch("/notifications/subscriptions", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(subscription)
    }).then(function (response) {
      if (response.ok) return response.json();
      // Say why (another account owns this browser's subscription, a push service this
      // server does not send to): the server's message is written for people.
      return response.json().catch(function () { return {}; }).then(function (body) {
        throw new Error(body.error || "The server refused the subscription.");
      });
    });
  }
  function setStatus(text) {
    var out = document.getElementById("push-status");
    if (out) out.textContent = text;
  }

  // "Enable notifications": permission is asked only on this click (browsers require a gesture).
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-enable-push]");
    if (!button) return;
    if (!supported) { setStatus("This browser cannot receive notifications."); return; }
    button.disabled = true;
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") throw new Error("Notifications are blocked for this site in the browser's settings.");
      return registration();
    }).then(function (reg) {
      return reg.pushManager.subscribe({ userVisibleOnly: true,
        applicationServerKey: keyBytes(button.getAttribute("data-vapid-key")) });
    }).then(function (subscription) {
      return saveSubscription(subscription.toJSON());
    }).then(function () {
      setStatus("This device will get notifications.");
      window.location.reload();
    }).catch(function (error) {
      setStatus(error.message || String(error));
      button.disabled = false;
    });
  });

  if (!supported) return;
  // Every page: keep the worker registered and, where permission stands, the subscription
  // known to the server (browsers rotate subscriptions).
  document.addEventListener("DOMContentLoaded", function () {
    if (!document.body.hasAttribute("ws-connect")) return; // logged out
    registration().then(function (reg) {
      if (Notification.permission !== "granted") return null;
      return reg.pushManager.getSubscription();
    }).then(function (subscription) {
      if (subscription) return saveSubscription(subscription.toJSON());
    }).catch(function () { /* push is an extra: pages work without it */ });
  });

  // Logging out of this device removes its subscription on the server.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form.matches || !form.matches("[data-logout]")) return;
    var field = form.querySelector("input[name=push_endpoint]");
    if (!field || field.value) return;
    evt.preventDefault();
    navigator.serviceWorker.getRegistration("/").then(function (reg) {
      return reg ? reg.pushManager.getSubscription() : null;
    }).then(function (subscription) {
      if (subscription) { field.value = subscription.endpoint; return subscription.unsubscribe(); }
    }).catch(function () {}).then(function () { form.submit(); });
  });
})();
