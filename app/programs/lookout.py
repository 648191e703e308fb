"""What the supervisor says of a running program besides its own events:
that it has gone quiet, and which of its threads wait in the kernel."""

from __future__ import annotations

import time

from app.programs import procfs
from app.programs.merge import EventMerge
from app.programs.stalls import Sampler
from app.programs.state import QUIET, STALLS

# A program whose processes send nothing for this long is "quiet": the hang
# diagnosis may speak (it never does while batches may still be on the way).
QUIET_S = 0.5
# While it stays quiet, it is said again this often: the run's clock and
# its timeline's bars go on (a program in a loop of its own, or stuck, sent
# nothing, and its page stood still at its last event).
QUIET_AGAIN_S = 1.0
# How often its threads' waits in the kernel are sampled (`app.programs.stalls`).
STALL_S = 0.5


class Lookout:
    def __init__(self, merge: EventMerge) -> None:
        self._merge = merge
        self._quiet_said = 0.0  # when `quiet` was last said
        self._stalls = Sampler()
        self._sampled = 0.0

    def quiet(self, idle: float) -> None:
        """Say `quiet` once the program has sent nothing for `idle` seconds."""
        again = time.monotonic() - self._quiet_said >= QUIET_AGAIN_S
        if idle >= QUIET_S and (again or not self._merge.quiet_sent):
            self._merge.quiet_sent = True
            self._quiet_said = time.monotonic()
            self._merge.emit(QUIET, {"s": round(idle, 2)})

    def stalls(self, found: procfs.Members) -> None:
        """Say which threads of the session's processes `found` wait in the
        kernel, every `STALL_S`."""
        if time.monotonic() - self._sampled < STALL_S:
            return
        self._sampled = time.monotonic()
        said = self._stalls.sample(found)
        if said is not None:
            self._merge.emit(STALLS, {"stalls": said})
