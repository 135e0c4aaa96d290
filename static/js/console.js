// Agent console keyboard shortcuts. No framework; the queue itself is swapped by htmx.
//   /        focus the search box          j / k   highlight next / previous ticket
//   Enter    open the highlighted ticket   g m, g u, g a   switch queue
//   ?        show the shortcuts help       Esc     close help, leave the search box
(function () {
  "use strict";

  var highlighted = -1;
  var pendingG = null;
  var QUEUE_KEYS = { m: "mine", u: "unassigned", a: "all" };

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-queue-table] tbody tr[data-href]"));
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
        row.setAttribute("aria-selected", "true");
      } else {
        row.removeAttribute("aria-selected");
      }
    });
    all[highlighted].scrollIntoView({ block: "nearest" });
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

  function switchQueue(queue) {
    var tab = document.querySelector('.tabs [data-queue="' + queue + '"]');
    if (tab) tab.click(); // the tab carries hx-get and a real href
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var dialog = helpDialog();
    if (dialog && dialog.open) return; // the dialog handles Esc itself

    if (isTyping(event.target)) {
      if (event.key === "Escape") {
        // Chromium clears a search box on Esc (and fires "search"); here Esc only leaves it.
        event.preventDefault();
        event.target.blur();
      }
      return;
    }

    if (pendingG) {
      clearTimeout(pendingG);
      pendingG = null;
      if (QUEUE_KEYS[event.key]) {
        event.preventDefault();
        switchQueue(QUEUE_KEYS[event.key]);
        return;
      }
    }

    switch (event.key) {
      case "/": {
        var search = document.querySelector("[data-search-input]");
        if (search) {
          event.preventDefault();
          search.focus();
          search.select();
        }
        break;
      }
      case "j":
        event.preventDefault();
        highlight(highlighted + 1);
        break;
      case "k":
        event.preventDefault();
        highlight(highlighted < 0 ? 0 : highlighted - 1);
        break;
      case "Enter": {
        var row = rows()[highlighted];
        if (row) {
          event.preventDefault();
          window.location.assign(row.dataset.href);
        }
        break;
      }
      case "g":
        pendingG = setTimeout(function () { pendingG = null; }, 1500);
        break;
      case "?":
        event.preventDefault();
        toggleHelp();
        break;
      default:
        break;
    }
  });

  // A click anywhere on a row opens its ticket, like the link in it.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-shortcuts-open]");
    if (opener) {
      toggleHelp();
      return;
    }
    if (event.target.closest("a, button, input")) return;
    var row = event.target.closest("[data-queue-table] tbody tr[data-href]");
    if (row && !window.getSelection().toString()) window.location.assign(row.dataset.href);
  });

  // The queue was replaced: the old highlight points at rows that no longer exist.
  document.body.addEventListener("htmx:afterSwap", function () {
    highlighted = -1;
  });
})();
