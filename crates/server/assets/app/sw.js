// callside's service worker: a wake-up arrives empty (the server puts no content in a push), so
// the notification only says there is something, and opening it shows the app, which fetches
// what is new over its own authenticated connection.
self.addEventListener("push", (event) => {
  event.waitUntil(
    self.registration.showNotification("callside", {
      body: "Something new on one of your calls",
      tag: "callside-wake",
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => new URL(w.url).pathname.startsWith("/app/"));
      return open ? open.focus() : self.clients.openWindow("/app/");
    }),
  );
});
