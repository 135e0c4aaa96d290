// Supervisor approval queue: keyboard shortcuts and the glue htmx needs to show a refusal in
// its row. No framework; each row is swapped by htmx for its outcome (or for itself with the
// message saying why not).
//
//   j / k  highlight next / previous offer      a  approve the highlighted offer
//   r      reject it: focus its note (Enter sends)
//   ?      help    Esc  close help / leave the note
// No single-key shortcut fires while the focus is in a field.
(function () {
  "use strict";

  var highlighted = -1;
  // Answers that carry the row back with the reason it was refused.
  var FRAGMENT_ERRORS = [403, 409, 422];

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-approvals-table] tbody tr[data-approval-row]"));
  }

  function highlight(index) {
    var all = rows();
    if (!all.length) {
      highlighted = -1;
      return;
    }
    highlighted = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) {
      row.classList.toggle("is-highlighted", i === highlighted);
      if (i === highlighted) {
        row.setAttribute("aria-current", "true");
      } else {
        row.removeAttribute("aria-current");
      }
    });
    all[highlighted].scrollIntoView({ block: "nearest" });
  }

  function current() {
    var all = rows();
    if (highlighted < 0 && all.length) highlight(0);
    return rows()[highlighted] || null;
  }

  function helpDialog() {
    return document.getElementById("shortcuts-help");
  }

  function toggleHelp() {
    var dialog = helpDialog();
    if (!dialog) return;
    if (dialog.open) {
      dialog.close();
    } else {
      dialog.showModal();
    }
  }

  function isTyping(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var dialog = helpDialog();
    if (dialog && dialog.open) return; // the dialog handles Esc itself

    if (isTyping(event.target)) {
      if (event.key === "Escape") {
        event.preventDefault();
        event.target.blur();
      }
      return;
    }

    var handled = false;
    var row;
    switch (event.key) {
      case "j":
        if (rows().length) {
          highlight(highlighted + 1);
          handled = true;
        }
        break;
      case "k":
        if (rows().length) {
          highlight(highlighted < 0 ? 0 : highlighted - 1);
          handled = true;
        }
        break;
      case "a": {
        row = current();
        var approve = row && row.querySelector("[data-approve]");
        if (approve) {
          approve.click();
          handled = true;
        }
        break;
      }
      case "r": {
        row = current();
        var note = row && row.querySelector("[data-reject-note]");
        if (note) {
          note.focus();
          handled = true;
        }
        break;
      }
      case "?":
        toggleHelp();
        handled = true;
        break;
      default:
        break;
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcuts-open]")) toggleHelp();
  });

  // A refusal (four-eyes, already decided, a missing note) comes back as the row with its
  // message: swap it in although the status is an error.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var xhr = detail.xhr;
    if (FRAGMENT_ERRORS.indexOf(xhr.status) !== -1 && xhr.getResponseHeader("Delaydesk-Fragment")) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });

  // After a row is swapped, keep the highlight on it and put the focus back where it helps:
  // on the note when it was refused for the note, else on the row's next pending offer.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || !target.id) return;
    var fresh = document.getElementById(target.id);
    if (!fresh || !fresh.hasAttribute("data-approval-row")) return;
    var index = rows().indexOf(fresh);
    if (index !== -1 && highlighted !== -1) highlight(index);
    var invalid = fresh.querySelector("[data-reject-note][aria-invalid]");
    if (invalid) invalid.focus();
  });
})();
