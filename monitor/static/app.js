// Live dashboard: re-read this page every 15 s and swap in the new <main> when it changed.
// Progressive: without this script the page is complete, it just does not refresh itself.
(function () {
  "use strict";
  var EVERY = 15000;
  var live = document.getElementById("live");
  var main = document.getElementById("main");
  if (!main || !window.fetch || !window.DOMParser) { return; }

  function mark(ok) {
    if (!live) { return; }
    live.className = "live " + (ok ? "on" : "off");
    live.textContent = ok ? "live" : "offline";
  }

  function refresh() {
    if (document.hidden) { return; }
    fetch(window.location.href, { cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("main");
        if (fresh && fresh.innerHTML !== main.innerHTML) { main.innerHTML = fresh.innerHTML; }
        mark(true);
      })
      .catch(function () { mark(false); });
  }

  mark(true);
  window.setInterval(refresh, EVERY);
  document.addEventListener("visibilitychange", refresh);
}());
