"""One process's events: who sends them, the buffer, and the flush to the FIFO.

::

    any thread of the program          this process's buffer          the server
    -------------------------          ---------------------          ----------
    emit(kind, item, data)  --append->  deque of raw events  --flush->  FIFO (frames of
      (announces its process and        flushed when it holds              at most PIPE_BUF
       thread first)                     MAX_BATCH, before a wait, at a     bytes, each one
    flush() before a wait               thread's or the process's end,     write)
                                        and by a hidden flusher thread
                                        every AGE_S while events come
                                        (every TICK_S when none came)

Appending to a deque is atomic, so the per-event path takes no lock; a flush
takes the flush lock, so that batches leave in the order their events were
appended. A flush re-entered by the same thread (a signal handler, a
``__del__``) leaves its events for the next one.

A raw event is ``(t_ns, worker, pid, tid, kind, item, data)`` (see `kinds`);
the buffer holds it as ``(t_ns, (worker, pid, tid), kind, item, data)``, the
second one a tuple of the thread's, and a put or a get as ``(t_ns, (worker,
pid, tid), kind, key, site, v, size)`` (`emit_item`, `wire.encode_events`).
The worker label of a thread is fixed when it announces itself (its first
event): the process's name (`identity`) for its main thread (``main`` in the program's
first process), the thread's name for the others, prefixed with the
process's name in every process but the first. Labels are unique in a
process (a second thread with a name in use gets ``" #2"``).

Never silently lossy: the buffer is bounded (`MAX_PENDING`) only where a
flush cannot run (re-entered); what it drops is counted and sent as a
`lost` event. When the FIFO is gone (``EPIPE``: the server died), tracing
stops and the program's process group is killed.
"""

from __future__ import annotations

import _thread
import collections
import contextlib
import os
import sys
import time

from . import identity, outlet, wire
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

# A batch goes when it holds this many events (about 15 KB of marshal, four
# frames)...
MAX_BATCH = 256
# ... or at the flusher thread's next look: this long after its last look
# while events come (a look that found some), so that a stream of events
# is seen within about this ...
AGE_S = 0.005
# ... and this long after a look that found none: a thread that computes for
# seconds after one event still shows it within this. (The flusher, not
# each event as it is recorded, watches the age: one look per AGE_S instead
# of a lookup and a comparison per event.)
TICK_S = 0.02
# Events held while a flush cannot run; past this they are dropped and counted.
MAX_PENDING = 100_000

_monotonic_ns = time.monotonic_ns
_sleep = time.sleep  # the real one: the tracer patches time.sleep
_get_ident = _thread.get_ident
_native_id = _thread.get_native_id

# (label, pid, native thread id): one tuple per thread, which each of its
# events holds (see `wire.encode_events`).
Worker = tuple[str, int, int]

# This process.
_pid = os.getpid()
_silent = True  # until configure(); for good in the forkserver and resource tracker
_proc_announced = False
_main_ident = _get_ident()
_main_native = _native_id()
_main_label = "main"
_prefix = ""
_labels: dict[str, int] = {}
_threads: dict[int, Worker] = {}  # thread ident -> its worker identity
_main_ended = False
_exited = False
_final = False

_buf: collections.deque[tuple[Any, ...]] = collections.deque()
_lost = 0
_flush_lock = _thread.allocate_lock()
_flushing = 0  # ident of the thread in a flush
_flusher_on = False


def configure(fifo_path: str, first: bool, method: str | None = None) -> None:
    global _silent
    _silent = False
    identity.configure(first, method)
    outlet.configure(fifo_path)
    os.register_at_fork(after_in_child=_forked)


def silence() -> None:
    """This process never shows (the forkserver, the resource tracker)."""
    global _silent
    _silent = True
    _threads.clear()
    _buf.clear()


def unsilence(method: str) -> None:
    """A child of a silent process (the forkserver) that is the program's."""
    global _silent
    _silent = False
    identity.set_method(method)


def is_silent() -> bool:
    return _silent


def mark_exited() -> bool:
    """True the first time: this process's `exit` is to be sent now."""
    global _exited
    first, _exited = not _exited, True
    return first


