"""Run a program under the tracer, as the server does, and keep its events.

`trace(source)` writes the program into a temporary directory, starts it
with `app.programs.launch`, reads its event FIFO until the program's whole
process group is gone, and returns what happened: the events (in the order
they arrived), the exit code, and the output files.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from app import events
from app.programs.boot.concviz_tracer import segments
from app.programs.fifo import EventFifo
from app.programs.launch import STDERR_FILE, STDOUT_FILE, TraceOptions, launch
from app.programs.model import fold_all
from app.programs.state import ProgramState


class Ev(NamedTuple):
    t: int
    worker: str
    pid: int
    tid: int
    kind: str
    item: Any
    data: dict[str, Any]


def group_pids(pgid: int) -> list[int]:
    """The processes (zombies included) of a process group, from /proc."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # state, ppid, pgrp
            out.append(int(name))
    return out


@dataclass
class Traced:
    events: list[Ev]
    returncode: int
    stdout: str
    stderr: str
    pgid: int
    workdir: Path
    left: list[int] = field(default_factory=list)
    source: str = ""

    def line(self, text: str, nth: int = 1) -> int:
        """The number of the `nth` line of the main script holding `text`."""
        found = [k for k, line in enumerate(self.source.splitlines(), 1) if text in line]
        assert len(found) >= nth, (text, found)
        return found[nth - 1]

    def of(self, kind: str, item: Any = None) -> list[Ev]:
        return [e for e in self.events if e.kind == kind and (item is None or e.item == item)]

    def one(self, kind: str, item: Any = None) -> Ev:
        found = self.of(kind, item)
        assert len(found) == 1, (kind, item, found)
        return found[0]

    def key(self, name: str) -> str:
        """The key of the object the program named `name`."""
        keys = [e.item for e in self.of("new") if e.data["name"] == name]
        assert len(keys) == 1, (name, [e.data for e in self.of("new")])
        return str(keys[0])

    def new(self, name: str) -> dict[str, Any]:
        return self.one("new", self.key(name)).data

    def on(self, key: str) -> list[Ev]:
        return [e for e in self.events if e.item == key]

    def kinds_on(self, key: str) -> list[str]:
        return [e.kind for e in self.on(key)]

    def by(self, worker: str) -> list[Ev]:
        return [e for e in self.events if e.worker == worker]

    def workers(self) -> set[str]:
        return {e.worker for e in self.events}

    def printed(self, worker: str | None = None) -> str:
        return "".join(
            e.data["text"]
            for e in self.of("out")
            if (worker is None or e.worker == worker) and e.data["stream"] == "stdout"
        )

    def index(self, kind: str, item: Any = None, worker: str | None = None) -> int:
        for k, e in enumerate(self.events):
            if (
                e.kind == kind
                and (item is None or e.item == item)
                and (worker is None or e.worker == worker)
            ):
                return k
        raise AssertionError(f"no {kind} {item} {worker}")


def _drain(fifo: EventFifo, into: list[Ev], wait: float) -> bool:
    try:
        batch = fifo.get(timeout=wait)
    except queue.Empty:
        return False
    into.extend(Ev(*raw) for raw in batch)
    return True


@contextlib.contextmanager
def started(
    source: str,
    *args: str,
    files: dict[str, str] | None = None,
    memory_bytes: int | None = None,
    stdin: str = "",
) -> Iterator[tuple[Any, EventFifo, int, Path]]:
    """A program started under the tracer: (its Popen, the FIFO, the write
    end of its life pipe, its directory). Everything is removed after."""
    workdir = Path(tempfile.mkdtemp(prefix="traced-"))
    (workdir / "main.py").write_text(textwrap.dedent(source), encoding="utf-8")
    for name, text in (files or {}).items():
        (workdir / name).write_text(textwrap.dedent(text), encoding="utf-8")
    fifo = EventFifo(workdir)
    life_r, life_w = os.pipe()
    proc = None
    try:
        proc = launch(
            "main.py",
            list(args),
            workdir,
            fifo.path,
            TraceOptions(life_fd=life_r, memory_bytes=memory_bytes),
            stdin_text=stdin,
        )
        os.close(life_r)
        life_r = -1
        yield proc, fifo, life_w, workdir
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for fd in (life_r, life_w):
            with contextlib.suppress(OSError):
                if fd >= 0:
                    os.close(fd)
        fifo.close()
        # Killed with its resource tracker: what it left in /dev/shm goes, as
        # a run's directory takes it (`RunDir.remove`).
        segments.unlink_marked(str(workdir))
        shutil.rmtree(workdir, ignore_errors=True)


