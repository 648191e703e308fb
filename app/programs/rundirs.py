"""Directories a server makes for what it starts (`RunDir`: a run's), and
the sweep of those a killed server left.

A server names each of its directories `<server pid>-...`, under a base
directory of one user (another user's server on the same machine has its
own). A server killed with SIGKILL cleans up nothing: the next server finds
the directories whose owner is gone (`left_behind`) and removes them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.programs import procfs, semtemps
from app.programs.boot.concviz_tracer import segments
from app.programs.controls import Controls
from app.programs.fifo import EventFifo
from app.programs.output import OutputFiles
from app.programs.session import end_escaped

# In a run's directory, the program's own: it runs there (`launch`).
PROGRAM_DIR = "program"
# Where programs' runs have their directories.
BASE_DIR = Path(tempfile.gettempdir()) / f"concviz-programs-{os.getuid()}"


def left_behind(base: Path) -> Iterator[Path]:
    """The directories under `base` whose server is gone."""
    with contextlib.suppress(FileNotFoundError):
        for entry in base.iterdir():
            owner = entry.name.split("-", 1)[0]
            if owner.isdigit() and not procfs.alive(int(owner)):
                yield entry


def sweep() -> None:
    """End what is left of the programs of servers that are gone (those
    that left their session: the others went with their server), and
    remove their run directories."""
    for entry in list(left_behind(BASE_DIR)):
        end_escaped(entry)
        segments.unlink_marked(str(entry))
        semtemps.unlink_left_since(_made_s(entry))
        shutil.rmtree(entry, ignore_errors=True)


def _made_s(run_dir: Path) -> float:
    """About when a run's directory was made: the time of its oldest file
    (the program's, written first and never again)."""
    times: list[float] = []
    for folder in (run_dir, run_dir / PROGRAM_DIR):
        with contextlib.suppress(OSError):
            times += [p.stat().st_mtime for p in (folder, *folder.iterdir())]
    return min(times, default=float("inf"))


class RunDir:
    """One run's directory, made whole: the program's file, the FIFO its
    tracers write to, its output files and the files that steer it. The
    run's processes start in it; `remove` takes it all away."""

    def __init__(self, script_name: str, script: str, speed: float, live: dict[str, Any]) -> None:
        BASE_DIR.mkdir(mode=0o700, exist_ok=True)
        self.made_s = time.time()
        self.path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=BASE_DIR))
        try:
            # A directory of its own: what the program lists there is its own.
            (self.path / PROGRAM_DIR).mkdir()
            self.script = self.path / PROGRAM_DIR / script_name
            self.script.write_text(script, encoding="utf-8")
            self.fifo = EventFifo(self.path)
            self.output = OutputFiles(self.path)
            self.controls = Controls(self.path, speed, live)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        """Called once the run's processes are gone. The shared memory
        segments the program made and never unlinked go too: Python's
        resource tracker unlinks them as a program ends, but not when it
        was killed with the program; so do the named semaphores (marked
        too) and what a process killed while it made one left
        (`semtemps`)."""
        if hasattr(self, "fifo"):
            self.fifo.close()
        segments.unlink_marked(str(self.path))
        semtemps.unlink_left_since(self.made_s)
        shutil.rmtree(self.path, ignore_errors=True)
