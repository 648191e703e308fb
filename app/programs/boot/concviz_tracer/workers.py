"""Threads, and how a process of the program ends (processes.py starts them).

Only a thread the user's code starts is reported as started
(`start_thread`); one a library starts (a queue's feeder thread) shows only
once user code runs in it, when it announces itself with its first event.
A thread's `start_thread` is recorded by the new thread itself, on its
parent's behalf, before anything of its own: both go to the same buffer.

The end of a process: the main thread's end (Python then waits for the
normal threads), an uncaught exception, `sys.exit`, `os._exit` and the
interpreter's exit are each recorded and flushed before they happen.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import functools
import os
import sys
from types import ModuleType

from . import gate, hooks, recorder, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any


_thread_errors: dict[int, str] = {}
_exit_code: Any = 0


def install() -> None:
    hooks.when_imported("threading", _patch_threading)
    # The hook formats tracebacks with it. Imported there, after an uncaught
    # KeyboardInterrupt, it would make Python forget to end the process by
    # SIGINT (exit code 1, not -2), which a parent can see.
    import traceback  # noqa: F401

    sys.excepthook = _excepthook(sys.excepthook)
    os._exit = _os_exit(os._exit)
    sys.exit = _sys_exit(sys.exit)
    os.register_at_fork(after_in_child=_forked)
    atexit.register(_at_exit)


def _forked() -> None:
    _thread_errors.clear()


def before_join(label: str, frame: Any, **more: Any) -> None:
    """A join of `label` that the user's code makes at `frame`: recorded,
    and flushed, before it may block."""
    data = where.frame_data(frame)
    gate.before("join", label, data)
    data.update(more)
    recorder.emit(K.JOIN, label, data)
    recorder.flush()


def error_text(exc: BaseException) -> str:
    """``"Type: message"``, or the type's name alone."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception:  # an exception whose message cannot be made
        text = ""
    return f"{name}: {text}" if text else name


def report_exc(exc: BaseException, must_show: bool = True) -> str:
    """Record an uncaught exception (`exc`) and flush; its text."""
    error = error_text(exc)
    data = where.traceback_data(exc.__traceback__)
    if must_show or data or recorder.is_thread_announced():
        data["error"] = error
        data["traceback"] = where.shown_traceback(exc)
        recorder.emit(K.EXC, None, data)
        recorder.flush()
    return error


def print_exc(header: str, exc: BaseException, caller: Any = None) -> bool:
    """Print `header` and the traceback of `exc` to stderr as Python would,
    without this package's frames (`where.shown_traceback`, from the frame
    `caller`, if given); False if it could not, for Python's own printing
    to do it."""
    try:
        text = header + where.shown_traceback(exc, caller)
        sys.stderr.write(text)
        sys.stderr.flush()
    except Exception:
        return False
    return True


def _excepthook(hook: Any) -> Any:
    def excepthook(exc_type: Any, exc: Any, tb: Any) -> Any:
        global _exit_code
        _exit_code = 1
        if isinstance(exc, BaseException):
            with contextlib.suppress(Exception):
                report_exc(exc)
            if hook is sys.__excepthook__ and print_exc("", exc):
                return None
        return hook(exc_type, exc, tb)

    return excepthook


def _sys_exit(real: Any) -> Any:
    def exit(status: Any = None) -> Any:
        global _exit_code
        threading = sys.modules.get("threading")
        # In another thread, SystemExit ends that thread alone.
        if threading is None or threading.current_thread() is threading.main_thread():
            _exit_code = status
        return real(status)

    exit.__doc__ = real.__doc__
    return exit


def _exit_status(status: Any) -> int:
    if status is None:
        return 0
    return status if isinstance(status, int) else 1


def process_exit(code: int) -> None:
    """The process ends on its own with `code`: its last event and flush."""
    if not recorder.mark_exited():
        return
    if recorder.announced() and not recorder.is_silent():
        recorder.emit(K.EXIT, None, {"exitcode": code})
        recorder.final_flush()


def _os_exit(real: Any) -> Any:
    def _exit(n: int) -> Any:
        with contextlib.suppress(Exception):
            process_exit(n)
        return real(n)

    return _exit


def _at_exit() -> None:
    main_end()
    process_exit(_exit_status(_exit_code))
    recorder.final_flush()


def main_end() -> None:
    """The process's main code has ended (`end` with the daemon threads it
    cuts off); once per process."""
    if not recorder.announced() or recorder.is_silent() or not recorder.mark_main_ended():
        return
    threading = sys.modules.get("threading")
    cut: list[str] = []
    if threading is not None:
        active = threading._active  # type: ignore[attr-defined]
        me = _thread.get_ident()
        for ident, (label, _pid, _tid) in list(recorder.threads().items()):
            th = active.get(ident)
            if ident != me and th is not None and th.daemon and th.is_alive():
                cut.append(label)
    recorder.emit(K.END, None, {"daemon_threads": cut})
    recorder.flush()


# Threads.


