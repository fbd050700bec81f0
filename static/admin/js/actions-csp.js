// Flask-Admin's templates are overridden without inline handlers (templates/admin/actions.html,
// model/row_actions.html, model/layout.html) because the shop's Content-Security-Policy forbids
// them. This wires the same behaviour as event listeners.
(function () {
  "use strict";
  document.querySelectorAll("[data-action]").forEach(function (element) {
    element.addEventListener("click", function (event) {
      event.preventDefault();
      if (window.modelActions) {
        window.modelActions.execute(element.getAttribute("data-action"));
      }
    });
  });
  document.querySelectorAll("[data-confirm]").forEach(function (element) {
    element.addEventListener("click", function (event) {
      if (!window.confirm(element.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });
  document.querySelectorAll("a.filter, a[href='#'][data-toggle]").forEach(function (element) {
    element.addEventListener("click", function (event) {
      event.preventDefault();
    });
  });
})();
