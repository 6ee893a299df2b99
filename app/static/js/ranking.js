/* Ranking results: the table of places stays open while live updates replace the stage. */
(function () {
  "use strict";

  var opened = {};

  // "toggle" does not bubble: listen while it travels down.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (details && details.classList && details.classList.contains("rank-places") && details.id) {
      opened[details.id] = details.open;
    }
  }, true);

  document.addEventListener("htmx:load", function (event) {
    var root = event.target;
    if (!root || !root.querySelectorAll) { return; }
    Array.prototype.forEach.call(root.querySelectorAll("details.rank-places[id]"), function (details) {
      if (opened[details.id]) { details.open = true; }
    });
  });
}());
