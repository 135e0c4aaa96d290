// Agent console: keyboard shortcuts, live SLA countdowns, and the glue htmx needs on the
// ticket page. No framework; the queue and the ticket region are swapped by htmx.
//
// Queue page:  /  search            j / k  highlight next / previous ticket
//              Enter  open it        g m, g u, g b, g a, g i  switch queue
//              n / p  next / previous page
// Ticket page: r  reply   n  note   c  claim   s  "Solved" in the status box   u  back to queue
// Everywhere:  ?  help    Esc  close help / leave a field    Ctrl/Cmd+Enter  send the form
// No single-key shortcut fires while the focus is in a field.
(function () {
  "use strict";

  var highlighted = -1;
  var pendingG = null;
  var QUEUE_KEYS = { m: "mine", u: "unassigned", b: "breaching", a: "all", i: "incident" };
  // Error answers that carry a re-rendered ticket (stale version, invalid input, refused).
  var FRAGMENT_ERRORS = [403, 409, 422];
  var COUNTDOWN_EVERY_MS = 30 * 1000;

  // ---- queue -------------------------------------------------------------------------------

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

  // Right after a swap htmx may not have processed the new elements yet (it does so as the swap
  // settles): a click then follows the plain href and reloads the whole page. Processing an
  // element htmx already knows changes nothing.
  function clickWithHtmx(element) {
    if (window.htmx) window.htmx.process(element);
    element.click();
  }

  function switchQueue(queue) {
    var tab = document.querySelector('.tabs [data-queue="' + queue + '"]');
    if (tab) clickWithHtmx(tab); // the tab carries hx-get and a real href
  }

  // The queue's tabs load their counts after the queue is shown (console.html#queue-counts,
  // swapped in out of band). Until the new counts arrive after a queue swap, the tabs keep
  // showing the previous ones, dimmed.
  var previousCounts = null;

  function readCounts() {
    var counts = {};
    document.querySelectorAll(".tabs .count[data-count]").forEach(function (element) {
      if (!element.classList.contains("count-pending")) counts[element.dataset.count] = element.textContent;
    });
    return counts;
  }

  function showPreviousCounts() {
    if (!previousCounts) return;
    // Empty means "not loaded yet" (until htmx settles, the new badges wear the old classes).
    document.querySelectorAll(".tabs .count[data-count]").forEach(function (element) {
      var count = previousCounts[element.dataset.count];
      if (count !== undefined && !element.textContent) element.textContent = count;
    });
    previousCounts = null;
  }

  // ---- help --------------------------------------------------------------------------------

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

  // ---- ticket page -------------------------------------------------------------------------

  function focusField(id) {
    var field = document.getElementById(id);
    if (!field) return false;
    field.focus();
    field.scrollIntoView({ block: "center" });
    return true;
  }

  function clickShortcut(name) {
    var button = document.querySelector('[data-shortcut="' + name + '"]');
    if (!button) return false;
    clickWithHtmx(button);
    return true;
  }

  function prepareSolve() {
    var select = document.getElementById("status-select");
    var submit = document.querySelector("[data-status-submit]");
    if (!select || !submit) return false;
    select.value = "solved";
    submit.focus(); // Enter saves; anything else leaves the ticket as it is
    return true;
  }

  function backToQueue() {
    var link = document.querySelector("[data-back-to-queue]");
    if (!link) return false;
    window.location.assign(link.href);
    return true;
  }

  // ---- keyboard ----------------------------------------------------------------------------

  document.addEventListener("keydown", function (event) {
    // Ctrl/Cmd+Enter sends the form the focus is in (through htmx when it has hx-post).
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var form = event.target && event.target.closest ? event.target.closest("form") : null;
      if (form && form.method !== "dialog") {
        event.preventDefault();
        if (form.requestSubmit) {
          form.requestSubmit();
        } else {
          form.submit();
        }
      }
      return;
    }
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

    var handled = false;
    switch (event.key) {
      case "/": {
        var search = document.querySelector("[data-search-input]");
        if (search) {
          search.focus();
          search.select();
          handled = true;
        }
        break;
      }
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
      case "Enter": {
        var row = rows()[highlighted];
        if (row) {
          window.location.assign(row.dataset.href);
          handled = true;
        }
        break;
      }
      case "g":
        if (document.querySelector(".tabs")) {
          pendingG = setTimeout(function () { pendingG = null; }, 1500);
        }
        break;
      case "r":
        handled = focusField("reply-body");
        break;
      case "n": // the ticket page's note box; the queue's next page
        handled = focusField("note-body") || clickShortcut("next-page");
        break;
      case "p":
        handled = clickShortcut("previous-page");
        break;
      case "c":
        handled = clickShortcut("claim");
        break;
      case "s":
        handled = prepareSolve();
        break;
      case "u":
        handled = backToQueue();
        break;
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
    var opener = event.target.closest("[data-shortcuts-open]");
    if (opener) {
      toggleHelp();
      return;
    }
    // A click anywhere on a queue row opens its ticket, like the link in it.
    if (event.target.closest("a, button, input")) return;
    var row = event.target.closest("[data-queue-table] tbody tr[data-href]");
    if (row && !window.getSelection().toString()) window.location.assign(row.dataset.href);
  });

  // ---- live SLA countdowns -----------------------------------------------------------------
  // <time datetime="..." data-countdown> elements; the words come from the page
  // ([data-countdown-words], rendered by the template in the reader's language).

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_match, name) {
      return String(values[name]);
    });
  }

  function duration(words, minutes) {
    if (minutes < 60) return fill(words.minutes, { minutes: minutes });
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return fill(words.hours, { hours: hours, minutes: minutes % 60 });
    return fill(words.days, { days: Math.floor(hours / 24), hours: hours % 24 });
  }

  function refreshCountdowns() {
    var source = document.querySelector("[data-countdown-words]");
    if (!source) return;
    var words = source.dataset;
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (element) {
      var due = Date.parse(element.getAttribute("datetime"));
      if (isNaN(due)) return;
      var left = due - now;
      if (left > 0) {
        element.textContent = fill(words.left, { time: duration(words, Math.ceil(left / 60000)) });
      } else {
        element.textContent = fill(words.overdue, {
          time: duration(words, Math.max(1, Math.floor(-left / 60000))),
        });
      }
      element.classList.toggle("sla-overdue", left <= 0);
      element.classList.toggle("sla-soon", left > 0 && left < 60 * 60 * 1000);
    });
  }

  // ---- htmx glue ---------------------------------------------------------------------------

  // Texts typed in other forms of the ticket survive the region's swap (e.g. a half-written
  // reply while the agent claims the ticket); the posted form's own text comes back from the
  // server when it must (errors) and is meant to go when it was sent.
  var drafts = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var xhr = detail.xhr;
    if (FRAGMENT_ERRORS.indexOf(xhr.status) !== -1 && xhr.getResponseHeader("Delaydesk-Fragment")) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
    if (detail.shouldSwap && detail.target && detail.target.id === "queue") previousCounts = readCounts();
    if (!detail.shouldSwap || !detail.target || detail.target.id !== "ticket") return;
    var source = detail.requestConfig && detail.requestConfig.elt;
    var sourceForm = source && source.closest ? source.closest("form") : null;
    drafts = {};
    detail.target.querySelectorAll("textarea[data-keep-draft]").forEach(function (area) {
      if (area.id && area.value.trim() && !(sourceForm && sourceForm.contains(area))) {
        drafts[area.id] = area.value;
      }
    });
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.hasAttribute("data-counts-loader")) return; // only the tab counts came
    highlighted = -1; // the queue was replaced: the old highlight points at rows that are gone
    showPreviousCounts();
    if (drafts) {
      Object.keys(drafts).forEach(function (id) {
        var area = document.getElementById(id);
        if (area && !area.value.trim()) area.value = drafts[id];
      });
      drafts = null;
    }
    refreshCountdowns();
  });

  // The macro picker: the server fills the macro in for this ticket and answers with the reply
  // box holding the text (escaped by the template: text, never HTML).
  document.addEventListener("change", function (event) {
    var picker = event.target.closest && event.target.closest("[data-macro-picker]");
    if (!picker || typeof htmx === "undefined") return;
    var option = picker.options[picker.selectedIndex];
    var url = option && option.dataset.renderUrl;
    if (!url) return;
    var area = document.getElementById("reply-body");
    if (area && area.value.trim() && !window.confirm(picker.dataset.confirm)) {
      picker.value = "";
      return;
    }
    htmx.ajax("GET", url, { source: picker, target: "#reply-body", swap: "outerHTML" }).then(function () {
      var fresh = document.getElementById("reply-body");
      if (fresh) {
        fresh.focus();
        fresh.setSelectionRange(fresh.value.length, fresh.value.length);
      }
    });
  });

  refreshCountdowns();
  setInterval(refreshCountdowns, COUNTDOWN_EVERY_MS);
})();
