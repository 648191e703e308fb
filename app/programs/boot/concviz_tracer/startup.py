"""Install the tracer in this process, from what the server put in the
environment (``app/programs/launch.py`` sets it; children inherit it)."""

from __future__ import annotations

import _thread
import os
import sys

from . import (
    commands,
    fds,
    gate,
    loops,
    objects,
    outlet,
    processes,
    recorder,
    signals,
    stdio,
    where,
    workers,
)

ROOT = "CONCVIZ_TRACE_ROOT"  # set by the program's first process: the others see it


def install() -> None:
    env = os.environ
    fifo = env.get("CONCVIZ_TRACE_FIFO")
    if not fifo:
        return
    first = ROOT not in env
    if first:
        env[ROOT] = str(os.getpid())
    memory = env.get("CONCVIZ_TRACE_MEMORY_BYTES")
    if memory:
        import resource

        limit = int(memory)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    life = env.pop("CONCVIZ_TRACE_LIFE_FD", None)
    if life is not None and first:
        fd = int(life)
        os.set_inheritable(fd, False)
        _thread.start_new_thread(_watch_life, (fd,))
    command = env.pop(commands.COMMAND, None) is not None
    where.configure(
        env.get("CONCVIZ_TRACE_USER_DIR", ""),
        env.get("CONCVIZ_TRACE_MAIN", ""),
        command_code=command and sys.argv[:1] == ["-c"],
    )
    method = "spawn" if "--multiprocessing-fork" in sys.argv else None
    recorder.configure(fifo, first, method)
    gate_path = env.get(gate.ENV)
    if gate_path:
        gate.open_gate(gate_path)
    stdio.install()
    signals.install()
    workers.install()
    processes.install()
    commands.install()
    loops.install()
    fds.install()
    objects.install()
    if first or command:
        # On the stage at once, before its first traced call: a program
        # that computes (or waits for input) for a while is there, with
        # its pid, meanwhile.
        recorder.announce()
        recorder.flush()


def _watch_life(fd: int) -> None:
    """Wait for end-of-file on the life pipe: the server is gone (it closed
    its end, or died), and so must the program be."""
    outlet.hide_from_signals()
    try:
        while os.read(fd, 64):
            pass
    except OSError:  # the program closed this descriptor itself: stop watching
        return
    outlet.kill_group()
