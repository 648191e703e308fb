"""Waits for a pool's or an executor's results: ``Future.result()`` and
``.exception()``, ``concurrent.futures.wait()`` and ``as_completed()``,
``AsyncResult.get()`` and ``.wait()`` (``Pool.map`` waits there too).

A future or AsyncResult made by a traced pool carries its pool's key, its
task and the task's function (`tagged`). A wait on one that is not ready
yet is `result_wait` before it blocks (flushed: the page shows who waits)
and `result_got` after, in the waiting thread.
"""

from __future__ import annotations

import contextlib
import sys

from . import kinds as K
from . import recorder, where

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

_END = object()


def tagged(result: Any, key: str, task: str, fn: Any) -> Any:
    """`result` (a future, an AsyncResult), whose waits are traced."""
    with contextlib.suppress(AttributeError):  # a type with slots: its waits untraced
        result._cv_key, result._cv_task, result._cv_fn = key, task, where.qualname(fn)
    return result


def _waiting(results: Iterable[Any]) -> Any:
    """The first of `results` a traced pool made that is not ready, or None."""
    for r in results:
        if getattr(r, "_cv_key", None) is not None and not _ready(r):
            return r
    return None


def _ready(r: Any) -> bool:
    done = getattr(r, "done", None) or r.ready
    return bool(done())


def waited(result: Any, real: Callable[[], Any], timeout: Any, ready: Callable[[], bool]) -> Any:
    """`real()`, a wait that may block for `result`'s task: `result_wait`
    before, `result_got` after (`ready()`: whether what it waited for came)."""
    key = result._cv_key
    data = where.at(2)
    data.update(task=result._cv_task, fn=result._cv_fn)
    recorder.emit(K.RESULT_WAIT, key, dict(data, timeout=timeout))
    recorder.flush()
    try:
        return real()
    finally:
        recorder.emit(K.RESULT_GOT, key, dict(data, ready=bool(ready())))


def install_async_result(ApplyResult: Any) -> None:
    real_wait = ApplyResult.wait

    def wait(self: Any, timeout: Any = None) -> Any:
        # get() waits here too, as does Pool.map.
        if getattr(self, "_cv_key", None) is None or self.ready() or recorder.is_silent():
            return real_wait(self, timeout)
        return waited(self, lambda: real_wait(self, timeout), timeout, self.ready)

    ApplyResult.wait = wait


def install_futures(base: Any) -> None:
    """concurrent.futures' `_base`: patched before the package binds its
    `wait` and `as_completed`."""
    Future: Any = base.Future
    real_result, real_exception = Future.result, Future.exception
    real_cancel = Future.cancel
    real_wait, real_as_completed = base.wait, base.as_completed

    def result(self: Any, timeout: Any = None) -> Any:
        if getattr(self, "_cv_key", None) is None or self.done() or recorder.is_silent():
            return real_result(self, timeout)
        return waited(self, lambda: real_result(self, timeout), timeout, self.done)

    def exception(self: Any, timeout: Any = None) -> Any:
        if getattr(self, "_cv_key", None) is None or self.done() or recorder.is_silent():
            return real_exception(self, timeout)
        return waited(self, lambda: real_exception(self, timeout), timeout, self.done)

    def cancel(self: Any) -> bool:
        # Its task will never run (shutdown(cancel_futures=True) too).
        was_done = self.done()
        cancelled = bool(real_cancel(self))
        key = getattr(self, "_cv_key", None)
        if cancelled and not was_done and key is not None and not recorder.is_silent():
            data = {"task": self._cv_task, "fn": self._cv_fn}
            recorder.emit(K.CANCELLED, key, data)
        return cancelled

    def wait(fs: Any, timeout: Any = None, return_when: Any = base.ALL_COMPLETED) -> Any:
        fs = list(fs)
        first = None if recorder.is_silent() else _waiting(fs)
        if first is None:
            return real_wait(fs, timeout, return_when)

        def call() -> Any:
            return real_wait(fs, timeout, return_when)

        return waited(first, call, timeout, lambda: any(f.done() for f in fs))

    def as_completed(fs: Any, timeout: Any = None) -> Iterator[Any]:
        fs = list(fs)
        it = real_as_completed(fs, timeout)
        left = set(fs)
        while True:
            # Waits only when none of those left is done already.
            first = None
            if not recorder.is_silent() and not any(f.done() for f in left):
                first = _waiting(left)
            if first is None:
                f = next(it, _END)
            else:
                some_done = lambda: any(x.done() for x in left)  # noqa: E731
                f = waited(first, lambda: next(it, _END), timeout, some_done)
            if f is _END:
                return
            left.discard(f)
            yield f

    wait.__doc__, as_completed.__doc__ = real_wait.__doc__, real_as_completed.__doc__
    Future.result, Future.exception, Future.cancel = result, exception, cancel
    base.wait, base.as_completed = wait, as_completed
    package: Any = sys.modules.get("concurrent.futures")  # bound already if it was imported
    if package is not None and hasattr(package, "wait"):
        package.wait, package.as_completed = wait, as_completed
