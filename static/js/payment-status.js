// Return page from Stripe Checkout: while the payment is "pending", ask our JSON status
// endpoint every few seconds and reload once the webhook has moved it on.
(function () {
  "use strict";
  var el = document.getElementById("payment-status");
  if (!el || el.getAttribute("data-status") !== "pending") {
    return;
  }
  var url = el.getAttribute("data-status-url");
  var tries = 0;
  var maxTries = 40; // about two minutes; the refresh link stays for later
  function poll() {
    tries += 1;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (body && body.status && body.status !== "pending") {
          window.location.reload();
        } else if (tries < maxTries) {
          window.setTimeout(poll, 3000);
        }
      })
      .catch(function () {
        if (tries < maxTries) {
          window.setTimeout(poll, 5000);
        }
      });
  }
  window.setTimeout(poll, 2000);
})();
