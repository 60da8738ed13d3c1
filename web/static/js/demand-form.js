// Shows only the detail fields that belong to the selected demand type (each field is rendered once,
// with the types it belongs to); the others are hidden and not posted.
(function () {
  var select = document.getElementById("demand-type");
  if (!select) return;
  function update() {
    document.querySelectorAll(".type-field").forEach(function (div) {
      var shown = div.dataset.types.split(" ").indexOf(select.value) >= 0;
      div.style.display = shown ? "" : "none";
      div.querySelectorAll("input, textarea, select").forEach(function (el) { el.disabled = !shown; });
    });
  }
  select.addEventListener("change", update);
  update();
})();
