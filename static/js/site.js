/* FixMyPhone customer site: small progressive enhancements; every page works without it. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Phone-sized screens: collapse the main navigation behind a Menu button.
  var toggle = document.querySelector(".nav-toggle");
  var nav = document.getElementById("site-nav");
  if (toggle && nav) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // "Your details" on the repair form: show the log-in or the sign-up fields.
  var choice = document.querySelectorAll("input[name='account_mode']");
  function showAccountPanel() {
    var mode = "signup";
    choice.forEach(function (radio) { if (radio.checked) { mode = radio.value; } });
    document.querySelectorAll(".account-panel").forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-mode") !== mode;
    });
  }
  if (choice.length) {
    choice.forEach(function (radio) { radio.addEventListener("change", showAccountPanel); });
    showAccountPanel();
  }

  // IMEI: tell the customer early when the number cannot be right (the server checks again).
  var imei = document.getElementById("imei");
  function luhn(digits) {
    var total = 0;
    for (var i = 0; i < digits.length; i++) {
      var n = parseInt(digits.charAt(digits.length - 1 - i), 10);
      if (i % 2 === 1) { n *= 2; if (n > 9) { n -= 9; } }
      total += n;
    }
    return total % 10 === 0;
  }
  if (imei) {
    var hint = document.getElementById("imei-live");
    imei.addEventListener("blur", function () {
      var digits = imei.value.replace(/[\s-]/g, "");
      var bad = digits !== "" && !(/^\d{15}$/.test(digits) && luhn(digits));
      if (hint) { hint.hidden = !bad; }
      if (bad) { imei.setAttribute("aria-invalid", "true"); } else { imei.removeAttribute("aria-invalid"); }
    });
  }

  // Forms that change something important ask first (data-confirm="question").
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  // After a failed POST, move focus to the list of problems so screen readers announce it.
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }

  // Photo field: list the chosen files so the customer sees what will be sent.
  var photos = document.getElementById("photos");
  var list = document.getElementById("photos-chosen");
  if (photos && list) {
    photos.addEventListener("change", function () {
      list.textContent = "";
      Array.prototype.forEach.call(photos.files, function (file) {
        var item = document.createElement("li");
        item.textContent = file.name + " (" + Math.max(1, Math.round(file.size / 1024)) + " KB)";
        list.appendChild(item);
      });
    });
  }
})();
