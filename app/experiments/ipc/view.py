"""What the IPC lesson's templates need, from its folded state (pure)."""

from __future__ import annotations

import re
from typing import Any

from app.experiments.ipc.claims import claims
from app.experiments.ipc.overlay import (
    CONNECTING,
    DONE,
    FAILED,
    MEASURING,
    MEMCPY,
    ONE_WAY,
    ROUND_TRIPS,
    SKIPPED,
    STOPPED,
    WAITING,
    Figures,
    IpcState,
)
from app.experiments.ipc.words import (
    WAYS,
    LogScale,
    count_words,
    label_here,
    labelled,
    number_words,
    reason_here,
    size_words,
    time_tick,
    time_words,
)
from app.i18n import N_, _
from app.model import ENDED
from app.programs.state import ThreadView

_PHASE_WORDS = {
    CONNECTING: N_("setting up the link"),
    ROUND_TRIPS: N_("round trips: there and back, one at a time"),
    ONE_WAY: N_("one way: as many as it can, each checked"),
}
# How much of a phase is done: the count, then its unit, in words.
_SO_FAR = {
    ROUND_TRIPS: N_("%(n)s round trips so far"),
    ONE_WAY: N_("%(n)s messages so far"),
}
_COUNTING = {ROUND_TRIPS: N_("%(n)s round trips…"), ONE_WAY: N_("%(n)s messages…")}
# A mechanism's state: a shape for its row, and its words (the row's, and
# the shape's for a screen reader).
_STATUS = {
    WAITING: ("", N_("waiting for its turn")),
    MEASURING: ("▶", N_("being measured")),
    SKIPPED: ("–", N_("skipped")),
    STOPPED: ("‖", N_("stopped")),
    FAILED: ("✗", N_("failed")),
}


def _pair(state: IpcState, f: Figures) -> str:
    """The two processes and their real pids: 'S1 4242 → R1 4241'."""
    if not f.sender:
        return ""
    s = state.workers.get(f.sender)
    r = state.workers.get(f.receiver)
    return f"{f.sender} {s.pid if s else '…'} → {f.receiver} {r.pid if r else '…'}"


def _status_words(f: Figures) -> str:
    if f.status == MEASURING:
        counting = _COUNTING.get(f.phase)
        return _(counting) % {"n": count_words(f.done)} if counting else _("setting up…")
    return _(_STATUS[f.status][1]) if f.status in _STATUS else ""


def _mark(f: Figures) -> tuple[str, str]:
    """A shape for the row's state (and its words for a screen reader)."""
    if f.status == DONE:
        if f.intact:
            return "✓", _("every byte arrived intact")
        return ("✗", _("damaged")) if f.intact is False else ("", "")
    mark, words = _STATUS.get(f.status, ("", ""))
    return mark, _(words) if words else f.status


def _rows(state: IpcState, tput: LogScale, rtt: LogScale) -> list[dict[str, Any]]:
    rows = []
    for key in state.ways():
        f = state.figures.get(key) or Figures(key)
        label = label_here(key)
        row: dict[str, Any] = {
            "key": key,
            "label": label,
            # Where a long name may break: after a dot or an underscore.
            "label_parts": re.split(r"(?<=[._])(?=[A-Za-z])", label),
            "way": WAYS.get(key, ""),
            "status": f.status,
            "status_words": _status_words(f),
            "pair": _pair(state, f),
            "intact": f.intact,
            "mark": _mark(f),
            "reason": reason_here(f.reason)
            or (_("paused while measuring: these times include the pause") if f.paused else ""),
            "tput": None,
            "rtt": None,
        }
        if f.mb_s is not None:
            msg_s = f.msg_s or 0.0
            row["tput"] = {
                "at": tput.at(f.mb_s),
                "text": f"{number_words(f.mb_s)} MB/s",
                "sub": _("%(n)s msg/s") % {"n": number_words(msg_s)},
            }
        if f.p50_us is not None and f.p99_us is not None:
            row["rtt"] = {
                "at": rtt.at(f.p50_us),
                "p99_at": rtt.at(f.p99_us),
                "text": time_words(f.p50_us),
                "sub": f"p99 {time_words(f.p99_us)}",
            }
        if f.intact is not None:
            verified, trips = f.verified or {}, f.rtt or {}
            checked = verified.get("bytes", 0) + trips.get("count", 0) * state.payload
            row["checked"] = _("%(size)s compared byte for byte") % {"size": size_words(checked)}
            if not f.intact:
                bad = verified.get("bad", 0) + trips.get("bad", 0)
                row["reason"] = row["reason"] or _("%(n)s message(s) arrived damaged") % {"n": bad}
        rows.append(row)
    return rows


