"""How a program is started under the tracer, and the FIFO its events come by."""

from __future__ import annotations

import os
import queue
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from app.programs.boot.concviz_tracer import wire
from app.programs.fifo import EventFifo
from app.programs.launch import BOOT_DIR, TraceOptions, launch, program_env


def test_the_programs_environment_puts_the_tracer_first_and_says_where_events_go(
    tmp_path: Path,
) -> None:
    base = {
        "PATH": "/usr/bin",
        "PYTHONPATH": "/somewhere",
        "CONCVIZ_TRACE_ROOT": "123",  # left by some other run: not this one's
    }
    env = program_env(
        "main.py", tmp_path, tmp_path / "events.fifo", TraceOptions(life_fd=7), base=base
    )
    assert env["PYTHONPATH"] == os.pathsep.join([str(BOOT_DIR), "/somewhere"])
    assert env["PATH"] == "/usr/bin"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["CONCVIZ_TRACE_FIFO"] == str(tmp_path / "events.fifo")
    assert env["CONCVIZ_TRACE_USER_DIR"] == str(tmp_path)
    assert env["CONCVIZ_TRACE_MAIN"] == str(tmp_path / "main.py")
    assert env["CONCVIZ_TRACE_LIFE_FD"] == "7"
    assert "CONCVIZ_TRACE_ROOT" not in env
    assert "CONCVIZ_TRACE_MEMORY_BYTES" not in env


def test_bad_launch_values_are_refused_with_the_field_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory_bytes must be at least 1"):
        TraceOptions(memory_bytes=0)
    with pytest.raises(ValueError, match="life_fd must be a file descriptor"):
        TraceOptions(life_fd=-1)
    with pytest.raises(ValueError, match="args must be strings"):
        launch("main.py", [1], tmp_path, tmp_path / "f")  # type: ignore[list-item]


def test_without_a_fifo_to_write_to_the_boot_directory_changes_nothing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCVIZ_TRACE_")}
    env["PYTHONPATH"] = str(BOOT_DIR)
    probe = "import sys; print('concviz_tracer' in sys.modules, print.__module__)"
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout == "False builtins\n"


def test_the_fifo_reads_whole_batches_and_refuses_what_is_no_frame(tmp_path: Path) -> None:
    fifo = EventFifo(tmp_path)
    try:
        with pytest.raises(queue.Empty):
            fifo.get(timeout=0.01)
        fd = os.open(fifo.path, os.O_WRONLY)
        try:
            batch = [(1, "main", 2, 3, "out", None, {"text": "x" * 10_000})]
            for message in wire.messages(wire.encode(batch), 2, 3):
                os.write(fd, message)
            assert fifo.get(timeout=5) == batch
            # Its writer gone, the FIFO is still open: the reader waits on.
            os.close(fd)
            fd = -1
            with pytest.raises(queue.Empty):
                fifo.get(timeout=0.01)
            fd = os.open(fifo.path, os.O_WRONLY)
            os.write(fd, struct.pack("!i", 1 << 30))  # a length no frame has
            with pytest.raises(OSError, match="bad message length"):
                fifo.get(timeout=5)
        finally:
            if fd >= 0:
                os.close(fd)
    finally:
        fifo.close()
    assert not fifo.path.exists()
    fifo.close()  # twice is fine
