// The back office's appointment calendar (templates/admin/appointments/calendar.html).
// FullCalendar shows the shop's appointments in its time zone; every change is a small JSON
// call to the appointment view (CSRF token in the X-CSRFToken header), which goes through the
// booking service. A refusal is shown in words and a dragged event goes back where it was.
// Keyboard users move and cancel from the list under the calendar (dialogs with real forms).
(function () {
  "use strict";
  var el = document.getElementById("calendar");
  if (!el || typeof window.FullCalendar === "undefined") {
    return;
  }
  var cfg = JSON.parse(el.getAttribute("data-config"));
  var csrf = el.getAttribute("data-csrf");

  function byId(id) {
    return document.getElementById(id);
  }

  var statusBox = byId("cal-status");
  var errorBox = byId("cal-error");
  var techFilter = byId("cal-technician");
  var canceledBox = byId("cal-canceled");

  function show(box, text) {
    box.textContent = text || "";
    box.hidden = !text;
  }

  function say(text) {
    show(errorBox, "");
    show(statusBox, text);
  }

  function complain(text) {
    show(statusBox, "");
    show(errorBox, text);
  }

  function failure(response, data) {
    if (data && data.error && data.error.message) {
      return data.error.message;
    }
    if (response.status === 400) {
      return "The page has expired; reload it and try again.";
    }
    if (response.status === 403) {
      return "You are not allowed to change appointments.";
    }
    return "The shop's server could not do that (error " + response.status + ").";
  }

  function request(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrf;
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(
      function (response) {
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (data) {
            if (response.ok && data !== null) {
              return data;
            }
            throw new Error(failure(response, data));
          });
      },
      function () {
        throw new Error("Could not reach the shop's server; check the connection.");
      }
    );
  }

  function minutes(count) {
    var h = Math.floor(count / 60);
    var m = count % 60;
    return (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m + ":00";
  }

  // -- dialogs

  function openDialog(dialog, focus) {
    var error = dialog.querySelector(".fmp-dialog-error");
    show(error, "");
    dialog.showModal();
    if (focus) {
      focus.focus();
    }
  }

  document.querySelectorAll("dialog [data-close]").forEach(function (button) {
    button.addEventListener("click", function () {
      button.closest("dialog").close();
    });
  });

  function submitDialog(form, url, body, done) {
    var dialog = form.closest("dialog");
    var error = dialog.querySelector(".fmp-dialog-error");
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) {
      b.disabled = true;
    });
    request("POST", url, body)
      .then(
        function (data) {
          dialog.close();
          say(done(data));
          calendar.refetchEvents();
        },
        function (err) {
          show(error, err.message);
        }
      )
      .finally(function () {
        buttons.forEach(function (b) {
          b.disabled = false;
        });
      });
  }

  var moveDialog = byId("move-dialog");
  var moveForm = byId("move-form");
  var cancelDialog = byId("cancel-dialog");
  var cancelForm = byId("cancel-form");
  var addDialog = byId("add-dialog");
  var addForm = byId("add-form");
  var addRepair = byId("add-repair");
  var repairOptions = byId("add-repair-options");
  var repairsSeen = {};

  function openMove(event) {
    var ext = event.extendedProps;
    moveForm.setAttribute("action", ext.moveUrl);
    byId("move-title").textContent = "Move " + ext.reference;
    byId("move-current").textContent = ext.customer + ", now " + ext.when + ".";
    byId("move-start").value = ext.local;
    byId("move-technician").value = ext.technicianId ? String(ext.technicianId) : "";
    openDialog(moveDialog, byId("move-start"));
  }

  function openCancel(event) {
    var ext = event.extendedProps;
    cancelForm.setAttribute("action", ext.cancelUrl);
    byId("cancel-title").textContent = "Cancel " + ext.reference;
    byId("cancel-current").textContent = ext.customer + ", " + ext.when + ".";
    byId("cancel-reason").value = "";
    openDialog(cancelDialog, byId("cancel-reason"));
  }

  function openAdd(localStart) {
    addForm.reset();
    byId("add-start").value = localStart || "";
    var tech = techFilter.value;
    byId("add-technician").value = /^[0-9]+$/.test(tech) ? tech : "";
    loadRepairs("");
    openDialog(addDialog, addRepair);
  }

  moveForm.addEventListener("submit", function (e) {
    e.preventDefault();
    submitDialog(
      moveForm,
      moveForm.getAttribute("action"),
      { start: byId("move-start").value, technician_id: byId("move-technician").value },
      function (data) {
        return data.message + " " + data.event.extendedProps.reference + ": " + data.event.extendedProps.when + ".";
      }
    );
  });

  cancelForm.addEventListener("submit", function (e) {
    e.preventDefault();
    submitDialog(
      cancelForm,
      cancelForm.getAttribute("action"),
      { reason: byId("cancel-reason").value },
      function (data) {
        return data.message + " " + data.event.extendedProps.reference + " (" + data.event.extendedProps.when + ").";
      }
    );
  });

  // The repair picker: bookable repairs matching what is typed (reference or customer).
  var searchTimer = null;

  function loadRepairs(query) {
    request("GET", cfg.urls.repairs + "?q=" + encodeURIComponent(query)).then(function (rows) {
      repairOptions.textContent = "";
      rows.forEach(function (row) {
        repairsSeen[row.reference] = row;
        var option = document.createElement("option");
        option.value = row.reference;
        option.label = row.label;
        option.textContent = row.label;
        repairOptions.appendChild(option);
      });
    }, function () {});
  }

  addRepair.addEventListener("input", function () {
    var picked = repairsSeen[addRepair.value.trim().toUpperCase()];
    var techSelect = byId("add-technician");
    if (picked && picked.technicianId && !techSelect.value) {
      techSelect.value = String(picked.technicianId);
    }
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(function () {
      loadRepairs(addRepair.value.trim());
    }, 250);
  });

  addForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var typed = addRepair.value.trim();
    var reference = (typed.match(/FMP-[0-9A-Z]+/i) || [typed])[0];
    submitDialog(
      addForm,
      cfg.urls.add,
      { reference: reference, start: byId("add-start").value, technician_id: byId("add-technician").value },
      function (data) {
        return data.message + " " + data.event.extendedProps.reference + ": " + data.event.extendedProps.when + ".";
      }
    );
  });

  byId("cal-add").addEventListener("click", function () {
    openAdd("");
  });

  // -- the list under the calendar (and the keyboard's way to move and cancel)

  var agenda = byId("cal-agenda").querySelector("tbody");

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function actionButton(label, name, className, handler) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm " + className;
    button.textContent = label;
    button.setAttribute("aria-label", name);
    button.addEventListener("click", handler);
    return button;
  }

  function renderAgenda(events) {
    var view = calendar.view;
    var shown = events
      .filter(function (ev) {
        return ev.start < view.activeEnd && ev.end > view.activeStart;
      })
      .sort(function (a, b) {
        return a.start - b.start || a.title.localeCompare(b.title);
      });
    agenda.textContent = "";
    if (!shown.length) {
      var empty = document.createElement("tr");
      cell(empty, "No appointments in this view.").colSpan = 6;
      agenda.appendChild(empty);
      return;
    }
    shown.forEach(function (ev) {
      var ext = ev.extendedProps;
      var row = document.createElement("tr");
      row.className = "fmp-appt-" + ext.status;
      cell(row, ext.when);
      var link = document.createElement("a");
      link.href = ev.url;
      link.textContent = ext.reference;
      cell(row, "").appendChild(link);
      cell(row, ext.customer);
      cell(row, ext.technician || "Not assigned");
      var state = cell(row, ext.statusLabel + (ext.cancelReason ? ": " + ext.cancelReason : ""));
      if (ext.refusal && ext.status === "scheduled") {
        var note = document.createElement("small");
        note.className = "d-block text-muted";
        note.textContent = ext.refusal;
        state.appendChild(note);
      }
      var actions = cell(row, "");
      actions.className = "fmp-agenda-actions";
      if (ext.canChange) {
        actions.appendChild(
          actionButton("Move…", "Move " + ext.reference, "btn-outline-primary", function () {
            openMove(ev);
          })
        );
        actions.appendChild(
          actionButton("Cancel…", "Cancel " + ext.reference, "btn-outline-danger", function () {
            openCancel(ev);
          })
        );
      }
      agenda.appendChild(row);
    });
  }

  // -- the calendar

  var narrow = window.matchMedia("(max-width: 767px)").matches;
  var calendar = new window.FullCalendar.Calendar(el, {
    timeZone: cfg.timeZone,
    initialView: narrow ? "timeGridDay" : cfg.view,
    initialDate: cfg.date,
    firstDay: 1,
    headerToolbar: { start: "prev,next today", center: "title", end: "timeGridDay,timeGridWeek" },
    allDaySlot: false,
    slotDuration: minutes(cfg.slotMinutes),
    slotMinTime: cfg.slotMinTime,
    slotMaxTime: cfg.slotMaxTime,
    scrollTime: cfg.slotMinTime,
    businessHours: cfg.businessHours,
    slotHeaderFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    views: {
      timeGridDay: { dayHeaderFormat: { weekday: "long", day: "numeric", month: "long" } },
      timeGridWeek: { dayHeaderFormat: { weekday: "short", day: "numeric", month: "short" } },
    },
    displayEventEnd: false,
    nowIndicator: true,
    height: "auto",
    editable: true,
    eventDurationEditable: false,
    eventConstraint: cfg.businessHours ? "businessHours" : undefined,
    selectable: true,
    selectConstraint: cfg.businessHours ? "businessHours" : undefined,
    eventColor: "var(--fmp-event-color)",
    eventContrastColor: "var(--fmp-event-contrast)",
    events: function (info, success, fail) {
      var params = new URLSearchParams({ start: info.startStr, end: info.endStr });
      if (techFilter.value) {
        params.set("technician", techFilter.value);
      }
      if (canceledBox.checked) {
        params.set("canceled", "1");
      }
      request("GET", cfg.urls.events + "?" + params.toString()).then(success, function (err) {
        complain("The appointments could not be loaded: " + err.message);
        fail(err);
      });
    },
    eventsSet: renderAgenda,
    eventDidMount: function (info) {
      // The whole story on hover, where a narrow column cuts the title.
      var ext = info.event.extendedProps;
      info.el.title = [info.event.title, ext.when, ext.technician || "Not assigned", ext.statusLabel]
        .concat(ext.cancelReason ? [ext.cancelReason] : [])
        .join("\n");
    },
    eventDrop: function (info) {
      var ext = info.event.extendedProps;
      say("");
      request("POST", ext.moveUrl, { start: info.event.startStr }).then(
        function (data) {
          say(data.message + " " + data.event.extendedProps.reference + ": " + data.event.extendedProps.when + ".");
          calendar.refetchEvents();
        },
        function (err) {
          info.revert();
          complain(ext.reference + " was not moved: " + err.message);
        }
      );
    },
    select: function (info) {
      calendar.unselect();
      openAdd(info.startStr.slice(0, 16));
    },
    datesSet: function () {
      // The address follows the view, so a reload or a bookmark opens the same days.
      var params = new URLSearchParams(window.location.search);
      params.set("date", calendar.formatIso(calendar.getDate(), true));
      params.set("span", calendar.view.type === "timeGridDay" ? "day" : "week");
      window.history.replaceState(null, "", window.location.pathname + "?" + params.toString());
    },
  });

  techFilter.addEventListener("change", function () {
    calendar.refetchEvents();
  });
  canceledBox.addEventListener("change", function () {
    calendar.refetchEvents();
  });
  byId("cal-filters").addEventListener("submit", function (e) {
    e.preventDefault();
  });

  calendar.render();
})();
