"""What a program prints, what it reads on stdin, and its sleeps.

``sys.stdout`` and ``sys.stderr`` are wrapped: each write from Python is an
`out` event, and goes on to the real stream too unless the server says not
to (it reads what else is written there, `app.programs.output`). A stream
that is not the run's output, in a process whose output its parent reads
through a pipe (``subprocess.run(..., capture_output=True)``) or sends to a
file, says so in its events (``into``): what it prints is not on the
program's screen.
Everything else about the streams is the real one's (``buffer``,
``encoding``, ``isatty()``, ``fileno()``...). ``print()`` to a wrapped
stream writes its line at once, so that one print is one event; a flush
sends the events waiting in the process to the server. ``sys.__stdout__``
is the wrapped stream too.
"""

from __future__ import annotations

import builtins
import os
import stat
import sys
import time

from . import fds, gate, recorder, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

# A longer write goes in several events.
MAX_TEXT = 4096
# A flush of a stream sends the process's events at once, unless the last
# one did less than this ago.
FLUSH_AGAIN_NS = 1_000_000
_flushed_ns = 0
_monotonic_ns = time.monotonic_ns
# A sleep this long or longer flushes first (the page shows who sleeps).
FLUSH_SLEEP_S = 0.005
# A user's sleep longer than this is slept in slices of it, so that a new
# speed (gate.speed) takes effect within it.
SLICE_S = 0.05


class TracedStream:
    """A text stream that reports what is written to it."""

    def __init__(self, real: Any, stream: str, echo: bool = True, into: str = "") -> None:
        self.__dict__["_cv_real"] = real
        self.__dict__["_cv_stream"] = stream
        # Whether a reported write also goes to the real stream: not when
        # that is the run's own output file (`_goes_to`).
        self.__dict__["_cv_echo"] = echo
        # What it goes into when that is not the program's screen: "pipe",
        # "file"... (`_goes_to`).
        self.__dict__["_cv_into"] = into
        # The run's output file (when it is that), which holds only what is
        # written past Python: its size at each write says which of those
        # bytes came before it (`_out`).
        fd = -1
        if not echo:
            try:
                fd = real.fileno()
            except (AttributeError, OSError, ValueError):
                fd = -1
        self.__dict__["_cv_fd"] = fd

    def write(self, s: Any) -> Any:
        if type(s) is str and s and not recorder.is_silent():
            try:
                _out(s, self._cv_stream, self._cv_into, self._cv_fd)
            except Exception:
                pass
            else:
                if not self._cv_echo:
                    return len(s)
        return self._cv_real.write(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> Any:
        # What the program flushed is on its way to the page too: a process
        # that dies by a signal right after (os.kill, a crash in C code)
        # loses no line it flushed, as a terminal would show it. Flushes
        # less than FLUSH_AGAIN_NS after the last one (a loop that prints
        # with flush=True) leave their lines to the next batch.
        global _flushed_ns
        now = _monotonic_ns()
        if now - _flushed_ns >= FLUSH_AGAIN_NS and not recorder.is_silent():
            _flushed_ns = now
            recorder.flush()
        return self._cv_real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cv_real, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._cv_real, name, value)

    def __enter__(self) -> Any:
        return self._cv_real.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._cv_real.__exit__(*exc)

    def __iter__(self) -> Any:
        return iter(self._cv_real)

    def __repr__(self) -> str:
        return repr(self._cv_real)


def _out(text: str, stream: str, into: str, fd: int = -1) -> None:
    data = where.at(2)
    if into:
        data["into"] = into
    if fd >= 0:  # how much was written past Python before this
        try:  # noqa: SIM105 (contextlib would be one more import in every process)
            data["at"] = os.fstat(fd).st_size
        except OSError:
            pass
    for k in range(0, len(text), MAX_TEXT):
        piece = dict(data, text=text[k : k + MAX_TEXT], stream=stream)
        recorder.emit(K.OUT, None, piece)


_real_print = builtins.print
_real_input = builtins.input
_real_sleep = time.sleep


def _print(
    *args: Any, sep: Any = " ", end: Any = "\n", file: Any = None, flush: Any = False
) -> None:
    target = sys.stdout if file is None else file
    if (
        type(target) is not TracedStream
        or (sep is not None and type(sep) is not str)
        or (end is not None and type(end) is not str)
    ):
        return _real_print(*args, sep=sep, end=end, file=file, flush=flush)
    gate.before_user_call("print", 1)  # step mode: a line printed is a step (who prints first?)
    text = (" " if sep is None else sep).join([str(a) for a in args])
    target.write(text + ("\n" if end is None else end))
    if flush:
        target.flush()
    return None


