"""What the presenter changes while a lesson's program runs: its live
settings (sliders) and its calls (buttons).

A lesson program imports this module only when concviz runs it; run with
plain ``python`` the import fails and the program keeps its constants::

    try:
        from concviz_live import live   # the presenter's sliders, under concviz
    except ImportError:
        def live(name, value):          # run on its own: the constant
            return value

The server writes the settings to a JSON file (a new file each time, put in
place by a rename) and each call to a numbered file in a directory; their
paths come from the environment. Standard library only: this runs in the
user's interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

LIVE_ENV = "CONCVIZ_TRACE_LIVE"
CALLS_ENV = "CONCVIZ_TRACE_CALLS"
POLL_S = 0.02

_live_path = os.environ.get(LIVE_ENV, "")
_calls_dir = os.environ.get(CALLS_ENV, "")
_seen: tuple[int, int] = (0, 0)  # the settings file's inode and mtime, as last read
_values: dict[str, Any] = {}
_next_call = 1


def live(name: str, value: Any) -> Any:
    """The presenter's current value for the setting `name` (the program's
    constant of that name), else `value`. Cheap enough to call per item: one
    ``stat`` unless the settings changed."""
    global _seen, _values
    if not _live_path:
        return value
    try:
        st = os.stat(_live_path)
    except OSError:
        return _values.get(name, value)
    stamp = (st.st_ino, st.st_mtime_ns)
    if stamp != _seen:
        try:
            with open(_live_path, encoding="utf-8") as f:
                loaded = json.load(f)
        except (OSError, ValueError):
            return _values.get(name, value)
        if isinstance(loaded, dict):
            _seen, _values = stamp, loaded
    return _values.get(name, value)


def next_call(timeout: float | None = None) -> dict[str, Any] | None:
    """The presenter's next call (a dict, in the order they were made), or
    None if none comes within `timeout` seconds (None: wait for one). Not
    under concviz: None at once."""
    global _next_call
    if not _calls_dir:
        return None
    path = os.path.join(_calls_dir, f"{_next_call:08d}.json")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            with open(path, encoding="utf-8") as f:
                call = json.load(f)
        except FileNotFoundError:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(POLL_S)
            continue
        except (OSError, ValueError):
            call = None
        _next_call += 1
        with contextlib.suppress(OSError):
            os.unlink(path)
        if isinstance(call, dict):
            return call
