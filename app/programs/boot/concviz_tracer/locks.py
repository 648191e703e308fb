"""threading's Lock and RLock (its other synchronisation classes: syncs.py).

``threading.Lock`` and ``threading.RLock`` are factories of C types: they
are replaced by factories that hand the library its plain lock and the
user's code a traced one (`TracedLock`, `TracedRLock`, wrappers that keep
the lock's whole interface).

An acquire tries the non-blocking form first: taken at once, it is one
`acquired` event; else `acquire_wait` is recorded and flushed before the
real, blocking call. A release is recorded just before the lock is released
(a waiter that takes it next is stamped after it). Neither an `acquired`
nor a `released` flushes while the lock is held (`recorder.emit`'s `held`).

A threading lock is shared by threads, never by processes: a forked child
has its own copy, locked if the parent's was at the fork (and then by no
thread of the child's). The copy is an object of its own on the stage,
``print_lock (ps[0]'s copy)`` (`copy_in`), from its first use in the child
(`_copied`).
"""

from __future__ import annotations

import _thread
import os

from . import gate, identity, recorder, registry, waits, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

_allocate_lock = _thread.allocate_lock
_RLock: Any = _thread.RLock
_forks = 0  # how many forks made this process (0: the program's first, or spawned)


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)


def _copied(lock: Any, type_name: str) -> str:
    """The key of `lock`'s copy in this process, forked since it was made:
    a new object, said at its first use here."""
    lock._cv_forks = _forks
    lock._cv_key = key = registry.new_key()
    here = identity.main_label(identity.name())
    data = where.frame_data(where.user_frame(2))
    data.update(
        type=type_name,
        lib="threading",
        name=lock._cv_name,
        copy_in=here,
        locked_at_fork=bool(lock._cv_lock.locked()),
    )
    recorder.emit(K.NEW, key, data)
    return key


def acquire(
    raw: Any, key: str, blocking: Any, timeout: Any, after: Any = None, forever: Any = -1
) -> bool:
    """Acquire `raw` as `key`: a ``_thread`` lock or RLock (``forever``, the
    timeout that means none, is -1), or a multiprocessing SemLock (it is
    None); `after()`: more data once held."""
    threading_style = forever == -1
    if threading_style and not blocking and timeout != -1:
        return bool(raw.acquire(blocking, timeout))  # raises, as the real one does
    data = where.at(2)
    gate.before("acquire", key, data)
    if raw.acquire(False):
        if after is not None:
            data.update(after())
        recorder.emit(K.ACQUIRED, key, data, held=True)
        return True
    if not blocking:
        recorder.emit(K.ACQUIRE_FAILED, key, dict(data, timeout=0))
        return False
    if threading_style and timeout != -1 and timeout < 0:
        return bool(raw.acquire(True, timeout))  # raises, as the real one does
    wait = None if timeout == forever else timeout
    recorder.emit(K.ACQUIRE_WAIT, key, dict(data, timeout=wait))
    if waits.until_true(lambda t: raw.acquire(True, forever if t is None else t), wait):
        if after is not None:
            data.update(after())
        recorder.emit(K.ACQUIRED, key, data, held=True)
        return True
    recorder.emit(K.ACQUIRE_FAILED, key, dict(data, timeout=wait))
    return False


