// concviz page helpers (no inline scripts: the page runs under a strict CSP).
// - each slider shows its value next to it;
// - projection mode (large type, thick lines), from ?projector=1 or the `p` key, remembered;
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
