// Shows only the fields that belong to the selected demand type.
(function () {
  var select = document.getElementById("demand-type");
  if (!select) return;
  function update() {
    document.querySelectorAll("fieldset.type-fields").forEach(function (fs) {
      fs.style.display = fs.dataset.type === select.value ? "" : "none";
    });
  }
  select.addEventListener("change", update);
  update();
})();
