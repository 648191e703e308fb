"""What the lock lesson's templates need, from its folded state (pure)."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from app.events import Event
from app.experiments.lock.overlay import READ, ROUND_END, ROUND_START, WRITE, Card, LockState
from app.i18n import _
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import CRASHED, FINISHED, KILLED, OVER, ConsoleLine

# The counter's line, in SVG user units: room above it and below it for
# the labels, which stay readable when the SVG is drawn small.
CHART_W, CHART_H, CHART_TOP, CHART_BOTTOM, CHART_SIDE = 320, 160, 26, 28, 6
HIST_W, HIST_H = 420, 150
LOG_SHOWN = 16

# The program's `lock` in the lesson's words (another lock, as the Value's
# own, is told in the tracer's, by its name).
LOCK_WORDS = {K.ACQUIRE_WAIT: "lock-want", K.ACQUIRED: "lock-acquired", K.RELEASED: "lock-released"}
# The events the lesson's log tells, besides what the program printed (each
# round starts, joins and ends every worker: those lines would push the
# lock's steps out of a short log).
LOGGED = frozenset(
    {*LOCK_WORDS, K.SLEEP, K.EXC, K.LOST, "run_start", "run_end", "pause", "resume", "limit"}
)


@dataclass
class LogLine:
    """A line of the lesson's log: an event of the trace, or a line the
    program printed (read, write, a round's start or end)."""

    t: float
    kind: str  # the words to say it with (and its class)
    worker: str  # who, as the program names it
    data: dict[str, Any] = field(default_factory=dict)
    event: Event | None = None
    outcome: bool = False  # it tells the result: hidden until the reveal

    @property
    def seq(self) -> int:
        return self.event.seq if self.event is not None else 0


def _printed(state: LockState, line: ConsoleLine) -> LogLine:
    t, text = line.t, line.text.strip()
    if m := ROUND_START.match(text):
        return LogLine(t, "round_start", "main", {"round": m[1], "value": m[2]})
    if m := ROUND_END.match(text):
        data = {"round": m[1], "value": m[2], "expected": m[3]}
        return LogLine(t, "round_end", "main", data, outcome=True)
    if m := READ.match(text):
        return LogLine(t, "read", m[1], {"value": m[2]}, outcome=True)
    if m := WRITE.match(text):
        return LogLine(t, "write", m[1], {"value": m[2]}, outcome=True)
    outcome = text.startswith("accounting:")
    return LogLine(t, "out", state.name_of(line.worker), {"text": text}, outcome=outcome)


def log_lines(state: LockState) -> list[LogLine]:
    """The last events and printed lines, newest first."""
    out: list[LogLine] = []
    logged = (e for e in reversed(state.log) if e.kind in LOGGED)
    for e in itertools.islice(logged, LOG_SHOWN):
        name = state.name_of(state.names.get((e.pid, e.tid), e.worker))
        if e.kind in LOCK_WORDS and e.item == state.lock_key:
            out.append(LogLine(e.t, LOCK_WORDS[e.kind], name, event=e))
        else:  # in the tracer's words, the worker named as the program names it
            out.append(LogLine(e.t, e.kind, name, event=e._replace(worker=name)))
    for line in list(state.console)[-LOG_SHOWN:]:
        if line.stream != "note":
            out.append(_printed(state, line))
    out.sort(key=lambda x: x.t, reverse=True)
    return out[:LOG_SHOWN]


def _number(name: str) -> int:
    digits = name.lstrip("TP")
    return int(digits) if digits.isdigit() else 0


def _card_view(state: LockState, card: Card) -> dict[str, Any]:
    w = state.thread(card.label)
    over = w is not None and w.state in OVER
    ended = w.state if w is not None and w.state in (CRASHED, KILLED) else ""
    current = card.round == state.round
    if not current:
        status = ended or "idle"  # from an earlier round; this round's has not started yet
    elif over:
        status = ended or FINISHED
    else:
        status = card.step
    return {
        "name": card.name,
        "pid": w.pid if w else 0,
        "tid": w.tid if w else 0,
        "state": status,
        "read": card.read if current else None,
        "wrote": card.wrote if current else None,
        "place": state.waiting.index(card.name) + 1 if card.name in state.waiting else 0,
        "owner": current and state.owner == card.name,
        "error": w.error if w else "",
        "exitcode": w.exitcode if w else None,
    }


def _chart(state: LockState) -> dict[str, Any]:
    """The counter over the round as a step line, in SVG user units."""
    top = state.initial if state.initial is not None else int(state.params.get("initial", 0))
    expected = state.expected_value()
    values = [v for _, v in state.history]
    bottom = min([top - 1, *values] + ([expected] if expected is not None else []))
    span_t = max([t for t, _ in state.history] + [1e-3])
    w, h, side = CHART_W, CHART_H, CHART_SIDE

    def x(t: float) -> float:
        return round(side + (w - 2 * side) * t / span_t, 1)

    def y(v: int) -> float:
        return round(CHART_TOP + (h - CHART_TOP - CHART_BOTTOM) * (top - v) / (top - bottom), 1)

    points: list[str] = []
    for i, (t, v) in enumerate(state.history):
        if i:
            points.append(f"{x(t)},{y(state.history[i - 1][1])}")
        points.append(f"{x(t)},{y(v)}")
    return {
        "w": w,
        "h": h,
        "points": " ".join(points),
        "top": top,
        "top_y": y(top),
        "expected": expected,
        "expected_y": y(expected) if expected is not None else None,
        "span": f"{span_t:.1f} s" if span_t >= 1 else f"{span_t * 1000:.0f} ms",
        "left": side,
        "right": w - side,
    }


def _bars(state: LockState) -> dict[str, Any]:
    """The histogram of final values, one bar per value that a round could
    end with (every worker's update kept, down to all but one lost) and any
    other seen, in SVG user units."""
    hist = Counter(state.finals.values())
    expected = state.expected_value()
    if not hist:
        return {"bars": [], "w": HIST_W, "h": HIST_H}
    seen = list(hist)
    if expected is not None:
        seen += [expected, expected + int(state.params.get("threads", 1)) - 1]
    values = range(min(seen), max(seen) + 1)
    most = max(hist.values())
    slot = (HIST_W - 20) / len(values)
    label_every = max(1, round(len(values) / 12))
    base = HIST_H - 22
    bars = []
    for i, v in enumerate(values):
        count = hist.get(v, 0)
        height = round((base - 22) * count / most, 1)
        bars.append(
            {
                "value": v,
                "count": count,
                "x": round(10 + i * slot + slot * 0.1, 1),
                "cx": round(10 + i * slot + slot / 2, 1),
                "width": round(slot * 0.8, 1),
                "y": round(base - height, 1),
                "height": height,
                "expected": v == expected,
                "label": i % label_every == 0 or v == expected,
            }
        )
    return {"bars": bars, "w": HIST_W, "h": HIST_H, "base": base}


def _workers_words(n: int, backend: str) -> str:
    if backend == "thread":
        words = _("%(n)s thread") if n == 1 else _("%(n)s threads")
    else:
        words = _("%(n)s process") if n == 1 else _("%(n)s processes")
    return words % {"n": n}


def view(state: LockState, params: dict[str, Any]) -> dict[str, Any]:
    use_lock = bool(params.get("use_lock", False))
    cards = sorted(state.cards.values(), key=lambda c: _number(c.name))
    return {
        "use_lock": use_lock,
        "lk": state,
        "result": state.result(),
        "repeats": int(params.get("repeats", 1)),
        "cards": [_card_view(state, c) for c in cards],
        "chart": _chart(state),
        "hist": _bars(state),
        "exact": state.exact(),
        "log_lines": log_lines(state),
        "runbar_facts": [
            _("with the lock") if use_lock else _("no lock"),
            _workers_words(int(params.get("threads", 0)), str(params.get("backend", "thread"))),
            _("hold %(ms)s ms") % {"ms": params.get("hold_ms")},
        ],
    }