def _input(*args: Any) -> Any:
    try:
        line = _read_line(args)
    except EOFError:
        data = where.at(1)
        if data:
            recorder.emit(K.STDIN_EOF, None, data)
            recorder.flush()
        raise
    out = sys.stdout
    if type(out) is TracedStream and not recorder.is_silent() and _typed():
        # The line read shows after its prompt, as a terminal echoes what
        # is typed; the program's real output stays as it is.
        try:  # noqa: SIM105 (contextlib would be one more import in every process)
            _out(line + "\n", out._cv_stream, out._cv_into, out._cv_fd)
        except Exception:
            pass
    return line


def _read_line(args: Any) -> Any:
    """input(): said as a wait when nothing is there to read yet (a child
    whose parent has not written to its stdin)."""
    frame = where.called_by_user(2) if not recorder.is_silent() else None
    what = fds.must_wait(0, fds.select.POLLIN) if frame is not None else None
    if what is None:
        return _real_input(*args)
    data = where.frame_data(frame)
    data.update(op="input", fd=0, what=what)
    return fds.waited(_real_input, args, data)


def _typed() -> bool:
    """Whether what input() read stands for what a user typed: the run's
    input, not what another process wrote into a pipe or a socket."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return True
    return not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode))


def _sleep(secs: Any) -> None:
    frame = where.called_by_user(1)
    if frame is not None and (type(secs) is float or type(secs) is int) and secs >= 0:
        data = where.frame_data(frame)
        gate.before("sleep", None, data)
        data["s"] = secs
        recorder.emit(K.SLEEP, None, data)
        if secs >= FLUSH_SLEEP_S:
            recorder.flush()
        if gate.speed() != 1.0 or secs > SLICE_S:
            return _scaled_sleep(secs)
    return _real_sleep(secs)


def _scaled_sleep(secs: float) -> None:
    """Sleep `secs` of the program's time at the run's speed, in slices, so
    that a new speed takes effect within a sleep already begun."""
    left = float(secs)
    while left > 0:
        speed = gate.speed()
        step = min(left / speed, SLICE_S)
        _real_sleep(step)
        left -= step * speed


def _goes_to(real: Any, name: str) -> tuple[bool, str]:
    """Where the real stream `name` goes, from one fstat: whether it is the
    run's own output file, which the server reads for what Python does not
    write (``CONCVIZ_TRACE_NO_ECHO``: its directory); else what it goes into
    ("pipe", "file", "socket", "devnull", or "" for a terminal or when
    unknown). A pipe to another process (a parent reading a child's output)
    is not the run's output: what is written there must get there. Without
    ``CONCVIZ_TRACE_NO_ECHO`` (a program not run by the server) every stream
    is taken as the program's screen."""
    served = os.environ.get("CONCVIZ_TRACE_NO_ECHO")
    if not served:
        return False, ""
    try:
        st = os.fstat(real.fileno())
        kept = os.stat(os.path.join(served, name + ".txt"))
        if os.path.samestat(st, kept):
            return True, ""
        if stat.S_ISCHR(st.st_mode):
            return False, "devnull" if os.path.samestat(st, os.stat(os.devnull)) else ""
    except (OSError, ValueError, AttributeError):
        return False, ""
    for kind, test in (("pipe", stat.S_ISFIFO), ("file", stat.S_ISREG), ("socket", stat.S_ISSOCK)):
        if test(st.st_mode):
            return False, kind
    return False, ""


def install() -> None:
    for name in ("stdout", "stderr"):
        real = getattr(sys, name)
        if real is not None and type(real) is not TracedStream:
            kept, into = _goes_to(real, name)
            traced = TracedStream(real, name, not kept, into)
            setattr(sys, name, traced)
            # `sys.stdout = sys.__stdout__`, the usual way back from a
            # redirect, comes back to the traced stream.
            if getattr(sys, f"__{name}__", None) is real:
                setattr(sys, f"__{name}__", traced)
    # Named as the real ones: the page shows `ex.submit(time.sleep, 1)`'s
    # task as "sleep", and a student's help(print) reads as usual.
    for mine, real in ((_print, _real_print), (_sleep, _real_sleep), (_input, _real_input)):
        mine.__name__ = mine.__qualname__ = real.__name__
        mine.__doc__ = real.__doc__
    builtins.print = _print
    builtins.input = _input
    time.sleep = _sleep
