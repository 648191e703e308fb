// The programs page's editor (no inline scripts: the page runs under a strict CSP):
// - line numbers beside the text, scrolled with it;
// - Tab indents by four spaces instead of leaving the editor;
// - "Open a .py file" puts the file's text and name in the form;
// - another program in the editor (pasted, typed or filled in over the one the
//   page came with) gets the default file name, unless a name was typed (an
//   example's name would stay on another program);
// - a program that does not compile: its line is selected;
// - a run started here: the editor folds away and the run is scrolled into
//   view (it starts below the editor and the examples).
(() => {
  "use strict";
  const source = document.getElementById("pg-source");
  const gutter = document.getElementById("pg-gutter");
  if (!source || !gutter) return;

  const number = () => {
    const lines = source.value.split("\n").length;
    let text = "";
    for (let i = 1; i <= lines; i += 1) text += i + "\n";
    gutter.textContent = text;
    gutter.scrollTop = source.scrollTop;
  };
  source.addEventListener("input", number);
  source.addEventListener("scroll", () => { gutter.scrollTop = source.scrollTop; });
  number();

  source.addEventListener("keydown", (event) => {
    if (event.key !== "Tab" || event.shiftKey || source.readOnly) return;
    event.preventDefault();
    const { selectionStart: start, selectionEnd: end } = source;
    source.setRangeText("    ", start, end, "end");
    number();
  });

  // The program the page came with (an example, or the run shown), by its
  // lines: one that shares less than half of its lines with it is another.
  const name = document.getElementById("pg-filename");
  const linesOf = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);
  const came = new Set(linesOf(source.value));
  const another = () => {
    const lines = linesOf(source.value);
    return lines.length > 0 && 2 * lines.filter((l) => came.has(l)).length < lines.length;
  };
  let nameTyped = false;
  if (name) {
    // The editor's heading names the file as it is now.
    const heading = document.querySelector("#pg-edit > summary > code");
    const named = () => { if (heading) heading.textContent = name.value; };
    name.addEventListener("input", () => { nameTyped = true; named(); });
    source.addEventListener("input", () => {
      const custom = name.dataset.default && name.value !== name.dataset.default;
      if (custom && !nameTyped && !source.readOnly && another()) {
        name.value = name.dataset.default;
        named();
      }
    });
  }

  const upload = document.getElementById("pg-upload");
  if (upload) {
    upload.addEventListener("change", () => {
      const file = upload.files && upload.files[0];
      if (!file) return;
      file.text().then((text) => {
        source.value = text;
        const name = document.getElementById("pg-filename");
        // The file's name as the server takes it (its pattern is on the field):
        // a space or another character it refuses becomes "_" (my hw.py:
        // my_hw.py); a name still refused leaves the field's own.
        const taken = name && file.name.replace(new RegExp(`[${name.dataset.bad}]`, "g"), "_");
        if (name && new RegExp(name.dataset.pattern).test(taken)) {
          name.value = taken;
          name.dispatchEvent(new Event("input")); // a name chosen, shown in the heading
        }
        number();
      });
    });
  }

  const selectLine = (line) => {
    const lines = source.value.split("\n");
    if (!(line >= 1 && line <= lines.length)) return;
    let start = 0;
    for (let i = 0; i < line - 1; i += 1) start += lines[i].length + 1;
    source.focus();
    source.setSelectionRange(start, start + lines[line - 1].length);
    const height = source.scrollHeight / lines.length;
    source.scrollTop = Math.max(0, (line - 3) * height);
  };
  // Each answer brings a new marker: its line is selected once, not again
  // when something else in the form changes (a later, other message).
  let shown = null;
  const showError = () => {
    const marker = document.getElementById("pg-error-line");
    if (!marker || marker === shown) return;
    shown = marker;
    if (marker.dataset.line) selectLine(Number(marker.dataset.line));
  };
  new MutationObserver(showError).observe(document.getElementById("pg-form"), {
    subtree: true, childList: true, attributes: true,
  });
  showError();

  document.addEventListener("htmx:after:settle", (event) => {
    const area = event.target;
    if (!(area instanceof Element) || area.id !== "run-area" || area.querySelector("#stage.empty")) return;
    const editor = document.getElementById("pg-edit");
    if (editor) editor.open = false;
    // Its line, then the run, just below the sticky bar (which wraps onto
    // more rows on a narrow screen than the CSS's scroll margin allows).
    const target = editor || area;
    const bar = document.querySelector(".pg-bar");
    if (bar) target.style.scrollMarginTop = `max(4rem, ${bar.getBoundingClientRect().height + 8}px)`;
    target.scrollIntoView({ block: "start" });
  });
})();
