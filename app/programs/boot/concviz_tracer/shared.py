"""``Value`` and ``Array``: what a shared value holds, shown on its lock.

The tracer cannot see ``counter.value += 1`` read and write memory, but
each read and write of a synchronized value takes its lock, and the lock's
``released`` says what the value holds at that moment (``shows``), read
while the lock is still held. The lock learns its value where multiprocessing
wraps the two together, in the parent and again in a child that received
them pickled.
"""

from __future__ import annotations

from types import ModuleType

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

ITEMS_SHOWN = 8  # an Array's first items
CHARS_SHOWN = 60


def shown(obj: Any) -> str:
    """What the ctypes object `obj` holds, as Python would print it, cut
    short: ``41``, ``[0.5, 1.0, 0.0]``, ``b'hello'``."""
    try:
        if hasattr(obj, "_length_"):  # an Array
            if getattr(obj._type_, "_type_", "") in ("c", "u"):  # of chars: a string
                text = repr(obj.value)
            else:
                text = repr(obj[:ITEMS_SHOWN])
                if len(obj) > ITEMS_SHOWN:
                    text = text[:-1] + ", …]"
        else:
            text = repr(obj.value)
    except Exception:  # a Structure, or a value that will not print
        text = "?"
    return text if len(text) <= CHARS_SHOWN else text[: CHARS_SHOWN - 1] + "…"


def install(sharedctypes: ModuleType) -> None:
    """A traced lock that wraps a shared value keeps it (`_cv_shows`), for
    its releases to show; the first value it wraps, if it wraps several."""
    from .mpsync import SemLockTracing

    base: Any = sharedctypes.SynchronizedBase
    init = base.__init__

    def __init__(self: Any, obj: Any, lock: Any = None, ctx: Any = None) -> None:
        init(self, obj, lock, ctx)
        lk = self._lock
        if isinstance(lk, SemLockTracing) and lk._cv_shows is None:
            lk._cv_shows = obj

    base.__init__ = __init__
