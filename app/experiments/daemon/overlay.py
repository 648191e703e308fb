"""What the daemon lesson keeps beside the program's stage, read from the
trace: one track per thread or process of each version (its main, its
normal one, its daemon), with when it started, printed 'over', ended its
code and ended, and how.

All of it comes from the tracer's generic events of the versions' own
processes (the top-level program only relays their lines): `proc`,
`thread`, `start_thread` and `spawn` say who is who (the program names its
threads and children "daemon thread", "normal process"...), `end` says when
a main's code ended (and a thread's run), `exit` and `reaped` when and how
a process ended; a daemon thread still running ends with its process. Two
things the tracer cannot see, the program prints: "... is over", and a
daemon child's last words when SIGTERM comes (the parent collects that
child only after it has joined the others, so its `reaped` may come late).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from app import events
from app.events import Event
from app.i18n import N_
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.state import ConsoleLine, ProgramState

VERSIONS = ("thread", "process")
PREFIX = {"thread": "thr", "process": "proc"}
ROLES = ("main", "normal", "daemon")
LINES_KEPT = 8
SIGTERM_SAID = "daemon process got SIGTERM"

LABELS = {
    ("thread", "main"): N_("main thread"),
    ("thread", "normal"): N_("normal thread"),
    ("thread", "daemon"): N_("daemon thread"),
    ("process", "main"): N_("main process"),
    ("process", "normal"): N_("normal process"),
    ("process", "daemon"): N_("daemon process"),
}


@dataclass
class Track:
    program: str  # thread | process
    role: str  # main | normal | daemon
    pid: int = 0
    tid: int = 0
    start: float | None = None  # its first sign of life
    over: float | None = None  # when it printed "... is over"
    code_end: float | None = None  # main only: its code's last line
    end: float | None = None  # its end, or its process's
    exitcode: int | None = None
    signal: str = ""
    with_run: bool = False  # still there when the run was stopped: it ended then

    @property
    def name(self) -> str:
        return f"{PREFIX[self.program]}-{self.role}"  # thr-main, proc-daemon...

    @property
    def label(self) -> str:
        """Its name in words (English: look it up with `_` where shown)."""
        return LABELS[self.program, self.role]

    def seen(self, t: float) -> None:
        if self.start is None or t < self.start:
            self.start = t

    def ended(self, t: float) -> None:
        if self.end is None or t < self.end or self.with_run:  # its own end, said late
            self.end, self.with_run = t, False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["program"], out["role"]
        return out | {"signal": self.signal or None}


def _tracks() -> dict[str, Track]:
    tracks = [Track(program, role) for program in VERSIONS for role in ROLES]
    return {track.name: track for track in tracks}


@dataclass
class DaemonState(ProgramState):
    tracks: dict[str, Track] = field(default_factory=_tracks)
    # pid -> the version it belongs to (a version's main and its children)
    version_of: dict[int, str] = field(default_factory=dict)
    born: dict[int, float] = field(default_factory=dict)  # pid -> its `proc` event
    output: dict[str, deque[ConsoleLine]] = field(
        default_factory=lambda: {v: deque(maxlen=LINES_KEPT) for v in VERSIONS}
    )

    def track(self, program: str, role: str) -> Track:
        return self.tracks[f"{PREFIX[program]}-{role}"]

    def lesson_counters(self) -> dict[str, Any]:
        return {
            f"{name}_end": round(track.end, 3) if track.end is not None else None
            for name, track in self.tracks.items()
        }

    def lesson(self) -> dict[str, Any]:
        return {"timeline": {name: t.to_dict() for name, t in self.tracks.items()}}


def _named(state: DaemonState, name: str) -> Track | None:
    """The daemon thread's track for a worker named "daemon thread" (or a
    label ending with it), and so on; None for any other name."""
    role, _, program = name.rsplit("/", 1)[-1].partition(" ")
    if role in ("daemon", "normal") and program in VERSIONS:
        return state.track(program, role)
    return None


def _found(state: DaemonState, track: Track, pid: int, tid: int, t: float) -> None:
    """`track` is the thread `tid` of the process `pid`, there at `t`."""
    track.pid, track.tid = pid, tid
    if track.program == "process":
        state.version_of[pid] = track.program
    track.seen(t)


def _version(state: DaemonState, program: str, pid: int) -> None:
    """`pid` is the main of the `program` version."""
    if state.version_of.get(pid) == program:
        return
    state.version_of[pid] = program
    main = state.track(program, "main")
    main.pid = pid
    main.tid = main.tid or pid
    if pid in state.born:
        main.seen(state.born[pid])


def _started(state: DaemonState, e: Event) -> None:
    """A version's main started its daemon or normal thread or process."""
    d = e.data or {}
    track = _named(state, e.item or "")
    if track is None:
        return
    _version(state, track.program, e.pid)
    if track.program == "thread":
        _found(state, track, e.pid, int(d.get("tid") or track.tid), e.t)
    else:
        pid = int(d.get("pid") or track.pid)
        _found(state, track, pid, track.tid or pid, e.t)


