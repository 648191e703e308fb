"""Pools and executors: ``multiprocessing.Pool`` (and ``ThreadPool``),
``concurrent.futures.ProcessPoolExecutor`` and ``ThreadPoolExecutor``.

A submitted task's function travels wrapped (`Task`, `MapTask`: plain
picklable objects), so that the worker that runs it, process or thread,
reports `task_start` and `task_end` as itself. Each task has a run-unique
id, the same in its `submit`; a ``map`` over n items is n tasks.
"""

from __future__ import annotations

import _thread
from types import FrameType, ModuleType

from . import kinds as K
from . import recorder, registry, results, where

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

_now = recorder._monotonic_ns
_mapping: set[int] = set()  # threads inside a traced map: its submits are its own


ARGS_SAID = 4  # arguments of a task's call said, each way (more: "...")


def call_text(name: str | None, args: Any, kwargs: Any) -> str:
    """``is_prime(7)``: the call a task makes, at most `where.MAX_REPR` long."""
    said = [where.short_repr(a) for a in args[:ARGS_SAID]]
    said += [f"{k}={where.short_repr(v)}" for k, v in list(kwargs.items())[:ARGS_SAID]]
    if len(args) > ARGS_SAID or len(kwargs) > ARGS_SAID:
        said.append("...")
    text = f"{name or '?'}({', '.join(said)})"
    return text if len(text) <= where.MAX_REPR else text[: where.MAX_REPR - 4] + "...)"


def _run(fn: Any, key: str, task: str, args: Any, kwargs: Any) -> Any:
    name = where.qualname(fn)
    recorder.emit(
        K.TASK_START, key, {"task": task, "fn": name, "call": call_text(name, args, kwargs)}
    )
    try:
        result = fn(*args, **kwargs)
    except BaseException as e:
        from .workers import error_text

        recorder.emit(K.TASK_END, key, {"task": task, "error": error_text(e)})
        recorder.flush()
        raise
    recorder.emit(K.TASK_END, key, {"task": task, "error": None})
    recorder.flush()  # a pool may end its workers with SIGTERM at any moment
    return result


class Task:
    """One submitted call of `fn`."""

    __slots__ = ("fn", "key", "task")

    def __init__(self, fn: Any, key: str, task: str) -> None:
        self.fn, self.key, self.task = fn, key, task

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _run(self.fn, self.key, self.task, args, kwargs)


class MapTask:
    """`fn` over numbered items ``(i, x)``: runs ``fn(x)``, or ``fn(*x)``
    when `star`; the task of item i is ``"<base>.<i>"``."""

    __slots__ = ("fn", "key", "base", "star")

    def __init__(self, fn: Any, key: str, base: str, star: bool) -> None:
        self.fn, self.key, self.base, self.star = fn, key, base, star

    def __call__(self, *pair: Any) -> Any:
        i, x = pair if len(pair) == 2 else pair[0]
        args = tuple(x) if self.star else (x,)
        return _run(self.fn, self.key, f"{self.base}.{i}", args, {})


def _submits(key: str, base: str, fn: Any, n: int, data: dict[str, Any], t: int) -> None:
    name = where.qualname(fn)
    for i in range(n):
        recorder.emit(K.SUBMIT, key, dict(data, task=f"{base}.{i}", fn=name), t)


def _numbered_lazily(iterable: Any, key: str, base: str, fn: Any, data: dict[str, Any]) -> Any:
    """The items of an ``imap``, numbered as the pool draws them (in its
    own thread): each one's `submit` is the caller's."""
    who = recorder.current()  # the caller's: here, not in the generator
    name = where.qualname(fn)

    def numbered() -> Any:
        for i, x in enumerate(iterable):
            if who is not None:
                recorder.emit_as(who, K.SUBMIT, key, dict(data, task=f"{base}.{i}", fn=name))
            yield (i, x)

    return numbered()


def _joined(key: str, frame: FrameType, call: Any) -> Any:
    """`call`, a wait for the pool `key`'s tasks and workers to end (an
    executor's shutdown, a pool's join), traced as a join of the pool: the
    page shows who waits for it, and a hang names it."""
    from .workers import before_join

    before_join(key, frame, what="pool", timeout=None)
    try:
        return call()
    finally:
        recorder.emit(K.JOINED, key, {"alive": False})


