"""A run as Chrome Trace Event JSON, which Perfetto's UI opens as is.

- process and thread names as metadata (`M`), with the real pids and tids;
- one slice per state interval of each worker (`B`/`E` on its thread), the
  states being those the page shows (the same fold);
- counter tracks (`C`) for the run's counters (queue depth among them);
- flow arrows (`s`/`f`) from each `put` of an item to its `get`;
- instant events (`i`) for uncaught exceptions, diagnoses, limits and run ends.

Timestamps are microseconds since the run started. Pure: events in, dict out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app import events
from app.events import Event
from app.programs.boot.concviz_tracer import kinds as K

_INSTANT_KINDS = frozenset({K.EXC, events.RUN_END, "diagnosis", "limit"})


def _flow_key(e: Event, seen: dict[tuple[str, str, str], int]) -> str | None:
    """What joins a put to its get: an event's item is its queue, so the
    n-th put of a value into a queue goes with the n-th get of that value
    from it."""
    if e.item is None or e.kind not in (K.PUT, K.GET) or not e.data or "v" not in e.data:
        return None
    side = "put" if e.kind == K.PUT else "get"
    count = seen.get((side, e.item, str(e.data["v"])), 0) + 1
    seen[(side, e.item, str(e.data["v"]))] = count
    return f"{e.item}|{e.data['v']}|{count}"


def _us(t: float) -> float:
    return round(t * 1e6, 3)


def chrome_trace(
    evs: Sequence[Event],
    new_state: Callable[[], Any],
    fold: Callable[[Any, Event], Any],
    title: str = "concviz run",
) -> dict[str, Any]:
    state = new_state()
    out: list[dict[str, Any]] = []
    threads: dict[tuple[str, int], tuple[int, int]] = {}  # (worker, pid) -> its track
    open_slice: dict[tuple[str, int], str] = {}  # track -> name of the slice now open
    last_ts: dict[tuple[str, int], float] = {}
    counters: dict[str, float] = {}
    flows: dict[str, int] = {}
    # The server's own events (the run's start and end, pauses, permits)
    # are named after the program's main but carry the server's pid.
    server_pid = next((e.pid for e in evs if e.kind == events.RUN_START), None)
    named_pids: set[int] = set()

    def _proc_name(pid: int) -> str:
        """A traced program's process as its stage names it (its events
        come after it said what it is); a lesson's by its pid."""
        named = getattr(state, "proc_label", None)
        return str(named(pid)) if named is not None else f"process {pid}"

    def track(worker: str, pid: int, tid: int) -> tuple[str, int]:
        server = pid == server_pid
        key = ("concviz" if server else worker, pid)
        if key not in threads:
            threads[key] = (pid, tid or pid)
            if pid not in named_pids:
                named_pids.add(pid)
                label = "concviz" if server else title if worker == "main" else _proc_name(pid)
                out.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": label}})
            out.append(
                {
                    "ph": "M",
                    "name": "thread_name",
                    "pid": pid,
                    "tid": tid or pid,
                    "args": {"name": key[0]},
                }
            )
        return key

    def at(key: tuple[str, int], t: float) -> float:
        # Never earlier than the last timestamp on this track.
        ts = max(_us(t), last_ts.get(key, 0.0))
        last_ts[key] = ts
        return ts

    # Items with both a put and a get get an arrow. A get can arrive before
    # its put (each process sends its own batches), so pair them first.
    seen: dict[tuple[str, str, str], int] = {}
    keys = [_flow_key(e, seen) for e in evs]
    put_at: dict[str, float] = {}
    got: set[str] = set()
    for e, key in zip(evs, keys, strict=True):
        if key is not None and e.kind == K.PUT:
            put_at[key] = _us(e.t)
        elif key is not None and e.kind == K.GET:
            got.add(key)
    paired = {key for key in put_at if key in got}

    for e, key in zip(evs, keys, strict=True):
        fold(state, e)
        where = track(e.worker, e.pid, e.tid)
        pid, tid = threads[where]
        ts = at(where, e.t)
        names = getattr(state, "names", None)  # a program's: (pid, tid) -> worker
        w = state.workers.get(names.get((e.pid, e.tid), e.worker) if names else e.worker)
        if w is not None and e.pid != server_pid:
            label = w.state + (f" {w.item}" if w.item else "")
            if open_slice.get(where) != label:
                if where in open_slice:
                    out.append({"ph": "E", "pid": pid, "tid": tid, "ts": ts})
                out.append(
                    {
                        "ph": "B",
                        "pid": pid,
                        "tid": tid,
                        "ts": ts,
                        "name": label,
                        "cat": w.role or "worker",
                    }
                )
                open_slice[where] = label
        if e.kind in _INSTANT_KINDS:
            out.append(
                {
                    "ph": "i",
                    "pid": pid,
                    "tid": tid,
                    "ts": ts,
                    "s": "p",
                    "name": e.kind,
                    "args": e.data or {},
                }
            )
        if key in paired and e.kind == K.PUT:
            assert key is not None
            flow_id = flows.setdefault(key, len(flows) + 1)
            out.append({"ph": "s", "pid": pid, "tid": tid, "ts": ts, "name": "item", "id": flow_id})
        elif key in paired and e.kind == K.GET:
            assert key is not None
            flow_id = flows.setdefault(key, len(flows) + 1)
            # The arrow ends no earlier than it starts.
            end_ts = max(ts, put_at[key])
            last_ts[where] = end_ts
            out.append(
                {
                    "ph": "f",
                    "bp": "e",
                    "pid": pid,
                    "tid": tid,
                    "ts": end_ts,
                    "name": "item",
                    "id": flow_id,
                }
            )
        for key, value in state.counters().items():
            if isinstance(value, int | float) and counters.get(key) != value:
                counters[key] = value
                out.append(
                    {
                        "ph": "C",
                        "pid": server_pid if server_pid is not None else e.pid,
                        "ts": _us(e.t),
                        "name": key,
                        "args": {key: value},
                    }
                )
    end = max(last_ts.values(), default=0.0)
    for where in open_slice:
        pid, tid = threads[where]
        out.append({"ph": "E", "pid": pid, "tid": tid, "ts": max(end, last_ts[where])})
    return {"traceEvents": out, "displayTimeUnit": "ms", "otherData": {"title": title}}