def seen(kind: str, worker: str | None = None) -> Callable[[list[Ev]], bool]:
    """For `collect(until=...)`: stop once an event of `kind` came (from
    `worker`)."""
    return lambda events: any(e.kind == kind and worker in (None, e.worker) for e in events)


def collect(
    proc: Any, fifo: EventFifo, workdir: Path, timeout: float = 60.0, until: Any = None
) -> Traced:
    """Read events until the program's process group is gone (or `until`,
    given the events so far, says stop)."""
    events: list[Ev] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _drain(fifo, events, 0.05)
        if until is not None and until(events):
            break
        if proc.poll() is not None and not group_pids(proc.pid):
            while _drain(fifo, events, 0.05):
                pass
            break
    else:
        raise AssertionError(f"the program did not end in {timeout} s: {events[-5:]}")
    left = group_pids(proc.pid)
    return Traced(
        events=events,
        returncode=proc.poll() if proc.poll() is not None else -999,
        stdout=(workdir / STDOUT_FILE).read_text(encoding="utf-8", errors="replace"),
        stderr=(workdir / STDERR_FILE).read_text(encoding="utf-8", errors="replace"),
        pgid=proc.pid,
        workdir=workdir,
        left=left,
    )


# For a program that must wait until the test has seen something happen:
# it waits for a file named "go" in its directory, which the test makes then.
WAIT_FOR_GO = """
import os, select

def wait_for_go():
    while not os.path.exists("go"):
        select.select([], [], [], 0.005)  # not time.sleep: no event
"""


def trace(
    source: str,
    *args: str,
    files: dict[str, str] | None = None,
    timeout: float = 60.0,
    check: bool = True,
    memory_bytes: int | None = None,
    go_when: Callable[[list[Ev]], bool] | None = None,
    stdin: str = "",
) -> Traced:
    """Run `source` as ``main.py`` under the tracer; all its events. With
    `check`, the program must have exited with 0. `go_when`: once the
    events so far satisfy it, make the file ``go`` the program waits for
    (``from gate import wait_for_go``). `stdin`: what the program reads."""
    files = dict(files or {})
    if go_when is not None:
        files["gate.py"] = WAIT_FOR_GO
    with started(source, *args, files=files, memory_bytes=memory_bytes, stdin=stdin) as (
        proc,
        fifo,
        life,
        wd,
    ):
        before: list[Ev] = []
        if go_when is not None:
            before = collect(proc, fifo, wd, timeout, until=go_when).events
            (wd / "go").touch()
        run = collect(proc, fifo, wd, timeout)
        run.events[:0] = before
        run.source = (wd / "main.py").read_text(encoding="utf-8")
    if check:
        assert run.returncode == 0, (run.returncode, run.stderr)
    return run


# The stage of a traced run, folded as the server folds it.


def folded_events(evs: list[Ev]) -> ProgramState:
    raws = sorted(evs, key=lambda e: e.t)
    return fold_all(events.from_raw(tuple(e), n, raws[0].t) for n, e in enumerate(raws, 1))


def folded(run: Traced) -> ProgramState:
    return folded_events(run.events)


def looking(when: Callable[[list[Ev]], bool], looked: list[ProgramState]) -> Any:
    """A `go_when` that, once `when` holds, keeps the stage as it is then."""

    def go(evs: list[Ev]) -> bool:
        if when(evs):
            looked.append(folded_events(evs))
            return True
        return False

    return go