# multiprocessing.pool


class WorkerStart:
    """A pool's initializer, around the program's own (if any): each worker
    of the pool `key`, process or thread, says at its start that it waits
    for a task, so the stage shows it from then, not from its first task.
    Plain and picklable: a spawned worker gets it with its arguments."""

    __slots__ = ("key", "then")

    def __init__(self, key: str, then: Any) -> None:
        self.key, self.then = key, then

    def __call__(self, *args: Any) -> Any:
        if not recorder.is_silent():
            recorder.emit(K.POOL_WORKER, self.key, {})
            recorder.flush()
        return None if self.then is None else self.then(*args)


# A Pool's arguments in their order (a ThreadPool takes the first three).
_POOL_ARGS = ("processes", "initializer", "initargs", "maxtasksperchild")


def _starting(key: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A pool's arguments, by name, with its workers' initializer wrapped."""
    named = dict(zip(_POOL_ARGS, args, strict=False)) | kwargs
    named["initializer"] = WorkerStart(key, named.get("initializer"))
    return named


def make_pool(ctx: Any, frame: FrameType, real: Any, *args: Any, **kwargs: Any) -> Any:
    key = registry.new_key()
    pool = real(ctx, **_starting(key, args, kwargs))
    workers = pool._processes
    pool._cv_key = registry.new("Pool", "multiprocessing", frame, None, key, workers=workers)
    return pool


def install_pool(module: ModuleType) -> None:
    Pool: Any = module.Pool
    ThreadPool: Any = module.ThreadPool
    starmapstar = module.starmapstar  # type: ignore[attr-defined]
    real_apply, real_map_async = Pool.apply_async, Pool._map_async
    real_imap, real_imap_unordered = Pool.imap, Pool.imap_unordered
    real_thread_init = ThreadPool.__init__
    real_join, real_terminate = Pool.join, Pool.terminate

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        frame = where.called_by_user(1)
        if frame is None or recorder.is_silent():
            return real_thread_init(self, *args, **kwargs)
        key = registry.new_key()
        real_thread_init(self, **_starting(key, args, kwargs))
        workers = self._processes
        lib = "multiprocessing"
        self._cv_key = registry.new("ThreadPool", lib, frame, None, key, workers=workers)

    def apply_async(
        self: Any, func: Any, args: Any = (), kwds: Any = None, *a: Any, **kw: Any
    ) -> Any:
        key = getattr(self, "_cv_key", None)
        kwds = {} if kwds is None else kwds
        if key is None:
            return real_apply(self, func, args, kwds, *a, **kw)
        task, data, t = registry.new_key(), where.at(1), _now()
        result = real_apply(self, Task(func, key, task), args, kwds, *a, **kw)
        name = where.qualname(func)
        call = call_text(name, args, kwds or {})  # a task given alone: its call is said now
        recorder.emit(K.SUBMIT, key, dict(data, task=task, fn=name, call=call), t)
        return results.tagged(result, key, task, func)

    def _map_async(self: Any, func: Any, iterable: Any, mapper: Any, *a: Any, **kw: Any) -> Any:
        key = getattr(self, "_cv_key", None)
        if key is None:
            return real_map_async(self, func, iterable, mapper, *a, **kw)
        items = list(iterable)
        base, data, t = registry.new_key(), where.at(1), _now()
        wrapped = MapTask(func, key, base, star=mapper is starmapstar)
        result = real_map_async(self, wrapped, list(enumerate(items)), mapper, *a, **kw)
        _submits(key, base, func, len(items), data, t)
        return results.tagged(result, key, base, func)

    def imap_of(real: Any) -> Any:
        def imap(self: Any, func: Any, iterable: Any, *a: Any, **kw: Any) -> Any:
            key = getattr(self, "_cv_key", None)
            if key is None:
                return real(self, func, iterable, *a, **kw)
            base, data = registry.new_key(), where.at(1)
            numbered = _numbered_lazily(iterable, key, base, func, data)
            return real(self, MapTask(func, key, base, star=False), numbered, *a, **kw)

        imap.__name__ = real.__name__
        return imap

    def join(self: Any) -> Any:
        key, frame = getattr(self, "_cv_key", None), where.called_by_user(1)
        if key is None or frame is None:
            return real_join(self)
        return _joined(key, frame, lambda: real_join(self))

    def terminate(self: Any) -> Any:
        # Also the end of a `with Pool() as pool:` block: its workers are
        # ended at once, and a task none of them has started never runs.
        key = getattr(self, "_cv_key", None)
        if key is not None and not getattr(self, "_cv_terminated", False):
            self._cv_terminated = True
            # Its workers' processes, those still starting too (they said nothing yet).
            pool = getattr(self, "_pool", ())
            workers = [[p.pid, p.name] for p in pool if getattr(p, "pid", None)]
            recorder.emit(K.TERMINATE, key, dict(where.at(1), workers=workers))
        return real_terminate(self)

    results.install_async_result(module.ApplyResult)
    ThreadPool.__init__ = __init__
    Pool.join, Pool.terminate = join, terminate
    Pool.apply_async, Pool._map_async = apply_async, _map_async
    Pool.imap, Pool.imap_unordered = imap_of(real_imap), imap_of(real_imap_unordered)


# concurrent.futures


def install_executor(module: ModuleType) -> None:
    name = "ThreadPoolExecutor" if hasattr(module, "ThreadPoolExecutor") else "ProcessPoolExecutor"
    Executor: Any = getattr(module, name)
    real_init, real_submit, real_map = Executor.__init__, Executor.submit, Executor.map
    real_shutdown = Executor.shutdown

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        frame = where.called_by_user(1)
        if frame is not None and not recorder.is_silent():
            workers = self._max_workers
            self._cv_key = registry.new(name, "concurrent.futures", frame, workers=workers)
            if name == "ProcessPoolExecutor":
                # Each worker process says it waits for a task as it starts,
                # as a Pool's do: an idle one, which runs no task and says
                # nothing else, is on the stage while it lives.
                self._initializer = WorkerStart(self._cv_key, self._initializer)

    def submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        key = getattr(self, "_cv_key", None)
        if key is None or _thread.get_ident() in _mapping:
            return real_submit(self, fn, *args, **kwargs)
        task, data, t = registry.new_key(), where.at(1), _now()
        future = real_submit(self, Task(fn, key, task), *args, **kwargs)
        name = where.qualname(fn)
        call = call_text(name, args, kwargs)  # a task given alone: its call is said now
        recorder.emit(K.SUBMIT, key, dict(data, task=task, fn=name, call=call), t)
        return results.tagged(future, key, task, fn)

    def map(self: Any, fn: Any, *iterables: Any, **kwargs: Any) -> Any:
        # The process pool's map sends chunks of items to each worker; its
        # tasks are the items, numbered here.
        key = getattr(self, "_cv_key", None)
        if key is None:
            return real_map(self, fn, *iterables, **kwargs)
        items = list(zip(*iterables, strict=False))
        base, data, t = registry.new_key(), where.at(1), _now()
        me = _thread.get_ident()
        _mapping.add(me)
        try:
            wrapped = MapTask(fn, key, base, star=True)
            result = real_map(self, wrapped, list(enumerate(items)), **kwargs)
        finally:
            _mapping.discard(me)
        _submits(key, base, fn, len(items), data, t)
        return result

    def shutdown(self: Any, wait: bool = True, *args: Any, **kwargs: Any) -> Any:
        key = getattr(self, "_cv_key", None)
        # Called by the user's code, or by the exit of its `with` block.
        frame = where.called_by_user(1) or where.called_by_user(2)
        if key is None or not wait or frame is None:
            return real_shutdown(self, wait, *args, **kwargs)
        return _joined(key, frame, lambda: real_shutdown(self, wait, *args, **kwargs))

    Executor.__init__, Executor.submit, Executor.shutdown = __init__, submit, shutdown
    if name == "ProcessPoolExecutor":
        Executor.map = map
