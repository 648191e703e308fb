"""Processes and threads: their start, join, end, exit and reaping.

Only what the user's code starts is reported as started (`spawn`,
`start_thread`); a process or thread started by a library (a pool's
workers, a queue's feeder thread) shows only once user code runs in it,
when it announces itself with its first event.

Order: a parent's `spawn` reaches the FIFO before anything of the child.

- fork: the child runs as soon as it is forked, so its first flush waits on
  a gate (a pipe it inherits) that the parent opens once its `spawn` is out;
- spawn: the parent sends `spawn` as soon as it knows the pid
  (`util.spawnv_passfds` returned), before it writes the child the data it
  needs to start running;
- forkserver: the forkserver sends the child's pid as soon as it forked it;
  the parent reads it then (it reads it after writing the child's data
  otherwise), sends `spawn`, then writes the data.

A thread's `start_thread` is recorded by the new thread itself, on its
parent's behalf, before anything of its own: both go to the same buffer.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import os
import signal
import sys
from types import ModuleType

from . import gate, hooks, recorder, where
from . import kinds as K

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any


class _Starting:
    """A Process.start() the user's code made, while it runs."""

    def __init__(self, label: str, data: dict[str, Any]) -> None:
        self.label, self.data = label, data
        self.sent = False
        self.gate: tuple[int, int] | None = None

    def send(self, pid: int | None) -> None:
        self.sent = True
        self.data["pid"] = pid
        recorder.emit(K.SPAWN, self.label, self.data)
        recorder.flush()


_starting: dict[int, _Starting] = {}  # thread ident -> its start in progress
_child_names: dict[str, int] = {}
_early_pids: dict[int, int] = {}  # forkserver: sentinel -> pid read early
_thread_errors: dict[int, str] = {}
_in_forkserver = False
_exit_code: Any = 0


def install() -> None:
    hooks.when_imported("threading", _patch_threading)
    hooks.when_imported("multiprocessing.process", _patch_process)
    hooks.when_imported("multiprocessing.popen_fork", _patch_popen_fork)
    hooks.when_imported("multiprocessing.popen_forkserver", _patch_popen_forkserver)
    hooks.when_imported("multiprocessing.util", _patch_util)
    hooks.when_imported("multiprocessing.forkserver", _patch_forkserver)
    hooks.when_imported("multiprocessing.resource_tracker", _patch_resource_tracker)
    sys.excepthook = _excepthook(sys.excepthook)
    os._exit = _os_exit(os._exit)
    sys.exit = _sys_exit(sys.exit)
    os.register_at_fork(after_in_child=_forked)
    atexit.register(_at_exit)


def _forked() -> None:
    global _in_forkserver
    start = _starting.get(_thread.get_ident())
    _starting.clear()
    _child_names.clear()
    _early_pids.clear()
    _thread_errors.clear()
    if start is not None and start.gate is not None:
        os.close(start.gate[1])
        recorder.set_gate(start.gate[0])
    if _in_forkserver:  # a child of the forkserver: a process of the program
        _in_forkserver = False
        recorder.unsilence("forkserver")


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
    import traceback

    error = error_text(exc)
    data = where.traceback_data(exc.__traceback__)
    if must_show or data or recorder.is_thread_announced():
        data["error"] = error
        data["traceback"] = "".join(traceback.format_exception(exc))
        recorder.emit(K.EXC, None, data)
        recorder.flush()
    return error


def _excepthook(hook: Any) -> Any:
    def excepthook(exc_type: Any, exc: Any, tb: Any) -> Any:
        global _exit_code
        _exit_code = 1
        if isinstance(exc, BaseException):
            with contextlib.suppress(Exception):
                report_exc(exc)
        return hook(exc_type, exc, tb)

    return excepthook


def _sys_exit(real: Any) -> Any:
    def exit(status: Any = None) -> Any:
        global _exit_code
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
    _main_end()
    process_exit(_exit_status(_exit_code))
    recorder.final_flush()


def _main_end() -> None:
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


