// concviz page helpers (no inline scripts: the page runs under a strict CSP).
// - each slider shows its value next to it;
// - projection mode (large type, thick lines), from ?projector=1 or the `p` key, remembered;
// - the settings beside the stage fold away, remembered;
// - the code view scrolls to the lines where workers are;
// - a console that scrolls keeps its newest line in sight, as a terminal does;
// - keyboard shortcuts, listed by `?`.
(() => {
  "use strict";

  document.addEventListener("input", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "range") return;
    const out = document.getElementById("out-" + input.name);
    if (out) out.textContent = input.value;
  });

  // A button that starts a run with settings of its own (the lock lesson's
  // "Run it 20 times", its hx-vals) puts them in the form as well, which
  // then says what runs (set, not typed: a live slider sends nothing).
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest("[data-shows-vals]");
    if (!button) return;
    for (const [name, value] of Object.entries(JSON.parse(button.getAttribute("hx-vals") || "{}"))) {
      const field = document.getElementById("f-" + name);
      if (field) field.value = value;
      const out = document.getElementById("out-" + name);
      if (out) out.textContent = field ? field.value : value;
    }
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
  // (the disclosure pattern), remembered across pages once the reader has
  // used it; before that, folded for the class and open for the teacher.
  // The stage re-renders and the audience's page swaps whole experiments
  // in: apply it again then.
  const FOLD_KEY = "concviz-settings";
  const applyFold = () => {
    const toggle = document.getElementById("settings-toggle");
    const panel = document.getElementById("settings");
    // Until this reader chose: as the page says (folded for the class).
    const chosen = localStorage.getItem(FOLD_KEY);
    const open = chosen ? chosen !== "closed" : !(toggle && toggle.dataset.fold === "closed");
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
      // All the marks if they fit in the box together, else the first.
      const span = bottom - top;
      const fits = span <= box.clientHeight;
      const first = marks[0].getBoundingClientRect().bottom - origin;
      const end = fits ? bottom : first;
      if (top >= box.scrollTop && end <= box.scrollTop + box.clientHeight) continue;
      box.scrollTop = fits ? top - (box.clientHeight - span) / 2 : top;
    }
  };

  // A console that scrolls follows its newest line, as a terminal does,
  // unless the reader scrolled it up: then it stays where the hand left it
  // until it is scrolled back to the end. A box drawn afresh follows.
  const AT_END = 4; // px: a box this close to its end is at its end
  const atEnd = (box) => box.scrollHeight - box.scrollTop - box.clientHeight <= AT_END;
  const held = new WeakSet(); // not an attribute: a morph of the stage would drop it
  document.addEventListener(
    "scroll",
    (event) => {
      const box = event.target;
      if (box instanceof HTMLElement && box.matches(".console")) {
        if (atEnd(box)) held.delete(box);
        else held.add(box);
      }
    },
    { capture: true, passive: true },
  );
  const followConsoles = () => {
    for (const box of document.querySelectorAll(".console")) {
      if (!held.has(box) && !atEnd(box)) box.scrollTop = box.scrollHeight;
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
      followConsoles();
    });
  };
  new MutationObserver(afterChange).observe(document.body, { childList: true, subtree: true });
  afterChange();

  // A run started from this page where the settings sit above the stage (a
  // narrow or zoomed screen): they fold away and the stage comes into view
  // under Start's bar, as the programs page does with its editor. Beside
  // the settings (a wide screen), the page stays as it is.
  let startedHere = false;
  document.addEventListener("submit", (event) => {
    if (event.target instanceof Element && event.target.id === "controls") startedHere = true;
  });
  document.addEventListener("htmx:after:settle", (event) => {
    const area = event.target;
    if (!startedHere || !(area instanceof Element) || area.id !== "run-area") return;
    startedHere = false;
    const panel = document.getElementById("settings");
    if (!panel || panel.hidden || panel.getBoundingClientRect().bottom > area.getBoundingClientRect().top + 1) return;
    localStorage.setItem(FOLD_KEY, "closed");
    applyFold();
    (document.getElementById("run-controls") || area).scrollIntoView({ block: "start" });
  });

  // Nothing on the class's page asks the server to change the run (the
  // step buttons are the teacher's: one frame is drawn for everybody).
  document.addEventListener("htmx:before:request", (event) => {
    if (event.target instanceof Element && event.target.closest(".readonly") && event.target.closest(".stepper")) event.preventDefault();
  });

  // The class's form shows the run's live settings as the teacher moves them.
  document.addEventListener("htmx:after:settle", () => {
    const bar = document.getElementById("runbar");
    if (!bar || !bar.dataset.live || !document.querySelector(".readonly")) return;
    for (const [name, value] of Object.entries(JSON.parse(bar.dataset.live))) {
      const field = document.getElementById("f-" + name);
      if (!field || field.value === String(value)) continue;
      field.value = value;
      const out = document.getElementById("out-" + name);
      if (out) out.textContent = field.value;
    }
  });

  // An item's journey, asked for by a click on it, comes into view (it is
  // drawn under the stage); its own updates leave the page where it is.
  let journeyAsked = false;
  document.addEventListener("click", (event) => {
    if (event.target instanceof Element && event.target.closest("[hx-target='#journey']:not(.journey-card)")) journeyAsked = true;
  });
  document.addEventListener("htmx:after:swap", (event) => {
    const journey = event.target;
    if (!(journey instanceof Element) || journey.id !== "journey" || !journey.firstElementChild) return;
    // Asked for, or growing while the reader has it in view: all of it in view.
    const inView = journey.getBoundingClientRect().top < innerHeight;
    if (!journeyAsked && !inView) return;
    journeyAsked = false;
    requestAnimationFrame(() => journey.scrollIntoView({ block: "nearest" }));
  });

  // A button of a pair (Pause and Resume, Step mode and Run freely) hides
  // once it has done its work and its other shows: the keyboard's focus
  // moves to that one, not to the page's start.
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest("button.pair");
    if (!button || !button.matches(":focus-visible")) return;
    const started = performance.now();
    const follow = () => {
      if (button.offsetParent === null) {
        const next = [button.previousElementSibling, button.nextElementSibling].find(
          (b) => b && b.matches("button.pair") && b.offsetParent !== null,
        );
        if (next) next.focus();
      } else if (performance.now() - started < 3000) {
        requestAnimationFrame(follow);
      }
    };
    requestAnimationFrame(follow);
  });

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

  // Keys a focused control takes itself: a slider its arrows, a checkbox
  // its Space, a button or link reached with the keyboard its Space and
  // Enter (one clicked with the mouse keeps focus, and Space still pauses).
  const ARROWS = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"];
  const ownKey = (target, key) =>
    (target.matches("input[type=range]") && ARROWS.includes(key)) ||
    (target.matches("input[type=checkbox], input[type=radio]") && key === " ") ||
    (target.matches("button, a[href], summary") && target.matches(":focus-visible") && (key === " " || key === "Enter"));

  // The class's page follows the teacher's run: its keys only change how it is shown.
  const TEACHERS = [" ", ".", "r", "+", "=", "-", "ArrowLeft", "ArrowRight"];

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (TEACHERS.includes(event.key) && document.querySelector(".readonly")) return;
    if (target instanceof HTMLElement && target.closest("input[type=number], input[type=text], select, textarea")) return;
    if (target instanceof HTMLElement && ownKey(target, event.key)) return;
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });
})();