def _announced(state: DaemonState, e: Event) -> None:
    """A process or thread's first event: its own name says who it is."""
    d = e.data or {}
    if e.kind == K.PROC:
        state.born.setdefault(e.pid, e.t)
    track = _named(state, str(d.get("name", "")))
    if track is None:
        return
    if track.program == "process" and e.kind == K.PROC:
        _found(state, track, e.pid, e.pid, e.t)
    elif track.program == "thread" and e.kind == K.THREAD and not d.get("main"):
        _found(state, track, e.pid, e.tid, e.t)


def _tracks_of(state: DaemonState, pid: int) -> list[Track]:
    return [t for t in state.tracks.values() if t.pid == pid]


def _end(state: DaemonState, e: Event) -> None:
    d = e.data or {}
    program = state.version_of.get(e.pid)
    if program is None:
        return
    main = state.track(program, "main")
    if "daemon_threads" in d:  # a process's main code ended
        if e.pid == main.pid:
            main.code_end = e.t
        return
    for track in _tracks_of(state, e.pid):  # a thread's run ended
        if track.tid == e.tid and track.role != "main":
            track.ended(e.t)


def _exit(state: DaemonState, e: Event) -> None:
    """A process ended on its own: with it, every thread of it still there."""
    code = (e.data or {}).get("exitcode")
    for track in _tracks_of(state, e.pid):
        track.ended(e.t)
        if track.tid == e.pid and code is not None:
            track.exitcode = int(code)


def _reaped(state: DaemonState, e: Event) -> None:
    """A version's main collected a child: its exit code (and signal)."""
    d = e.data or {}
    pid = int(d.get("pid") or 0)
    for track in _tracks_of(state, pid):
        track.ended(e.t)
        if d.get("exitcode") is not None:
            track.exitcode = int(d["exitcode"])
        track.signal = str(d.get("signal") or "")


def _line(state: DaemonState, line: ConsoleLine) -> None:
    w = state.workers.get(line.worker)
    program = state.version_of.get(w.pid) if w is not None else None
    if program is None:  # the top-level program's own lines and relays
        return
    state.output[program].append(line)
    text = line.text.strip()
    if text.endswith(" is over"):
        track = _named(state, text.removesuffix(" is over"))
        if track is not None:
            track.over = line.t
    elif text == SIGTERM_SAID:  # its last sign of life
        state.track("process", "daemon").ended(line.t)


def _run_ended(state: DaemonState, t: float) -> None:
    """The run ended (a Stop, its time limit): what was still there ended
    with it, whatever its process says of it later, if anything."""
    for track in state.tracks.values():
        if track.start is not None and track.end is None:
            track.end, track.with_run = t, True


def overlay(state: Any, event: Event) -> None:
    kind = event.kind
    if kind == events.RUN_END:
        _run_ended(state, event.t)
    elif kind in (K.START_THREAD, K.SPAWN):
        _started(state, event)
    elif kind in (K.PROC, K.THREAD):
        _announced(state, event)
    elif kind == K.END:
        _end(state, event)
    elif kind == K.EXIT:
        _exit(state, event)
    elif kind == K.REAPED:
        _reaped(state, event)
    for line in state.printed:
        if line.stream == "stdout":
            _line(state, line)
