"""The timeline, as geometry: one lane per worker, coloured by state, over
the last seconds of the run, with the queue's depth underneath.

Pure: a state in, shapes out (units of an SVG viewBox 1000 wide). Segments
narrower than `MIN_WIDTH` are left out: at full speed a worker changes state
thousands of times a second, and no projector shows that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.i18n import N_, _
from app.model import RunState

WIDTH = 1000.0
LABEL_W = 70.0  # left of the plot: worker names
LANE_H = 22.0
DEPTH_H = 60.0
MIN_WIDTH = 1.0
WINDOW_S = 30.0


@dataclass(frozen=True)
class Segment:
    x: float
    w: float
    state: str
    title: str


@dataclass
class Lane:
    name: str
    y: float
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Timeline:
    lanes: list[Lane]
    height: float
    t0: float
    t1: float
    ticks: list[tuple[float, str]]
    depth_points: str  # an SVG polyline's points
    depth_max: int
    depth_y: float


# The words of the states the page shows, in the reader's language; other
# states are shown by name.
STATE_WORDS = {
    "starting": N_("starting"),
    "producing": N_("producing"),
    "put_wait": N_("waiting: queue full"),
    "consuming": N_("consuming"),
    "get_wait": N_("waiting: queue empty"),
    "ready": N_("ready"),
    "leaving": N_("leaving"),
    "finished": N_("finished"),
    "crashed": N_("crashed"),
    "killed": N_("killed"),
}


def _words(state: str, item: str | None) -> str:
    word = _(STATE_WORDS[state]) if state in STATE_WORDS else state.replace("_", " ")
    return word + (f" {item.replace('#', ' #')}" if item else "")


def build(state: RunState, window_s: float = WINDOW_S, names: list[str] | None = None) -> Timeline:
    t1 = max(state.last_t, 1e-3)
    t0 = max(0.0, t1 - window_s)
    span = t1 - t0 or 1.0
    plot = WIDTH - LABEL_W

    def x(t: float) -> float:
        return LABEL_W + (min(max(t, t0), t1) - t0) / span * plot

    order = names if names is not None else sorted(state.lanes, key=_lane_key(state))
    lanes: list[Lane] = []
    for i, name in enumerate(order):
        lane = Lane(name, 4 + i * LANE_H)
        segs = list(state.lanes.get(name, ()))
        for j, (start, st, item) in enumerate(segs):
            end = segs[j + 1][0] if j + 1 < len(segs) else t1
            if end < t0:
                continue
            x0, x1 = x(start), x(end)
            if x1 - x0 < MIN_WIDTH:
                continue
            title = _("%(name)s: %(what)s, %(d)s s from %(t)s s") % {
                "name": name,
                "what": _words(st, item),
                "d": f"{end - start:.3f}",
                "t": f"{start:.2f}",
            }
            lane.segments.append(Segment(round(x0, 1), round(x1 - x0, 1), st, title))
        lanes.append(lane)
    depth_y = 8 + len(lanes) * LANE_H
    points = [(t, d) for t, d in state.depth_track if t >= t0]
    before = [d for t, d in state.depth_track if t < t0]
    if before:
        points.insert(0, (t0, before[-1]))
    depth_max = max([d for _, d in points] + [1])
    coords: list[str] = []
    for k, (t, d) in enumerate(points):
        y = depth_y + DEPTH_H - d / depth_max * DEPTH_H
        if k:
            coords.append(f"{x(t):.1f},{coords[-1].split(',')[1]}")  # a step, not a slope
        coords.append(f"{x(t):.1f},{y:.1f}")
    if points:
        coords.append(f"{x(t1):.1f},{coords[-1].split(',')[1]}")
    step = _tick_step(span)
    first = (int(t0 / step) + 1) * step
    ticks = [(round(x(t), 1), f"{t:g} s") for t in _frange(first, t1, step)]
    height = depth_y + (DEPTH_H + 24 if points else 20)
    return Timeline(lanes, height, t0, t1, ticks, " ".join(coords), depth_max, depth_y)


def _lane_key(state: RunState):  # type: ignore[no-untyped-def]
    roles = {w.name: w.role for w in state.workers.values()}

    def key(name: str) -> tuple[int, str, int]:
        head = name.rstrip("0123456789")
        number = int(name[len(head) :] or 0)
        return (0 if name == "main" else 1, roles.get(name, ""), number)

    return key


def _tick_step(span: float) -> float:
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 60):
        if span / step <= 8:
            return step
    return 120.0


def _frange(start: float, stop: float, step: float) -> list[float]:
    out = []
    t = start
    while t < stop:
        out.append(round(t, 6))
        t += step
    return out
