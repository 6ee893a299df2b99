/* Stemlab: small progressive enhancements. Everything works without this file. */
(function () {
  "use strict";

  function randomKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // Per question and round: after a reset, the answer of the earlier round is not shown.
  function storageKey(form) {
    var round = form.dataset.round && form.dataset.round !== "1" ? ":r" + form.dataset.round : "";
    return "stemlab:" + form.getAttribute("action") + ":" + form.dataset.question + round;
  }

  // A vote sent but not yet confirmed: kept on the phone with its key, and sent again with the
  // same key when the connection comes back (the server counts a key once). Cleared once the
  // server says "saved".
  var PENDING_MS = 60 * 60 * 1000;
  function pendingKey(form) { return storageKey(form) + ":pending"; }

  function keepPending(form) {
    var fields = {};
    new FormData(form).forEach(function (value, name) {
      (fields[name] = fields[name] || []).push(String(value));
    });
    try {
      window.localStorage.setItem(pendingKey(form), JSON.stringify({ at: Date.now(), fields: fields }));
    } catch (e) { /* private mode: the phone can still send, it just cannot keep it */ }
  }

  function takePending(form) {
    var raw = null;
    try { raw = window.localStorage.getItem(pendingKey(form)); } catch (e) { raw = null; }
    if (!raw) { return null; }
    var pending = JSON.parse(raw);
    if (!pending || !pending.fields || Date.now() - pending.at > PENDING_MS) {
      try { window.localStorage.removeItem(pendingKey(form)); } catch (e) { /* ignore */ }
      return null;
    }
    return pending;
  }

  // `openedAt`: when the new socket opened. Only a vote sent before it is sent again (one sent
  // on this socket waits for its own answer).
  function sendPending(openedAt) {
    var form = document.querySelector("form.vote");
    var saved = document.querySelector("#vote-status .saved");
    if (!form) { return; }
    if (saved && !saved.hidden) {
      try { window.localStorage.removeItem(pendingKey(form)); } catch (e) { /* ignore */ }
      return;
    }
    var pending = takePending(form);
    if (!pending || pending.at >= openedAt) { return; }
    var fields = pending.fields;
    var counters = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      var values = fields[el.name];
      if (!el.name || (el.type === "hidden" && el.name !== "client_key")) { return; }
      if (el.type === "radio" || el.type === "checkbox") {
        el.checked = !!values && values.indexOf(el.value) !== -1;
      } else if (values) {
        var i = counters[el.name] || 0;
        el.value = values[i] || "";
        counters[el.name] = i + 1;
      }
    });
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  function remember(form) {
    try { window.localStorage.removeItem(pendingKey(form)); } catch (e) { /* ignore */ }
    var saved = {};
    new FormData(form).forEach(function (value, name) {
      if (name === "client_key" || name === "question_id") { return; }
      (saved[name] = saved[name] || []).push(String(value));
    });
    try { window.localStorage.setItem(storageKey(form), JSON.stringify(saved)); } catch (e) { /* private mode */ }
  }

  function restore(root) {
    var form = root.querySelector ? root.querySelector("form.vote") : null;
    if (!form) { return; }
    var key = form.querySelector("input[name=client_key]");
    if (key && !key.value) { key.value = randomKey(); }
    var raw = null;
    try { raw = window.localStorage.getItem(storageKey(form)); } catch (e) { raw = null; }
    if (!raw) { return; }
    var saved = JSON.parse(raw);
    var counters = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      var values = saved[el.name];
      if (!values || el.type === "hidden") { return; }
      if (el.type === "radio" || el.type === "checkbox") {
        el.checked = values.indexOf(el.value) !== -1;
      } else {
        var i = counters[el.name] || 0;
        el.value = values[i] || "";
        counters[el.name] = i + 1;
      }
    });
    var marker = document.querySelector("#vote-status .saved");
    if (marker) { marker.hidden = false; }
  }

  function setConnection(state) {
    var el = document.getElementById("connection");
    if (el) { el.dataset.state = state; }
  }

  // The state of the newest socket; a replaced socket closing late does not count.
  var openSocket = null;
  function socketOf(event) { return event.detail && event.detail.event && event.detail.event.target; }
  document.addEventListener("htmx:wsOpen", function (event) {
    openSocket = socketOf(event);
    setConnection("online");
  });
  document.addEventListener("htmx:wsClose", function (event) {
    if (!openSocket || socketOf(event) === openSocket) { setConnection("offline"); }
  });
  document.addEventListener("htmx:wsError", function (event) {
    if (!openSocket || socketOf(event) === openSocket) { setConnection("offline"); }
  });

  document.addEventListener("htmx:load", function (event) {
    var el = event.target;
    if (el && el.id === "stage") { restore(el); }
  });

  // Reconnect quickly after a short drop, but never hammer the server: full jitter, at most 10 s.
  if (window.htmx) {
    window.htmx.config.wsReconnectDelay = function (retries) {
      return Math.random() * Math.min(10000, 500 * Math.pow(2, retries));
    };
    // Every (re)connection says which version the phone shows now, not the one of the page
    // it loaded, so the server does not resend (and wipe) a stage the phone already has.
    // A page holds one live socket. A reconnect that starts while another is still on its way
    // (the "online" event below, and the extension's own retry timer) would otherwise leave the
    // older socket open, unseen, and counted as a second phone.
    var lastSocket = null;
    window.htmx.createWebSocket = function (url) {
      var stage = document.getElementById("stage");
      if (stage && stage.dataset.version) {
        url = url.replace(/([?&]v=)\d*/, "$1" + stage.dataset.version);
      }
      if (lastSocket && lastSocket.readyState <= WebSocket.OPEN) { lastSocket.close(); }
      var socket = new WebSocket(url, []);
      socket.binaryType = window.htmx.config.wsBinaryType;
      lastSocket = socket;
      return socket;
    };
  }

  // A network that silently went away (wifi to 4G, a locked phone) is noticed at once.
  var liveSocket = null;
  document.addEventListener("htmx:wsOpen", function (event) {
    liveSocket = event.detail && event.detail.socketWrapper;
  });
  window.addEventListener("offline", function () { setConnection("offline"); });
  window.addEventListener("online", function () {
    if (liveSocket && liveSocket.reconnect) { liveSocket.reconnect(); }
  });

  // A vote that never reached the server says so; pressing Send again retries with the same key.
  function showSendError(event) {
    var form = event.detail.elt;
    if (!form || !form.matches || !form.matches("form.vote")) { return; }
    var status = document.getElementById("vote-status");
    if (!status) { return; }
    var saved = status.querySelector(".saved");
    if (saved) { saved.hidden = true; }
    var message = status.querySelector(".send-error");
    if (message) { message.hidden = false; }
  }
  document.addEventListener("htmx:sendError", showSendError);
  document.addEventListener("htmx:timeout", showSendError);

  // Votes go over the open socket (ws-send). While it is down, post the form instead, so a
  // vote never waits in a queue the phone cannot see.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList.contains("vote") || !window.htmx) { return; }
    var connection = document.getElementById("connection");
    if (connection && connection.dataset.state === "online") { return; }
    event.preventDefault();
    event.stopImmediatePropagation();
    keepPending(form);
    window.htmx.ajax("POST", form.getAttribute("action"), {
      source: form, target: "#vote-status", swap: "outerHTML"
    }).catch(function () { /* shown by the htmx:sendError handler below */ });
  }, true);

  // A vote confirmed over the socket: remember it like one confirmed over HTTP.
  document.addEventListener("htmx:wsAfterMessage", function () {
    var form = document.querySelector("form.vote");
    var saved = document.querySelector("#vote-status .saved");
    if (form && saved && !saved.hidden) { remember(form); }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.matches && form.matches("form.vote") && event.detail.xhr.status === 200) {
      remember(form);
    }
  });

  // A changed answer is a new submission: it gets a new key. A retry of the same answer keeps it.
  document.addEventListener("input", function (event) {
    var form = event.target && event.target.form;
    if (form && form.classList.contains("vote")) {
      var key = form.querySelector("input[name=client_key]");
      if (key) { key.value = randomKey(); }
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList.contains("confirm") && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    if (form.classList.contains("vote")) { keepPending(form); }
  }, true);

  // Back online (a new socket, after a drop or a page reload): send what is still pending, once
  // the first frame of the new socket had a moment to arrive.
  document.addEventListener("htmx:wsOpen", function () {
    var openedAt = Date.now();
    window.setTimeout(function () { sendPending(openedAt); }, 400);
  });

  // ---- audience pace ---------------------------------------------------------------------
  // Each phone shows a question of its own choosing, so a change of the presentation arrives
  // as a small notice with the new version; the phone then fetches its own question afresh.
  document.addEventListener("htmx:wsAfterMessage", function () {
    var notice = document.getElementById("pace-refresh");
    var stage = document.getElementById("stage");
    // A stage without a version ("join again", "ended") is final: nothing to fetch.
    if (!notice || !stage || !stage.dataset.version || !window.htmx) { return; }
    var wanted = parseInt(notice.dataset.version || "0", 10);
    var shown = parseInt(stage.dataset.version, 10);
    if (!(wanted > shown) || notice.dataset.fetching === String(wanted)) { return; }
    notice.dataset.fetching = String(wanted);
    // The answer is the whole page: only its stage replaces this one.
    window.htmx.ajax("GET", window.location.pathname + window.location.search, {
      target: "#stage", swap: "outerHTML", select: "#stage"
    }).catch(function () { notice.dataset.fetching = ""; });
  });

  // ---- countdowns -------------------------------------------------------------------------
  // An element with data-closes-at (ISO, UTC) shows the seconds left. The server's clock comes
  // from data-now attributes (the page, and projector frames): the offset to this device's
  // clock is the largest seen, as a "now" can only be late (rendered before it arrived), so a
  // phone with a wrong clock still counts down right.
  var clockOffset = null;
  function learnClock(root) {
    var found = root.querySelectorAll ? root.querySelectorAll("[data-now]") : [];
    Array.prototype.forEach.call(found, function (el) {
      if (el.dataset.nowSeen === el.dataset.now) { return; }
      el.dataset.nowSeen = el.dataset.now;
      var server = Date.parse(el.dataset.now);
      if (isNaN(server)) { return; }
      var offset = server - Date.now();
      if (clockOffset === null || offset > clockOffset) { clockOffset = offset; }
    });
  }

  function formatLeft(seconds) {
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function tick() {
    var now = Date.now() + (clockOffset || 0);
    var timers = document.querySelectorAll("[data-closes-at]");
    Array.prototype.forEach.call(timers, function (el) {
      var end = Date.parse(el.dataset.closesAt);
      if (isNaN(end)) { return; }
      var left = Math.max(0, Math.ceil((end - now) / 1000));
      var state = left > 0 ? "running" : "ended";
      var value = el.querySelector(".countdown-value");
      var label = el.querySelector(".countdown-label");
      if (value) { value.textContent = formatLeft(left); }
      if (label && el.dataset.state !== state) {
        label.textContent = state === "running" ? el.dataset.left : el.dataset.ended;
      }
      el.dataset.state = state;
    });
  }
  window.setInterval(tick, 1000);
  document.addEventListener("htmx:load", function (event) { learnClock(event.target); tick(); });
  document.addEventListener("htmx:wsAfterMessage", function () { learnClock(document); tick(); });

  // ---- projector: join screen, full screen, shortcuts -----------------------------------------
  function toggleJoinScreen() {
    document.body.classList.toggle("show-join");
  }

  function toggleFullscreen() {
    if (document.fullscreenElement) {
      if (document.exitFullscreen) { document.exitFullscreen().catch(function () { /* refused */ }); }
    } else if (document.documentElement.requestFullscreen) {
      document.documentElement.requestFullscreen().catch(function () { /* refused */ });
    }
  }

  function shortcutsDialog() { return document.getElementById("shortcuts"); }

  function toggleShortcuts() {
    var dialog = shortcutsDialog();
    if (!dialog || !dialog.showModal) { return; }
    if (dialog.open) { dialog.close(); } else { dialog.showModal(); }
  }

  var actions = { "join-screen": toggleJoinScreen, fullscreen: toggleFullscreen, shortcuts: toggleShortcuts };

  document.addEventListener("click", function (event) {
    var el = event.target && event.target.closest ? event.target.closest("[data-action]") : null;
    if (!el || !actions[el.dataset.action]) { return; }
    event.preventDefault();
    actions[el.dataset.action]();
  });

  // The visible control for a key: "o" is "Close voting" while open and "Open voting" while
  // closed (the other one is hidden by the stylesheet).
  function visibleControl(selector) {
    var candidates = document.querySelectorAll(selector);
    for (var i = 0; i < candidates.length; i++) {
      if (candidates[i].getClientRects().length) { return candidates[i]; }
    }
    return null;
  }

  document.addEventListener("keydown", function (event) {
    if (!document.body.classList.contains("projector")) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.target && /input|textarea|select/i.test(event.target.tagName)) { return; }
    var dialog = shortcutsDialog();
    if (event.key === "?") { event.preventDefault(); toggleShortcuts(); return; }
    if (dialog && dialog.open) { return; }  // Esc closes it (the browser does that)
    if (event.key === "Escape" && document.body.classList.contains("show-join")) {
      toggleJoinScreen();
      return;
    }
    var which = null;
    if (event.key === "ArrowRight" || event.key === "PageDown" || event.key === " ") { which = 'button[data-key="key-next"]'; }
    if (event.key === "ArrowLeft" || event.key === "PageUp") { which = 'button[data-key="key-previous"]'; }
    if (/^[a-z]$/.test(event.key)) { which = '[data-shortcut="' + event.key + '"]'; }
    if (!which) { return; }
    var control = visibleControl(which);
    if (control) { event.preventDefault(); control.click(); }
  });

  // The presentation's look (routes/branding.py): a frame after a change of logo, colour or
  // contrast carries them on the stage; the open projector follows without a reload.
  function applyLook() {
    if (!document.body.classList.contains("projector")) { return; }
    var stage = document.getElementById("stage");
    if (!stage || stage.dataset.contrast === undefined) { return; }
    document.body.classList.toggle("high-contrast", stage.dataset.contrast === "high");
    var theme = document.getElementById("brand-theme");
    var wanted = stage.dataset.theme || "";
    if (!wanted && theme) { theme.remove(); }
    if (wanted && (!theme || theme.getAttribute("href") !== wanted)) {
      var link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = wanted;
      // The old sheet goes once the new one is in, so the colours do not flash.
      link.addEventListener("load", function () { if (theme) { theme.remove(); } link.id = "brand-theme"; });
      document.head.appendChild(link);
    }
    var logo = document.getElementById("brand-logo");
    var address = stage.dataset.logo || "";
    if (logo && logo.dataset.logo !== address) {
      logo.dataset.logo = address;
      if (address) { logo.src = address; logo.hidden = false; } else { logo.removeAttribute("src"); logo.hidden = true; }
    }
  }
  document.addEventListener("htmx:wsAfterMessage", applyLook);

  // The colour picker of the look settings writes its colour into the text field beside it.
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (!el || el.type !== "color" || !el.dataset.colorText) { return; }
    var text = document.getElementById(el.dataset.colorText);
    if (text) { text.value = el.value; }
  });

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".needs-js"), function (el) {
      if (el.dataset.action !== "fullscreen" || document.documentElement.requestFullscreen) {
        el.hidden = false;
      }
    });
    learnClock(document);
    tick();
    var stage = document.getElementById("stage");
    if (stage) { restore(stage); }
  });
}());
