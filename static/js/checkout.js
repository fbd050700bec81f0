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

// Walk-in sale: one more accessory line, copied from the last one and emptied.
(function () {
  "use strict";
  var button = document.getElementById("add-sale-line");
  var table = document.getElementById("sale-lines");
  if (!button || !table) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var rows = table.querySelectorAll("tr.sale-line");
    var last = rows[rows.length - 1];
    var row = last.cloneNode(true);
    var number = rows.length + 1;
    var select = row.querySelector("select");
    var quantity = row.querySelector("input");
    select.selectedIndex = 0;
    select.setAttribute("aria-label", "Accessory " + number);
    quantity.value = "1";
    quantity.setAttribute("aria-label", "Quantity " + number);
    last.parentNode.appendChild(row);
    select.focus();
  });
})();

// A double click on "Take payment" or "Sell" sends the form once, not twice.
(function () {
  "use strict";
  document.querySelectorAll("form.pay-form").forEach(function (form) {
    var sent = false;
    form.addEventListener("submit", function (event) {
      if (sent) {
        event.preventDefault();
        return;
      }
      sent = true;
    });
    // Coming back to the page (browser history) makes the form usable again.
    window.addEventListener("pageshow", function () {
      sent = false;
    });
  });
})();
