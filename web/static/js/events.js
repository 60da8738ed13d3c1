// Event pages: "select all" buttons on the invitation lists and the print button of the
// printable agenda (no inline handlers: the pages run under a strict content security policy).
document.addEventListener("click", (event) => {
  const selectAll = event.target.closest("[data-select-all]");
  if (selectAll) {
    selectAll.closest("section").querySelectorAll("input[type=checkbox]:not(:disabled)").forEach((box) => {
      box.checked = true;
    });
  }
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
