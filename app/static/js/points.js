/* 100 points: a live "points left" counter. The form works without this file; the server
   refuses more points than the budget and says how many too many. */
(function () {
  "use strict";

  function update(box) {
    var budget = parseInt(box.dataset.budget, 10);
    var left = box.querySelector(".points-left");
    if (!left || isNaN(budget)) { return; }
    var used = 0;
    Array.prototype.forEach.call(box.querySelectorAll("input[type=number]"), function (input) {
      var value = input.value.trim();
      if (/^[0-9]{1,7}$/.test(value)) { used += parseInt(value, 10); }
    });
    var over = used > budget;
    left.querySelector(".points-left-number").textContent = String(budget - used);
    left.querySelector(".points-over").hidden = !over;
    left.classList.toggle("over", over);
    left.hidden = false;
  }

  function updateAll(root) {
    if (!root || !root.querySelectorAll) { return; }
    Array.prototype.forEach.call(root.querySelectorAll(".points[data-budget]"), update);
  }

  document.addEventListener("input", function (event) {
    var box = event.target && event.target.closest && event.target.closest(".points[data-budget]");
    if (box) { update(box); }
  });
  // After stemlab.js has put back a saved answer (its listeners were added first).
  document.addEventListener("htmx:load", function (event) { updateAll(event.target); });
  document.addEventListener("DOMContentLoaded", function () { updateAll(document); });
}());