def _thread_crashed(invoke: Any, thread: Any) -> Any:
    """A thread's run raised: its error is recorded, then the program's
    hook (``threading.excepthook``, its own or the default) is called."""
    exc = sys.exc_info()[1]
    if exc is not None and not isinstance(exc, SystemExit):
        with contextlib.suppress(Exception):
            _thread_errors[_thread.get_ident()] = report_exc(exc, must_show=False)
    return invoke(thread)


def _patch_threading(threading: ModuleType) -> None:
    Thread: Any = threading.Thread
    real_start, real_join, real_inner = Thread.start, Thread.join, Thread._bootstrap_inner
    real_shutdown = threading._shutdown  # type: ignore[attr-defined]
    real_hook = threading.excepthook

    def start(self: Any) -> Any:
        if not self._initialized or self._started.is_set():
            return real_start(self)  # Python's own error: no __init__, or started twice
        frame = where.called_by_user(1)
        parent = recorder.current() if frame is not None else None
        if parent is not None:
            target = self._target or getattr(self, "function", None)  # a Timer's
            if target is None and type(self).run is not Thread.run:
                target = type(self).run
            data = where.frame_data(frame)
            gate.before("start", str(self.name), data)
            data.update(daemon=self.daemon, target=where.qualname(target))
            self._cv_start = (parent, data)
        return real_start(self)

    def _bootstrap_inner(self: Any) -> Any:
        start = self.__dict__.pop("_cv_start", None)
        if start is not None and not recorder.is_silent():
            parent, data = start
            label = recorder.label_for(self)
            self._cv_label = label
            data["tid"] = _thread.get_native_id()
            recorder.emit_as(parent, K.START_THREAD, label, data)
            recorder.forget_thread()  # an earlier thread's, with the same ident
            recorder.announce(thread=self, label=label)
            if isinstance(self, threading.Timer):  # its wait, before it calls its function
                wait = {k: data[k] for k in ("line", "file") if k in data}
                recorder.emit(K.SLEEP, None, {**wait, "s": self.interval})
            recorder.flush()
        invoke = getattr(self, "_invoke_excepthook", None)
        if invoke is not None:  # whichever hook the program set, the error is seen
            self._invoke_excepthook = functools.partial(_thread_crashed, invoke)
        try:
            return real_inner(self)
        finally:
            if recorder.is_thread_announced():
                error = _thread_errors.pop(_thread.get_ident(), None)
                end: dict[str, Any] = {"error": error}
                if isinstance(self, threading.Timer) and type(self).run is timer_run:
                    end["cancelled"] = not self.__dict__.get("_cv_ran", False)
                recorder.emit(K.END, None, end)
                recorder.flush()
                recorder.forget_thread()

    def join(self: Any, timeout: float | None = None) -> Any:
        frame = where.called_by_user(1)
        if (
            frame is None
            or not self._started.is_set()
            or self is threading.current_thread()
            or recorder.current() is None
        ):
            return real_join(self, timeout)
        label = getattr(self, "_cv_label", None) or recorder.label_of(self.ident, self.name)
        before_join(label, frame, what="thread", tid=self.native_id, timeout=timeout)
        real_join(self, timeout)
        recorder.emit(K.JOINED, label, {"alive": self.is_alive()})

    def excepthook(args: Any) -> Any:
        # Python's own printing, without the tracer's frames.
        shown = args.exc_type is not SystemExit and args.exc_value is not None
        if shown and real_hook is threading.__excepthook__:
            name = args.thread.name if args.thread is not None else _thread.get_ident()
            if print_exc(f"Exception in thread {name}:\n", args.exc_value):
                return None
        return real_hook(args)

    def _shutdown() -> Any:
        with contextlib.suppress(Exception):
            if _thread.get_ident() == recorder.main_ident():
                main_end()
        return real_shutdown()

    real_name = Thread.name

    def set_name(self: Any, name: Any) -> None:
        real_name.fset(self, name)
        # A running thread renamed by the user's code: its card says its new
        # name (its label, which its events carry, stays).
        by_user = where.called_by_user(1) or where.called_by_user(2)  # or its setName()
        if by_user is None or recorder.is_silent():
            return
        label = recorder.announced_label(self.ident) if self._started.is_set() else None
        if label is not None and self.is_alive():
            recorder.emit(K.RENAMED, label, {"name": str(self._name)})

    def timer_run(self: Any) -> None:
        # threading.Timer.run, which notes whether the function ran: a
        # Timer cancelled first ends without running it.
        self.finished.wait(self.interval)
        if not self.finished.is_set():
            self._cv_ran = True
            self.function(*self.args, **self.kwargs)
        self.finished.set()

    Thread.start, Thread.join, Thread._bootstrap_inner = start, join, _bootstrap_inner
    threading.Timer.run = timer_run  # type: ignore[method-assign]
    Thread.name = property(real_name.fget, set_name)
    threading.excepthook = excepthook  # type: ignore[attr-defined]
    threading._shutdown = _shutdown  # type: ignore[attr-defined]
