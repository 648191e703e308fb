"""Where a call comes from in the user's code, what the user called the
object it made, and a short repr of an item.

"The user's files" are the ``.py`` files under the run's directory (outside
this package). The answer for a file is cached by its name (``co_filename``,
a string whose hash is cached too), so finding the innermost user frame of a
call from user code costs one frame and one dict lookup.
"""

from __future__ import annotations

import os
import sys
from types import CodeType, FrameType, ModuleType

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

    Site = tuple[Any, ...]  # (line,), (line, file) or ()

_HERE = os.path.dirname(os.path.abspath(__file__))
_user_dir = ""
_main = ""
# co_filename -> None (not the user's), "" (the main script), or its path
# relative to the user's directory.
_files: dict[str, str | None] = {}
_getframe = sys._getframe
# The user's site of each instruction met: ``(code, site)``, `site` as
# `site()` gives it, None outside the user's files. The line alone
# (``f_lineno``) walks the code's line table from the start up to the
# instruction: from about 40 ns near the start of a function to about 1 us
# 300 lines into a module (a script's main block); the cache is a lookup
# and makes nothing. Its key, the code's address plus the instruction's
# offset, lies inside the code object, which the entry keeps alive, so no
# two live instructions share a key. `_by_offset` holds the entry last
# used at each offset, looked up by the offset alone (a small int, no
# address to make: about 30 ns less a call), for as long as no other code
# uses that offset. At `MAX_SITES` entries (code made on the fly) both
# start again.
MAX_SITES = 20_000
_sites: dict[int, tuple[CodeType, Site | None]] = {}
_by_offset: dict[int, tuple[CodeType, Site | None]] = {}
SITE_FIELDS = ("line", "file")


# The label of the code of ``python -c "..."`` (its file name "<string>"),
# when it is the user's: a command the user's code ran (`commands`).
COMMAND_CODE = "python -c"


def configure(user_dir: str, main: str, command_code: bool = False) -> None:
    """`command_code`: this process runs ``python -c`` code of the user's."""
    global _user_dir, _main
    _user_dir = os.path.abspath(user_dir) if user_dir else ""
    _main = os.path.abspath(main) if main else ""
    _files.clear()
    if command_code:
        _files["<string>"] = COMMAND_CODE
    _sites.clear()
    _by_offset.clear()


def _classify(filename: str) -> str | None:
    answer: str | None = None
    if _user_dir and filename.endswith(".py"):
        path = os.path.abspath(os.path.join(_user_dir, filename))
        if path.startswith(_user_dir + os.sep) and not path.startswith(_HERE + os.sep):
            answer = "" if path == _main else os.path.relpath(path, _user_dir)
    _files[filename] = answer
    return answer


def is_user_file(filename: str) -> bool:
    f = _files.get(filename, 0)
    if f == 0:
        f = _classify(filename)
    return f is not None


def called_by_user(depth: int) -> FrameType | None:
    """The frame `depth` levels up from the caller of this function if it is
    in the user's files, or the ``__init__`` that `dataclasses` made for a
    class of theirs (a ``field(default_factory=Lock)``), else None (the
    object it makes is the library's own business)."""
    try:
        frame = _getframe(depth + 1)
    except ValueError:
        return None
    f = _files.get(frame.f_code.co_filename, 0)
    if f == 0:
        f = _classify(frame.f_code.co_filename)
    if f is None:
        return frame if made_init(frame) else None
    return frame


def made_init(frame: FrameType) -> bool:
    """Whether `frame` runs an ``__init__`` that `dataclasses` wrote (its
    code has no file) for a class made in the user's files."""
    code, back = frame.f_code, frame.f_back
    return (
        code.co_name == "__init__"
        and code.co_filename == "<string>"
        and back is not None
        and is_user_file(back.f_code.co_filename)
    )


def user_frame(depth: int) -> FrameType | None:
    """The innermost frame in the user's files, from `depth` levels up from
    the caller of this function outwards."""
    try:
        frame: FrameType | None = _getframe(depth + 1)
    except ValueError:
        return None
    files = _files
    while frame is not None:
        f = files.get(frame.f_code.co_filename, 0)
        if f == 0:
            f = _classify(frame.f_code.co_filename)
        if f is not None:
            return frame
        frame = frame.f_back
    return None


def _site(frame: FrameType, code: CodeType, offset: int) -> Site | None:
    key = id(code) + offset
    hit = _sites.get(key)
    if hit is None or hit[0] is not code:
        f = _files.get(code.co_filename, 0)
        if f == 0:
            f = _classify(code.co_filename)
        site = None if f is None else (frame.f_lineno, f) if f else (frame.f_lineno,)
        if len(_sites) >= MAX_SITES:
            _sites.clear()
            _by_offset.clear()
        hit = _sites[key] = (code, site)
    _by_offset[offset] = hit
    return hit[1]


def site(depth: int) -> Site:
    """Where the call `depth` levels up from the caller is in the user's
    code: ``(line,)`` in the main script, ``(line, file)`` in another of the
    user's files, ``()`` when no user code is on the stack (the values of
    `SITE_FIELDS`). The same tuple for every call from the same place."""
    try:
        frame: FrameType | None = _getframe(depth + 1)
    except ValueError:
        return ()
    by_offset = _by_offset
    while frame is not None:
        code = frame.f_code
        offset = frame.f_lasti
        hit = by_offset.get(offset)
        found = hit[1] if hit is not None and hit[0] is code else _site(frame, code, offset)
        if found is not None:
            return found
        frame = frame.f_back
    return ()


