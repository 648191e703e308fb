"""Waits in the kernel, read from /proc: the calls a line names, and a real
command that fills its pipe found waiting by the runtime's sampler."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from app.programs import procfs, syscalls
from app.programs.stalls import Sampler


def test_a_syscall_line_tells_the_wait_on_both_machines() -> None:
    # write(1, buf, 200000) on x86_64; read(5, ...) and wait4(-1) on aarch64
    write = syscalls.parse("1 0x1 0x7f2eb11e7030 0x30d40 0x0 0x0 0x0 0x7fff3c 0x7f2e", "x86_64")
    assert write == syscalls.Call("write", "write", fd=1)
    read = syscalls.parse("63 0x5 0xffff9000 0x2000 0x0 0x0 0x0 0xffffd0 0xffff80", "aarch64")
    assert read == syscalls.Call("read", "read", fd=5)
    child = syscalls.parse("260 0xffffffff 0xffffd0 0x0 0x0 0x0 0x0 0xffffd0 0xffff80", "aarch64")
    assert child == syscalls.Call("child", "wait4", child=-1)
    # waitid(P_PID, 4242, ...)
    assert syscalls.parse("247 0x1 0x1092 0x7ffc 0x4 0x0 0x0 0x7ffc 0x7f", "x86_64") == (
        syscalls.Call("child", "waitid", child=4242)
    )
    assert syscalls.parse("7 0x7ffc 0x2 0xffffffff 0x0 0x0 0x0 0x7ffc 0x7f", "x86_64") == (
        syscalls.Call("poll", "poll")
    )
    # Running, out of any call, a lock's futex, or a machine not known: nothing.
    assert syscalls.parse("running", "x86_64") is None
    assert syscalls.parse("-1 0x7ffc 0x7f", "x86_64") is None
    assert syscalls.parse("202 0x7f 0x80 0x0 0x0 0x0 0x0 0x7ffc 0x7f", "x86_64") is None
    assert syscalls.parse("0 0x5 0x0 0x10 0x0 0x0 0x0 0x7ffc 0x7f", "riscv64") is None
    assert [syscalls.file_kind(x) for x in ("pipe:[12]", "socket:[3]", "/dev/pts/1", "/tmp/a")] == [
        "pipe",
        "socket",
        "tty",
        "file",
    ]


def test_a_command_that_fills_its_pipe_is_found_waiting_to_write_where_its_reader_is() -> None:
    """What the runtime samples: `seq` writes more than a pipe holds, and
    this process, which holds the read end, does not read yet."""
    p = subprocess.Popen(["seq", "1000000"], stdout=subprocess.PIPE)
    try:
        sampler = Sampler()
        found: list[dict[str, object]] = []
        deadline = time.monotonic() + 10
        while not any(s["pid"] == p.pid for s in found):
            assert time.monotonic() < deadline, found
            time.sleep(0.02)
            found = sampler.sample(procfs.members(os.getsid(0))) or []  # with seq in it
        seq = next(s for s in found if s["pid"] == p.pid)
        assert seq["tid"] == p.pid
        assert (seq["wait"], seq["call"], seq["fd"]) == ("write", "write", 1)
        assert (seq["file"], seq["std"]) == ("pipe", "stdout")
        assert seq["ends"] == [os.getpid()]  # the read end: this process's only
    finally:
        p.kill()
        p.communicate()


# A ping-pong with cat: each side spends nearly all its time in a read with
# the same arguments (a buffered reader's own buffer), yet both run.
PING_PONG = """
import subprocess
p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
while True:
    p.stdin.write(b"x\\n")
    p.stdin.flush()
    p.stdout.readline()
"""


def test_a_loop_of_short_reads_is_not_a_wait() -> None:
    """Its syscall line is nearly always the same read; but it runs in between."""
    p = subprocess.Popen([sys.executable, "-c", PING_PONG], start_new_session=True)
    try:
        sampler = Sampler()
        seen = 0
        for _ in range(20):
            time.sleep(0.05)
            found = procfs.members(p.pid)  # its session: it and its cat
            seen = max(seen, len(found))
            assert sampler.sample(found) in (None, []), found
        assert seen == 2
    finally:
        os.killpg(p.pid, 9)
        p.wait()
