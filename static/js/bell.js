// Keeps the notification bell's unread count fresh without reloading the page.
(function () {
  "use strict";
  var POLL_MS = 60000;

  function update(bell, unread) {
    var badge = bell.querySelector("[data-bell-count]");
    if (badge) {
      badge.textContent = String(unread);
      badge.hidden = unread === 0;
    }
    bell.setAttribute("aria-label", unread ? "Notifications, " + unread + " unread" : "Notifications");
  }

  function poll(bell) {
    var url = bell.getAttribute("data-bell-url");
    if (!url || document.hidden) {
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data && typeof data.unread === "number") {
          update(bell, data.unread);
        }
      })
      .catch(function () { /* offline: keep the last count */ });
  }

  function start() {
    var bells = document.querySelectorAll("[data-bell]");
    if (window.__fmpBellStarted || !bells.length) {
      return;
    }
    window.__fmpBellStarted = true;
    bells.forEach(function (bell) {
      setInterval(function () { poll(bell); }, POLL_MS);
      document.addEventListener("visibilitychange", function () { poll(bell); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
