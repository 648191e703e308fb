"""The timeline, as geometry: one lane per worker, coloured by state, over
the last seconds of the run, with the queue's depth underneath, and a legend
of the states it shows.

Pure: a state in, shapes out (units of an SVG viewBox 1000 wide). Segments
narrower than `MIN_WIDTH` are left out: at full speed a worker changes state
thousands of times a second, and no projector shows that.
"""

from __future__ import annotations

import bisect
import itertools
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.i18n import N_, _
from app.model import RunState
from app.programs.calls import UNWRITTEN

WIDTH = 1000.0
LANE_H = 30.0
BAR_H = 22.0
DEPTH_H = 60.0
MIN_WIDTH = 1.0
WINDOW_S = 30.0
# The label column fits the longest name at the largest size the page draws
# it (projection mode, see app.css), so that no name is cut short.
LABEL_FONT = 24.0
LABEL_PAD = 14.0
MIN_LABEL_W = 70.0
# At most this much of the width: a longer name is cut (whole in its
# tooltip), and the plot keeps the rest.
MAX_LABEL_W = 300.0
TICK_ROOM = 30.0  # half the width of a tick's words
# Lanes drawn at most (more than any lesson makes): every live worker's,
# then the latest of those that ended (a pool that replaces dying workers
# for ever makes hundreds).
MAX_LANES = 64
# A state drawn in place of one that would tell a hidden result.
HIDDEN = "hidden"


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
    label: str = ""  # its name as drawn: cut short if it is longer than the column

    def __post_init__(self) -> None:
        self.label = self.label or self.name


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
    label_w: float = MIN_LABEL_W
    depth_label: str = ""
    lanes_more: int = 0  # lanes of ended workers not drawn (`MAX_LANES`)
    # The states drawn, each with its words: (state, words), in a fixed order.
    legend: list[tuple[str, str]] = field(default_factory=list)

    @property
    def plot_w(self) -> float:
        return WIDTH - self.label_w


# The words of the states the lessons draw, in the reader's language; other
# states are shown by name. The order is the legend's.
STATE_WORDS = {
    "starting": N_("starting"),
    "running": N_("running"),
    "held": N_("held: waits for the class's go-ahead"),
    "producing": N_("producing"),
    "put_wait": N_("waiting: queue full"),
    "consuming": N_("consuming"),
    "get_wait": N_("waiting: queue empty"),
    "ready": N_("ready"),
    "leaving": N_("leaving"),
    # the queue, call by call
    "calling": N_("calling"),
    "returned": N_("returned"),
    "raised": N_("raised an exception"),
    "skipped": N_("not called: the run was stopping"),
    # when does it end?
    "main_wait": N_("main blocked in join()"),
    "main_end": N_("main's code ended"),
    "terminated": N_("got SIGTERM"),
    "daemon_stopped": N_("stopped: daemon, main finished"),
    # the lock race
    "lock_wait": N_("waiting for the lock"),
    "has_lock": N_("has the lock"),
    "holding": N_("read, holding"),
    "wrote": N_("wrote"),
    "released": N_("released"),  # the lock, or a waiting call at Stop
    # pipes, files, sockets
    "connecting": N_("connecting"),
    "connected": N_("connected"),
    "round_trips": N_("round trips"),
    "one_way": N_("sending one way"),
    # a traced program's threads (app.programs.state)
    "sleeping": N_("sleeping"),
    "blocked": N_("blocked"),
    "cut_off": N_("cut off (daemon)"),
    "ended_with_process": N_("ended unfinished with its process"),
    "ended_by_pool": N_("ended by its pool's terminate()"),
    "finished": N_("finished"),
    "crashed": N_("crashed"),
    "killed": N_("killed"),
    HIDDEN: N_("hidden until the reveal"),
}


def state_words(state: str) -> str:
    return _(STATE_WORDS[state]) if state in STATE_WORDS else state.replace("_", " ")


def _words(state: str, item: str | None) -> str:
    if item in UNWRITTEN:  # a traced program's wait that no call of it names
        return _("%(state)s: %(what)s") % {"state": state_words(state), "what": _(UNWRITTEN[item])}
    return state_words(state) + (f" {item.replace('#', ' #')}" if item else "")


def text_width(text: str, size: float) -> float:
    """At most about how wide `text` is at font size `size` in bold sans-serif:
    wide (CJK) characters take a whole em, others up to 0.72 of one (DejaVu
    Sans Bold, among the widest)."""
    ems = sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.72 for c in text)
    return ems * size


def label_width(names: Iterable[str]) -> float:
    widest = max([MIN_LABEL_W, *(text_width(n, LABEL_FONT) + LABEL_PAD for n in names)])
    return math.ceil(min(widest, MAX_LABEL_W) * 10) / 10  # up: the widest still fits


def fitted(name: str, width: float) -> str:
    """`name`, or as much of it as fits in `width` with an ellipsis: its end
    for a thread of another process (``daemon.py 10893/daemon thread`` as
    ``…93/daemon thread``: its process's threads differ there), else its
    start."""
    if text_width(name, LABEL_FONT) + LABEL_PAD <= width:
        return name
    keep_end = "/" in name
    cut = name
    while cut and text_width(cut + "…", LABEL_FONT) + LABEL_PAD > width:
        cut = cut[1:] if keep_end else cut[:-1]
    return "…" + cut if keep_end else cut + "…"


