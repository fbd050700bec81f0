// Flask-Admin renders its bulk-action menu with onclick= attributes, which the shop's
// Content-Security-Policy blocks. Re-attach the same behaviour as event listeners.
(function () {
  "use strict";
  var pattern = /modelActions\.execute\('([^']+)'\)/;
  document.querySelectorAll("a.dropdown-item[onclick]").forEach(function (link) {
    var match = pattern.exec(link.getAttribute("onclick") || "");
    if (!match) {
      return;
    }
    link.removeAttribute("onclick");
    link.setAttribute("data-action", match[1]);
    link.addEventListener("click", function (event) {
      event.preventDefault();
      if (window.modelActions) {
        window.modelActions.execute(match[1]);
      }
    });
  });
})();
