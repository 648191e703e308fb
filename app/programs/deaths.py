"""A program's processes that died while their parent did not look.

A traced parent reports a child's end (`reaped`) when it collects it: at
`join()`, `is_alive()` or its own exit. A child killed while its parent
waits elsewhere (a SIGKILL from the presenter's Kill button, the OOM
killer, a `kill -9` in a terminal) stays a zombie until then, and the stage
would show it alive. The supervisor reads the session's zombies each tick
(`procfs.members`) and says which have waited a whole tick unreaped, with
the exit code and signal their parent will get. A parent that reaps at once
(a daemon cut off at its parent's exit) is left to say it itself.
"""

from __future__ import annotations

import signal

from app.programs import procfs


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Deaths:
    def __init__(self, leader: int) -> None:
        self._leader = leader  # the program's first process: the server reaps it
        self._seen: set[int] = set()  # zombies seen at the last tick
        self._said: set[int] = set()

    def check(self, found: procfs.Members) -> list[dict[str, object]]:
        """The `reaped` data of each process a zombie since the last tick
        and not said yet."""
        zombies = {pid for pid, f in found.items() if pid != self._leader and procfs.is_zombie(f)}
        out: list[dict[str, object]] = []
        due = sorted(zombies & self._seen - self._said)
        for pid in due:
            code, sig = procfs.exit_status(found[pid])
            name = signal_name(sig) if sig else None
            out.append({"pid": pid, "exitcode": code, "signal": name, "unreaped": True})
        # A pid reaped since is forgotten: it may come back as another process.
        self._said = (self._said | set(due)) & zombies
        self._seen = zombies
        return out