def build(
    state: RunState,
    window_s: float = WINDOW_S,
    names: list[str] | None = None,
    hide: frozenset[str] = frozenset(),
) -> Timeline:
    """The timeline of the last `window_s` seconds. With `hide` (states that
    would tell a hidden result), nothing from the first of them on is drawn:
    every lane is `HIDDEN` from then, so neither those states nor when each
    worker reached one shows."""
    t1 = max(state.last_t, 1e-3)
    t0 = max(0.0, t1 - window_s)
    span = t1 - t0 or 1.0
    order = names if names is not None else sorted(state.lanes, key=_lane_key(state))
    order, lanes_more = kept(state, order)
    has_depth = bool(state.depth_track)
    depth_label = _("in queue")
    label_w = label_width([*order, depth_label] if has_depth else order)
    plot = WIDTH - label_w
    cut = min(
        (start for segs in state.lanes.values() for start, st, _ in segs if st in hide),
        default=None,
    )
    shown_to = t1 if cut is None else min(cut, t1)

    def x(t: float) -> float:
        return label_w + (min(max(t, t0), t1) - t0) / span * plot

    lanes: list[Lane] = []
    drawn: set[str] = set()
    # A busy run's lanes hold hundreds of segments each, most of them too
    # early or too narrow to draw: those are passed over before any title
    # is written (a frame is drawn many times a second).
    seg_title = _("%(name)s: %(what)s, %(d)s s from %(t)s s")
    hidden_title = _("%(name)s: hidden until the reveal, from %(t)s s")
    too_short = MIN_WIDTH * span / plot * 0.99  # in seconds, a little under

    def add(lane: Lane, start: float, end: float, st: str, item: str | None) -> None:
        x0, x1 = x(start), x(end)
        if end < t0 or x1 - x0 < MIN_WIDTH:
            return
        drawn.add(st)
        if st == HIDDEN:
            title = hidden_title % {"name": lane.name, "t": f"{start:.2f}"}
        else:
            title = seg_title % {
                "name": lane.name,
                "what": _words(st, item),
                "d": f"{end - start:.3f}",
                "t": f"{start:.2f}",
            }
        lane.segments.append(Segment(round(x0, 1), round(x1 - x0, 1), st, title))

    for i, name in enumerate(order):
        lane = Lane(name, 4 + i * LANE_H, label=fitted(name, label_w))
        segs = state.lanes.get(name, ())
        # The first segment that ends after t0: the one before the first that starts after it.
        skip = max(0, bisect.bisect_right(segs, t0, key=_start) - 1)
        shown = list(itertools.islice(segs, skip, None))
        for j, (start, st, item) in enumerate(shown):
            if start >= shown_to:
                break
            end = min(shown[j + 1][0] if j + 1 < len(shown) else t1, shown_to)
            if min(end, t1) - max(start, t0) > too_short:  # else too narrow to draw
                add(lane, start, end, st, item)
        if cut is not None and segs and cut < t1:
            add(lane, max(cut, segs[0][0]), t1, HIDDEN, None)
        lanes.append(lane)
    depth_y = 8 + len(lanes) * LANE_H
    points = [(t, d) for t, d in state.depth_track if t0 <= t <= shown_to]
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
        coords.append(f"{x(shown_to):.1f},{coords[-1].split(',')[1]}")
    step = _tick_step(span)
    first = (int(t0 / step) + 1) * step
    # Centred on their time; none so near an end that its words are cut off.
    ticks = [
        (round(x(t), 1), f"{t:g} s")
        for t in _frange(first, t1, step)
        if label_w + TICK_ROOM <= x(t) <= WIDTH - TICK_ROOM
    ]
    height = depth_y + (DEPTH_H + 30 if points else 26)
    return Timeline(
        lanes,
        height,
        t0,
        t1,
        ticks,
        " ".join(coords),
        depth_max,
        depth_y,
        label_w=label_w,
        depth_label=depth_label,
        lanes_more=lanes_more,
        legend=legend(drawn),
    )


def kept(state: RunState, order: list[str]) -> tuple[list[str], int]:
    """The lanes drawn, in `order`: at most MAX_LANES, those of live workers
    (and main) first, then the latest to change of the others; and how many
    are left out."""
    if len(order) <= MAX_LANES:
        return order, 0

    def live(name: str) -> bool:
        w = state.workers.get(name)
        return name == "main" or w is None or w.alive

    ended = [n for n in order if not live(n)]
    room = max(0, MAX_LANES - (len(order) - len(ended)))
    latest = sorted(ended, key=lambda n: state.lanes[n][-1][0] if state.lanes.get(n) else 0.0)
    out = set(latest[: len(latest) - room])
    return [n for n in order if n not in out], len(out)


def legend(states: Iterable[str]) -> list[tuple[str, str]]:
    """Each state with its words, known states in STATE_WORDS's order first."""
    known = list(STATE_WORDS)
    ordered = sorted(set(states), key=lambda s: (known.index(s) if s in known else len(known), s))
    return [(s, state_words(s)) for s in ordered]


def _start(segment: tuple[float, str, str | None]) -> float:
    return segment[0]


def _lane_key(state: RunState):  # type: ignore[no-untyped-def]
    roles = {w.name: w.role for w in state.workers.values()}

    def key(name: str) -> tuple[int, str, str, int]:
        """main first, then by role, then by name with its number as a
        number (P2 before P10; 生产者-2 beside 生产者-1, not among 消费者)."""
        head = name.rstrip("0123456789")
        number = int(name[len(head) :] or 0)
        return (0 if name == "main" else 1, roles.get(name, ""), head, number)

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
