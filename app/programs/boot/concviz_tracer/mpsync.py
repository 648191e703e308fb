"""multiprocessing's locks, semaphores, Condition, Event and Barrier, traced:
subclasses that keep their key when pickled into a child process.

A SemLock binds its C lock's ``acquire`` and ``release`` to the object
(``_make_methods``); here they are the traced methods instead.
"""

from __future__ import annotations

from multiprocessing import synchronize as _sync
from types import FrameType

from . import gate, recorder, registry, shared, where
from . import kinds as K
from .locks import acquire
from .syncs import BarrierTracing, EventTracing

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any


class SemLockTracing(registry.Keyed):
    # The shared value (ctypes object) whose lock this is (`shared`).
    _cv_shows: Any = None

    def _make_methods(self) -> None:
        pass  # acquire and release are this class's methods

    def _cv_held(self) -> dict[str, Any]:
        return {}

    def _cv_releasing(self) -> dict[str, Any] | None:
        """The data of a release that will succeed, else None."""
        return {}

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        sl = self._semlock  # type: ignore[attr-defined]
        key = self._cv_key
        if key is None:
            return bool(sl.acquire(block, timeout))
        return acquire(sl, key, block, timeout, self._cv_held, forever=None)

    def release(self) -> None:
        sl = self._semlock  # type: ignore[attr-defined]
        key = self._cv_key
        if key is not None:
            data = self._cv_releasing()
            if data is not None:
                at = where.at(1)
                if gate.stepping():  # the value may change while it waits
                    gate.before("release", key, at)
                    data = self._cv_releasing() or data
                if self._cv_shows is not None:
                    data = dict(data, shows=shared.shown(self._cv_shows))
                recorder.emit(K.RELEASED, key, dict(at, **data), held=True)
        sl.release()
        recorder.flush_if_full()

    def __enter__(self) -> bool:
        sl = self._semlock  # type: ignore[attr-defined]
        key = self._cv_key
        if key is None:
            return bool(sl.acquire())
        return acquire(sl, key, True, None, self._cv_held, forever=None)

    def __exit__(self, *exc: Any) -> None:
        self.release()


class Lock(SemLockTracing, _sync.Lock):  # type: ignore[misc]
    def _cv_releasing(self) -> dict[str, Any] | None:
        return {} if self._semlock._get_value() == 0 else None  # type: ignore[attr-defined]


class RLock(SemLockTracing, _sync.RLock):  # type: ignore[misc]
    def _cv_held(self) -> dict[str, Any]:
        return {"depth": self._semlock._count()}  # type: ignore[attr-defined]

    def _cv_releasing(self) -> dict[str, Any] | None:
        sl = self._semlock  # type: ignore[attr-defined]
        return {"depth": sl._count() - 1} if sl._is_mine() else None


class Semaphore(SemLockTracing, _sync.Semaphore):  # type: ignore[misc]
    def _cv_held(self) -> dict[str, Any]:
        return {"value": self._semlock._get_value()}  # type: ignore[attr-defined]

    def _cv_releasing(self) -> dict[str, Any] | None:
        return {"value": self._semlock._get_value() + 1}  # type: ignore[attr-defined]


class BoundedSemaphore(SemLockTracing, _sync.BoundedSemaphore):  # type: ignore[misc]
    def _cv_held(self) -> dict[str, Any]:
        return {"value": self._semlock._get_value()}  # type: ignore[attr-defined]

    def _cv_releasing(self) -> dict[str, Any] | None:
        sl = self._semlock  # type: ignore[attr-defined]
        value = sl._get_value() + 1
        return {"value": value} if value <= sl.maxvalue else None