class TracedLock:
    """A ``threading.Lock()`` the user's code made."""

    __slots__ = ("_cv_lock", "_cv_key", "_cv_name", "_cv_forks", "__weakref__")

    def __init__(self, key: str, name: str = "") -> None:
        self._cv_lock = _allocate_lock()
        self._cv_key, self._cv_name, self._cv_forks = key, name, _forks

    def _key(self) -> str:
        return self._cv_key if self._cv_forks == _forks else _copied(self, "Lock")

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return acquire(self._cv_lock, self._key(), blocking, timeout)

    def release(self) -> None:
        lock = self._cv_lock
        if lock.locked():
            key = self._key()
            data = where.at(1)
            gate.before("release", key, data)
            recorder.emit(K.RELEASED, key, data, held=True)
        lock.release()
        recorder.flush_if_full()

    def __enter__(self) -> bool:
        return acquire(self._cv_lock, self._key(), True, -1)

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def locked(self) -> bool:
        return self._cv_lock.locked()

    def _is_owned(self) -> bool:  # threading.Condition asks this of its lock
        if self._cv_lock.acquire(False):
            self._cv_lock.release()
            return False
        return True

    def _at_fork_reinit(self) -> None:
        self._cv_lock._at_fork_reinit()  # type: ignore[attr-defined]

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("cannot pickle '_thread.lock' object")

    def __repr__(self) -> str:
        return repr(self._cv_lock)

    acquire_lock = acquire
    release_lock = release
    locked_lock = locked


class TracedRLock:
    """A ``threading.RLock()`` the user's code made."""

    __slots__ = ("_cv_lock", "_cv_key", "_cv_name", "_cv_forks", "__weakref__")

    def __init__(self, key: str, name: str = "") -> None:
        self._cv_lock = _RLock()
        self._cv_key, self._cv_name, self._cv_forks = key, name, _forks

    def _key(self) -> str:
        return self._cv_key if self._cv_forks == _forks else _copied(self, "RLock")

    def _cv_depth(self) -> dict[str, Any]:
        return {"depth": self._cv_lock._recursion_count()}

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return acquire(self._cv_lock, self._key(), blocking, timeout, self._cv_depth)

    def release(self) -> None:
        lock = self._cv_lock
        if lock._is_owned():
            key = self._key()
            data = where.at(1)
            gate.before("release", key, data)
            data["depth"] = lock._recursion_count() - 1
            recorder.emit(K.RELEASED, key, data, held=True)
        lock.release()
        recorder.flush_if_full()

    def __enter__(self) -> bool:
        return acquire(self._cv_lock, self._key(), True, -1, self._cv_depth)

    def __exit__(self, *exc: Any) -> None:
        self.release()

    # What threading.Condition uses of an RLock: waiting releases it whole.
    def _is_owned(self) -> bool:
        return bool(self._cv_lock._is_owned())

    def _release_save(self) -> Any:
        data = where.at(1)
        data["depth"] = 0
        recorder.emit(K.RELEASED, self._key(), data, held=True)
        return self._cv_lock._release_save()

    def _acquire_restore(self, state: Any) -> None:
        self._cv_lock._acquire_restore(state)
        recorder.emit(K.ACQUIRED, self._key(), dict(where.at(1), **self._cv_depth()), held=True)

    def _recursion_count(self) -> int:
        return int(self._cv_lock._recursion_count())

    def _at_fork_reinit(self) -> None:
        self._cv_lock._at_fork_reinit()

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("cannot pickle '_thread.RLock' object")

    def __repr__(self) -> str:
        return repr(self._cv_lock)


TRACED_LOCKS = (TracedLock, TracedRLock)


def _lock_factory(real: Any, traced: Any, type_name: str) -> Any:
    def factory(*args: Any, **kwargs: Any) -> Any:
        frame = where.called_by_user(1)
        if frame is None or args or kwargs or recorder.is_silent():
            return real(*args, **kwargs)
        (name,) = registry.names_for(frame, type_name)
        return traced(registry.new(type_name, "threading", frame, name=name), name)

    factory.__name__ = type_name
    factory.__qualname__ = type_name
    # Pickled by reference as threading's (a Manager's registry holds it, and
    # a spawned manager process gets the registry pickled).
    factory.__module__ = "threading"
    factory.__doc__ = real.__doc__
    return factory


def install(threading: Any) -> None:
    """Replace threading's lock factories (its other classes: syncs.py)."""
    threading.Lock = _lock_factory(threading.Lock, TracedLock, "Lock")
    threading.RLock = _lock_factory(threading.RLock, TracedRLock, "RLock")
