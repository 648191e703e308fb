"""Blocking for real, after a wait was recorded.

The wait event is in the buffer before the call blocks; it is flushed (so
that the page shows who waits) once the call has waited `GRACE_S` without
getting through. Most waits in a fast program are shorter than that (a full
queue gets a free slot within microseconds), and a flush each would cost a
write each: about a third of a bare producer/consumer's speed. A wait the
page could see (it draws about 20 frames a second) is flushed after at most
`GRACE_S`. The caller's timeout holds for the two calls together.

Only calls that may be repeated without changing what they do are split in
two this way (a lock's acquire, a queue's put or get); a condition's wait
(it releases and re-takes the lock) flushes first and waits once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from . import recorder

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

GRACE_S = 0.001
_monotonic = time.monotonic


def until_raises(
    call: Callable[[float | None], Any], timeout: float | None, exc: type[BaseException]
) -> Any:
    """`call(t)` blocks at most `t` seconds (None: for good) and raises
    `exc` when its time is up."""
    if timeout is not None and timeout <= GRACE_S:
        return call(timeout)
    start = _monotonic()
    try:
        return call(GRACE_S)
    except exc:
        pass
    recorder.flush()
    return call(None if timeout is None else max(0.0, timeout - (_monotonic() - start)))


def until_true(call: Callable[[float | None], Any], timeout: float | None) -> bool:
    """`call(t)` blocks at most `t` seconds (None: for good) and returns
    False when its time is up."""
    if timeout is not None and timeout <= GRACE_S:
        return bool(call(timeout))
    start = _monotonic()
    if call(GRACE_S):
        return True
    recorder.flush()
    return bool(call(None if timeout is None else max(0.0, timeout - (_monotonic() - start))))
