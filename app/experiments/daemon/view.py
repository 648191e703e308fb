"""What the daemon lesson's templates need, from its folded state (pure):
the timelines as SVG geometry (user units; the SVG scales to the stage's
width), worked out here so that the template only places them, and what was
observed, in words."""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable
from typing import Any

from app.experiments.daemon.overlay import PREFIX, ROLES, VERSIONS, DaemonState, Track
from app.i18n import N_, _

SVG_W = 1000
PLOT_X0, PLOT_X1 = 262.0, 975.0
AXIS_H = 36
ROW_H = 68
BAR_Y, BAR_H = 6, 30
_TICK_STEPS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
_SIGNALS = {-signal.SIGTERM: "SIGTERM", -signal.SIGKILL: "SIGKILL"}
Scale = Callable[[float], float]  # a time in the run -> x on the plot
Row = dict[str, Any]  # a row of the timeline, as its template reads it

# What differs between the two versions' stories, in words.
_WORDS = {
    "thread": {
        "waiting": N_("waits for the normal thread"),
        "stopped": N_("✗ stopped %(t)s"),
        "normal_over": N_("The normal thread printed ‘over’ at %(t)s."),
        "daemon_ended": N_("The daemon thread was stopped at %(t)s, before printing ‘over’."),
        "daemon_over": N_("The daemon thread printed ‘over’ at %(t)s: it was quicker."),
    },
    "process": {
        "waiting": N_("atexit: ends the daemon, joins the normal"),
        "stopped": N_("✗ terminated %(t)s"),
        "normal_over": N_("The normal process printed ‘over’ at %(t)s."),
        "daemon_ended": N_("The daemon process was terminated at %(t)s, before printing ‘over’."),
        "daemon_over": N_("The daemon process printed ‘over’ at %(t)s: it was quicker."),
    },
}


def _at(t: float, t0: float) -> dict[str, Any]:
    """`t` as the words' %(t)s: seconds since its version started."""
    return {"t": f"{t - t0:.2f} s"}


def planned(params: dict[str, Any]) -> dict[str, float]:
    """When each kind of track would say 'over' (or end its code), in
    seconds after it starts."""
    speed = float(params.get("speed", 1.0)) or 1.0
    return {role: params.get(f"{role}_ms", 0) / 1000 / speed for role in ROLES}


def _x(t: float, t0: float, span: float) -> float:
    """Where the time `t` of a version that started at `t0` is on the plot."""
    return round(PLOT_X0 + (PLOT_X1 - PLOT_X0) * min(max(t - t0, 0.0), span) / span, 1)


def _anchor(x: float, room: float) -> str:
    """A mark's words right of it if they have `room` there, else left of it."""
    return "start" if x < PLOT_X1 - room else "end"


def _marks(track: Track, t0: float, x: Scale) -> list[dict[str, Any]]:
    """Where main's code ended, when it said 'over', how it ended."""
    marks = []
    if track.code_end is not None:
        code = _("code ends %(t)s") % _at(track.code_end, t0)
        # Left of its mark when there is room there, or when the end's own
        # words, right of the end, would run into them.
        soon = track.end is not None and x(track.end) - x(track.code_end) < 190
        anchor = "end" if x(track.code_end) > PLOT_X0 + 190 or soon else "start"
        marks.append({"x": x(track.code_end), "text": code, "cls": "code", "anchor": anchor})
    if track.over is not None:
        over = _("✓ over %(t)s") % _at(track.over, t0)
        marks.append({"x": x(track.over), "text": over, "cls": "ok", "anchor": "end"})
    if track.end is None:
        return marks
    end_x, at = x(track.end), _at(track.end, t0) | {"code": track.exitcode}
    if track.with_run:
        text = _("■ ended with the run %(t)s") % at
        marks.append({"x": end_x, "text": text, "cls": "exit", "anchor": _anchor(end_x, 260)})
    elif track.role == "main":
        ok = track.exitcode in (None, 0)
        text = _("■ exit %(t)s") % at if ok else _("■ exit %(t)s, code %(code)s") % at
        # right of the exit when there is room: left of it is where main's
        # "code ends" stands
        marks.append({"x": end_x, "text": text, "cls": "exit", "anchor": _anchor(end_x, 230)})
    elif track.over is None:
        sig = track.signal or _SIGNALS.get(track.exitcode or 0, "")
        text = _(_WORDS[track.program]["stopped"]) % at + (f" ({sig})" if sig else "")
        marks.append({"x": end_x, "text": text, "cls": "stop", "anchor": _anchor(end_x, 260)})
    return marks


def _bars(track: Track, x: Scale, start: float, end: float) -> list[dict[str, Any]]:
    """Its run; main's ends with its code, and then its process waits."""
    split = track.code_end if track.code_end is not None else end  # main's only
    bars = [{"x": x(start), "w": max(3.0, x(split) - x(start)), "cls": f"run {track.role}"}]
    if track.code_end is not None:
        width = max(0.0, x(end) - x(split))
        waiting = _(_WORDS[track.program]["waiting"]) if width > 330 else ""
        bars.append({"x": x(split), "w": width, "cls": "wait", "text": waiting})
    return bars