class Condition(registry.Keyed, _sync.Condition):  # type: ignore[misc]
    """Its lock's acquire and release are reported on its own key when the
    lock is its own (not one of the user's traced locks)."""

    _lock: Any

    def _make_methods(self) -> None:
        super()._make_methods()  # type: ignore[misc]
        if not isinstance(self._lock, SemLockTracing):
            self.acquire, self.release = self._cv_acquire, self._cv_release  # type: ignore[method-assign]

    def _cv_depth(self) -> dict[str, Any]:
        return {"depth": self._lock._semlock._count()}

    def _cv_acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        key = self._cv_key
        sl = self._lock._semlock
        if key is None:
            return bool(sl.acquire(block, timeout))
        return acquire(sl, key, block, timeout, self._cv_depth, forever=None)

    def _cv_release(self) -> None:
        sl = self._lock._semlock
        key = self._cv_key
        if key is not None and sl._is_mine():
            at = where.at(1)
            gate.before("release", key, at)
            recorder.emit(K.RELEASED, key, dict(at, depth=sl._count() - 1), held=True)
        sl.release()
        recorder.flush_if_full()

    def __enter__(self) -> Any:
        return self.acquire()

    def __exit__(self, *exc: Any) -> Any:
        return self.release()

    def _cv_owned(self) -> bool:
        return bool(self._lock._semlock._is_mine())

    def wait(self, timeout: float | None = None) -> bool:
        key = self._cv_key
        if key is None or not self._cv_owned():
            return bool(super().wait(timeout))
        data = where.at(1)
        gate.before("wait", key, data)
        recorder.emit(K.CWAIT, key, dict(data, timeout=timeout))
        recorder.flush()
        result = bool(super().wait(timeout))
        data["result"] = result
        recorder.emit(K.CWOKE, key, data)
        return result

    def notify(self, n: int = 1) -> None:
        key = self._cv_key
        if key is not None and self._cv_owned():
            at = where.at(1)
            gate.before("notify", key, at)
            recorder.emit(K.NOTIFY, key, dict(at, n=n))
        super().notify(n)

    def notify_all(self) -> None:
        key = self._cv_key
        if key is not None and self._cv_owned():
            at = where.at(1)
            gate.before("notify_all", key, at)
            recorder.emit(K.NOTIFY, key, dict(at, n="all"))
            return _sync.Condition.notify(self, n=2**31 - 1)
        return super().notify_all()


class Event(EventTracing, _sync.Event):  # type: ignore[misc]
    pass  # pickled with its __dict__, key included


# multiprocessing's Barrier subclasses threading's, traced already when
# threading was patched first (as it is when the tracer starts the program).
_BARRIER_BASES: tuple[type, ...] = (
    (registry.Keyed, _sync.Barrier)
    if issubclass(_sync.Barrier, BarrierTracing)
    else (registry.Keyed, BarrierTracing, _sync.Barrier)
)
Barrier = type("Barrier", _BARRIER_BASES, {"__module__": __name__})


def _key(obj: Any, type_name: str, frame: FrameType, **extra: Any) -> Any:
    obj._cv_key = registry.new(type_name, "multiprocessing", frame, **extra)
    return obj


def make_shared(ctx: Any, frame: FrameType, real: Any, *args: Any, lock: Any = True) -> Any:
    """``Value`` or ``Array`` with its lock (``get_lock()``, which its
    ``value`` also takes for each read and write) traced, named after the
    user's variable: ``counter.get_lock()``, which guards ``counter.value``
    and shows what it holds."""
    if lock is not True and lock is not None:  # the user's own lock, or none
        return real(ctx, *args, lock=lock)
    name = registry.names_for(frame, real.__name__)[0]
    lock = RLock(ctx=ctx.get_context())
    made = real(ctx, *args, lock=lock)
    guards = f"{name}.value" if real.__name__ == "Value" else f"{name}[:]"
    shows = shared.shown(made.get_obj())
    _key(lock, "RLock", frame, name=f"{name}.get_lock()", guards=guards, shows=shows)
    return made


def make_lock(ctx: Any, frame: FrameType, real: Any) -> Any:
    return _key(Lock(ctx=ctx.get_context()), "Lock", frame)


def make_rlock(ctx: Any, frame: FrameType, real: Any) -> Any:
    return _key(RLock(ctx=ctx.get_context()), "RLock", frame)


def make_semaphore(ctx: Any, frame: FrameType, real: Any, value: int = 1) -> Any:
    return _key(Semaphore(value, ctx=ctx.get_context()), "Semaphore", frame, value=value)


def make_bounded(ctx: Any, frame: FrameType, real: Any, value: int = 1) -> Any:
    sem = BoundedSemaphore(value, ctx=ctx.get_context())
    return _key(sem, "BoundedSemaphore", frame, value=value)


def make_condition(ctx: Any, frame: FrameType, real: Any, lock: Any = None) -> Any:
    cond = Condition(lock, ctx=ctx.get_context())
    _key(cond, "Condition", frame)
    cond._make_methods()  # now that it has its key
    return cond


def make_event(ctx: Any, frame: FrameType, real: Any) -> Any:
    return _key(Event(ctx=ctx.get_context()), "Event", frame)


def make_barrier(
    ctx: Any, frame: FrameType, real: Any, parties: int, action: Any = None, timeout: Any = None
) -> Any:
    barrier = Barrier(parties, action, timeout, ctx=ctx.get_context())
    return _key(barrier, "Barrier", frame, parties=parties)
