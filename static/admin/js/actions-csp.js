// Flask-Admin renders a few onclick= attributes (bulk-action menu, filter menu, delete
// confirmation), which the shop's Content-Security-Policy blocks. Re-attach the same
// behaviour as event listeners.
(function () {
  "use strict";
  var actionPattern = /modelActions\.execute\('([^']+)'\)/;
  var confirmPattern = /safeConfirm\('((?:[^'\\]|\\.)*)'\)/;
  document.querySelectorAll("[onclick]").forEach(function (element) {
    var code = element.getAttribute("onclick") || "";
    var action = actionPattern.exec(code);
    var question = confirmPattern.exec(code);
    element.removeAttribute("onclick");
    if (action) {
      element.setAttribute("data-action", action[1]);
      element.addEventListener("click", function (event) {
        event.preventDefault();
        if (window.modelActions) {
          window.modelActions.execute(action[1]);
        }
      });
    } else if (question) {
      element.addEventListener("click", function (event) {
        if (!window.confirm(question[1])) {
          event.preventDefault();
        }
      });
    } else if (code.trim() === "return false;") {
      element.addEventListener("click", function (event) {
        event.preventDefault();
      });
    }
  });
})();
