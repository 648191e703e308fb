"""Batches of events on a pipe: their encoding, their frames, and putting
them back together (standard library only: the traced program's processes
write with it, the server reads with it).

Encoding: `marshal`, which for the plain tuples of events writes in half
and reads in about 0.7 of `pickle`'s time. Both ends are the same
interpreter. A batch `marshal` cannot write (an object of another type in an
event's data) goes as a pickle; a tag byte says which.

Frames: a write of at most `select.PIPE_BUF` bytes reaches a pipe whole or
not at all, even when its writer is killed while it waits for room, and
never mixed with another write; a longer one may be cut short or mixed. So
a batch goes in frames of that size, each written at once, each naming its
writer (pid and thread) and whether it starts or ends its batch, and the
reader puts each writer's batch back together. Each frame is preceded by
its length, a 4-byte big-endian signed integer, as
`multiprocessing.connection.Connection.send_bytes` writes it, so that a
`Connection` reads them (`recv_bytes`). Nothing needs a lock: the frames of
several writers may interleave, and a writer killed in the middle of a batch
leaves whole frames, whose batch the reader drops (it says so) while it
reads on.
"""

from __future__ import annotations

import marshal
import math
import select
import struct
import time
from collections.abc import Callable

from .where import MAX_REPR

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Reader(Protocol):
        """What `read_batch` needs of a `multiprocessing.connection.Connection`."""

        def poll(self, timeout: float | None = ...) -> bool: ...

        def recv_bytes(self, maxlength: int | None = ...) -> bytes: ...


_MARSHAL, _PICKLE, _EVENTS = b"m", b"p", b"e"
LENGTH = struct.Struct("!i")
# A frame: flags, the writer's pid and thread id, then a piece of the encoded
# batch; with its length first, one atomic write.
HEAD = struct.Struct("!Bii")
FIRST, LAST = 1, 2
FRAME_BYTES = select.PIPE_BUF - LENGTH.size - HEAD.size


def encode(batch: Any) -> bytes:
    try:
        return _MARSHAL + marshal.dumps(batch)
    except ValueError:  # an unmarshallable object
        import pickle  # not at import: the tracer's processes rarely need it

        return _PICKLE + pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)


def encode_events(batch: list[tuple[Any, ...]]) -> bytes:
    """A traced program's batch (``concviz_tracer.recorder``): events
    ``(t, (worker, pid, tid), kind, item, data)``, and puts and gets as
    ``(t, (worker, pid, tid), kind, key, site, v, size)``, `site` the
    user's ``(line,)``, ``(line, file)`` or ``()`` (`where.site`), `v` a
    repr or a value of `where.PLAIN_TYPES`. A thread's tuple and a call
    site's are one object each, written once and then referred to
    (marshal's references), and a put or a get needs no dict: less to make,
    write and read. `decode` gives the ``(t, worker, pid, tid, kind, item,
    data)`` of `kinds`, with the data dict described there."""
    return _EVENTS + encode(batch)


