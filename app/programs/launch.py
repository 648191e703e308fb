"""Start a user's program under the tracer.

The program runs as ``python -X utf8 script [args]`` in its own session (so
that a stop can end its whole process group), in its own working
directory, reading the text it was given (or nothing) on stdin. The tracer
gets in through `BOOT_DIR` on ``PYTHONPATH`` (its ``sitecustomize`` runs
first in every Python process of the program) and learns where to send
events from the environment (`program_env`). What the program's processes
write from Python reaches the server as events; ``stdout.txt`` and
``stderr.txt`` in the working directory catch everything else written
(`app.programs.output`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BOOT_DIR = Path(__file__).resolve().parent / "boot"

# The variables the tracer reads (app/programs/boot/concviz_tracer/setup.py).
FIFO = "CONCVIZ_TRACE_FIFO"
USER_DIR = "CONCVIZ_TRACE_USER_DIR"
MAIN = "CONCVIZ_TRACE_MAIN"
LIFE_FD = "CONCVIZ_TRACE_LIFE_FD"
MEMORY_BYTES = "CONCVIZ_TRACE_MEMORY_BYTES"
GATE = "CONCVIZ_TRACE_GATE"  # step mode's gate file (concviz_tracer/gate.py)
LIVE = "CONCVIZ_TRACE_LIVE"  # a lesson's live settings (concviz_live.py)
CALLS = "CONCVIZ_TRACE_CALLS"  # and the directory of its calls
PREFIX = "CONCVIZ_TRACE_"
# The directory of the run's output files: Python's writes to sys.stdout and
# sys.stderr that would land in them reach the server as events only, and
# the files keep the rest (`app.programs.output`).
NO_ECHO = "CONCVIZ_TRACE_NO_ECHO"

STDOUT_FILE = "stdout.txt"
STDERR_FILE = "stderr.txt"
# The program's temporary files (its TMPDIR: a Manager's socket, say), gone
# with its directory even when its processes were killed. Not where that
# path would be too long for a socket's name under it (108 bytes at most).
TMP_DIR = "tmp"
TMP_DIR_MAX = 60


StrPath = str | os.PathLike[str]


@dataclass(frozen=True)
class TraceOptions:
    """What a run hands its traced program besides the script.

    `life_fd`: the read end of a pipe whose write end the caller keeps; the
    program's whole process group is killed when it reads end-of-file
    there (the caller closed it, or died). `memory_bytes`: the address
    space each of its processes may have (``RLIMIT_AS``). `gate_path`: step
    mode's gate file (its directory holds ``permits/``). `live_path`,
    `calls_dir`: a lesson's live settings and calls (``concviz_live``).
    `extra_env`: what the run needs from outside (the broker's address)."""

    life_fd: int | None = None
    memory_bytes: int | None = None
    gate_path: StrPath | None = None
    live_path: StrPath | None = None
    calls_dir: StrPath | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.memory_bytes is not None and self.memory_bytes < 1:
            raise ValueError(f"memory_bytes must be at least 1 (got {self.memory_bytes})")
        if self.life_fd is not None and self.life_fd < 0:
            raise ValueError(f"life_fd must be a file descriptor, 0 or more (got {self.life_fd})")

    def env(self) -> dict[str, str]:
        """The tracer's variables for these options."""
        named = {
            LIFE_FD: self.life_fd,
            MEMORY_BYTES: self.memory_bytes,
            GATE: self.gate_path,
            LIVE: self.live_path,
            CALLS: self.calls_dir,
        }
        out = {k: str(v) for k, v in named.items() if isinstance(v, int)}
        out |= {k: os.path.abspath(v) for k, v in named.items() if isinstance(v, str | os.PathLike)}
        return out


def program_env(
    script: StrPath,
    workdir: StrPath,
    fifo_path: StrPath,
    options: TraceOptions = TraceOptions(),
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a traced program: `base` (default: this
    process's), with the boot directory first on ``PYTHONPATH``, unbuffered
    output, and the tracer's settings (any left over from `base` removed);
    then `options`' own, and last its `extra_env`."""
    env = {k: v for k, v in (os.environ if base is None else base).items()}
    for name in [k for k in env if k.startswith(PREFIX)]:
        del env[name]
    paths = [str(BOOT_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env[FIFO] = os.fspath(fifo_path)
    env[NO_ECHO] = os.path.abspath(workdir)
    env[MAIN] = main = os.path.abspath(os.path.join(workdir, script))
    env[USER_DIR] = os.path.dirname(main)
    tmp = os.path.join(os.path.abspath(workdir), TMP_DIR)
    if len(tmp) <= TMP_DIR_MAX:
        env["TMPDIR"] = tmp
    env.update(options.env())
    env.update(options.extra_env)
    return env


def launch(
    script_path: StrPath,
    args: Sequence[str],
    workdir: StrPath,
    fifo_path: StrPath,
    options: TraceOptions = TraceOptions(),
    *,
    stdin_text: str = "",
) -> subprocess.Popen[bytes]:
    """Start ``script_path`` (relative paths are taken in `workdir`) with
    `args`, traced with `options`, in the script's directory: its output
    files are in `workdir`. `stdin_text`: what it reads on stdin (a file
    without a name, so the program's directory holds only its own files);
    nothing by default."""
    if not all(isinstance(a, str) for a in args):
        raise ValueError("args must be strings")
    script = os.path.abspath(os.path.join(workdir, script_path))
    env = program_env(script, workdir, fifo_path, options)
    os.makedirs(os.path.join(workdir, TMP_DIR), mode=0o700, exist_ok=True)
    with (
        open(os.path.join(workdir, STDOUT_FILE), "wb") as out,
        open(os.path.join(workdir, STDERR_FILE), "wb") as err,
        tempfile.TemporaryFile(dir=workdir) if stdin_text else open(os.devnull, "rb") as given,
    ):
        if stdin_text:
            given.write(stdin_text.encode("utf-8"))
            given.seek(0)
        # Started as `python week3.py` in its directory: its sys.argv[0] (a
        # usage line) is the program's name, not a path here.
        return subprocess.Popen(
            [sys.executable, "-X", "utf8", os.path.basename(script), *args],
            cwd=os.path.dirname(script),
            env=env,
            stdin=given,
            stdout=out,
            stderr=err,
            start_new_session=True,
            pass_fds=() if options.life_fd is None else (options.life_fd,),
        )
