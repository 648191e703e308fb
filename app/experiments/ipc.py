"""Pipes, files, sockets and shared memory, measured live (part 2 of the lecture).

The lecture lists four ways for processes to talk and says something about
each: a pipe is one-way, a file holds any amount but is slow, a socket takes
more code, shared memory is fast but small. This experiment measures them,
with `multiprocessing.Queue` for reference, and puts each claim next to
what this machine measured.

::

    main (a real process)                       for each mechanism in turn
    ---------------------                       --------------------------
    memory copy in one process (the limit)
    set up the link --fork--> R<k> receiver      S<k> sender
                     --fork-------------------->   round trips: msg -----> echo
                                                                <-------
                                                   one way:     msg, msg, ... -> check
                                                                <------------ end
    wait for both, clean up, next mechanism

Every message is `payload_bytes` long and carries its sequence number in its
first and last eight bytes; the receiver compares every message byte for byte
with what the sender must have sent (a memcmp is faster than any checksum and
misses nothing). An all-ones sequence number ends a phase.

Cleanup by construction, so that even a main killed outright (its server
died) leaves nothing: the temporary files never have a name
(`TemporaryFile`); the shared-memory segment and the socket file (with its
directory) lose their names as soon as both processes hold them, a few
milliseconds after they were made. A socket directory left in that window is
removed by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import math
import multiprocessing
import multiprocessing.connection
import os
import queue
import random
import re
import shutil
import signal
import socket
import stat
import string
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app import events, model
from app.events import Event
from app.experiments.spec import Experiment, Role
from app.i18n import N_, _
from app.instrument import Stopped
from app.worker import Worker, start_process

SLUG = "ipc"
KiB = 1024
MiB = 1024 * KiB

# Event kinds.
PLAN = "plan"  # main: data: mechanisms, payload_bytes, messages, budget_ms, facts
SETUP = "setup"  # main: item: mechanism; data: sender, receiver, calls and what was made
READY = "ready"  # a child: item: mechanism; data: calls it made to connect
PROGRESS = "progress"  # item: mechanism; data: phase, done
ROUND_TRIPS = "round_trips"  # sender: item: mechanism; data: count, p50_us, p99_us, bad, ...
ONE_WAY = "one_way"  # sender: item: mechanism; data: messages, bytes, seconds, stopped_by
VERIFIED = "verified"  # receiver: item: mechanism; data: messages, bytes, bad
RESULT = "result"  # main: item: mechanism; data: outcome (ok|failed|skipped|stopped), reason

# Phases, as PROGRESS and the cards name them.
CONNECTING = "connecting"
ROUND_TRIP_PHASE = "round_trips"
ONE_WAY_PHASE = "one_way"

# Tuning.
POLL_S = 0.05  # blocking waits wake this often to see a Stop
PROGRESS_EVERY_NS = (
    100_000_000  # a progress event per 100 ms: the page moves, the run does not slow
)
PARTNER_GRACE_S = 0.5  # when one side dies, how long the other gets to notice by itself
FILE_ROOM = 512 * MiB  # a temporary file grows to at most this (or a quarter of the free space)
RUN_DIR_PREFIX = "concviz-ipc-"

END = 0xFFFF_FFFF_FFFF_FFFF
_SEQ = struct.Struct("<Q")
_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
_fork = multiprocessing.get_context("fork")

# Keys of what main hands its children (inherited through fork, never pickled).
_KEY, _LINK, _TEMPLATE = "_mechanism", "_link", "_template"


@dataclass(frozen=True)
class Mechanism:
    key: str
    label: str
    way: str  # the lecture's way it belongs to
    how: str


# Labels are looked up with _() where shown: the words are translated, code
# stays code (shared_memory, a choice of the form too, reads as words there).
MEMCPY = Mechanism("memcpy", N_("memory copy"), "limit", "one process copies its own memory")
MECHANISMS = (
    Mechanism("os_pipe", "os.pipe()", "pipe", "two one-way pipes, one per direction"),
    Mechanism("mp_pipe", "multiprocessing.Pipe()", "pipe", "one two-way connection"),
    Mechanism("file", N_("temporary file"), "file", "written by one process, read by the other"),
    Mechanism("unix_socket", N_("AF_UNIX socket"), "socket", "bound to a socket file"),
    Mechanism("tcp_socket", N_("TCP on 127.0.0.1"), "socket", "the loopback network"),
    Mechanism("shared_memory", "shared_memory", "shared memory", "a segment and semaphores"),
    Mechanism("mp_queue", "multiprocessing.Queue", "queue", "pickles through a pipe"),
)
BY_KEY = {m.key: m for m in (MEMCPY, *MECHANISMS)}
GROUPS: dict[str, tuple[str, ...]] = {
    "all": tuple(m.key for m in MECHANISMS),
    "pipe": ("os_pipe", "mp_pipe"),
    "file": ("file",),
    "socket": ("unix_socket", "tcp_socket"),
    "shared_memory": ("shared_memory",),
    "queue": ("mp_queue",),
}


# The choices of the form, looked up with _() where shown.
GROUP_NAMES = (
    N_("all"),
    N_("pipe"),
    N_("file"),
    N_("socket"),
    N_("shared_memory"),
    N_("queue"),
)

PAYLOAD_MIN, PAYLOAD_MAX = 64, 64 * MiB


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mechanisms: Literal["all", "pipe", "file", "socket", "shared_memory", "queue"] = Field(
        "all",
        title=N_("Mechanisms"),
        description=N_(
            "all, or one of the lecture's ways (pipe and socket measure two kinds each)"
        ),
    )
    payload_bytes: int = Field(
        MiB,
        ge=PAYLOAD_MIN,
        le=PAYLOAD_MAX,
        title=N_("Message size (bytes)"),
        description=N_("64 (64 B) to 67108864 (64 MiB); 1048576 is 1 MiB"),
    )
    messages: int = Field(
        5000,
        ge=1,
        le=100_000,
        title=N_("Messages per phase"),
        description=N_("at most this many round trips, then this many one-way messages"),
    )
    budget_ms: int = Field(
        500,
        ge=10,
        le=5000,
        title=N_("Time per phase (ms)"),
        description=N_("a phase also ends after this long, whichever comes first"),
    )

    @model_validator(mode="before")
    @classmethod
    def _payload_in_words(cls, data: Any) -> Any:
        # app.params prints bounds with %g, which turns 64 MiB into
        # "6.71089e+07"; say the bounds exactly, for every bad value.
        if not isinstance(data, dict) or "payload_bytes" not in data:
            return data
        given = data["payload_bytes"]
        value = given.strip() if isinstance(given, str) else given
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not (type(value) is int and PAYLOAD_MIN <= value <= PAYLOAD_MAX):
            # The message starts with the field: app.params blames it.
            raise ValueError(
                _(
                    "payload_bytes must be an integer from %(lo)s (64 B)"
                    " to %(hi)s (64 MiB) (got %(got)s)"
                )
                % {"lo": PAYLOAD_MIN, "hi": PAYLOAD_MAX, "got": repr(given)}
            )
        return data


# --- Messages ----------------------------------------------------------------


def stamp(buf: bytearray, seq: int) -> None:
    """Write the sequence number into the message's first and last 8 bytes."""
    _SEQ.pack_into(buf, 0, seq)
    _SEQ.pack_into(buf, len(buf) - 8, seq)


def seq_of(buf: Any) -> int:
    seq: int = _SEQ.unpack_from(buf, 0)[0]
    return seq


def percentile(sorted_values: list[int], q: float) -> int:
    """The nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --- Links: what main sets up, and each side's end of it ----------------------


# Why a mechanism failed or was skipped, as data: (English message with
# %(name)s placeholders, its values). The recording keeps the English words
# too; the page says them in the reader's language.
Say = tuple[str, dict[str, Any]]


def say_en(parts: list[Say]) -> str:
    return "; ".join(message % values for message, values in parts)


def say_here(parts: Any) -> str:
    """The same words, in the language being rendered (parts from a recording
    are lists, not tuples)."""
    out = ""
    for message, values in parts:
        clause = _(message) % values
        out = _("%(reason)s; %(more)s") % {"reason": out, "more": clause} if out else clause
    return out


class PartnerGone(Exception):
    """The other process closed its end: it is gone."""


# Shown, after "PartnerGone: ", where a process that stopped with it is.
PARTNER_GONE = (
    N_("the reading end of the pipe was closed"),
    N_("the writing end of the pipe was closed"),
    N_("the other end of the connection was closed"),
    N_("the other end of the socket was closed"),
)


class DoesNotFit(Exception):
    """The mechanism cannot carry messages this large on this machine."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message % values)
        self.say: Say = (message, values)


