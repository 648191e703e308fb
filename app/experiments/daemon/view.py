"""What the daemon lesson's templates need, from its folded state (pure):
the timelines as SVG geometry (user units; the SVG scales to the stage's
width), worked out here so that the template only places them, and what was
observed, in words."""

from __future__ import annotations

import signal
from typing import Any

from app.experiments.daemon.overlay import PREFIX, ROLES, VERSIONS, DaemonState, Track
from app.i18n import _

SVG_W = 1000
PLOT_X0, PLOT_X1 = 262.0, 975.0
AXIS_H = 36
ROW_H = 68
BAR_Y, BAR_H = 6, 30
_TICK_STEPS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
_SIGNALS = {-signal.SIGTERM: "SIGTERM", -signal.SIGKILL: "SIGKILL"}


def _secs(t: float) -> str:
    return f"{t:.2f} s"


def planned(params: dict[str, Any]) -> dict[str, float]:
    """When each kind of track would say 'over' (or end its code), in
    seconds after it starts."""
    speed = float(params.get("speed", 1.0)) or 1.0
    return {
        "daemon": params.get("daemon_ms", 0) / 1000 / speed,
        "normal": params.get("normal_ms", 0) / 1000 / speed,
        "main": params.get("main_ms", 0) / 1000 / speed,
    }


