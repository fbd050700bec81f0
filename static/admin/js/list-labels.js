// Names for the controls Flask-Admin's list draws with a title only (a title is not a label for
// screen readers): each row's checkbox says which row it selects, the select-all box says so,
// and a column's help icon reads its help. Loaded by templates/admin/fmp_list.html.
(function () {
  "use strict";
  var toggle = document.querySelector("input.action-rowtoggle");
  if (toggle) {
    toggle.setAttribute("aria-label", "Select every row on this page");
  }
  document.querySelectorAll("input.action-checkbox").forEach(function (box) {
    var row = box.closest("tr");
    var cell = row ? row.querySelector("td[class^='col-'], td[class*=' col-']") : null;
    var name = cell ? cell.textContent.replace(/\s+/g, " ").trim() : "";
    box.setAttribute("aria-label", name ? "Select " + name : "Select this row");
  });
  document.querySelectorAll("th a[data-role='tooltip']").forEach(function (help) {
    var text = help.getAttribute("title") || help.getAttribute("data-original-title") || "";
    help.setAttribute("aria-label", text || "About this column");
  });
})();
