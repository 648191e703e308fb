"""Pipes and select: ``os.read``, ``os.write`` and ``select.select`` calls
of the user's code that must wait say so before they block (`fd_wait`),
and `fd_woke` once they return (or raise), as sockets do (`sockets`).

What waits: a read with nothing to read yet, a write with no room, a
select with nothing ready; on a blocking file descriptor. One poll(2)
tells; a call that need not wait says nothing, and regular files never
wait. A read or write says what the descriptor is: an anonymous pipe
(``os.pipe()``, whose ends only the program's processes hold), a named
FIFO, a terminal, a socket.

The stand-ins are instances, not functions: a class that keeps one as an
attribute (``_read = os.read``) does not bind it as a method.
"""

from __future__ import annotations

import os
import select
import stat

from . import gate, hooks, recorder, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class _Traced:
    __slots__ = ("__wrapped__", "_wait")

    def __init__(self, real: Any, wait: Callable[..., Any]) -> None:
        self.__wrapped__ = real
        self._wait = wait

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wait(self.__wrapped__, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # __name__, __doc__...: the real one's
        return getattr(self.__wrapped__, name)

    def __repr__(self) -> str:
        return repr(self.__wrapped__)


def install() -> None:
    os.read = _Traced(os.read, _read)  # type: ignore[assignment]
    os.write = _Traced(os.write, _write)  # type: ignore[assignment]
    select.select = _Traced(select.select, _select)  # type: ignore[assignment]
    # multiprocessing's connections read and write their own way (`conns`).
    hooks.when_imported("multiprocessing.connection", _plain)


def _plain(connection: Any) -> None:
    """A Connection keeps os.read and os.write as class attributes, and as
    its methods' default arguments: the real ones again, there."""
    cls = getattr(connection, "Connection", None)
    for name, value in vars(cls).items() if cls is not None else ():
        if isinstance(value, _Traced):
            setattr(cls, name, value.__wrapped__)
        defaults = getattr(value, "__defaults__", None)
        if defaults and any(isinstance(d, _Traced) for d in defaults):
            value.__defaults__ = tuple(getattr(d, "__wrapped__", d) for d in defaults)


def _read(real: Any, fd: int, n: int) -> Any:
    return _call(real, "os.read", fd, select.POLLIN, fd, n)


def _write(real: Any, fd: int, data: Any) -> Any:
    gate.before_user_call("os.write", 2)  # step mode: a write is a step, as a print is
    return _call(real, "os.write", fd, select.POLLOUT, fd, data)


def _call(real: Any, op: str, fd: Any, events: int, *args: Any) -> Any:
    if recorder.is_silent() or (frame := where.called_by_user(3)) is None:
        return real(*args)
    what = must_wait(fd, events)
    if what is None:
        return real(*args)
    data = where.frame_data(frame)
    data.update(op=op, fd=fd, what=what)
    return waited(real, args, data)


def must_wait(fd: Any, events: int) -> str | None:
    """What `fd` is (`_what`) if a blocking call on it would wait now for
    `events`; None if it would not (or `fd` is no descriptor: the real call
    then says so)."""
    try:
        if not os.get_blocking(fd) or ready(fd, events):
            return None
        return _what(fd)
    except (OSError, TypeError, ValueError):
        return None


def _select(real: Any, rlist: Any, wlist: Any, xlist: Any, timeout: Any = None) -> Any:
    if recorder.is_silent() or (frame := where.called_by_user(2)) is None or timeout == 0:
        return real(rlist, wlist, xlist, timeout)
    rlist, wlist, xlist = list(rlist), list(wlist), list(xlist)  # read twice: no generators
    ready = real(rlist, wlist, xlist, 0)
    if any(ready):
        return ready
    data = where.frame_data(frame)
    data.update(op="select", files=len(rlist) + len(wlist) + len(xlist), timeout=timeout)
    return waited(real, (rlist, wlist, xlist, timeout), data)


def waited(real: Any, args: Any, data: dict[str, Any]) -> Any:
    """Say the wait (`data`), then make the call, then say its end."""
    recorder.emit(K.FD_WAIT, None, data)
    recorder.flush()
    try:
        return real(*args)
    finally:
        recorder.emit(K.FD_WOKE, None, {"op": data["op"]})


def ready(fd: int, events: int) -> bool:
    """Whether a call on `fd` waiting for `events` would go on at once."""
    poll = select.poll()
    poll.register(fd, events)
    return bool(poll.poll(0))


def _what(fd: int) -> str:
    """ "pipe" (anonymous), "fifo" (named), "tty", "socket" or "file"."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISFIFO(mode):
        try:
            anonymous = os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:")
        except OSError:
            anonymous = False
        return "pipe" if anonymous else "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "tty" if os.isatty(fd) else "file"