def mark_main_ended() -> bool:
    global _main_ended
    first, _main_ended = not _main_ended, True
    return first


def main_ident() -> int:
    return _main_ident


def threads() -> dict[int, Worker]:
    """The threads that announced themselves, by ident."""
    return _threads


def is_thread_announced() -> bool:
    return _get_ident() in _threads


def announced() -> bool:
    return _proc_announced


def _forked() -> None:
    """In the child of a fork: a new process, whose buffer, threads and
    locks are its own; the parent's unflushed events stay the parent's."""
    global _pid, _proc_announced, _main_ident, _main_native
    global _labels, _threads, _main_ended, _exited, _final, _buf, _lost, _flush_lock
    global _flushing, _flusher_on
    _pid = os.getpid()
    identity.forked()
    _proc_announced = False
    _main_ident, _main_native = _get_ident(), _native_id()
    _labels, _threads = {}, {}
    _main_ended = _exited = _final = False
    _buf = collections.deque()
    _lost = 0
    _flush_lock = _thread.allocate_lock()
    _flushing = 0
    _flusher_on = False
    outlet.forked()


def _announce_proc() -> None:
    global _proc_announced, _main_label, _prefix, _labels, _flusher_on
    _proc_announced = True
    name = identity.name()
    _main_label = identity.main_label(name)
    _prefix = "" if identity.is_first() else _main_label + "/"
    _labels = {_main_label: 1}
    _buf.append((_monotonic_ns(), main_worker(), K.PROC, None, identity.proc_data(name)))
    if not _flusher_on:
        _flusher_on = True
        _thread.start_new_thread(_flusher, (_pid,))


def unique_label(label: str) -> str:
    n = _labels.get(label, 0)
    _labels[label] = n + 1
    return label if n == 0 else f"{label} #{n + 1}"


def _thread_object(ident: int) -> Any:
    threading = sys.modules.get("threading")
    return None if threading is None else threading._active.get(ident)  # type: ignore[attr-defined]


def announce(thread: Any = None, label: str | None = None) -> Worker | None:
    """The current thread's worker identity, announcing its process and
    itself first; None in a process that never shows. `thread`: its
    `threading.Thread` when known (at its very start or end, when
    `threading` does not list it); `label`: a label already chosen."""
    if _silent:
        return None
    if not _proc_announced:
        _announce_proc()
    ident = _get_ident()
    w = _threads.get(ident)
    if w is not None:
        return w
    th = thread if thread is not None else _thread_object(ident)
    is_main = ident == _main_ident
    name = str(th.name) if th is not None else ("MainThread" if is_main else f"Thread-{ident}")
    if label is None:
        label = _main_label if is_main else unique_label(_prefix + name)
    w = _threads[ident] = (label, _pid, _native_id())
    daemon = bool(th.daemon) if th is not None else not is_main
    data = {"name": name, "daemon": daemon, "ident": ident, "main": is_main}
    _buf.append((_monotonic_ns(), w, K.THREAD, None, data))
    return w


def label_for(thread: Any) -> str:
    """The label a thread not yet announced will have (reserved now)."""
    if not _proc_announced:
        _announce_proc()
    return unique_label(_prefix + str(thread.name))


def current() -> Worker | None:
    w = _threads.get(_get_ident())
    return w if w is not None else announce()


def announced_label(ident: int | None) -> str | None:
    """The label of the thread `ident` if it has shown itself."""
    w = _threads.get(ident) if ident is not None else None
    return w[0] if w is not None else None


def label_of(ident: int | None, name: str) -> str:
    """The label of the thread `ident`, as it announced itself or would."""
    w = _threads.get(ident) if ident is not None else None
    return w[0] if w is not None else _prefix + name


def shown_worker() -> Worker:
    """The current thread if it is shown, else the main thread."""
    w = _threads.get(_get_ident())
    return w if w is not None else main_worker()


def main_worker() -> Worker:
    """The main thread's identity, for what the process observes from a
    thread the page does not show (one of a library's own threads)."""
    if not _proc_announced:
        _announce_proc()
    return (_main_label, _pid, _main_native)


