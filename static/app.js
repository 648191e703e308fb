// concviz page helpers: show each slider's value next to it.
(() => {
  "use strict";
  document.addEventListener("input", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "range") return;
    const out = document.getElementById("out-" + input.name);
    if (out) out.textContent = input.value;
  });
})();