def _now(state: IpcState) -> dict[str, Any]:
    key = state.current
    if key and key in state.figures and state.status == "running":
        f = state.figures[key]
        so_far = _SO_FAR.get(f.phase)
        phase = _PHASE_WORDS.get(f.phase)
        return {
            "live": True,
            "label": label_here(key),
            "phase": _(phase) if phase else f.phase,
            "done": _(so_far) % {"n": count_words(f.done)} if so_far else "",
            "pair": _pair(state, f),
        }
    if state.status in ENDED:
        figs, counts = state.measured(), state.lesson_counters()
        measured, damaged = counts["measured"], counts["measured"] - counts["intact"]
        parts = [_("%(n)s of %(planned)s measured") % {"n": measured, "planned": counts["planned"]}]
        if measured and not damaged:
            compared = size_words(sum((f.verified or {}).get("bytes", 0) for f in figs))
            parts.append(_("every byte arrived intact (%(size)s compared)") % {"size": compared})
        elif measured:
            parts.append(_("%(n)s damaged") % {"n": damaged})
        parts += [
            _("%(mechanism)s: %(reason)s")
            % {"mechanism": label_here(f.key), "reason": reason_here(f.reason)}
            for f in figs
            if f.status in (FAILED, SKIPPED)
        ]
        return {"live": False, "label": _(state.status), "phase": " · ".join(parts)}
    return {"live": False, "label": _("starting"), "phase": _("main is getting ready")}


def _workers(state: IpcState) -> list[ThreadView]:
    """main, and the pair measuring now (or the last pair): the tracer's threads."""
    out = [
        w
        for w in state.threads()
        if w.main_thread and (p := state.procs.get(w.pid)) is not None and p.main
    ][:1]
    pairs = [f for f in state.measured() if f.sender]
    if pairs:
        out += [w for name in (pairs[-1].sender, pairs[-1].receiver) if (w := state.thread(name))]
    return out


def view(state: IpcState, params: dict[str, Any]) -> dict[str, Any]:
    figs = [state.figures[k] for k in state.order() if k in state.figures]
    limit = state.figures.get(MEMCPY)
    tput = LogScale([f.mb_s or 0 for f in figs])
    rtt = LogScale([v for f in figs for v in (f.p50_us or 0, f.p99_us or 0)])
    limits: dict[str, Any] = {}
    if limit is not None and limit.mb_s:
        limits["tput"] = {"at": tput.at(limit.mb_s), "text": f"{number_words(limit.mb_s)} MB/s"}
    if limit is not None and limit.p50_us:
        limits["rtt"] = {"at": rtt.at(limit.p50_us), "text": time_words(limit.p50_us)}
    n = int(params.get("payload_bytes", 0))
    mechanisms = str(params.get("mechanisms"))
    return {
        "runbar_facts": [
            _("%(size)s messages") % {"size": size_words(n)},
            _("mechanisms: %(which)s") % {"which": _(mechanisms)},
        ],
        "ipc": {
            "now": _now(state),
            "rows": _rows(state, tput, rtt),
            "tput_ticks": labelled(tput.ticks(), count_words),
            "rtt_ticks": labelled(rtt.ticks(), time_tick),
            "limits": limits,
            "claims": claims(state),
            "workers": _workers(state),
            "phases": state.phases,
            "payload": size_words(n),
        },
    }