def _patch_threading(threading: ModuleType) -> None:
    Thread: Any = threading.Thread
    real_start, real_join, real_inner = Thread.start, Thread.join, Thread._bootstrap_inner
    real_shutdown = threading._shutdown  # type: ignore[attr-defined]
    real_hook = threading.excepthook

    def start(self: Any) -> Any:
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
            recorder.flush()
        try:
            return real_inner(self)
        finally:
            if recorder.is_thread_announced():
                error = _thread_errors.pop(_thread.get_ident(), None)
                recorder.emit(K.END, None, {"error": error})
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
        data = where.frame_data(frame)
        gate.before("join", label, data)
        data.update(what="thread", tid=self.native_id, timeout=timeout)
        recorder.emit(K.JOIN, label, data)
        recorder.flush()
        real_join(self, timeout)
        recorder.emit(K.JOINED, label, {"alive": self.is_alive()})

    def excepthook(args: Any) -> Any:
        if args.exc_type is not SystemExit and args.exc_value is not None:
            with contextlib.suppress(Exception):
                _thread_errors[_thread.get_ident()] = report_exc(args.exc_value, must_show=False)
        return real_hook(args)

    def _shutdown() -> Any:
        with contextlib.suppress(Exception):
            if _thread.get_ident() == recorder.main_ident():
                _main_end()
        return real_shutdown()

    Thread.start, Thread.join, Thread._bootstrap_inner = start, join, _bootstrap_inner
    threading.excepthook = excepthook  # type: ignore[attr-defined]
    threading._shutdown = _shutdown  # type: ignore[attr-defined]


# Processes.


def _child_label(name: str) -> str:
    n = _child_names.get(name, 0)
    _child_names[name] = n + 1
    return name if n == 0 else f"{name} #{n + 1}"


def _patch_process(process: ModuleType) -> None:
    BaseProcess: Any = process.BaseProcess
    real_start, real_join, real_bootstrap = (
        BaseProcess.start,
        BaseProcess.join,
        BaseProcess._bootstrap,
    )

    def start(self: Any) -> Any:
        method = self._start_method
        if method is None:
            from multiprocessing import context

            method = context._default_context.get_start_method()
        self._cv_method = method
        frame = where.called_by_user(1)
        if frame is None or self._popen is not None or recorder.current() is None:
            self._cv_label = self.name
            real_start(self)
            _tag_popen(self)
            return
        label = self._cv_label = _child_label(self.name)
        self._cv_spawned = True
        target = self._target
        if target is None and type(self).run is not BaseProcess.run:
            target = type(self).run
        data = where.frame_data(frame)
        gate.before("start", label, data)
        data.update(daemon=bool(self.daemon), method=method, target=where.qualname(target))
        record = _Starting(label, data)
        if method == "fork":
            record.gate = os.pipe()
        me = _thread.get_ident()
        _starting[me] = record
        try:
            real_start(self)
            if not record.sent:
                record.send(self.pid)
        finally:
            _starting.pop(me, None)
            if record.gate is not None:
                r, w = record.gate
                try:
                    os.write(w, b"!")
                finally:
                    os.close(w)
                    os.close(r)
        _tag_popen(self)

    def join(self: Any, timeout: float | None = None) -> Any:
        frame = where.called_by_user(1)
        if (
            frame is None
            or self._popen is None
            or self._parent_pid != os.getpid()
            or recorder.current() is None
        ):
            return real_join(self, timeout)
        label = getattr(self, "_cv_label", None) or self.name
        data = where.frame_data(frame)
        gate.before("join", label, data)
        data.update(what="process", pid=self.pid, timeout=timeout)
        recorder.emit(K.JOIN, label, data)
        recorder.flush()
        real_join(self, timeout)
        code = self.exitcode
        recorder.emit(K.JOINED, label, {"alive": code is None, "exitcode": code})

    def _bootstrap(self: Any, parent_sentinel: Any = None) -> Any:
        recorder.set_process(
            self.name,
            getattr(self, "_cv_label", None),
            getattr(self, "_cv_method", None),
            bool(self.daemon),
            self._parent_pid or 0,
        )
        if getattr(self, "_cv_spawned", False):
            recorder.announce()
        run = self.run

        def traced_run() -> Any:
            try:
                return run()
            except SystemExit:
                raise
            except BaseException as e:
                with contextlib.suppress(Exception):
                    report_exc(e)
                raise

        self.run = traced_run
        code = real_bootstrap(self, parent_sentinel)
        process_exit(code)
        return code

    BaseProcess.start, BaseProcess.join = start, join
    BaseProcess._bootstrap = _bootstrap