// The timeline's tooltip: what a segment was, on hover and on keyboard focus.
// A real element (not the SVG's <title>, which never showed while the timeline
// was redrawn twice a second), placed by the CSSOM, which the CSP allows.
// Keyboard: Tab reaches each lane at its latest segment; ← → move along the
// lane, ↑ ↓ to the lane above or below.
(() => {
  "use strict";
  const SEG = ".timeline .seg[data-tip]";
  const tip = document.createElement("div");
  tip.id = "tl-tip";
  tip.className = "tl-tip";
  tip.setAttribute("role", "tooltip");
  tip.hidden = true;
  document.body.appendChild(tip);
  let shown = null; // the segment the tooltip is about
  let mouse = null; // where the pointer is, when it shows it

  const place = () => {
    const box = shown.getBoundingClientRect();
    const x = mouse ? mouse[0] : box.left + box.width / 2;
    const y = mouse ? mouse[1] : box.top;
    const w = tip.offsetWidth;
    const h = tip.offsetHeight;
    tip.style.left = Math.max(4, Math.min(x - w / 2, innerWidth - w - 4)) + "px";
    tip.style.top = (y - h - 12 >= 0 ? y - h - 12 : (mouse ? y + 18 : box.bottom + 8)) + "px";
  };
  const show = (seg, at) => {
    shown = seg;
    mouse = at;
    tip.textContent = seg.dataset.tip;
    tip.hidden = false;
    place();
  };
  const hide = () => {
    shown = null;
    tip.hidden = true;
  };

  document.addEventListener("mouseover", (event) => {
    const seg = event.target instanceof Element && event.target.closest(SEG);
    if (seg) show(seg, [event.clientX, event.clientY]);
    else if (shown && document.activeElement !== shown) hide();
  });
  document.addEventListener("mousemove", (event) => {
    if (shown && mouse && event.target === shown) {
      mouse = [event.clientX, event.clientY];
      place();
    }
  });
  document.addEventListener("focusin", (event) => {
    const seg = event.target instanceof Element && event.target.closest(SEG);
    if (seg) show(seg, null);
  });
  document.addEventListener("focusout", (event) => {
    if (event.target === shown) hide();
  });
  // The timeline is redrawn in place: say what the segment is now, or hide.
  new MutationObserver(() => {
    if (!shown) return;
    if (!shown.isConnected) hide();
    else if (tip.textContent !== shown.dataset.tip) {
      tip.textContent = shown.dataset.tip;
      place();
    }
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-tip"], childList: true });

  const lanes = (seg) => [...seg.closest(".timeline").querySelectorAll(".lane")];
  const move = (seg, key) => {
    const lane = seg.closest(".lane");
    const segs = [...lane.querySelectorAll(".seg")];
    if (key === "ArrowLeft" || key === "ArrowRight") {
      return segs[segs.indexOf(seg) + (key === "ArrowLeft" ? -1 : 1)];
    }
    const all = lanes(seg);
    const next = all[all.indexOf(lane) + (key === "ArrowUp" ? -1 : 1)];
    if (!next) return null;
    // the segment of that lane at the same place in time, else its last
    const mid = seg.getBoundingClientRect().left + seg.getBoundingClientRect().width / 2;
    const theirs = [...next.querySelectorAll(".seg")];
    return theirs.find((s) => s.getBoundingClientRect().right >= mid) || theirs[theirs.length - 1];
  };
  // Capture: before the page's own arrow keys (a replay's steps).
  document.addEventListener(
    "keydown",
    (event) => {
      const seg = event.target instanceof Element && event.target.closest(SEG);
      if (!seg || !["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].includes(event.key)) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      const next = move(seg, event.key);
      if (next) next.focus();
    },
    true,
  );
  addEventListener("scroll", () => shown && place(), { passive: true });
})();

// A live stage is patched (app/web/patches.py): htmx applies each
// <hx-partial> of a frame's message, with two swaps of ours. `cvz-attrs`: the
// target's start tag becomes the partial's (as a morph sets attributes);
// `cvz-drop`: the target goes, with the text before it, which came with it.
// A patch whose target is not in the page (the page was changed otherwise)
// is not applied: the stream is reopened, and its first message is the
// whole stage.
(() => {
  "use strict";
  const ignored = (name) => (htmx.config.morphIgnore || []).some((prefix) => name.startsWith(prefix));
  htmx.registerExtension("concviz-patch", {
    handle_swap: (style, target, fragment) => {
      if (style === "cvz-attrs") {
        const from = fragment.firstElementChild;
        let hx = false;
        for (const attr of [...target.attributes]) {
          if (from.hasAttribute(attr.name) || ignored(attr.name)) continue;
          hx ||= attr.name.startsWith("hx-");
          target.removeAttribute(attr.name);
        }
        for (const attr of from.attributes) {
          if (target.getAttribute(attr.name) === attr.value) continue;
          hx ||= attr.name.startsWith("hx-");
          target.setAttribute(attr.name, attr.value);
        }
        if (hx) htmx.process(target);
        return true;
      }
      if (style === "cvz-drop") {
        const before = target.previousSibling;
        if (before && before.nodeType === Node.TEXT_NODE) before.remove();
        target.remove();
        return true;
      }
      return false;
    },
  });
  document.addEventListener("htmx:before:swap", (event) => {
    const stage = event.target;
    const tasks = event.detail && event.detail.tasks;
    if (!(stage instanceof Element) || stage.id !== "stage" || !tasks) return;
    if (tasks.every((task) => task.type !== "partial" || task.target)) return;
    event.preventDefault();
    const sse = stage._htmx && stage._htmx.sse;
    if (sse && sse.reader) sse.reader.cancel();
  });
})();