def emit(kind: str, item: Any, data: Any, t: int = 0, held: bool = False) -> None:
    """Record one event of the current thread. `t`: a stamp taken earlier
    (before the call it reports took effect), else now. The per-event path:
    a lookup, a tuple, an append; its age is the flusher's to watch.
    `held`: the program holds a lock it just took or is about to let go;
    then never a flush (a write to the FIFO lets other threads run, and
    they would find the lock taken far more often than without the tracer:
    a try-lock loop of two threads starved one of them), and
    `flush_if_full` after the release does it."""
    w = _threads.get(_get_ident())
    if w is None:
        w = announce()
        if w is None:
            return
    buf = _buf
    buf.append((t or _monotonic_ns(), w, kind, item, data))
    if len(buf) >= MAX_BATCH and not held:
        flush()


def flush_if_full() -> None:
    if len(_buf) >= MAX_BATCH:
        flush()


def emit_item(kind: str, key: str, site: Any, v: Any, size: int | None, t: int = 0) -> None:
    """`emit` for a put or a get of the queue `key`: its data given as the
    user's `site` (`where.site`), the item's `v` and the size after, kept
    as they are in the event, no dict (`wire.encode_events`)."""
    w = _threads.get(_get_ident())
    if w is None:
        w = announce()
        if w is None:
            return
    buf = _buf
    buf.append((t or _monotonic_ns(), w, kind, key, site, v, size))
    if len(buf) >= MAX_BATCH:
        flush()


def emit_as(w: Worker, kind: str, item: Any, data: Any, t: int = 0) -> None:
    """Record an event of another worker of this process (a parent thread's
    `start_thread`, seen from the thread it started)."""
    if _silent:
        return
    _buf.append((t or _monotonic_ns(), w, kind, item, data))


def forget_thread() -> None:
    _threads.pop(_get_ident(), None)


def flush(wait: float = -1) -> None:
    """Write the buffer to the FIFO. `wait`: how long to wait for another
    thread's flush to end (-1: as long as it takes)."""
    global _flushing, _lost
    me = _get_ident()
    if _flushing == me:  # re-entered: the outer flush is mid-write
        buf = _buf
        while len(buf) > MAX_PENDING:
            buf.pop()
            _lost += 1
        return
    lock = _flush_lock
    if _final and wait < 0:
        wait = 0.1
    if not lock.acquire(True, wait):
        return
    _flushing = me
    try:
        buf = _buf
        n = len(buf)
        if not n and not _lost:
            return
        pop = buf.popleft
        batch = [pop() for _ in range(n)]
        if _lost:
            w = _threads.get(me) or main_worker()
            batch.append((_monotonic_ns(), w, K.LOST, None, {"events": _lost}))
            _lost = 0
        _write(batch)
    finally:
        _flushing = 0
        lock.release()


def _write(batch: list[tuple[Any, ...]]) -> None:
    global _lost
    if _silent:
        return
    try:
        data = wire.encode_events(batch)
    except Exception:  # an event that neither marshal nor pickle can write
        _lost += len(batch)
        return
    if not outlet.write(data, _pid, _native_id()):  # EPIPE: nobody reads any more
        server_gone()


def server_gone() -> None:
    """The server is gone: stop tracing and end the whole program."""
    silence()
    outlet.kill_group()


def final_flush() -> None:
    """The process's last flush (at its exit). It waits for another
    thread's flush as long as that takes (a full FIFO: the server is behind;
    if it is gone, the write fails and the program ends). Events after it
    (during the interpreter's teardown, when other threads may be frozen for
    good holding the lock) are flushed without waiting long."""
    global _final
    flush()
    _final = True


def _flusher(pid: int) -> None:
    outlet.hide_from_signals()
    tick = TICK_S
    while pid == _pid and not _silent:
        _sleep(tick)
        if (_buf or _lost) and pid == _pid:
            tick = AGE_S  # events are coming: look again soon
            with contextlib.suppress(Exception):  # the hidden thread never dies loudly
                flush()
        else:
            tick = TICK_S