class End:
    """One process's end of a link: send a message, receive one."""

    calls = 0  # calls this side made to connect

    def send(self, buf: bytes | bytearray) -> None:
        raise NotImplementedError

    def recv(self) -> bytes | bytearray:
        """The next message; valid until the next call."""
        raise NotImplementedError

    def room(self) -> int | None:
        """Bytes this end may still write; None: no limit."""
        return None

    def close(self, clean: bool) -> None:
        pass


Check = Callable[[], None]


class Link:
    """Made by main before it forks the two sides, which inherit it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0
        self._released = False

    def facts(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def sender_end(self, check: Check) -> End:
        raise NotImplementedError

    def receiver_end(self, check: Check) -> End:
        raise NotImplementedError

    def release(self) -> None:
        """Main's copies go once both sides hold the link."""
        if not self._released:
            self._released = True
            self._release()

    def _release(self) -> None:
        pass

    def cleanup(self) -> None:
        """Everything main made is gone afterwards, whatever happened."""
        self.release()


def _close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _fd_kind(fd: int) -> str:
    """In English (it is data); the page looks it up with _()."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISSOCK(mode):
        return N_("socket pair")
    if stat.S_ISFIFO(mode):
        return N_("pipe")
    return N_("file")


class _FdEnd(End):
    """Reads and writes raw file descriptors (a pipe's ends)."""

    def __init__(self, read_fd: int, write_fd: int, n: int, check: Check) -> None:
        self._reader = io.FileIO(read_fd, "rb", closefd=True)
        self._w = write_fd
        self._buf = bytearray(n)
        self._view = memoryview(self._buf)
        self._check = check

    def send(self, buf: bytes | bytearray) -> None:
        view = memoryview(buf)
        try:
            while view:
                view = view[os.write(self._w, view) :]
        except BrokenPipeError:
            self._check()
            raise PartnerGone("the reading end of the pipe was closed") from None

    def recv(self) -> bytearray:
        got, n = 0, len(self._buf)
        while got < n:
            k = self._reader.readinto(self._view[got:])
            if not k:
                self._check()
                raise PartnerGone("the writing end of the pipe was closed")
            got += k
        return self._buf

    def close(self, clean: bool) -> None:
        self._view.release()
        self._reader.close()
        _close_fds(self._w)


class PipeLink(Link):
    """Two `os.pipe()`s: a pipe carries bytes one way, so the way back needs
    a second one."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.there = os.pipe()  # (read end, write end)
        self.back = os.pipe()
        self.calls = 2
        try:  # the claim, tried for real: the read end cannot be written
            os.write(self.there[0], b"?")
            self.one_way_error = ""
        except OSError as exc:
            self.one_way_error = f"{type(exc).__name__}: {exc}"

    def facts(self) -> dict[str, Any]:
        return {
            **super().facts(),
            "fds": 4,
            "fd_kind": _fd_kind(self.there[0]),
            "one_way_error": self.one_way_error,
            "pipe_buffer": fcntl.fcntl(self.there[1], _F_GETPIPE_SZ),
        }

    def sender_end(self, check: Check) -> End:
        _close_fds(self.there[0], self.back[1])
        return _FdEnd(self.back[0], self.there[1], self.n, check)

    def receiver_end(self, check: Check) -> End:
        _close_fds(self.there[1], self.back[0])
        return _FdEnd(self.there[0], self.back[1], self.n, check)

    def _release(self) -> None:
        _close_fds(*self.there, *self.back)


class _ConnectionEnd(End):
    def __init__(self, conn: Any, n: int, check: Check) -> None:
        self._conn = conn
        self._buf = bytearray(n)
        self._check = check

    def send(self, buf: bytes | bytearray) -> None:
        try:
            self._conn.send_bytes(buf)
        except (BrokenPipeError, ConnectionResetError):
            self._check()
            raise PartnerGone("the other end of the connection was closed") from None

    def recv(self) -> bytearray:
        try:
            k = self._conn.recv_bytes_into(self._buf)
        except (EOFError, ConnectionResetError):
            self._check()
            raise PartnerGone("the other end of the connection was closed") from None
        if k != len(self._buf):
            raise ValueError(f"a message of {k} bytes arrived, {len(self._buf)} were sent")
        return self._buf

    def close(self, clean: bool) -> None:
        self._conn.close()


class MpPipeLink(Link):
    """`multiprocessing.Pipe()`: two-way, because on Linux it is a socket pair."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.a, self.b = _fork.Pipe()
        self.calls = 1

    def facts(self) -> dict[str, Any]:
        return {**super().facts(), "fd_kind": _fd_kind(self.a.fileno())}

    def sender_end(self, check: Check) -> End:
        self.b.close()
        return _ConnectionEnd(self.a, self.n, check)

    def receiver_end(self, check: Check) -> End:
        self.a.close()
        return _ConnectionEnd(self.b, self.n, check)

    def _release(self) -> None:
        self.a.close()
        self.b.close()


class _FileEnd(End):
    """Writes its own file, reads the other's. Nothing wakes a reader when
    data arrives: it polls the file's size."""

    def __init__(self, read_fd: int, write_fd: int, n: int, room: int, check: Check) -> None:
        self._r, self._w = read_fd, write_fd
        self._roff = self._woff = 0
        self._room = room
        self._buf = bytearray(n)
        self._check = check

    def send(self, buf: bytes | bytearray) -> None:
        if self._woff + len(buf) > self._room:
            raise DoesNotFit("the temporary file is full")
        view = memoryview(buf)
        while view:
            k = os.pwrite(self._w, view, self._woff)
            self._woff += k
            view = view[k:]

    def recv(self) -> bytearray:
        n = len(self._buf)
        need = self._roff + n
        fstat, fd, spins = os.fstat, self._r, 0
        while fstat(fd).st_size < need:
            spins += 1
            if spins % 256 == 0:
                self._check()
                if spins >= 4096:  # a long wait: poll gently, leave the core to others
                    time.sleep(0.0001)
        got = 0
        while got < n:
            k = os.preadv(fd, [memoryview(self._buf)[got:]], self._roff + got)
            if not k:
                raise ValueError("the file ended before the message did")
            got += k
        self._roff = need
        return self._buf

    def room(self) -> int:
        return self._room - self._woff

    def close(self, clean: bool) -> None:
        _close_fds(self._r, self._w)


def _space(path: str) -> tuple[int, int]:
    """(total, free) bytes of the file system holding `path`; (0, 0) if none."""
    try:
        st = os.statvfs(path)
    except OSError:
        return 0, 0
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


class FileLink(Link):
    """Two temporary files, one per direction. They never have a name
    (`TemporaryFile`), so no crash can leave one behind."""

    def __init__(self, n: int, tmp: str) -> None:
        super().__init__(n)
        free = _space(tmp)[1]
        self.room = min(FILE_ROOM, free // 4)
        if self.room < 4 * n:
            raise DoesNotFit(
                N_("%(dir)s has %(free)s free: too little for %(size)s messages"),
                dir=tmp,
                free=size_words(free),
                size=size_words(n),
            )
        # Kept open for the children to inherit; main closes its copies in _release.
        self.there = tempfile.TemporaryFile(dir=tmp, buffering=0)  # noqa: SIM115
        self.back = tempfile.TemporaryFile(dir=tmp, buffering=0)  # noqa: SIM115
        self.calls = 2
        self.dir = tmp

    def facts(self) -> dict[str, Any]:
        return {**super().facts(), "dir": self.dir, "room": self.room}

    def sender_end(self, check: Check) -> End:
        return _FileEnd(
            os.dup(self.back.fileno()), os.dup(self.there.fileno()), self.n, self.room, check
        )

    def receiver_end(self, check: Check) -> End:
        return _FileEnd(
            os.dup(self.there.fileno()), os.dup(self.back.fileno()), self.n, self.room, check
        )

    def _release(self) -> None:
        self.there.close()
        self.back.close()


class _SocketEnd(End):
    def __init__(self, sock: socket.socket, n: int, check: Check, calls: int) -> None:
        self._sock = sock
        self._buf = bytearray(n)
        self._view = memoryview(self._buf)
        self._check = check
        self.calls = calls

    def send(self, buf: bytes | bytearray) -> None:
        try:
            self._sock.sendall(buf)
        except (BrokenPipeError, ConnectionResetError):
            self._check()
            raise PartnerGone("the other end of the socket was closed") from None

    def recv(self) -> bytearray:
        got, n = 0, len(self._buf)
        while got < n:
            try:
                k = self._sock.recv_into(self._view[got:])
            except ConnectionResetError:
                k = 0
            if not k:
                self._check()
                raise PartnerGone("the other end of the socket was closed")
            got += k
        return self._buf

    def close(self, clean: bool) -> None:
        self._view.release()
        self._sock.close()


def _accept(listener: socket.socket, check: Check) -> socket.socket:
    listener.settimeout(POLL_S)
    while True:
        try:
            conn, _address = listener.accept()
        except TimeoutError:
            check()
            continue
        conn.setblocking(True)
        return conn


class UnixSocketLink(Link):
    """An AF_UNIX stream socket bound to a file: main binds and listens, the
    receiver accepts (and then removes the file and its directory), the
    sender connects. The name exists only until the two are connected."""

    def __init__(self, n: int, tmp: str) -> None:
        super().__init__(n)
        # A directory only this user can enter: nobody else can connect first.
        self.dir = tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{os.getpid()}-", dir=tmp)
        self.path = os.path.join(self.dir, "link.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.listener.bind(self.path)
            self.listener.listen(1)
        except OSError:
            self.cleanup()
            raise
        self.calls = 3

    def facts(self) -> dict[str, Any]:
        return {**super().facts(), "path": self.path, "dir": self.dir}

    def sender_end(self, check: Check) -> End:
        self.listener.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.path)
        return _SocketEnd(sock, self.n, check, calls=2)

    def receiver_end(self, check: Check) -> End:
        conn = _accept(self.listener, check)
        self.listener.close()
        self._unlink()  # connected: the name has done its job
        return _SocketEnd(conn, self.n, check, calls=1)

    def _unlink(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(self.dir)

    def _release(self) -> None:
        self.listener.close()

    def cleanup(self) -> None:
        super().cleanup()
        self._unlink()


class TcpLink(Link):
    """TCP over the loopback interface, Nagle's algorithm switched off."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.address = self.listener.getsockname()
        self.calls = 4

    def facts(self) -> dict[str, Any]:
        return {**super().facts(), "address": f"{self.address[0]}:{self.address[1]}"}

    def sender_end(self, check: Check) -> End:
        self.listener.close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect(self.address)
        return _SocketEnd(sock, self.n, check, calls=3)

    def receiver_end(self, check: Check) -> End:
        conn = _accept(self.listener, check)
        self.listener.close()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _SocketEnd(conn, self.n, check, calls=2)

    def _release(self) -> None:
        self.listener.close()


def _acquire(sem: Any, check: Check) -> None:
    while not sem.acquire(True, POLL_S):
        check()


class _ShmEnd(End):
    """Copies messages in and out of the segment. `slots` messages fit on the
    way there, one on the way back; semaphores say whose turn it is."""

    def __init__(self, link: ShmLink, sending: bool, check: Check) -> None:
        mem = link.shm.buf
        assert mem is not None, "the segment is mapped in every process that forked after it"
        self._mem = mem
        self._n = n = link.n
        self._slots = link.slots
        self._back = link.slots * n  # where the way back's slot starts
        self._link = link
        self._sending = sending
        self._i = 0
        self._buf = bytearray(n)
        self._check = check

    def send(self, buf: bytes | bytearray) -> None:
        link, n = self._link, self._n
        if self._sending:
            _acquire(link.free, self._check)
            at = (self._i % self._slots) * n
            self._mem[at : at + n] = buf
            self._i += 1
            link.full.release()
        else:
            self._mem[self._back : self._back + n] = buf
            link.answer.release()

    def recv(self) -> bytearray:
        link, n = self._link, self._n
        if self._sending:
            _acquire(link.answer, self._check)
            self._buf[:] = self._mem[self._back : self._back + n]
        else:
            _acquire(link.full, self._check)
            at = (self._i % self._slots) * n
            self._buf[:] = self._mem[at : at + n]
            self._i += 1
            link.free.release()
        return self._buf


class ShmLink(Link):
    """One `multiprocessing.shared_memory` segment and three semaphores.

    Its name is removed from /dev/shm as soon as both sides are forked: the
    memory stays mapped in both and is freed with the last of them."""

    def __init__(self, n: int, shm_free: int) -> None:
        super().__init__(n)
        if shm_free >= 4 * n:
            self.slots = 2
        elif shm_free >= 2 * n:
            self.slots = 1
        else:
            raise DoesNotFit(
                N_("%(need)s of shared memory needed, /dev/shm has %(free)s free"),
                need=size_words(2 * n),
                free=size_words(shm_free),
            )
        self.shm = shared_memory.SharedMemory(create=True, size=(self.slots + 1) * n)
        self.name = self.shm.name
        self.free = _fork.Semaphore(self.slots)
        self.full = _fork.Semaphore(0)
        self.answer = _fork.Semaphore(0)
        self.calls = 4

    def facts(self) -> dict[str, Any]:
        return {
            **super().facts(),
            "name": self.name,
            "path": f"/dev/shm/{self.name}",
            "size": self.shm.size,
            "slots": self.slots,
        }

    def sender_end(self, check: Check) -> End:
        return _ShmEnd(self, True, check)

    def receiver_end(self, check: Check) -> End:
        return _ShmEnd(self, False, check)

    def _release(self) -> None:
        self.shm.close()
        with contextlib.suppress(FileNotFoundError):
            self.shm.unlink()


class _QueueEnd(End):
    def __init__(self, out: Any, inp: Any, check: Check) -> None:
        self._out, self._in = out, inp
        self._check = check

    def send(self, buf: bytes | bytearray) -> None:
        # A bytearray would be pickled later, by the feeder thread: freeze it now.
        obj = bytes(buf) if isinstance(buf, bytearray) else buf
        while True:
            try:
                self._out.put(obj, True, POLL_S)
                return
            except queue.Full:
                self._check()

    def recv(self) -> bytes:
        while True:
            try:
                got: bytes = self._in.get(True, POLL_S)
                return got
            except queue.Empty:
                self._check()

    def close(self, clean: bool) -> None:
        if not clean:  # never let exit wait for a feeder nobody reads
            self._out.cancel_join_thread()
        self._out.close()


class QueueLink(Link):
    """Two `multiprocessing.Queue`s, one per direction."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.there = _fork.Queue(4)
        self.back = _fork.Queue(4)
        self.calls = 2

    def facts(self) -> dict[str, Any]:
        return {**super().facts(), "maxsize": 4}

    def sender_end(self, check: Check) -> End:
        return _QueueEnd(self.there, self.back, check)

    def receiver_end(self, check: Check) -> End:
        return _QueueEnd(self.back, self.there, check)

    def _release(self) -> None:
        for q in (self.there, self.back):
            q.cancel_join_thread()
            q.close()


def make_link(key: str, n: int, tmp: str, facts: dict[str, Any]) -> Link:
    if key == "os_pipe":
        return PipeLink(n)
    if key == "mp_pipe":
        return MpPipeLink(n)
    if key == "file":
        return FileLink(n, tmp)
    if key == "unix_socket":
        return UnixSocketLink(n, tmp)
    if key == "tcp_socket":
        return TcpLink(n)
    if key == "shared_memory":
        return ShmLink(n, int(facts.get("shm_free", 0)))
    if key == "mp_queue":
        return QueueLink(n)
    raise ValueError(f"unknown mechanism {key!r}")


# --- The two sides -------------------------------------------------------------


class _Progress:
    def __init__(self, w: Worker, key: str, phase: str) -> None:
        self._w, self._key, self._phase = w, key, phase
        self._next = time.perf_counter_ns() + PROGRESS_EVERY_NS

    def __call__(self, now: int, done: int) -> None:
        if now >= self._next:
            self._w.emit(PROGRESS, self._key, {"phase": self._phase, "done": done})
            self._w.flush()
            self._next = now + PROGRESS_EVERY_NS


def _why_stopped(count: int, limit: int, capped: bool) -> str:
    if count < limit:
        return "time"
    return "room" if capped else "count"


def _round_trips(w: Worker, key: str, end: End, frame: bytearray) -> int:
    n = len(frame)
    limit = w.params["messages"]
    room = end.room()
    capped = room is not None and room // 2 // n - 1 < limit
    if room is not None:
        limit = max(1, min(limit, room // 2 // n - 1))
    clock, check = time.perf_counter_ns, w.pacer.check
    w.emit(PROGRESS, key, {"phase": ROUND_TRIP_PHASE, "done": 0})
    w.flush()
    progress = _Progress(w, key, ROUND_TRIP_PHASE)
    times: list[int] = []
    bad = 0
    start = clock()
    deadline = start + w.params["budget_ms"] * 1_000_000
    seq = 0
    while seq < limit:
        stamp(frame, seq)
        t0 = clock()
        end.send(frame)
        got = end.recv()
        t1 = clock()
        times.append(t1 - t0)
        if got != frame:
            bad += 1
        seq += 1
        check()
        if t1 >= deadline:
            break
        progress(t1, seq)
    seconds = (clock() - start) / 1e9
    stamp(frame, END)
    end.send(frame)
    times.sort()
    w.emit(
        ROUND_TRIPS,
        key,
        {
            "count": len(times),
            "p50_us": percentile(times, 0.50) / 1000,
            "p99_us": percentile(times, 0.99) / 1000,
            "min_us": times[0] / 1000,
            "max_us": times[-1] / 1000,
            "seconds": seconds,
            "bad": bad,
            "stopped_by": _why_stopped(seq, limit, capped),
        },
    )
    return seq


def _one_way(w: Worker, key: str, end: End, frame: bytearray, first: int) -> None:
    n = len(frame)
    limit = w.params["messages"]
    room = end.room()
    capped = room is not None and room // n - 1 < limit
    if room is not None:
        limit = max(1, min(limit, room // n - 1))
    clock, check = time.perf_counter_ns, w.pacer.check
    w.emit(PROGRESS, key, {"phase": ONE_WAY_PHASE, "done": 0})
    w.flush()
    progress = _Progress(w, key, ONE_WAY_PHASE)
    sent = 0
    start = clock()
    deadline = start + w.params["budget_ms"] * 1_000_000
    while sent < limit:
        stamp(frame, first + sent)
        end.send(frame)
        sent += 1
        check()
        now = clock()
        if now >= deadline:
            break
        progress(now, sent)
    stamp(frame, END)
    end.send(frame)
    ack = end.recv()  # the receiver has checked every message
    seconds = (clock() - start) / 1e9
    w.emit(
        ONE_WAY,
        key,
        {
            "messages": sent,
            "bytes": sent * n,
            "seconds": seconds,
            "acknowledged": seq_of(ack) == END,
            "stopped_by": _why_stopped(sent, limit, capped),
        },
    )


def _child_end(w: Worker, sending: bool) -> tuple[str, End]:
    # Main turns SIGTERM into a clean exit; a child that main ends just ends.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    key: str = w.params[_KEY]
    link: Link = w.params[_LINK]
    end = link.sender_end(w.pacer.check) if sending else link.receiver_end(w.pacer.check)
    w.emit(READY, key, {"calls": end.calls})
    w.flush()
    return key, end


def sender(w: Worker) -> None:
    """Times round trips, then streams messages one way."""
    key, end = _child_end(w, sending=True)
    clean = False
    try:
        frame = bytearray(w.params[_TEMPLATE])
        first = _round_trips(w, key, end, frame)
        _one_way(w, key, end, frame, first)
        clean = True
    finally:
        end.close(clean)


def receiver(w: Worker) -> None:
    """Echoes each round trip, then checks every one-way message."""
    key, end = _child_end(w, sending=False)
    check = w.pacer.check
    clean = False
    try:
        w.emit(PROGRESS, key, {"phase": ROUND_TRIP_PHASE})
        w.flush()
        echoed = 0
        while True:
            got = end.recv()
            if seq_of(got) == END:
                break
            end.send(got)
            echoed += 1
            check()
        w.emit(PROGRESS, key, {"phase": ONE_WAY_PHASE})
        w.flush()
        expected = bytearray(w.params[_TEMPLATE])
        count = bad = 0
        while True:
            got = end.recv()
            if seq_of(got) == END:
                break
            stamp(expected, echoed + count)
            if got != expected:
                bad += 1
            count += 1
            check()
        stamp(expected, END)
        end.send(expected)  # tell the sender that all of it arrived
        n = len(expected)
        w.emit(VERIFIED, key, {"messages": count, "bytes": count * n, "bad": bad})
        clean = True
    finally:
        end.close(clean)


# --- Main: the program ----------------------------------------------------------


def _leave_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(tmp: str) -> list[str]:
    """Remove run directories whose main is gone (killed before its cleanup)."""
    removed = []
    with contextlib.suppress(OSError), os.scandir(tmp) as entries:
        for entry in entries:
            if not entry.name.startswith(RUN_DIR_PREFIX):
                continue
            pid = entry.name[len(RUN_DIR_PREFIX) :].split("-", 1)[0]
            try:
                mine = entry.is_dir(follow_symlinks=False) and entry.stat().st_uid == os.getuid()
            except OSError:
                continue
            if mine and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
    return removed


def machine_facts(tmp: str) -> dict[str, Any]:
    shm_total, shm_free = _space("/dev/shm")
    tmp_total, tmp_free = _space(tmp)
    r, w = os.pipe()
    try:
        pipe_buffer = fcntl.fcntl(w, _F_GETPIPE_SZ)
    finally:
        _close_fds(r, w)
    return {
        "shm_total": shm_total,
        "shm_free": shm_free,
        "tmp_dir": tmp,
        "tmp_total": tmp_total,
        "tmp_free": tmp_free,
        "pipe_buffer": pipe_buffer,
        "cpus": os.cpu_count() or 0,
    }


def _memory_copy(w: Worker, template: bytes) -> None:
    """The limit: the same payload copied inside one process."""
    key, n = MEMCPY.key, len(template)
    w.emit(SETUP, key, {"calls": 0})
    src, dst = bytearray(template), bytearray(n)
    limit = w.params["messages"]
    clock, check = time.perf_counter_ns, w.pacer.check
    w.emit(PROGRESS, key, {"phase": ONE_WAY_PHASE, "done": 0})
    progress = _Progress(w, key, ONE_WAY_PHASE)
    times: list[int] = []
    start = clock()
    deadline = start + w.params["budget_ms"] * 1_000_000
    while len(times) < limit:
        t0 = clock()
        dst[:] = src
        t1 = clock()
        times.append(t1 - t0)
        check()
        if t1 >= deadline:
            break
        progress(t1, len(times))
    seconds = (clock() - start) / 1e9
    count = len(times)
    times.sort()
    w.emit(
        ROUND_TRIPS,
        key,
        {
            "count": count,
            "p50_us": percentile(times, 0.50) / 1000,
            "p99_us": percentile(times, 0.99) / 1000,
            "min_us": times[0] / 1000,
            "max_us": times[-1] / 1000,
            "seconds": seconds,
            "bad": 0,
            "stopped_by": "time" if count < limit else "count",
        },
    )
    w.emit(ONE_WAY, key, {"messages": count, "bytes": count * n, "seconds": seconds})
    w.emit(VERIFIED, key, {"messages": count, "bytes": count * n, "bad": int(dst != src)})
    w.emit(RESULT, key, {"outcome": "ok", "reason": ""})


def _describe_exit(name: str, code: int) -> Say:
    if code < 0:
        try:
            signame = signal.Signals(-code).name
        except ValueError:
            signame = f"signal {-code}"
        return N_("%(name)s was killed (%(signal)s)"), {"name": name, "signal": signame}
    return N_("%(name)s failed (exit code %(code)s)"), {"name": name, "code": code}


STOPPED_EARLY: Say = (N_("stopped before it finished"), {})


def _watch(
    w: Worker, children: list[tuple[str, Any]], timeout_s: float
) -> tuple[str, list[Say], list[str]]:
    """Wait for both sides. Returns (outcome, why, children main ended)."""
    deadline = time.monotonic() + timeout_s
    failure: tuple[str, int] | None = None
    failed_at = 0.0
    ended: list[str] = []
    while True:
        w.flush()
        failed = [(name, proc.exitcode) for name, proc in children if proc.exitcode]
        if failed and failure is None:
            # Found dead together: one killed by a signal is the cause, one that
            # exited with 1 (it saw its link close) the effect.
            failure, failed_at = min(failed, key=lambda f: f[1]), time.monotonic()
        alive = [(name, proc) for name, proc in children if proc.exitcode is None]
        if not alive:
            break
        if w.stopping():
            return "stopped", [STOPPED_EARLY], ended
        now = time.monotonic()
        if failure is not None and now > failed_at + PARTNER_GRACE_S:
            for name, proc in alive:  # nothing told it that its partner is gone
                proc.terminate()
                ended.append(name)
            for _name, proc in alive:
                proc.join(1.0)
            continue
        if now > deadline:
            for name, proc in alive:
                proc.terminate()
                ended.append(name)
            return "failed", [(N_("did not finish within %(s)s s"), {"s": f"{timeout_s:g}"})], ended
        multiprocessing.connection.wait([proc.sentinel for _name, proc in alive], POLL_S)
    if failure is None:
        if w.stopping():  # both left at the stop, before main looked
            return "stopped", [STOPPED_EARLY], ended
        return "ok", [], ended
    name, code = failure
    why = [_describe_exit(name, code)]
    for other, proc in children:
        if other == name:
            continue
        if other in ended:
            why.append((N_("nothing told %(name)s, so main ended it"), {"name": other}))
        elif proc.exitcode:
            why.append((N_("%(name)s saw its link close and stopped by itself"), {"name": other}))
    return "failed", why, ended


def _end_children(w: Worker, children: list[tuple[str, Any]], grace_s: float) -> None:
    """Every child is gone afterwards; its exit becomes an event."""
    deadline = time.monotonic() + grace_s
    for _name, proc in children:
        proc.join(max(0.0, deadline - time.monotonic()))
    for _name, proc in children:
        if proc.exitcode is None:
            proc.terminate()
            proc.join(0.5)
        if proc.exitcode is None:
            proc.kill()
            proc.join()
    w.flush()  # main's own events first: the exits come after them
    for name, proc in children:
        exit_event = (time.monotonic_ns(), name, proc.pid or 0, 0, events.EXIT, None)
        w.sink.put([(*exit_event, {"exitcode": proc.exitcode})])
        proc.close()


def _emit_result(w: Worker, key: str, outcome: str, why: list[Say]) -> None:
    """The reason in English, and as (message, values) for other languages."""
    w.emit(RESULT, key, {"outcome": outcome, "reason": say_en(why), "why": why})


def _measure(w: Worker, k: int, key: str, template: bytes, facts: dict[str, Any]) -> None:
    n = len(template)
    try:
        link = make_link(key, n, facts["tmp_dir"], facts)
    except DoesNotFit as exc:
        _emit_result(w, key, "skipped", [exc.say])
        return
    except OSError as exc:
        _emit_result(
            w, key, "failed", [(N_("could not set it up: %(error)s"), {"error": str(exc)})]
        )
        return
    names = (f"S{k}", f"R{k}")
    w.emit(SETUP, key, {"sender": names[0], "receiver": names[1], **link.facts()})
    children: list[tuple[str, Any]] = []
    outcome = "failed"
    why: list[Say] = [(N_("main failed while it was setting up"), {})]
    try:
        params = {**w.params, _KEY: key, _LINK: link, _TEMPLATE: template}
        children.append((names[1], start_process(w, names[1], "receiver", receiver, params=params)))
        children.append((names[0], start_process(w, names[0], "sender", sender, params=params)))
        link.release()
        timeout = 2 * w.params["budget_ms"] / 1000 + 10 + n / (10 * MiB)
        outcome, why, _ended = _watch(w, children, timeout)
    finally:
        _end_children(w, children, grace_s=0.5 if outcome == "stopped" else 2.0)
        link.cleanup()
    _emit_result(w, key, outcome, why)
    if outcome == "stopped":
        w.flush()
        raise Stopped


def _template(n: int) -> bytes:
    """Random bytes, so that a misplaced piece of a message cannot match."""
    return random.Random(n).randbytes(n)


def main(w: Worker) -> None:
    """The run's program: the limit first, then each mechanism in turn."""
    signal.signal(signal.SIGTERM, _leave_on_sigterm)
    p = w.params
    keys = GROUPS[p["mechanisms"]]
    tmp = tempfile.gettempdir()
    facts = {**machine_facts(tmp), "swept": sweep_stale(tmp)}
    w.emit(
        PLAN,
        data={
            "mechanisms": [MEMCPY.key, *keys],
            "payload_bytes": p["payload_bytes"],
            "messages": p["messages"],
            "budget_ms": p["budget_ms"],
            "facts": facts,
        },
    )
    template = _template(p["payload_bytes"])
    _memory_copy(w, template)
    for k, key in enumerate(keys, start=1):
        w.pacer.check()
        _measure(w, k, key, template, facts)


# --- The view state and its fold ---------------------------------------------

WAITING, MEASURING, DONE, FAILED, SKIPPED, STOPPED = (
    "waiting",
    "measuring",
    "ok",
    "failed",
    "skipped",
    "stopped",
)


@dataclass
class Figures:
    """What is known about one mechanism so far."""

    key: str
    status: str = WAITING
    phase: str = ""
    done: int = 0
    sender: str = ""
    receiver: str = ""
    setup: dict[str, Any] = field(default_factory=dict)
    side_calls: dict[str, int] = field(default_factory=dict)  # worker -> calls
    rtt: dict[str, Any] | None = None
    one_way: dict[str, Any] | None = None
    verified: dict[str, Any] | None = None
    reason: str = ""
    why: list[Any] = field(default_factory=list)  # the reason as [message, values]
    n: int = 0  # bytes per message
    paused: bool = False  # a pause fell inside it: its times include the pause

    @property
    def calls(self) -> int:
        return int(self.setup.get("calls", 0)) + sum(self.side_calls.values())

    @property
    def mb_s(self) -> float | None:
        o = self.one_way
        if not o or o["seconds"] <= 0 or not o["bytes"]:
            return None
        return float(o["bytes"] / o["seconds"] / 1e6)

    @property
    def msg_s(self) -> float | None:
        o = self.one_way
        if not o or o["seconds"] <= 0 or not o["messages"]:
            return None
        return float(o["messages"] / o["seconds"])

    @property
    def p50_us(self) -> float | None:
        return float(self.rtt["p50_us"]) if self.rtt and self.rtt["count"] else None

    @property
    def p99_us(self) -> float | None:
        return float(self.rtt["p99_us"]) if self.rtt and self.rtt["count"] else None

    @property
    def intact(self) -> bool | None:
        """Every byte arrived as sent; None until both checks are in."""
        if self.rtt is None or self.one_way is None or self.verified is None:
            return None
        v = self.verified
        return bool(
            self.rtt["bad"] == 0
            and v["bad"] == 0
            and v["messages"] == self.one_way["messages"]
            and v["bytes"] == self.one_way["bytes"]
            and self.one_way.get("acknowledged", True)
        )

    def to_dict(self) -> dict[str, Any]:
        mech = BY_KEY.get(self.key)
        return {
            "label": mech.label if mech else self.key,
            "way": mech.way if mech else "",
            "status": self.status,
            "reason": self.reason,
            "sender": self.sender,
            "receiver": self.receiver,
            "setup_calls": self.calls,
            "setup": self.setup,
            "paused": self.paused,
            "mb_s": self.mb_s,
            "msg_s": self.msg_s,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "round_trips": self.rtt,
            "one_way": self.one_way,
            "verified": self.verified,
            "intact": self.intact,
        }


@dataclass
class IpcState(model.RunState):
    plan: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Figures] = field(default_factory=dict)
    current: str = ""

    def fig(self, key: str) -> Figures:
        f = self.figures.get(key)
        if f is None:
            f = self.figures[key] = Figures(key, n=int(self.plan.get("payload_bytes", 0)))
        return f

    def order(self) -> list[str]:
        planned = list(self.plan.get("mechanisms", []))
        return planned + [k for k in self.figures if k not in planned]

    @property
    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = self.plan.get("facts", {})
        return facts

    def counters(self) -> dict[str, Any]:
        mechs = [k for k in self.order() if k != MEMCPY.key]
        figs = [self.figures[k] for k in mechs if k in self.figures]
        return {
            "planned": len(mechs),
            "measured": sum(1 for f in figs if f.status == DONE),
            "intact": sum(1 for f in figs if f.intact),
            "failed": sum(1 for f in figs if f.status == FAILED),
            "skipped": sum(1 for f in figs if f.status == SKIPPED),
        }

    def extras(self) -> dict[str, Any]:
        return {
            "results": {k: self.figures[k].to_dict() for k in self.order() if k in self.figures},
            "facts": self.facts,
        }


def _plan(state: IpcState, e: Event) -> None:
    state.plan = dict(e.data or {})
    for f in state.figures.values():
        f.n = int(state.plan.get("payload_bytes", 0))


def _setup(state: IpcState, e: Event) -> None:
    assert e.item is not None
    data = dict(e.data or {})
    f = state.fig(e.item)
    if f.status == WAITING:
        f.status, f.phase = MEASURING, CONNECTING
    f.sender = data.pop("sender", "")
    f.receiver = data.pop("receiver", "")
    f.setup = data
    state.current = e.item


def _ready(state: IpcState, e: Event) -> None:
    assert e.item is not None
    state.fig(e.item).side_calls[e.worker] = int((e.data or {}).get("calls", 0))
    model.set_state(model.worker_of(state, e), e, "connected")


def _progress(state: IpcState, e: Event) -> None:
    assert e.item is not None
    data = e.data or {}
    f = state.fig(e.item)
    phase = data.get("phase", "")
    # The sender (or main, for the memory copy) counts; the receiver only
    # says which phase it is in. One worker's events keep their order.
    if e.worker != f.receiver and f.status == MEASURING:
        f.phase, f.done = phase, int(data.get("done", 0))
    if e.worker != "main":
        model.set_state(model.worker_of(state, e), e, phase)


def _round_trips_done(state: IpcState, e: Event) -> None:
    assert e.item is not None
    state.fig(e.item).rtt = dict(e.data or {})


def _one_way_done(state: IpcState, e: Event) -> None:
    assert e.item is not None
    state.fig(e.item).one_way = dict(e.data or {})


def _verified(state: IpcState, e: Event) -> None:
    assert e.item is not None
    state.fig(e.item).verified = dict(e.data or {})


def _result(state: IpcState, e: Event) -> None:
    assert e.item is not None
    data = e.data or {}
    f = state.fig(e.item)
    f.status = data.get("outcome", DONE)
    f.reason = data.get("reason", "")
    f.why = list(data.get("why", []))
    f.phase = ""
    if state.current == e.item:
        state.current = ""


def _pause(state: IpcState, e: Event) -> None:
    model.LIFECYCLE[events.PAUSE](state, e)
    for f in state.figures.values():
        if f.status == MEASURING:
            f.paused = True


def _run_end(state: IpcState, e: Event) -> None:
    model.LIFECYCLE[events.RUN_END](state, e)
    for f in state.figures.values():  # cut short between its events
        if f.status == MEASURING:
            f.status, f.phase = STOPPED if state.status == "stopped" else FAILED, ""
    state.current = ""


fold = model.make_fold(
    {
        events.RUN_END: _run_end,
        events.PAUSE: _pause,
        PLAN: _plan,
        SETUP: _setup,
        READY: _ready,
        PROGRESS: _progress,
        ROUND_TRIPS: _round_trips_done,
        ONE_WAY: _one_way_done,
        VERIFIED: _verified,
        RESULT: _result,
    },
    quiet=frozenset({PROGRESS}),
)


# --- Words and numbers for the page -------------------------------------------


def size_words(n: float) -> str:
    """Bytes as a person says them: 64 B, 1 MiB, 23.5 GiB."""
    for unit, scale in (("GiB", 1024**3), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            v = n / scale
            return f"{v:.0f} {unit}" if v == int(v) or v >= 100 else f"{v:.1f} {unit}"
    return f"{int(n)} B"


def number_words(v: float) -> str:
    """3 significant digits at most, thousands with a thin space."""
    if v >= 1000:
        return f"{v:,.0f}".replace(",", "\u2009")
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def time_words(us: float) -> str:
    if us >= 1_000_000:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{number_words(us / 1000)} ms"
    return f"{number_words(us)} µs"


_RATIOS = {
    # (a bigger, a smaller) than b, for a speed and for a time.
    "speed": (N_("%(r)s× faster than %(name)s"), N_("%(r)s× slower than %(name)s")),
    "time": (N_("%(r)s× longer than %(name)s"), N_("%(r)s× shorter than %(name)s")),
}


def ratio_words(a: float, b: float, name: str, kind: Literal["speed", "time"]) -> str:
    """How `a` compares with `b` (named `name`), said whole: '3.2× slower
    than os.pipe()', 'about the same as os.pipe()'."""
    if b <= 0 or a <= 0:
        return ""
    r = a / b
    if 1 / 1.15 <= r <= 1.15:
        return _("about the same as %(name)s") % {"name": name}
    bigger, smaller = _RATIOS[kind]
    if r > 1:
        return _(bigger) % {"r": f"{r:.1f}", "name": name}
    return _(smaller) % {"r": f"{1 / r:.1f}", "name": name}


class LogScale:
    """Positions on a log axis from a power of ten below the smallest value to
    one above the largest, at least `decades` wide; in whole percent (the CSS
    has a class for each)."""

    def __init__(self, values: list[float], decades: int = 2) -> None:
        vals = [v for v in values if v and v > 0]
        top = max(vals) if vals else 1.0
        self.hi = 10 ** math.ceil(math.log10(top) - 1e-9)
        low = min(vals) if vals else top
        self.lo = min(self.hi / 10**decades, 10 ** math.floor(math.log10(low) + 1e-9))
        self._span = math.log10(self.hi) - math.log10(self.lo)

    def at(self, v: float) -> int:
        if v <= self.lo:
            return 0
        return max(0, min(100, round((math.log10(v) - math.log10(self.lo)) / self._span * 100)))

    def ticks(self) -> list[tuple[int, float]]:
        out = []
        v = self.lo
        while v <= self.hi * 1.0001:
            out.append((self.at(v), v))
            v *= 10
        return out


def _tick_label(v: float) -> str:
    if v >= 1000:
        return f"{v:,.0f}".replace(",", "\u2009")
    return f"{v:g}"


def _time_tick(us: float) -> str:
    """A power of ten of microseconds, short: 10 ns, 1 µs, 100 ms, 10 s."""
    for unit, scale in (("s", 1e6), ("ms", 1e3), ("µs", 1.0), ("ns", 1e-3)):
        if us >= scale * 0.999:
            return f"{us / scale:.0f} {unit}"
    return f"{us * 1000:g} ns"


def _labelled(ticks: list[tuple[int, float]], label: Callable[[float], str]) -> list[Any]:
    """Every grid line; a label on every other one when they would crowd."""
    step = 1 if len(ticks) <= 4 else 2
    first = (len(ticks) - 1) % step  # keep the top one labelled
    return [(at, label(v) if i % step == first else "") for i, (at, v) in enumerate(ticks)]


_PHASE_WORDS = {
    CONNECTING: N_("setting up the link"),
    ROUND_TRIP_PHASE: N_("round trips: there and back, one at a time"),
    ONE_WAY_PHASE: N_("one way: as many as it can, each checked"),
}
# How much of a phase is done: the count, then its unit, in words.
_SO_FAR = {
    ROUND_TRIP_PHASE: N_("%(n)s round trips so far"),
    ONE_WAY_PHASE: N_("%(n)s messages so far"),
}
_COUNTING = {ROUND_TRIP_PHASE: N_("%(n)s round trips…"), ONE_WAY_PHASE: N_("%(n)s messages…")}
# A mechanism's state, in words (the row, and its mark for a screen reader).
_STATUS_WORDS = {
    WAITING: N_("waiting for its turn"),
    MEASURING: N_("being measured"),
    SKIPPED: N_("skipped"),
    STOPPED: N_("stopped"),
    FAILED: N_("failed"),
}
# The roles of the two processes of a pair, looked up with _() in the cards;
# the outcomes of a result (the others are core's), in the log.
ROLE_NAMES = (N_("sender"), N_("receiver"))
OUTCOMES = (N_("ok"), N_("skipped"))


def label_here(key: str) -> str:
    """A mechanism's name in the language being rendered (code stays code)."""
    mech = BY_KEY.get(key)
    return _(mech.label) if mech else key


def reason_here(data: dict[str, Any]) -> str:
    """Why a mechanism failed or was skipped, from its result (or figures)."""
    why = data.get("why")
    return say_here(why) if why else str(data.get("reason") or "")


def _reason(f: Figures) -> str:
    return say_here(f.why) if f.why else f.reason


def _pair(state: IpcState, f: Figures) -> str:
    """The two processes and their real pids: 'S1 4242 → R1 4241'."""
    if not f.sender:
        return ""
    s = state.workers.get(f.sender)
    r = state.workers.get(f.receiver)
    return f"{f.sender} {s.pid if s else '…'} → {f.receiver} {r.pid if r else '…'}"


def _count(n: int) -> str:
    return f"{n:,}".replace(",", "\u2009")


def _status_words(f: Figures) -> str:
    if f.status == MEASURING:
        counting = _COUNTING.get(f.phase)
        return _(counting) % {"n": _count(f.done)} if counting else _("setting up…")
    if f.status in _STATUS_WORDS:
        return _(_STATUS_WORDS[f.status])
    return ""


_MARKS = {MEASURING: "▶", SKIPPED: "–", STOPPED: "‖", FAILED: "✗", WAITING: ""}


def _mark(f: Figures) -> tuple[str, str]:
    """A shape for the row's state (and its words for a screen reader)."""
    if f.status == DONE:
        if f.intact:
            return "✓", _("every byte arrived intact")
        return ("✗", _("damaged")) if f.intact is False else ("", "")
    words = _STATUS_WORDS.get(f.status)
    return _MARKS.get(f.status, ""), _(words) if words else f.status


def _rows(state: IpcState, tput: LogScale, rtt: LogScale) -> list[dict[str, Any]]:
    rows = []
    for key in state.order():
        if key == MEMCPY.key:
            continue
        f = state.fig(key) if key in state.figures else Figures(key)
        mech = BY_KEY.get(key, Mechanism(key, key, "", ""))
        label = label_here(key)
        row: dict[str, Any] = {
            "key": key,
            "label": label,
            # Where a long name may break: after a dot or an underscore.
            "label_parts": re.split(r"(?<=[._])(?=[A-Za-z])", label),
            "way": mech.way.replace(" ", "-"),
            "status": f.status,
            "status_words": _status_words(f),
            "pair": _pair(state, f),
            "intact": f.intact,
            "mark": _mark(f),
            "reason": _reason(f)
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
            checked = (f.verified or {}).get("bytes", 0) + (f.rtt or {}).get("count", 0) * f.n
            row["checked"] = _("%(size)s compared byte for byte") % {"size": size_words(checked)}
            if not f.intact:
                bad = (f.verified or {}).get("bad", 0) + (f.rtt or {}).get("bad", 0)
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
            "done": _(so_far) % {"n": _count(f.done)} if so_far else "",
            "pair": _pair(state, f),
        }
    counts = state.counters()
    if state.status in ("finished", "stopped", "failed"):
        figs = [state.figures[k] for k in state.order() if k in state.figures and k != "memcpy"]
        intact = counts["intact"] == counts["measured"] and counts["measured"] > 0
        parts = [
            _("%(n)s of %(planned)s measured")
            % {"n": counts["measured"], "planned": counts["planned"]}
        ]
        compared = sum((f.verified or {}).get("bytes", 0) for f in figs)
        if counts["measured"]:
            parts.append(
                _("every byte arrived intact (%(size)s compared)") % {"size": size_words(compared)}
                if intact
                else _("%(n)s damaged") % {"n": counts["measured"] - counts["intact"]}
            )
        parts += [
            _("%(mechanism)s: %(reason)s") % {"mechanism": label_here(f.key), "reason": _reason(f)}
            for f in figs
            if f.status in (FAILED, SKIPPED)
        ]
        return {"live": False, "label": _(state.status), "phase": " · ".join(parts)}
    return {"live": False, "label": _("starting"), "phase": _("main is getting ready")}


# The lecture's claims, in our words, and how this machine's figures bear on them.

Verdict = tuple[str, str]  # (class, words: looked up with _() in claims())
HOLDS: Verdict = ("holds", N_("✓ holds here"))
FAILS: Verdict = ("fails", N_("✗ not on this machine"))
PARTLY: Verdict = ("partly", N_("≈ partly"))
PENDING: Verdict = ("pending", N_("… not measured yet"))
UNMEASURED: Verdict = ("unmeasured", N_("– not in this run (choose all)"))
REFERENCE: Verdict = ("reference", N_("for reference"))


def _done(state: IpcState, key: str) -> Figures | None:
    f = state.figures.get(key)
    return f if f is not None and f.status == DONE and f.mb_s is not None else None


def _waiting_verdict(state: IpcState, keys: tuple[str, ...]) -> Verdict:
    planned = set(state.order())
    if any(k in planned for k in keys) and state.status in ("starting", "running"):
        return PENDING
    return UNMEASURED


def _mb(v: float | None) -> str:
    return number_words(v or 0)


def _claim_pipe(state: IpcState) -> dict[str, Any]:
    said = _("A pipe carries bytes, in one direction only.")
    p, mp = _done(state, "os_pipe"), _done(state, "mp_pipe")
    lines: list[str] = []
    verdict = _waiting_verdict(state, GROUPS["pipe"])
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
        if p is None:
            verdict = PARTLY
    return {"id": "pipe", "way": _("Pipe"), "said": said, "lines": lines, "verdict": verdict}


def _reference(state: IpcState) -> Figures | None:
    for key in ("os_pipe", "mp_pipe", "unix_socket"):
        f = _done(state, key)
        if f is not None:
            return f
    return None


def _claim_file(state: IpcState) -> dict[str, Any]:
    said = _("A file holds any amount of data, but it is slow.")
    f = _done(state, "file")
    facts = state.facts
    lines: list[str] = []
    verdict = _waiting_verdict(state, GROUPS["file"])
    claim = {"id": "file", "way": _("File"), "said": said, "lines": lines}
    if f is None:
        return {**claim, "verdict": verdict}
    if facts:
        lines.append(
            _("Room: %(free)s free in %(dir)s, against %(shm)s for shared memory.")
            % {
                "free": size_words(facts.get("tmp_free", 0)),
                "dir": facts.get("tmp_dir", "?"),
                "shm": size_words(facts.get("shm_total", 0)),
            }
        )
    ref = _reference(state)
    mb, p50 = f.mb_s or 0.0, f.p50_us or 0.0
    if ref is None:
        lines.append(
            _("One way %(mb)s MB/s, round trip %(rtt)s.")
            % {"mb": number_words(mb), "rtt": time_words(p50)}
        )
        verdict = PARTLY
    else:
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
        slow_stream = mb < (ref.mb_s or 0) / 1.5
        slow_answer = p50 > (ref.p50_us or 0) * 1.5
        verdict = (
            HOLDS
            if slow_stream and slow_answer
            else PARTLY
            if slow_stream or slow_answer
            else FAILS
        )
    return {**claim, "verdict": verdict}


def _claim_socket(state: IpcState) -> dict[str, Any]:
    said = _("Sockets work, but they take more code to set up.")
    unix, tcp = _done(state, "unix_socket"), _done(state, "tcp_socket")
    pipe = _done(state, "os_pipe")
    pipe_calls = pipe.calls if pipe is not None else 2
    lines: list[str] = []
    verdict = _waiting_verdict(state, GROUPS["socket"])
    claim = {"id": "socket", "way": _("Socket"), "said": said, "lines": lines}
    counted = [(f, label) for f, label in ((unix, "AF_UNIX"), (tcp, "TCP")) if f is not None]
    if not counted:
        return {**claim, "verdict": verdict}
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
    verdict = HOLDS if all(f.calls > pipe_calls for f, _label in counted) else FAILS
    return {**claim, "verdict": verdict}


def _claim_shm(state: IpcState) -> dict[str, Any]:
    said = _("Shared memory is the fastest way, but there is little of it.")
    key = "shared_memory"
    f = _done(state, key)
    facts = state.facts
    lines: list[str] = []
    verdict = _waiting_verdict(state, GROUPS[key])
    skipped = state.figures.get(key)
    claim = {"id": "shm", "way": _("Shared memory"), "said": said, "lines": lines}
    if f is None and skipped is not None and skipped.status == SKIPPED:
        lines.append(_("It did not fit: %(reason)s.") % {"reason": _reason(skipped)})
        return {**claim, "verdict": PARTLY}
    if f is None:
        return {**claim, "verdict": verdict}
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
    limit = _done(state, MEMCPY.key)
    if limit is not None and limit.mb_s:
        lines.append(
            _(
                "A copy inside one process does %(mb)s MB/s: each message is still copied"
                " in and out, and semaphores hand the slots over."
            )
            % {"mb": number_words(limit.mb_s)}
        )
    small = True
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
    return {**claim, "verdict": HOLDS if fast and small else PARTLY if fast or small else FAILS}


def _claim_queue(state: IpcState) -> dict[str, Any]:
    said = _("Not in the list: the Queue the later lessons use.")
    f = _done(state, "mp_queue")
    lines: list[str] = []
    verdict = _waiting_verdict(state, GROUPS["queue"])
    if f is not None:
        verdict = REFERENCE
        figures = {"mb": _mb(f.mb_s), "rtt": time_words(f.p50_us or 0)}
        pipe = _done(state, "os_pipe")
        if pipe is not None:
            compared = ratio_words(f.mb_s or 0, pipe.mb_s or 0, "os.pipe()", "speed")
            lines.append(
                _(
                    "It pickles every message and a feeder thread writes it into a pipe:"
                    " %(mb)s MB/s, round trip %(rtt)s, %(compared)s one way."
                )
                % {**figures, "compared": compared}
            )
        else:
            lines.append(
                _(
                    "It pickles every message and a feeder thread writes it into a pipe:"
                    " %(mb)s MB/s, round trip %(rtt)s."
                )
                % figures
            )
    way = "multiprocessing.Queue"
    return {"id": "queue", "way": way, "said": said, "lines": lines, "verdict": verdict}


def claims(state: IpcState) -> list[dict[str, Any]]:
    out = []
    for make in (_claim_pipe, _claim_file, _claim_socket, _claim_shm, _claim_queue):
        c = make(state)
        c["verdict_class"], words = c.pop("verdict")
        c["verdict_words"] = _(words)
        out.append(c)
    return out


def view(state: IpcState, params: dict[str, Any]) -> dict[str, Any]:
    figs = [state.figures[k] for k in state.order() if k in state.figures]
    limit = state.figures.get(MEMCPY.key)
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
            "tput_ticks": _labelled(tput.ticks(), _tick_label),
            "rtt_ticks": _labelled(rtt.ticks(), _time_tick),
            "limits": limits,
            "claims": claims(state),
            "workers": _workers(state),
            "payload": size_words(n),
            "reason": reason_here,  # the log's results say why in the reader's language
        },
    }


def _workers(state: IpcState) -> list[model.WorkerView]:
    """main, and the pair measuring now (or the last pair)."""
    out = [w for name, w in state.workers.items() if name == "main"]
    pairs = [f for f in (state.figures.get(k) for k in state.order()) if f and f.sender]
    if pairs:
        last = pairs[-1]
        out += [w for name in (last.sender, last.receiver) if (w := state.workers.get(name))]
    return out


SCRIPT = string.Template('''\
"""Two processes talk through each of the lecture's ways; time it.

Linux. The children are forked, so they inherit every link main made.
"""
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from multiprocessing import shared_memory

fork = multiprocessing.get_context("fork")
Process, Queue, Semaphore = fork.Process, fork.Queue, fork.Semaphore

SIZE = $size  # bytes per message ($size_words)
COUNT = $count  # round trips, then as many one-way messages
# (the app also ends each phase after $budget_ms ms)
BODY = os.urandom(SIZE)


def message(i):
    return i.to_bytes(8, "little") + BODY[8:]


def read_exactly(read, n):
    data = bytearray()
    while len(data) < n:
        chunk = read(n - len(data))
        if not chunk:
            raise EOFError("the other process is gone")
        data += chunk
    return bytes(data)


class Link:
    def connect(self, side):                           # nothing to do for most
        pass

    def close(self):
        pass


class Pipes(Link):
    """A pipe goes one way only: the way back needs a second pipe."""

    def __init__(self):
        self.there, self.back = os.pipe(), os.pipe()   # (read end, write end)

    def send(self, side, data):
        fd = self.there[1] if side == "a" else self.back[1]
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    def recv(self, side):
        fd = self.back[0] if side == "a" else self.there[0]
        return read_exactly(lambda n: os.read(fd, n), SIZE)


class Files(Link):
    """One file per direction. Nothing wakes the reader: it polls the size."""

    def __init__(self):
        self.files = {"a": tempfile.TemporaryFile(), "b": tempfile.TemporaryFile()}
        self.written = self.read = 0                   # each process keeps its own

    def send(self, side, data):
        os.pwrite(self.files[side].fileno(), data, self.written)
        self.written += len(data)

    def recv(self, side):
        fd = self.files["b" if side == "a" else "a"].fileno()
        while os.fstat(fd).st_size < self.read + SIZE:
            pass
        data = os.pread(fd, SIZE, self.read)
        self.read += SIZE
        return data


class UnixSocket(Link):
    """More to set up: a file name, bind, listen, accept, connect."""

    def __init__(self):
        self.path = os.path.join(tempfile.mkdtemp(), "link.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)

    def connect(self, side):
        if side == "a":
            self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.conn.connect(self.path)
        else:
            self.conn, _ = self.listener.accept()

    def send(self, side, data):
        self.conn.sendall(data)

    def recv(self, side):
        return read_exactly(self.conn.recv, SIZE)

    def close(self):
        os.unlink(self.path)
        os.rmdir(os.path.dirname(self.path))


class SharedMemory(Link):
    """One slot per direction in a segment; semaphores say whose turn it is."""

    def __init__(self):
        self.shm = shared_memory.SharedMemory(create=True, size=2 * SIZE)
        self.full = {"a": Semaphore(0), "b": Semaphore(0)}
        self.empty = {"a": Semaphore(1), "b": Semaphore(1)}

    def send(self, side, data):
        at = 0 if side == "a" else SIZE
        self.empty[side].acquire()
        self.shm.buf[at:at + SIZE] = data
        self.full[side].release()

    def recv(self, side):
        other = "b" if side == "a" else "a"
        at = 0 if other == "a" else SIZE
        self.full[other].acquire()
        data = bytes(self.shm.buf[at:at + SIZE])
        self.empty[other].release()
        return data

    def close(self):
        self.shm.close()
        self.shm.unlink()


class Queues(Link):
    """For reference: multiprocessing.Queue pickles and uses a pipe."""

    def __init__(self):
        self.q = {"a": Queue(4), "b": Queue(4)}

    def send(self, side, data):
        self.q[side].put(data)

    def recv(self, side):
        return self.q["b" if side == "a" else "a"].get()


def receiver(link):
    link.connect("b")
    for _ in range(COUNT):
        link.send("b", link.recv("b"))                 # echo each round trip
    for i in range(COUNT):
        assert link.recv("b") == message(COUNT + i), "a message arrived damaged"
    link.send("b", message(0))                         # all of it arrived


def sender(name, link):
    link.connect("a")
    trips = []
    for i in range(COUNT):
        start = time.perf_counter()
        link.send("a", message(i))
        assert link.recv("a") == message(i)
        trips.append(time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(COUNT):
        link.send("a", message(COUNT + i))
    link.recv("a")                                     # the receiver has them all
    seconds = time.perf_counter() - start
    trips.sort()
    print(f"{name:22} {COUNT * SIZE / seconds / 1e6:8.0f} MB/s"
          f"  round trip p50 {trips[COUNT // 2] * 1e6:8.1f} us"
          f"  p99 {trips[int(COUNT * 0.99) - 1] * 1e6:8.1f} us")


WAYS = [$ways]

if __name__ == "__main__":
    src, dst = bytearray(BODY), bytearray(SIZE)
    start = time.perf_counter()
    for _ in range(COUNT):
        dst[:] = src                                   # the limit: one process copying
    print(f"{'memory copy':22} {COUNT * SIZE / (time.perf_counter() - start) / 1e6:8.0f} MB/s")
    failed = 0
    for name, make in WAYS:
        link = make()
        pair = [Process(target=receiver, args=(link,)),
                Process(target=sender, args=(name, link))]
        for p in pair:
            p.start()
        for p in pair:
            p.join()
            failed += p.exitcode != 0
        link.close()                                   # leave nothing behind
    print(f"accounting: {len(WAYS)} ways, {2 * len(WAYS)} processes, {failed} failed")
    sys.exit(1 if failed else 0)
''')

# The lesson program's classes for each choice of mechanisms (it leaves out
# multiprocessing.Pipe and TCP, which the app measures as well).
_SCRIPT_WAYS = {
    "pipe": [("os.pipe", "Pipes")],
    "file": [("temporary file", "Files")],
    "socket": [("AF_UNIX socket", "UnixSocket")],
    "shared_memory": [("shared_memory", "SharedMemory")],
    "queue": [("multiprocessing.Queue", "Queues")],
}


def script(params: dict[str, Any]) -> str:
    """The plain program for these parameters: it runs on its own (Linux)
    and ends with an accounting line."""
    p = Params.model_validate(params)
    chosen = (
        [way for ways in _SCRIPT_WAYS.values() for way in ways]
        if p.mechanisms == "all"
        else _SCRIPT_WAYS[p.mechanisms]
    )
    return SCRIPT.substitute(
        size=p.payload_bytes,
        size_words=size_words(p.payload_bytes),
        count=min(p.messages, 1000),
        budget_ms=p.budget_ms,
        ways=", ".join(f"({label!r}, {cls})" for label, cls in chosen),
    )


# Where each process is in that program: "role:state" -> text of its line.
CODE_LINES = {
    "main:starting": "p.join()",
    "sender:connected": 'link.connect("a")',
    "receiver:connected": 'link.connect("b")',
    "sender:round_trips": 'link.send("a", message(i))',
    "sender:one_way": 'link.send("a", message(COUNT + i))',
    "receiver:round_trips": 'link.send("b", link.recv("b"))',
    "receiver:one_way": 'assert link.recv("b") == message(COUNT + i)',
}


EXPERIMENT = Experiment(
    slug=SLUG,
    title=N_("Pipes, files, sockets, shared memory"),
    summary=N_("The lecture's claims about each way to talk, measured live."),
    lecture_part="2",
    params=Params,
    roles=(Role("main", "", main, fixed_name="main"),),
    program=script({}),
    script=script,
    code_lines=CODE_LINES,
    quick_params={"payload_bytes": 64, "messages": 40, "budget_ms": 30},
    modules=(__name__,),
    new_state=IpcState,
    fold=fold,
    frame_template="partials/ipc/_frame.html",
    stylesheet="experiments/ipc.css",
    view=view,
    main_in_process=True,
    workers_needed=lambda params: 3,  # main and one pair at a time
    notes={"finished": N_("every mechanism had its turn")},
    # How long each pair spent measuring tells which way is faster.
    outcome_states=frozenset({ROUND_TRIPS, ONE_WAY}),
)
