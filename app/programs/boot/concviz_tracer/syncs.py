"""threading's Semaphore, BoundedSemaphore, Event, Condition and Barrier.

They are Python classes, replaced by traced subclasses that hand the library
plain objects of the original class (`registry.diverting_new`), so that,
say, the mutex inside ``queue.Queue`` or the Event inside every Thread is
never reported. A wait is recorded (and flushed) before the real, blocking
call, as for the locks (locks.py).
"""

from __future__ import annotations

from . import gate, recorder, registry, waits, where
from . import kinds as K
from .locks import TRACED_LOCKS, acquire

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any


class SemaphoreTracing:
    _cv_key: str | None = None
    _cv_bounded = False

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        key = self._cv_key
        if key is None or (not blocking and timeout is not None):
            return bool(super().acquire(blocking, timeout))  # type: ignore[misc]
        data = where.at(1)
        gate.before("acquire", key, data)
        if super().acquire(False):  # type: ignore[misc]
            data["value"] = self._value  # type: ignore[attr-defined]
            recorder.emit(K.ACQUIRED, key, data, held=True)
            return True
        if not blocking:
            recorder.emit(K.ACQUIRE_FAILED, key, dict(data, timeout=0))
            return False
        recorder.emit(K.ACQUIRE_WAIT, key, dict(data, timeout=timeout))
        real_acquire = super().acquire  # type: ignore[misc]
        if waits.until_true(lambda t: real_acquire(True, t), timeout):
            data["value"] = self._value  # type: ignore[attr-defined]
            recorder.emit(K.ACQUIRED, key, data, held=True)
            return True
        recorder.emit(K.ACQUIRE_FAILED, key, dict(data, timeout=timeout))
        return False

    __enter__ = acquire

    def release(self, n: int = 1) -> None:
        key = self._cv_key
        if key is not None and n >= 1:
            data = where.at(1)
            gate.before("release", key, data)
            value = self._value + n  # type: ignore[attr-defined]
            if not self._cv_bounded or value <= self._initial_value:  # type: ignore[attr-defined]
                data["value"] = value
                recorder.emit(K.RELEASED, key, data, held=True)
        super().release(n)  # type: ignore[misc]
        recorder.flush_if_full()

    def __exit__(self, *exc: Any) -> None:
        self.release()


class EventTracing:
    _cv_key: str | None = None

    def set(self) -> None:
        key = self._cv_key
        if key is not None:
            data = where.at(1)
            gate.before("set", key, data)
            recorder.emit(K.SET, key, data)
        super().set()  # type: ignore[misc]

    def clear(self) -> None:
        key = self._cv_key
        if key is None:
            return super().clear()  # type: ignore[misc]
        data = where.at(1)
        gate.before("clear", key, data)
        super().clear()  # type: ignore[misc]
        recorder.emit(K.CLEAR, key, data)
        return None

    def wait(self, timeout: float | None = None) -> bool:
        key = self._cv_key
        if key is None:
            return bool(super().wait(timeout))  # type: ignore[misc]
        data = where.at(1)
        gate.before("wait", key, data)
        if not self.is_set():  # type: ignore[attr-defined]
            recorder.emit(K.WAIT, key, dict(data, timeout=timeout))
            recorder.flush()
        result = bool(super().wait(timeout))  # type: ignore[misc]
        data["result"] = result
        recorder.emit(K.WAITED, key, data)
        return result


