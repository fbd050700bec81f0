// The counter checkout: show the cash field for cash and the reference field for card or
// transfer; add and remove lines of a walk-in sale. No inline scripts (CSP).
(function () {
  "use strict";

  function showFor(form) {
    var checked = form.querySelector("input[name=method]:checked");
    var cash = !checked || checked.value === "cash";
    form.querySelectorAll(".cash-only").forEach(function (el) {
      el.hidden = !cash;
    });
    form.querySelectorAll(".not-cash").forEach(function (el) {
      el.hidden = cash;
    });
  }

  document.querySelectorAll("form.pay-form").forEach(function (form) {
    form.querySelectorAll("input[name=method]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        showFor(form);
      });
    });
    showFor(form);
  });
})();