def site_data(site: Site) -> dict[str, Any]:
    """A fresh event data dict holding `site`."""
    return dict(zip(SITE_FIELDS, site, strict=False))


def at(depth: int) -> dict[str, Any]:
    """A fresh event data dict holding the user's line (and file) of the
    call `depth` levels up from the caller; empty when no user code is on
    the stack (`site`'s, written out: it is on the per-event path)."""
    try:
        frame: FrameType | None = _getframe(depth + 1)
    except ValueError:
        return {}
    by_offset = _by_offset
    while frame is not None:
        code = frame.f_code
        offset = frame.f_lasti
        hit = by_offset.get(offset)
        found = hit[1] if hit is not None and hit[0] is code else _site(frame, code, offset)
        if found is not None:
            if len(found) == 1:
                return {"line": found[0]}
            return {"line": found[0], "file": found[1]}
        frame = frame.f_back
    return {}


def frame_data(frame: FrameType | None) -> dict[str, Any]:
    if frame is None:
        return {}
    if made_init(frame):  # its line is the one that made the dataclass's object
        return frame_data(frame.f_back)
    f = _files.get(frame.f_code.co_filename, 0)
    if f == 0:
        f = _classify(frame.f_code.co_filename)
    if f:
        return {"line": frame.f_lineno, "file": f}
    return {"line": frame.f_lineno}


def traceback_data(tb: Any) -> dict[str, Any]:
    """The line (and file) of the innermost user frame of a traceback."""
    found: FrameType | None = None
    lineno = 0
    while tb is not None:
        if is_user_file(tb.tb_frame.f_code.co_filename):
            found, lineno = tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next
    if found is None:
        return {}
    data = frame_data(found)
    data["line"] = lineno
    return data


def shown_traceback(exc: BaseException, caller: FrameType | None = None) -> str:
    """The traceback of `exc` as the user would see it from ``python
    program.py``: without this package's frames (its hooks, the thread and
    process wrappers: `hide_in_tracebacks` took them out of the module that
    formats it), from the frame of `caller` where Python would have caught
    it (a wrapper caught it first), and the user's files named as they are
    in the run's directory."""
    import traceback

    te = traceback.TracebackException.from_exception(exc)
    if caller is not None:
        outer = traceback.StackSummary.extract([(caller, caller.f_lineno)])
        te.stack = traceback.StackSummary.from_list([*outer, *te.stack])
    text = "".join(te.format())
    if _user_dir:
        text = text.replace(f'File "{_user_dir}{os.sep}', 'File "')
    return text


def hide_in_tracebacks(traceback: ModuleType) -> None:
    """Leave this package's frames out of every traceback the program
    itself formats (``traceback.print_exc()``, ``logging.exception``, the
    text of a pool worker's exception that the pool raises in the caller):
    the module's frame walkers skip them."""
    boot = os.path.dirname(_HERE) + os.sep
    ours: dict[str, bool] = {}

    def shown(frame: FrameType) -> bool:
        name = frame.f_code.co_filename
        hidden = ours.get(name)
        if hidden is None:
            hidden = ours[name] = os.path.abspath(name).startswith(boot)
        return not hidden

    for name in ("walk_tb", "_walk_tb_with_full_positions", "walk_stack"):
        real = getattr(traceback, name, None)
        if real is None:
            continue

        def walk(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            return (step for step in _real(*args, **kwargs) if shown(step[0]))

        walk.__name__ = walk.__qualname__ = real.__name__
        walk.__doc__ = real.__doc__
        setattr(traceback, name, walk)


# Short reprs.

MAX_REPR = 80
_reprlib: Any = None
# Types whose values are written as they are (marshal keeps them whole) and
# whose repr every reader makes alike, since the repr of such a value is a
# function of the value alone: a hot path sends the item itself and the
# reader makes its `short_repr` (``wire``), which saves the program a call.
PLAIN_TYPES = frozenset({int, float, bool, type(None)})


def short_repr(obj: Any) -> str:
    """A repr of at most `MAX_REPR` characters; ``<TypeName>`` when the
    object's repr raises."""
    cls = type(obj)
    if (
        cls is int
        or cls is float
        or cls is bool
        or obj is None
        or (cls is str and len(obj) <= MAX_REPR - 2)
    ):
        r = repr(obj)
    else:
        global _reprlib
        if _reprlib is None:
            _reprlib = _short_repr_maker()
            _reprlib.maxstring = MAX_REPR - 10
            _reprlib.maxother = MAX_REPR - 10
            _reprlib.maxlong = MAX_REPR - 10
        try:
            r = _reprlib.repr(obj)
        except Exception:
            return f"<{cls.__name__}>"
    if len(r) > MAX_REPR:
        r = r[: MAX_REPR - 3] + "..."
    return r


def _short_repr_maker() -> Any:
    import reprlib

    class ShortRepr(reprlib.Repr):
        def repr_instance(self, obj: Any, level: int) -> str:
            try:
                r = repr(obj)
            except Exception:
                return f"<{type(obj).__name__}>"
            return r if len(r) <= self.maxother else r[: self.maxother - 3] + "..."

    return ShortRepr()


def qualname(fn: Any) -> str | None:
    if fn is None:
        return None
    try:
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    except Exception:
        name = None
    if isinstance(name, str):
        return name
    return f"<{type(fn).__name__}>"