def _events(batch: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """`encode_events`' batch as the events of `kinds`: one loop, no call
    per event (the server's reader decodes hundreds of thousands a second)."""
    out: list[tuple[Any, ...]] = []
    append = out.append
    for e in batch:
        if len(e) == 5:
            t, (label, pid, tid), kind, item, data = e
            append((t, label, pid, tid, kind, item, data))
            continue
        t, (label, pid, tid), kind, key, site, v, size = e
        if type(v) is not str:  # a value of where.PLAIN_TYPES: its short_repr here
            v = repr(v)
            if len(v) > MAX_REPR:
                v = v[: MAX_REPR - 3] + "..."
        if not site:
            data = {"v": v, "size": size}
        elif len(site) == 1:
            data = {"line": site[0], "v": v, "size": size}
        else:
            data = {"line": site[0], "file": site[1], "v": v, "size": size}
        append((t, label, pid, tid, kind, key, data))
    return out


def decode(data: bytes | memoryview) -> Any:
    tag, body = bytes(data[:1]), memoryview(data)[1:]
    if tag == _MARSHAL:
        return marshal.loads(body)
    if tag == _PICKLE:
        import pickle

        return pickle.loads(body)
    if tag == _EVENTS:
        return _events(decode(body))
    raise ValueError(f"unknown batch tag {tag!r}")


def frames(data: bytes, pid: int, tid: int) -> list[bytes]:
    """The frames that carry one encoded batch, in order (without their
    length: `Connection.send_bytes` adds it)."""
    n = max(1, math.ceil(len(data) / FRAME_BYTES))
    out = []
    for k in range(n):
        flags = (FIRST if k == 0 else 0) | (LAST if k == n - 1 else 0)
        piece = data[k * FRAME_BYTES : (k + 1) * FRAME_BYTES]
        out.append(HEAD.pack(flags, pid, tid) + piece)
    return out


def messages(data: bytes, pid: int, tid: int) -> list[bytes]:
    """The frames of one encoded batch each with its length first: each one
    is written with a single `os.write` (at most `select.PIPE_BUF` bytes)."""
    return [LENGTH.pack(len(f)) + f for f in frames(data, pid, tid)]


class Reassembler:
    """Puts each writer's frames back into its batches.

    `warn` hears about batches that never came whole (their writer was
    killed in the middle of one)."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self._warn = warn
        self._partial: dict[tuple[int, int], list[memoryview]] = {}

    def feed(self, frame: bytes | memoryview) -> tuple[bool, Any]:
        """`(True, batch)` when `frame` ends a batch, else `(False, None)`.
        A message that is no frame raises (`ValueError`, `struct.error`)."""
        flags, pid, tid = HEAD.unpack_from(frame)
        if flags & ~(FIRST | LAST):
            raise ValueError(f"not a frame of events (flags {flags:#x})")
        writer, piece = (pid, tid), memoryview(frame)[HEAD.size :]
        partial = self._partial
        if flags & FIRST:
            if partial.pop(writer, None) is not None:
                self._warn(f"events of pid {pid}: the rest of a batch never came; it is lost")
            if flags & LAST:
                return True, decode(piece)
            partial[writer] = [piece]
            return False, None
        parts = partial.get(writer)
        if parts is None:
            raise ValueError(f"events of pid {pid}: a frame without the start of its batch")
        parts.append(piece)
        if flags & LAST:
            del partial[writer]
            return True, decode(b"".join(parts))
        return False, None

    def close(self) -> None:
        """Say which writers left a batch cut short, and forget them."""
        for pid, _ in self._partial:
            self._warn(f"events of pid {pid}: a batch was cut short (its writer was killed)")
        self._partial.clear()


class Unframer:
    """Cuts bytes read in bulk from a pipe into its frames (each without its
    length). Each message was one write, so the pipe holds whole ones; a
    read may still end inside one (it asked for fewer bytes than there
    were): its start waits here for the next read. One read for many frames
    saves the reader a wake-up, a wait and two reads per frame."""

    def __init__(self) -> None:
        self._rest = b""

    def split(self, chunk: bytes) -> list[memoryview]:
        """The whole frames `chunk` completes, in order. A length no frame
        has raises `OSError` (as ``Connection.recv_bytes`` does)."""
        data = self._rest + chunk if self._rest else chunk
        view = memoryview(data)
        unpack = LENGTH.unpack_from
        out = []
        pos, n = 0, len(data)
        while n - pos >= LENGTH.size:
            (size,) = unpack(data, pos)
            if not HEAD.size <= size <= select.PIPE_BUF - LENGTH.size:
                raise OSError("bad message length")
            start = pos + LENGTH.size
            end = start + size
            if end > n:
                break
            out.append(view[start:end])
            pos = end
        self._rest = data[pos:]
        return out


def read_batch(conn: Reader, reassembler: Reassembler, timeout: float) -> Any:
    """The next whole batch from `conn`; `queue.Empty` if none came within
    `timeout`. A message longer than a frame, or that is no frame, raises
    (`OSError`, `ValueError`, `struct.error`)."""
    import queue  # the server's side only

    deadline = time.monotonic() + timeout
    while True:
        if not conn.poll(max(0.0, deadline - time.monotonic())):
            raise queue.Empty
        done, batch = reassembler.feed(conn.recv_bytes(select.PIPE_BUF))
        if done:
            return batch
