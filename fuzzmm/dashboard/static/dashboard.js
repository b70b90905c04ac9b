// fuzzmm dashboard: fetch the live part of the page every few seconds and swap it in,
// keeping which reproducers are open and the swimlanes already drawn.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("status");
  var every = Number(live.getAttribute("data-refresh-ms")) || 2000;
  var drawn = {};         // swimlane URL -> its SVG text
  var fetching = {};

  function openStates() {
    var states = {};
    live.querySelectorAll("details[id]").forEach(function (d) { states[d.id] = d.open; });
    return states;
  }

  function fillSwimlanes() {
    live.querySelectorAll(".swimlane[data-src]").forEach(function (box) {
      var src = box.getAttribute("data-src");
      if (drawn[src] !== undefined) {
        if (!box.querySelector("svg")) { box.innerHTML = drawn[src]; }
        return;
      }
      if (fetching[src]) { return; }
      fetching[src] = true;
      fetch(src).then(function (r) {
        return r.text().then(function (text) { return r.ok ? text : Promise.reject(text); });
      }).then(function (svg) {
        drawn[src] = svg;
      }, function (why) {
        drawn[src] = '<p class="error">no swimlane: ' + String(why).replace(/</g, "&lt;") + "</p>";
      }).then(function () {
        delete fetching[src];
        live.querySelectorAll('.swimlane[data-src="' + src + '"]').forEach(function (b) { b.innerHTML = drawn[src]; });
      });
    });
  }

  function refresh() {
    fetch("live", { cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.text();
    }).then(function (html) {
      var states = openStates();
      var scroll = window.scrollY;
      live.innerHTML = html;
      Object.keys(states).forEach(function (id) {
        var d = document.getElementById(id);
        if (d) { d.open = states[id]; }
      });
      fillSwimlanes();
      window.scrollTo(0, scroll);
      status.textContent = "live, updated " + new Date().toLocaleTimeString();
      status.className = "";
    }).catch(function (e) {
      status.textContent = "cannot reach the dashboard server (" + e.message + "); retrying";
      status.className = "lost";
    }).then(function () { setTimeout(refresh, every); });
  }

  fillSwimlanes();
  setTimeout(refresh, every);
})();
