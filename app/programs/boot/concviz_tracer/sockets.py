"""Sockets: a blocking call that must wait says so before it blocks.

A call on a blocking socket (no timeout, or one) that finds nothing to do
yet (no connection to accept, nothing to read, no room to write) says
`sock_wait` and is flushed, so that the page shows who waits where; then
`sock_woke` once it returns (or raises). A call that need not wait says
nothing: one poll(2) of the socket tells. Non-blocking sockets (asyncio's)
never wait, and sockets that library code uses are left alone.

A socket is named the first time it waits, or listens, after the user's
expression it was called on (``conn`` in ``conn.recv(1024)``), with its
family and its two addresses: the page pairs two ends of one connection in
the program, and shows a server's listener from its ``listen()``.
"""

from __future__ import annotations

import linecache
import re
import select
import weakref
from types import FrameType

from . import fds, recorder, registry, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

# The calls that may wait, and what they wait for.
READS = ("accept", "recv", "recv_into", "recvfrom", "recvfrom_into", "recvmsg")
WRITES = ("sendall", "send", "sendto")

_keys: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def install(module: Any) -> None:
    cls = module.socket
    for name in READS:
        _wrap(cls, name, select.POLLIN)
    for name in WRITES:
        _wrap(cls, name, select.POLLOUT)
    real_listen = cls.listen

    def listen(self: Any, *args: Any) -> None:
        real_listen(self, *args)
        frame = where.called_by_user(1)
        if frame is not None and not recorder.is_silent() and self not in _keys:
            _named(self, frame, "listen")

    listen.__doc__ = real_listen.__doc__
    cls.listen = listen


def _wrap(cls: Any, name: str, events: int) -> None:
    real = getattr(cls, name)

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if recorder.is_silent() or self.gettimeout() == 0.0:
            return real(self, *args, **kwargs)
        frame = where.called_by_user(1)  # before the poll: a library's sockets cost no syscall
        if frame is None or _ready(self, events):
            return real(self, *args, **kwargs)
        key = _keys.get(self) or _named(self, frame, name)
        data = where.frame_data(frame)
        data.update(op=name, timeout=self.gettimeout())
        recorder.emit(K.SOCK_WAIT, key, data)
        recorder.flush()
        done: dict[str, Any] = {"op": name}
        try:
            result = real(self, *args, **kwargs)
        except BaseException as exc:
            done["error"] = f"{type(exc).__name__}: {exc}"
            recorder.emit(K.SOCK_WOKE, key, done)
            raise
        if name.startswith("recv"):
            got = result[0] if isinstance(result, tuple) else result
            done["bytes"] = got if isinstance(got, int) else len(got)
        recorder.emit(K.SOCK_WOKE, key, done)
        return result

    call.__name__ = name
    call.__qualname__ = f"socket.{name}"
    call.__doc__ = real.__doc__
    setattr(cls, name, call)


def _ready(sock: Any, events: int) -> bool:
    """Whether the call can go on at once (a closed socket: it fails at once)."""
    fd = sock.fileno()
    return fd < 0 or fds.ready(fd, events)


def _named(sock: Any, frame: FrameType, method: str) -> str:
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    m = re.search(rf"([A-Za-z_][\w.]*(?:\[[^\]]*\])?)\.{method}\s*\(", line)
    name = registry.unique(m.group(1)) if m else f"<socket>@{frame.f_lineno}"
    key = registry.new(
        "socket",
        "socket",
        frame,
        name=name,
        family=getattr(sock.family, "name", str(sock.family)),
        local=_address(sock.getsockname),
        peer=_address(sock.getpeername),
    )
    _keys[sock] = key
    return key


def _address(get: Any) -> str:
    """``127.0.0.1:5000``, a Unix socket's path, or "" (none: a listener's
    peer, an end of a socket pair)."""
    try:
        address = get()
    except OSError:
        return ""
    if isinstance(address, tuple):
        return f"{address[0]}:{address[1]}"
    return address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)
