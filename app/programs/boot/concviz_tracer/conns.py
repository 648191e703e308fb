"""The two ends of a ``multiprocessing.Pipe()``, traced.

Each end is the library's own `Connection`, of a subclass that reports
`send` (stamped before it is written, so that the other end's `recv` comes
after it) and `recv` (with `recv_wait` first when nothing is there yet). A
message bigger than a pipe holds is written only as the other end reads
it: its send says `send_wait` before it writes and `sent` once it has
written it all, so that two ends that both send such a message before
they read are seen waiting. An end pickled into a child process (a Process
argument) stays traced with the same key.
"""

from __future__ import annotations

from multiprocessing import connection as _connection
from multiprocessing import reduction as _reduction
from types import FrameType

from . import gate, recorder, registry, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

_dumps = _reduction.ForkingPickler.dumps
# What a pipe (or a socket pair's buffer) takes at least before its writer
# waits for the reader: Linux gives a pipe 64 KiB.
PIPE_HOLDS = 65536


class Connection(_connection.Connection):
    _cv_key: str | None = None

    def send(self, obj: Any) -> None:
        key = self._cv_key
        if key is None:
            return super().send(obj)
        self._check_closed()  # type: ignore[attr-defined]
        self._check_writable()  # type: ignore[attr-defined]
        buf = _dumps(obj)
        data = where.at(1)
        gate.before("send", key, data)
        line = dict(data)
        data["v"] = where.short_repr(obj)
        recorder.emit(K.SEND, key, data)
        big = _waits(key, len(buf), line)
        self._send_bytes(buf)  # type: ignore[attr-defined]
        if big:
            recorder.emit(K.SENT, key, line)
        return None

    def send_bytes(self, buf: Any, offset: int = 0, size: int | None = None) -> None:
        key = self._cv_key
        if key is None:
            return super().send_bytes(buf, offset, size)
        data = where.at(1)
        gate.before("send_bytes", key, data)
        line = dict(data, call="send_bytes")
        view = memoryview(buf)
        data["v"] = where.short_repr(bytes(view[offset : offset + 100]))
        recorder.emit(K.SEND, key, data)
        big = _waits(key, view.nbytes - offset if size is None else size, line)
        super().send_bytes(buf, offset, size)
        if big:
            recorder.emit(K.SENT, key, line)
        return None

    def _cv_wait(self, key: str, call: str) -> dict[str, Any]:
        """Before a receive: its wait said if nothing is there (`call`: the
        method as the program calls it)."""
        data = where.at(2)
        self._check_closed()  # type: ignore[attr-defined]
        self._check_readable()  # type: ignore[attr-defined]
        gate.before(call, key, data)
        if not self.poll():
            recorder.emit(K.RECV_WAIT, key, dict(data, call=call))
            recorder.flush()
        return data

    def recv(self) -> Any:
        key = self._cv_key
        if key is None:
            return super().recv()
        data = self._cv_wait(key, "recv")
        obj = super().recv()
        data["v"] = where.short_repr(obj)
        recorder.emit(K.RECV, key, data)
        return obj

    def recv_bytes(self, maxlength: int | None = None) -> bytes:
        key = self._cv_key
        if key is None:
            return super().recv_bytes(maxlength)
        data = self._cv_wait(key, "recv_bytes")
        got = super().recv_bytes(maxlength)
        data["v"] = where.short_repr(got)
        recorder.emit(K.RECV, key, data)
        return got


def _waits(key: str, size: int, line: dict[str, Any]) -> bool:
    """Say, before a message of `size` bytes is written, that its send may
    wait for the other end to read (True: it is that big)."""
    if size <= PIPE_HOLDS:
        return False
    recorder.emit(K.SEND_WAIT, key, {**line, "bytes": size})
    recorder.flush()  # it may wait long: the server sees it now
    return True


def _reduce(conn: Connection) -> Any:
    rebuild, args = _connection.reduce_connection(conn)  # type: ignore[attr-defined]
    return _rebuild, (rebuild, args, conn._cv_key)


def _rebuild(rebuild: Any, args: Any, key: str | None) -> Any:
    conn = rebuild(*args)
    conn.__class__ = Connection
    conn._cv_key = key
    return conn


_reduction.register(Connection, _reduce)


def make_pipe(ctx: Any, frame: FrameType, real: Any, duplex: bool = True) -> Any:
    ends = real(ctx, duplex)
    names = registry.names_for(frame, "Connection", 2)
    keys = [registry.new_key(), registry.new_key()]  # each end's `new` names the other
    for k, end in enumerate(ends):
        end.__class__ = Connection
        end._cv_key = keys[k]
        extra = {"peer": keys[1 - k], "duplex": bool(duplex)}
        registry.new("Connection", "multiprocessing", frame, names[k], keys[k], **extra)
    return ends
