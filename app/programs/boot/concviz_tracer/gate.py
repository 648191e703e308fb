"""Step mode: each traced action of the program waits for the class's permit.

::

    the server (ProgramRuntime)              every thread of the program
    ---------------------------              ---------------------------
    set_stepping(on): writes the gate   -->  before(kind, key, data) before each action:
      byte (1 or 0) of the file `gate`         byte 0: go on (one read of a shared page)
    permit(tid): makes `permits/<tid>`  -->    byte 1: emit `wants`, flush, then wait for
      (written aside, then renamed)             `permits/<tid>` (taken: unlinked) or byte 0

The gate file is mapped read-only once per process (a forked child inherits
the mapping); the hot path is that one byte, so a program that is not
stepped runs at its usual speed. A waiting thread polls every `POLL_S`: a
click is far slower than that. Bytes 8-15 of the file hold the run's speed
(a double, `speed()`): the slider that scales the program's sleeps. A stop
kills the whole session, waiting threads included.
"""

from __future__ import annotations

import _thread
import mmap
import os
import struct
import time

from . import kinds as K
from . import recorder, where

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

ENV = "CONCVIZ_TRACE_GATE"
POLL_S = 0.01
SPEED_AT = 8  # the speed's offset in the gate file
SIZE = SPEED_AT + 8

_sleep = time.sleep  # the real one: the tracer patches time.sleep
_native_id = _thread.get_native_id
# The gate byte (until open_gate(): never stepping). The hottest paths (a
# queue's put and get) test ``view[0]`` themselves and call `hold`, which
# saves a call per action.
view: Any = bytes(1)
_speed_view: Any = None  # until open(): speed 1
_permits = ""


def open_gate(path: str) -> None:
    """Map the gate file `path` (its directory holds ``permits/``); nothing
    if it cannot be mapped (the program runs unstepped)."""
    global view, _permits
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        size = SIZE if os.fstat(fd).st_size >= SIZE else 1
        view = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        return
    finally:
        os.close(fd)
    global _speed_view
    if len(view) >= SIZE:
        _speed_view = view
    _permits = os.path.join(os.path.dirname(path), "permits")


def stepping() -> bool:
    return bool(view[0])


def speed() -> float:
    """The run's speed: 2.0 runs the program's sleeps twice as fast."""
    if _speed_view is None:
        return 1.0
    (value,) = struct.unpack_from("d", _speed_view, SPEED_AT)
    return float(value) if value > 0 else 1.0


def before(kind: str, key: str | None, data: dict[str, Any]) -> None:
    """Called before an action of the user's code (`kind`: its name, as
    "acquire"; `key`: its object's; `data`: where it is, ``line``...)."""
    if view[0]:
        hold(kind, key, data)


def before_user_call(kind: str, depth: int) -> None:
    """`before` a call of the user's code `depth` frames up from its caller
    that has no object of its own (a print, an os.write); where it is, is
    worked out only in step mode (a program that prints a lot pays one
    byte's read per line)."""
    if view[0] and (frame := where.called_by_user(depth + 1)) is not None:
        hold(kind, None, where.frame_data(frame))


def hold(kind: str, key: str | None, data: dict[str, Any]) -> None:
    """Emit `wants`, flush, and wait for this thread's permit (or for the
    gate to open): `before`, once the gate byte said to."""
    if recorder.current() is None:  # a process that never shows
        return
    wants: dict[str, Any] = {"kind": kind, "line": data.get("line")}
    if "file" in data:
        wants["file"] = data["file"]
    recorder.emit(K.WANTS, key, wants)
    recorder.flush()
    permit = os.path.join(_permits, str(_native_id()))
    byte = view
    while byte[0]:
        try:
            os.unlink(permit)
        except FileNotFoundError:
            _sleep(POLL_S)
            continue
        except OSError:  # the run's directory is going: the run is ending
            return
        return