def _row(
    track: Track, t0: float, now: float, due: float, x: Any, y: float, live: bool
) -> dict[str, Any]:
    bars: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    ghost: dict[str, Any] | None = None
    bar_top, text_y = y + BAR_Y, y + BAR_Y + BAR_H + 21
    start = track.start
    end = track.end if track.end is not None else (now if live else None)
    if start is not None and end is not None:
        if track.role == "main":
            split = track.code_end if track.code_end is not None else end
            bars.append({"x": x(start), "w": max(3.0, x(split) - x(start)), "cls": "run main"})
            if track.code_end is not None:
                width = max(0.0, x(end) - x(split))
                waiting = (
                    _("waits for the normal thread")
                    if track.program == "thread"
                    else _("atexit: ends the daemon, joins the normal")
                )
                bars.append(
                    {
                        "x": x(split),
                        "w": width,
                        "cls": "wait",
                        "text": waiting if width > 330 else "",
                    }
                )
                marks.append(
                    {
                        "x": x(split),
                        "text": _("code ends %(t)s") % {"t": _secs(split - t0)},
                        "cls": "code",
                        "anchor": "end" if x(split) > PLOT_X0 + 190 else "start",
                    }
                )
        else:
            bars.append(
                {"x": x(start), "w": max(3.0, x(end) - x(start)), "cls": f"run {track.role}"}
            )
        if track.over is not None:
            marks.append(
                {
                    "x": x(track.over),
                    "text": _("✓ over %(t)s") % {"t": _secs(track.over - t0)},
                    "cls": "ok",
                    "anchor": "end",
                }
            )
        if track.end is not None:
            ended_at = _secs(track.end - t0)
            if track.role == "main":
                text = (
                    _("■ exit %(t)s") % {"t": ended_at}
                    if track.exitcode in (None, 0)
                    else _("■ exit %(t)s, code %(code)s") % {"t": ended_at, "code": track.exitcode}
                )
                marks.append(
                    {
                        "x": x(track.end),
                        "text": text,
                        "cls": "exit",
                        # right of the exit when there is room: left of it
                        # is where main's "code ends" stands
                        "anchor": "start" if x(track.end) < PLOT_X1 - 230 else "end",
                    }
                )
            elif track.over is None:
                how = _("✗ stopped %(t)s") if track.program == "thread" else _("✗ terminated %(t)s")
                sig = track.signal or _SIGNALS.get(track.exitcode or 0, "")
                text = how % {"t": ended_at} + (f" ({sig})" if sig else "")
                anchor = "start" if x(track.end) < PLOT_X1 - 260 else "end"
                marks.append({"x": x(track.end), "text": text, "cls": "stop", "anchor": anchor})
        if track.role != "main" and track.over is None:
            due_t = start + due
            left = x(end)
            if x(due_t) - left > 2:
                never = track.end is not None
                ghost = {
                    "x": left,
                    "w": x(due_t) - left,
                    "due_x": x(due_t),
                    "text": _ghost_text(never, x(due_t) - left),
                    "cls": f"ghost {track.role}" + (" never" if never else ""),
                }
    for bar in bars:
        bar["y"], bar["h"] = bar_top, BAR_H
    for mark in marks:
        mark["y"] = text_y
        mark["y0"], mark["y1"] = bar_top - 4, bar_top + BAR_H + 4
    ids = (
        f"pid {track.pid}"
        if track.program == "process" or track.role == "main"
        else f"tid {track.tid}"
    )
    return {
        "id": track.name,
        "label": _(track.label),
        "ids": ids if (track.pid or track.tid) else "",
        "y": y,
        "label_y": bar_top + BAR_H - 8,
        "bar_y": bar_top,
        "bar_h": BAR_H,
        "ids_y": text_y,
        "bars": bars,
        "marks": marks,
        "ghost": ({**ghost, "y": bar_top, "h": BAR_H} if ghost else None),
        "role": track.role,
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


def view(state: DaemonState, params: dict[str, Any]) -> dict[str, Any]:
    due = planned(params)
    live = state.status in ("starting", "running")
    now = state.last_t
    starts = {program: state.tracks[f"{PREFIX[program]}-main"].start for program in VERSIONS}
    # One scale for both programs, so that their times line up.
    elapsed = [
        (max((t.end or now) for t in state.tracks.values() if t.program == p) - t0)
        for p, t0 in starts.items()
        if t0 is not None
    ]
    span = max([max(due.values()) * 1.12, 0.2, *(e * 1.03 for e in elapsed)])

    def scale(t0: float) -> Any:
        return lambda t: round(
            PLOT_X0 + (PLOT_X1 - PLOT_X0) * min(max(t - t0, 0.0), span) / span, 1
        )

    height = AXIS_H + 3 * ROW_H
    programs = []
    for program in VERSIONS:
        prefix = PREFIX[program]
        main_track = state.tracks[f"{prefix}-main"]
        t0 = starts[program]
        rows = []
        if t0 is not None:
            x = scale(t0)
            for i, role in enumerate(ROLES):
                track = state.tracks[f"{prefix}-{role}"]
                rows.append(_row(track, t0, now, due[role], x, AXIS_H + i * ROW_H, live))
        axis = [
            {"x": round(PLOT_X0 + (PLOT_X1 - PLOT_X0) * t / span, 1), "label": f"{t:g} s"}
            for t in _ticks(span)
        ]
        now_x = scale(t0)(now) if (t0 is not None and live) else None
        # While the result is hidden, the page draws nothing after main's
        # code ends: who is still there then is the question.
        code_end = main_track.code_end if t0 is not None else None
        cut_x = scale(t0)(code_end) if t0 is not None and code_end is not None else None
        tracks = {role: state.tracks[f"{prefix}-{role}"] for role in ROLES}
        facts = _facts(program, tracks, t0)
        programs.append(
            {
                "kind": program,
                "prefix": prefix,
                "pid": main_track.pid,
                "t0": t0,
                "rows": rows,
                "axis": axis,
                "now_x": now_x,
                "height": height,
                "tracks": tracks,
                "facts": facts,
                "cut_t": code_end,
                "cut_x": cut_x,
                "open_facts": facts[:1] if cut_x is not None else [],
                "printed": list(state.output[program]),
            }
        )
    return {
        "programs": programs,
        "svg_w": SVG_W,
        "plot_x0": PLOT_X0,
        "plot_x1": PLOT_X1,
        "axis_h": AXIS_H,
        "due": due,
        "runbar_facts": [
            _("daemon %(daemon)s s, normal %(normal)s s, main %(main)s s")
            % {key: f"{due[key]:g}" for key in ("daemon", "normal", "main")}
        ],
    }


def _facts(program: str, tracks: dict[str, Track], t0: float | None) -> list[str]:
    """What was observed, in words: each sentence only once its fact is in."""
    if t0 is None:
        return []
    main, normal, daemon = tracks["main"], tracks["normal"], tracks["daemon"]
    threads = program == "thread"
    out = []
    if main.code_end is not None:
        out.append(_("main's code ended at %(t)s.") % {"t": _secs(main.code_end - t0)})
    if normal.over is not None:
        said = (
            _("The normal thread printed ‘over’ at %(t)s.")
            if threads
            else _("The normal process printed ‘over’ at %(t)s.")
        )
        out.append(said % {"t": _secs(normal.over - t0)})
    if daemon.end is not None and daemon.over is None:
        ended = (
            _("The daemon thread was stopped at %(t)s, before printing ‘over’.")
            if threads
            else _("The daemon process was terminated at %(t)s, before printing ‘over’.")
        )
        out.append(ended % {"t": _secs(daemon.end - t0)})
    elif daemon.over is not None:
        quicker = (
            _("The daemon thread printed ‘over’ at %(t)s: it was quicker.")
            if threads
            else _("The daemon process printed ‘over’ at %(t)s: it was quicker.")
        )
        out.append(quicker % {"t": _secs(daemon.over - t0)})
    if main.end is not None:
        out.append(
            _("The program exited at %(t)s (exit code %(code)s).")
            % {"t": _secs(main.end - t0), "code": main.exitcode}
        )
    return out
