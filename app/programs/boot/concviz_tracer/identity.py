"""What this process says it is in its `proc` event: the program's first
process or not, how it was started, whether it is a daemon, its name, the
label its parent chose for it, and its parent.

A Process object that starts to run here says most of it (`set_process`,
from `processes`); a process that no Process object started (the
program's first, one that `subprocess` ran) is named by `multiprocessing`
or by its script. The child of a fork starts over (`forked`).
"""

from __future__ import annotations

import os
import sys

_first = False
_method: str | None = None
_daemon = False
_name: str | None = None  # set when a Process object starts running here
_label: str | None = None  # the label its parent chose for it (unique among its children)
_ppid = 0  # its parent, when a Process object says (the forkserver forks it)


def configure(first: bool, method: str | None) -> None:
    global _first, _method
    _first, _method = first, method


def set_method(method: str) -> None:
    global _method
    _method = method


def set_process(
    name: str, label: str | None, method: str | None, daemon: bool, ppid: int = 0
) -> None:
    """What a Process object starting to run in this process says it is."""
    global _name, _label, _method, _daemon, _ppid
    _name, _label, _daemon, _ppid = name, label, daemon, ppid
    if method is not None:
        _method = method


def forked() -> None:
    """In the child of a fork: a process of its own, not yet named."""
    global _first, _method, _daemon, _name, _label, _ppid
    _first = False
    _method, _daemon, _name, _label, _ppid = "fork", False, None, None, 0


def is_first() -> bool:
    """The program's first process (its main thread is shown as ``main``)."""
    return _first


def name() -> str:
    if _name:
        return _name
    mp = sys.modules.get("multiprocessing.process")
    if mp is not None:
        current = mp.current_process().name  # type: ignore[attr-defined]
        if current != "MainProcess" or _first:
            return str(current)
    if _first:
        return "MainProcess"
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if script == "-c":  # python -c "...": its argv[0]
        script = "python -c"
    return f"{script or 'python'} {os.getpid()}"


def main_label(name: str) -> str:
    """The label of this process's main thread, and its threads' prefix."""
    return "main" if _first else (_label or name)


def proc_data(name: str) -> dict[str, object]:
    """The `proc` event's data; `label` where its parent's label for it is
    not its name (``cons`` for a Process-2 the user's line named so)."""
    data: dict[str, object] = {
        "name": name,
        "ppid": _ppid or os.getppid(),
        "main": _first,
        "method": _method,
        "daemon": _daemon,
    }
    if _label and _label.split(" #")[0] != name:
        data["label"] = _label
    return data