def _ghost(track: Track, due_x: float, left: float) -> dict[str, Any] | None:
    """Where a normal or daemon track would have said 'over', if it has not."""
    if track.role == "main" or track.over is not None or due_x - left <= 2:
        return None
    never = track.end is not None and not track.with_run  # not due before the Stop
    return {
        "x": left,
        "w": due_x - left,
        "due_x": due_x,
        "text": _ghost_text(never, due_x - left),
        "cls": f"ghost {track.role}" + (" never" if never else ""),
    }


def _row(track: Track, t0: float, x: Scale, y: float, due: float, now: float | None) -> Row:
    """A track's row; `now`, while the run is live."""
    bar_top = y + BAR_Y
    by_pid = track.program == "process" or track.role == "main"
    ids = f"pid {track.pid}" if by_pid else f"tid {track.tid}"
    start, end = track.start, track.end if track.end is not None else now
    drawn: Row = {"bars": [], "marks": [], "ghost": None}
    if start is not None and end is not None:
        ghost = _ghost(track, x(start + due), x(end))
        drawn = {"bars": _bars(track, x, start, end), "marks": _marks(track, t0, x), "ghost": ghost}
    return {
        "id": track.name,
        "label": _(track.label),
        "ids": ids if (track.pid or track.tid) else "",
        "role": track.role,
        "label_y": bar_top + BAR_H - 8,
        "bar_y": bar_top,
        "bar_h": BAR_H,
        "text_y": bar_top + BAR_H + 21,
        **drawn,
    }


def _ghost_text(never: bool, width: float) -> str:
    """The words inside a ghost box, as many as fit (18px bold: ~10.5 units
    a character)."""
    if not never:
        return _("‘over’ due") if width > 120 else ""
    if width > 235:
        return _("‘over’ never printed")
    if width > 150:
        return _("never printed")
    return _("never") if width > 65 else ""


def _ticks(span: float) -> list[float]:
    step = next((s for s in _TICK_STEPS if span / s <= 8), _TICK_STEPS[-1])
    return [i * step for i in range(int(span / step) + 1)]


def _program(
    state: DaemonState, program: str, span: float, due: dict[str, float], live: bool
) -> dict[str, Any]:
    """One version's timeline, the facts under it and what it printed."""
    tracks = {role: state.track(program, role) for role in ROLES}
    main = tracks["main"]
    t0 = main.start
    x = functools.partial(_x, t0=t0 or 0.0, span=span)
    now = state.last_t if live else None
    # While the result is hidden, the page draws nothing after main's code
    # ends: who is still there then is the question.
    cut_t = main.code_end if t0 is not None else None
    facts = _facts(tracks, t0)
    return {
        "kind": program,
        "prefix": PREFIX[program],
        "pid": main.pid,
        "t0": t0,
        "rows": [
            _row(tracks[role], t0, x, AXIS_H + i * ROW_H, due[role], now)
            for i, role in enumerate(ROLES)
            if t0 is not None
        ],
        "height": AXIS_H + len(ROLES) * ROW_H,
        "facts": facts,
        "now_x": x(now) if t0 is not None and now is not None else None,
        "cut_t": cut_t,
        "cut_x": x(cut_t) if cut_t is not None else None,
        "open_facts": facts[:1] if cut_t is not None else [],
        "printed": list(state.output[program]),
    }


def view(state: DaemonState, params: dict[str, Any]) -> dict[str, Any]:
    due = planned(params)
    live = state.status in ("starting", "running")
    # One scale for both programs, so that their times line up.
    elapsed = [
        max((t.end or state.last_t) for t in state.tracks.values() if t.program == p) - t0
        for p in VERSIONS
        if (t0 := state.track(p, "main").start) is not None
    ]
    span = max([max(due.values()) * 1.12, 0.2, *(e * 1.03 for e in elapsed)])
    return {
        "programs": [_program(state, program, span, due, live) for program in VERSIONS],
        "axis": [{"x": _x(t, 0.0, span), "label": f"{t:g} s"} for t in _ticks(span)],
        "svg_w": SVG_W,
        "plot_x1": PLOT_X1,
        "axis_h": AXIS_H,
        "runbar_facts": [
            _("daemon %(daemon)s s, normal %(normal)s s, main %(main)s s")
            % {role: f"{due[role]:g}" for role in ROLES}
        ],
    }


def _facts(tracks: dict[str, Track], t0: float | None) -> list[str]:
    """What was observed, in words: each sentence only once its fact is in."""
    if t0 is None:
        return []
    main, normal, daemon = tracks["main"], tracks["normal"], tracks["daemon"]
    words = _WORDS[main.program]
    out = []
    if main.code_end is not None:
        out.append(_("main's code ended at %(t)s.") % _at(main.code_end, t0))
    if normal.over is not None:
        out.append(_(words["normal_over"]) % _at(normal.over, t0))
    if daemon.end is not None and daemon.over is None and not daemon.with_run:
        out.append(_(words["daemon_ended"]) % _at(daemon.end, t0))
    elif daemon.over is not None:
        out.append(_(words["daemon_over"]) % _at(daemon.over, t0))
    if main.with_run:
        out.append(
            _("The run was stopped at %(t)s, with this version still there.")
            % _at(main.end or t0, t0)
        )
    elif main.end is not None:
        at = _at(main.end, t0) | {"code": main.exitcode}
        out.append(_("The program exited at %(t)s (exit code %(code)s).") % at)
    return out