def _tag_popen(process: Any) -> None:
    popen = process._popen
    if popen is not None:
        popen._cv_label = process._cv_label
        popen._cv_daemon = bool(process.daemon)


def _reaped(popen: Any, code: int) -> None:
    label = getattr(popen, "_cv_label", None)
    if label is None or recorder.is_silent():
        return
    sig = None
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = str(-code)
    cut = bool(getattr(popen, "_cv_cut", False)) and code == -signal.SIGTERM
    data = {"pid": popen.pid, "exitcode": code, "signal": sig, "cut_off": cut}
    recorder.emit_as(recorder.shown_worker(), K.REAPED, label, data)


def _patch_poll(cls: Any) -> None:
    real_poll = cls.__dict__["poll"]

    def poll(self: Any, flag: int = os.WNOHANG) -> Any:
        was = self.returncode
        code = real_poll(self, flag)
        if was is None and code is not None:
            _reaped(self, code)
        return code

    cls.poll = poll


def _patch_popen_fork(popen_fork: ModuleType) -> None:
    Popen: Any = popen_fork.Popen
    _patch_poll(Popen)
    real_terminate = Popen.terminate

    def terminate(self: Any) -> Any:
        # multiprocessing's exit handler ends the daemonic children this way.
        if sys._getframe(1).f_code.co_name == "_exit_function":
            self._cv_cut = True
        return real_terminate(self)

    Popen.terminate = terminate


def _patch_popen_forkserver(popen_forkserver: ModuleType) -> None:
    _patch_poll(popen_forkserver.Popen)


def _patch_util(util: ModuleType) -> None:
    real_spawnv: Any = util.spawnv_passfds

    def spawnv_passfds(path: Any, args: Any, passfds: Any) -> Any:
        pid = real_spawnv(path, args, passfds)
        record = _starting.get(_thread.get_ident())
        if record is not None and not record.sent and "--multiprocessing-fork" in args:
            record.send(pid)  # before the parent writes the child its data
        return pid

    util.spawnv_passfds = spawnv_passfds  # type: ignore[attr-defined]


def _patch_forkserver(forkserver: ModuleType) -> None:
    real_connect: Any = forkserver.connect_to_new_process
    real_read: Any = forkserver.read_signed
    real_main: Any = forkserver.main

    def connect_to_new_process(fds: Any) -> Any:
        sentinel, w = real_connect(fds)
        record = _starting.get(_thread.get_ident())
        if record is not None and not record.sent:
            pid = _early_pids[sentinel] = real_read(sentinel)
            record.send(pid)
        return sentinel, w

    def read_signed(fd: int) -> Any:
        pid = _early_pids.pop(fd, None)
        return real_read(fd) if pid is None else pid

    def main(*args: Any, **kwargs: Any) -> Any:
        global _in_forkserver
        _in_forkserver = True
        recorder.silence()
        return real_main(*args, **kwargs)

    forkserver.connect_to_new_process = connect_to_new_process  # type: ignore[attr-defined]
    forkserver.read_signed = read_signed  # type: ignore[attr-defined]
    forkserver.main = main  # type: ignore[attr-defined]


def _patch_resource_tracker(resource_tracker: ModuleType) -> None:
    real_main: Any = resource_tracker.main

    def main(*args: Any, **kwargs: Any) -> Any:
        recorder.silence()
        return real_main(*args, **kwargs)

    resource_tracker.main = main  # type: ignore[attr-defined]