class ConditionTracing:
    """A condition's waits and notifies; its lock's acquire and release are
    reported on the condition's key when the lock is its own (not one of
    the user's traced locks, which report themselves)."""

    _cv_key: str | None = None
    _cv_own = False
    _lock: Any

    def _cv_depth(self) -> dict[str, Any]:
        lock = self._lock  # type: ignore[attr-defined]
        count = getattr(lock, "_recursion_count", None)
        return {"depth": count()} if count is not None else {}

    def _cv_acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        key = self._cv_key
        assert key is not None
        return acquire(self._lock, key, blocking, timeout, self._cv_depth)  # type: ignore[attr-defined]

    def _cv_release(self) -> None:
        lock = self._lock  # type: ignore[attr-defined]
        if self._is_owned():  # type: ignore[attr-defined]
            data = where.at(1)
            gate.before("release", self._cv_key, data)
            data.update(self._cv_depth())
            if "depth" in data:
                data["depth"] -= 1
            recorder.emit(K.RELEASED, self._cv_key, data, held=True)
        lock.release()
        recorder.flush_if_full()

    def __enter__(self) -> Any:
        if self._cv_own:
            return self._cv_acquire()
        return super().__enter__()  # type: ignore[misc]

    def __exit__(self, *exc: Any) -> Any:
        if self._cv_own:
            return self._cv_release()
        return super().__exit__(*exc)  # type: ignore[misc]

    def wait(self, timeout: float | None = None) -> bool:
        key = self._cv_key
        if key is None or not self._is_owned():  # type: ignore[attr-defined]
            return bool(super().wait(timeout))  # type: ignore[misc]
        data = where.at(1)
        gate.before("wait", key, data)
        recorder.emit(K.CWAIT, key, dict(data, timeout=timeout))
        recorder.flush()
        result = bool(super().wait(timeout))  # type: ignore[misc]
        data["result"] = result
        recorder.emit(K.CWOKE, key, data)
        return result

    def notify(self, n: int = 1) -> None:
        key = self._cv_key
        if key is not None and self._is_owned():  # type: ignore[attr-defined]
            data = where.at(1)
            gate.before("notify", key, data)
            data["n"] = n
            recorder.emit(K.NOTIFY, key, data)
        super().notify(n)  # type: ignore[misc]

    def notify_all(self) -> None:
        key = self._cv_key
        if key is None or not self._is_owned():  # type: ignore[attr-defined]
            return super().notify_all()  # type: ignore[misc]
        data = where.at(1)
        gate.before("notify_all", key, data)
        data["n"] = "all"
        recorder.emit(K.NOTIFY, key, data)
        return super().notify(len(self._waiters))  # type: ignore[misc,attr-defined]


class BarrierTracing:
    _cv_key: str | None = None

    def wait(self, timeout: float | None = None) -> int:
        key = self._cv_key
        if key is None:
            return int(super().wait(timeout))  # type: ignore[misc]
        data = where.at(1)
        gate.before("wait", key, data)
        waiting = dict(data, waiting=self.n_waiting, parties=self.parties)  # type: ignore[attr-defined]
        # Its own timeout, or the barrier's (Barrier(n, timeout=...)): a wait
        # that will end by itself is no hang.
        waiting["timeout"] = timeout if timeout is not None else self._timeout  # type: ignore[attr-defined]
        real_wait = super().wait  # type: ignore[misc]
        return barrier_wait(key, data, waiting, lambda: real_wait(timeout))

    def abort(self) -> None:
        super().abort()  # type: ignore[misc]
        key = self._cv_key
        if key is not None:
            recorder.emit(K.BROKEN, key, where.at(1))


def barrier_wait(key: str, data: dict[str, Any], waiting: dict[str, Any], wait: Any) -> int:
    """`wait()` at the barrier `key`, said: `bwait` (`waiting`, flushed)
    before, `bpassed` with its index after, or `broken` (raised again)."""
    from threading import BrokenBarrierError

    recorder.emit(K.BWAIT, key, waiting)
    recorder.flush()
    try:
        index = int(wait())
    except BrokenBarrierError:
        recorder.emit(K.BROKEN, key, data)
        raise
    data["index"] = index
    recorder.emit(K.BPASSED, key, data)
    return index


def _init(original: Any, type_name: str, extra: Any) -> Any:
    real_init = original.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        frame = where.called_by_user(1)
        if frame is not None and not recorder.is_silent():
            self._cv_key = registry.new(type_name, "threading", frame, **extra(self))
            if isinstance(self, ConditionTracing):
                cond: Any = self
                cond._cv_own = not isinstance(cond._lock, TRACED_LOCKS)
                if cond._cv_own:  # Condition binds its lock's methods to itself
                    cond.acquire, cond.release = cond._cv_acquire, cond._cv_release

    return __init__


def _no_extra(obj: Any) -> dict[str, Any]:
    return {}


def install(threading: Any) -> None:
    """Replace threading's synchronisation classes by traced subclasses."""
    made = {}
    for name, mixin, extra in (
        ("Semaphore", SemaphoreTracing, lambda s: {"value": s._value}),
        ("BoundedSemaphore", SemaphoreTracing, lambda s: {"value": s._value}),
        ("Event", EventTracing, _no_extra),
        ("Condition", ConditionTracing, _no_extra),
        ("Barrier", BarrierTracing, lambda b: {"parties": b.parties}),
    ):
        original = getattr(threading, name)
        body = {
            "__module__": original.__module__,
            "__qualname__": original.__qualname__,
            "__doc__": original.__doc__,
            "_cv_diverts": True,
            "__new__": registry.diverting_new(original),
            "__init__": _init(original, name, extra),
        }
        if name == "BoundedSemaphore":
            body["_cv_bounded"] = True
        made[name] = type(name, (mixin, original), body)
    for name, cls in made.items():
        setattr(threading, name, cls)
