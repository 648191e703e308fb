"""Traced objects: their keys, their `new` event, and how a traced class
hands back the library's own object when the library makes one.

A key is ``"<creator pid>.<n>"``: unique in the run, and kept when the
object is pickled into another process (`Keyed`).
"""

from __future__ import annotations

import itertools
import os
from types import FrameType

from . import kinds as K
from . import names, recorder, where

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

_count = itertools.count(1)
_names: dict[str, int] = {}


def _forked() -> None:
    _names.clear()


os.register_at_fork(after_in_child=_forked)


def unique(name: str) -> str:
    """The name, numbered from its second: ``q``, ``q #2``; an item of a
    list (``forks[]``) by its place: ``forks[0]``, ``forks[1]``."""
    n = _names.get(name, 0)
    _names[name] = n + 1
    if name.endswith(names.ITEM):
        return f"{name[: -len(names.ITEM)]}[{n}]"
    return name if n == 0 else f"{name} #{n + 1}"


def names_for(frame: FrameType, type_name: str, n: int = 1) -> list[str]:
    """The names the user's line gives to the `n` objects its call makes,
    each unique in this process; else ``<Type>@line``."""
    given = names.given(frame, where.is_user_file)
    if given is None or len(given) != n:
        given = [f"<{type_name}>@{frame.f_lineno}"] * n
    return [unique(name) for name in given]


def new_key() -> str:
    return f"{os.getpid()}.{next(_count)}"


def new(
    type_name: str,
    lib: str,
    frame: FrameType,
    name: str | None = None,
    key: str | None = None,
    **extra: Any,
) -> str:
    """A key (or `key`) for an object the user's code (`frame`) made, and
    its `new` event (recorded by the creating thread)."""
    key = key or new_key()
    if name is None:
        name = names_for(frame, type_name)[0]
    data = where.frame_data(frame)
    data.update(type=type_name, lib=lib, name=name)
    data.update(extra)
    recorder.emit(K.NEW, key, data)
    return key


def diverting_new(original: type) -> Any:
    """A ``__new__`` for a traced subclass of `original`: made by the
    library (not from the user's files), the object is a plain `original`
    one, untraced; made by the user's code, one of the traced class."""
    make: Any = original.__new__

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        if cls.__dict__.get("_cv_diverts") and where.called_by_user(1) is None:
            return original(*args, **kwargs)
        if make is object.__new__:
            return make(cls)
        return make(cls, *args, **kwargs)

    return staticmethod(__new__)


_KEYED = "concviz-keyed"


class Keyed:
    """Keeps `_cv_key` when an object whose class has its own
    ``__getstate__``/``__setstate__`` is pickled (into a child process)."""

    _cv_key: str | None = None

    def __getstate__(self) -> Any:
        return (_KEYED, super().__getstate__(), self._cv_key)  # type: ignore[misc]

    def __setstate__(self, state: Any) -> None:
        # multiprocessing's Barrier also calls __setstate__ itself, in
        # __init__, with its own state.
        if type(state) is tuple and len(state) == 3 and state[0] == _KEYED:
            _, state, self._cv_key = state
        super().__setstate__(state)  # type: ignore[misc]
