"""The lecture's claims about each way to talk, and how this machine's
figures bear on them (pure: from the folded state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.experiments.ipc.overlay import DONE, MEMCPY, SKIPPED, Figures, IpcState
from app.experiments.ipc.words import (
    GROUPS,
    label_here,
    number_words,
    ratio_words,
    reason_here,
    size_words,
    time_words,
)
from app.i18n import N_, _

Verdict = tuple[str, str]  # (class, words: looked up with _() in claims())
HOLDS: Verdict = ("holds", N_("✓ holds here"))
FAILS: Verdict = ("fails", N_("✗ not on this machine"))
PARTLY: Verdict = ("partly", N_("≈ partly"))
PENDING: Verdict = ("pending", N_("… not measured yet"))
UNMEASURED: Verdict = ("unmeasured", N_("– not in this run (choose all)"))
REFERENCE: Verdict = ("reference", N_("for reference"))
# What a claim's figures say: its verdict (None: nothing measured for it),
# and lines said beside it.
Judge = Callable[[IpcState, list[str]], Verdict | None]


def _done(state: IpcState, key: str) -> Figures | None:
    f = state.figures.get(key)
    return f if f is not None and f.status == DONE and f.mb_s is not None else None


def _both(first: bool, second: bool) -> Verdict:
    """A claim of two halves: it holds if both do, partly if one does."""
    return HOLDS if first and second else PARTLY if first or second else FAILS


def _mb(v: float | None) -> str:
    return number_words(v or 0)


def _pipe(state: IpcState, lines: list[str]) -> Verdict | None:
    p, mp = _done(state, "os_pipe"), _done(state, "mp_pipe")
    verdict = None if mp is None else PARTLY
    if p is not None:
        err = p.setup.get("one_way_error")
        if err:
            lines.append(
                _(
                    "os.pipe() gave a read end and a write end;"
                    " writing into the read end failed: %(error)s."
                )
                % {"error": err}
            )
        lines.append(
            _("So the way back needed a second pipe: round trip %(rtt)s, one way %(mb)s MB/s.")
            % {"rtt": time_words(p.p50_us or 0), "mb": _mb(p.mb_s)}
        )
        verdict = HOLDS if err else PARTLY
    if mp is not None:
        lines.append(
            _(
                "multiprocessing.Pipe() goes both ways: on this machine it is a"
                " %(kind)s underneath (%(mb)s MB/s)."
            )
            % {"kind": _(mp.setup.get("fd_kind", "?")), "mb": _mb(mp.mb_s)}
        )
    return verdict


def _file(state: IpcState, lines: list[str]) -> Verdict | None:
    f = _done(state, "file")
    if f is None:
        return None
    facts = state.facts
    if facts:
        lines.append(
            _("Room: %(free)s free in %(dir)s, against %(shm)s for shared memory.")
            % {
                "free": size_words(facts.get("tmp_free", 0)),
                "dir": facts.get("tmp_dir", "?"),
                "shm": size_words(facts.get("shm_total", 0)),
            }
        )
    # Compared with the first of these measured.
    ref = next((g for k in ("os_pipe", "mp_pipe", "unix_socket") if (g := _done(state, k))), None)
    mb, p50 = f.mb_s or 0.0, f.p50_us or 0.0
    if ref is None:
        lines.append(
            _("One way %(mb)s MB/s, round trip %(rtt)s.")
            % {"mb": number_words(mb), "rtt": time_words(p50)}
        )
        return PARTLY
    name = label_here(ref.key)
    lines.append(
        _(
            "One way %(mb)s MB/s: %(compared)s. The bytes went through the page cache;"
            " nothing forced them to disk."
        )
        % {"mb": number_words(mb), "compared": ratio_words(mb, ref.mb_s or 0, name, "speed")}
    )
    lines.append(
        _(
            "Round trip %(rtt)s: %(compared)s. Nothing wakes a reader when data arrives:"
            " it keeps checking the size."
        )
        % {"rtt": time_words(p50), "compared": ratio_words(p50, ref.p50_us or 0, name, "time")}
    )
    return _both(mb < (ref.mb_s or 0) / 1.5, p50 > (ref.p50_us or 0) * 1.5)


def _socket(state: IpcState, lines: list[str]) -> Verdict | None:
    unix, tcp = _done(state, "unix_socket"), _done(state, "tcp_socket")
    counted = [(f, label) for f, label in ((unix, "AF_UNIX"), (tcp, "TCP")) if f is not None]
    if not counted:
        return None
    pipe = _done(state, "os_pipe")
    pipe_calls = pipe.calls if pipe is not None else 2
    each = [_("%(n)s for %(what)s") % {"n": f.calls, "what": label} for f, label in counted]
    calls = each[0] if len(each) == 1 else _("%(a)s and %(b)s") % {"a": each[0], "b": each[1]}
    lines.append(
        _(
            "Calls before the first byte: %(calls)s (socket, bind, listen, accept, connect …),"
            " against %(pipe)s for two pipes."
        )
        % {"calls": calls, "pipe": pipe_calls}
    )
    if unix is not None:
        lines.append(
            _(
                "The AF_UNIX socket needed a file name to meet at (%(path)s);"
                " the receiver removed it once connected."
            )
            % {"path": unix.setup.get("path", "?")}
        )
    for f, label in counted:
        lines.append(
            _("Once connected, %(what)s: %(mb)s MB/s, round trip %(rtt)s.")
            % {"what": label, "mb": _mb(f.mb_s), "rtt": time_words(f.p50_us or 0)}
        )
    return HOLDS if all(f.calls > pipe_calls for f, _label in counted) else FAILS


def _shm(state: IpcState, lines: list[str]) -> Verdict | None:
    key = "shared_memory"
    f = _done(state, key)
    if f is None:
        skipped = state.figures.get(key)
        if skipped is None or skipped.status != SKIPPED:
            return None
        lines.append(_("It did not fit: %(reason)s.") % {"reason": reason_here(skipped.reason)})
        return PARTLY
    mb = f.mb_s or 0.0
    others = [g for k in GROUPS["all"] if k != key and (g := _done(state, k)) is not None]
    best = max(others, key=lambda g: g.mb_s or 0.0, default=None)
    fast = best is None or mb >= (best.mb_s or 0.0) / 1.05
    if best is None:
        lines.append(
            _("One way %(mb)s MB/s (nothing else measured to compare).") % {"mb": number_words(mb)}
        )
    elif fast:
        lines.append(
            _("One way %(mb)s MB/s: the fastest of the %(n)s measured.")
            % {"mb": number_words(mb), "n": len(others) + 1}
        )
    else:
        lines.append(
            _("One way %(mb)s MB/s: %(other)s was faster (%(other_mb)s MB/s).")
            % {"mb": number_words(mb), "other": label_here(best.key), "other_mb": _mb(best.mb_s)}
        )
    limit = _done(state, MEMCPY)
    if limit is not None and limit.mb_s:
        lines.append(
            _(
                "A copy inside one process does %(mb)s MB/s: each message is still copied"
                " in and out, and semaphores hand the slots over."
            )
            % {"mb": number_words(limit.mb_s)}
        )
    facts, small = state.facts, True
    if facts:
        shm_total, tmp_free = facts.get("shm_total", 0), facts.get("tmp_free", 0)
        small = shm_total < tmp_free
        lines.append(
            _(
                "Size: /dev/shm holds %(shm)s here (%(shm_free)s free), the temp disk"
                " %(tmp_free)s free. This run's segment: %(segment)s."
            )
            % {
                "shm": size_words(shm_total),
                "shm_free": size_words(facts.get("shm_free", 0)),
                "tmp_free": size_words(tmp_free),
                "segment": size_words(f.setup.get("size", 0)),
            }
        )
    return _both(fast, small)


def _queue(state: IpcState, lines: list[str]) -> Verdict | None:
    f = _done(state, "mp_queue")
    if f is None:
        return None
    figures = {"mb": _mb(f.mb_s), "rtt": time_words(f.p50_us or 0)}
    pipe = _done(state, "os_pipe")
    if pipe is None:
        lines.append(
            _(
                "It pickles every message and a feeder thread writes it into a pipe:"
                " %(mb)s MB/s, round trip %(rtt)s."
            )
            % figures
        )
    else:
        compared = ratio_words(f.mb_s or 0, pipe.mb_s or 0, "os.pipe()", "speed")
        lines.append(
            _(
                "It pickles every message and a feeder thread writes it into a pipe:"
                " %(mb)s MB/s, round trip %(rtt)s, %(compared)s one way."
            )
            % {**figures, "compared": compared}
        )
    return REFERENCE


# Each claim, by its id: the way (looked up with _(); code stays code) and
# what the lecture says of it; then the ways that measure it, and what their
# figures say.
_SAID = {
    "pipe": (N_("Pipe"), N_("A pipe carries bytes, in one direction only.")),
    "file": (N_("File"), N_("A file holds any amount of data, but it is slow.")),
    "socket": (N_("Socket"), N_("Sockets work, but they take more code to set up.")),
    "shm": (
        N_("Shared memory"),
        N_("Shared memory is the fastest way, but there is little of it."),
    ),
    "queue": ("multiprocessing.Queue", N_("Not in the list: the Queue the later lessons use.")),
}
_JUDGES: dict[str, tuple[str, Judge]] = {
    "pipe": ("pipe", _pipe),
    "file": ("file", _file),
    "socket": ("socket", _socket),
    "shm": ("shared_memory", _shm),
    "queue": ("queue", _queue),
}


def claims(state: IpcState) -> list[dict[str, Any]]:
    out = []
    for claim_id, (group, judge) in _JUDGES.items():
        lines: list[str] = []
        verdict = judge(state, lines)
        if verdict is None:  # nothing measured for it: yet, or not in this run
            planned = set(GROUPS[group]) & set(state.order())
            verdict = PENDING if planned and state.status in ("starting", "running") else UNMEASURED
        way, said = _SAID[claim_id]
        out.append(
            {
                "id": claim_id,
                "way": _(way),
                "said": _(said),
                "lines": lines,
                "verdict_class": verdict[0],
                "verdict_words": _(verdict[1]),
            }
        )
    return out
