// concviz page helpers (no inline scripts: the page runs under a strict CSP).
// - each slider shows its value next to it;
// - projection mode (large type, thick lines), from ?projector=1 or the `p` key, remembered;
// - the settings beside the stage fold away, remembered;
// - the code view scrolls to the lines where workers are;
// - keyboard shortcuts, listed by `?`.
(() => {
  "use strict";

  document.addEventListener("input", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "range") return;
    const out = document.getElementById("out-" + input.name);
    if (out) out.textContent = input.value;
  });

  const root = document.documentElement;
  const params = new URLSearchParams(location.search);
  if (params.has("projector")) {
    localStorage.setItem("concviz-projector", params.get("projector") === "0" ? "0" : "1");
  }
  const setProjector = (on) => {
    root.classList.toggle("projector", on);
    localStorage.setItem("concviz-projector", on ? "1" : "0");
  };
  setProjector(localStorage.getItem("concviz-projector") === "1");

  // The settings fold: a button with aria-expanded over the panel it hides
  // (the disclosure pattern), remembered across pages. The stage re-renders
  // and the audience's page swaps whole experiments in: apply it again then.
  const FOLD_KEY = "concviz-settings";
  const applyFold = () => {
    const open = localStorage.getItem(FOLD_KEY) !== "closed";
    const toggle = document.getElementById("settings-toggle");
    const panel = document.getElementById("settings");
    if (toggle && toggle.getAttribute("aria-expanded") !== String(open)) {
      toggle.setAttribute("aria-expanded", String(open));
    }
    if (panel && panel.hidden === open) panel.hidden = !open;
  };
  document.addEventListener("click", (event) => {
    const toggle = event.target instanceof Element && event.target.closest("#settings-toggle");
    if (!toggle) return;
    const open = toggle.getAttribute("aria-expanded") === "true";
    localStorage.setItem(FOLD_KEY, open ? "closed" : "open");
    applyFold();
  });

  // Keep each code view's marked lines in sight: scroll the box itself (never
  // the page), and only when the marks move out of it, so that a hand that
  // scrolled the box is not fought while the workers stay in view.
  const followMarks = () => {
    for (const box of document.querySelectorAll(".code-view .code")) {
      const marks = box.querySelectorAll("li.here");
      if (!marks.length || box.scrollHeight <= box.clientHeight) continue;
      const origin = box.getBoundingClientRect().top - box.scrollTop;
      const top = marks[0].getBoundingClientRect().top - origin;
      const bottom = marks[marks.length - 1].getBoundingClientRect().bottom - origin;
      const seen = top >= box.scrollTop && bottom <= box.scrollTop + box.clientHeight;
      if (seen) continue;
      const span = bottom - top;
      box.scrollTop = span < box.clientHeight ? top - (box.clientHeight - span) / 2 : top;
    }
  };

  let pending = false;
  const afterChange = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      applyFold();
      followMarks();
    });
  };
  new MutationObserver(afterChange).observe(document.body, { childList: true, subtree: true });
  afterChange();

  const click = (selector) => {
    const el = document.querySelector(selector);
    if (el) el.click();
    return Boolean(el);
  };
  const nudgeSpeed = (factor) => {
    const speed = document.getElementById("f-speed");
    if (!speed) return;
    const value = Math.min(Number(speed.max), Math.max(Number(speed.min), Number(speed.value) * factor));
    speed.value = String(Math.round(value * 10) / 10);
    speed.dispatchEvent(new Event("input", { bubbles: true }));
  };
  const toggleHelp = () => {
    const help = document.getElementById("shortcuts");
    if (help) help.hidden = !help.hidden;
  };

  const keys = {
    " ": () => {
      const player = document.getElementById("player");
      if (player) return click(player.hasAttribute("hx-sse:connect") ? ".player .pause" : ".player .play");
      return click(document.getElementById("run-paused") ? "#resume-button" : "#pause-button");
    },
    ".": () => click("#step-forward") || click("[data-step='1']"),
    r: () => click("button.start"),
    ArrowRight: () => click("[data-step='1']"),
    ArrowLeft: () => click("[data-step='-1']"),
    "+": () => nudgeSpeed(1.5),
    "=": () => nudgeSpeed(1.5),
    "-": () => nudgeSpeed(1 / 1.5),
    f: () => {
      if (document.fullscreenElement) document.exitFullscreen();
      else root.requestFullscreen().catch(() => {});
    },
    p: () => setProjector(!root.classList.contains("projector")),
    "?": toggleHelp,
    Escape: () => {
      const help = document.getElementById("shortcuts");
      if (help) help.hidden = true;
    },
  };

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target instanceof HTMLElement && target.closest("input[type=number], input[type=text], select, textarea")) return;
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });
})();
