"""Processes: their start, join, exit and reaping, under every start method.

Only a process the user's code starts is reported as started (`spawn`); one
a library starts (a pool's workers) shows once user code runs in it. A
parent's `spawn` reaches the FIFO before anything of the child:

- fork: the child runs as soon as it is forked, so its first flush waits on
  a gate (a pipe it inherits) that the parent opens once its `spawn` is out;
- spawn: the parent sends `spawn` as soon as it knows the pid
  (`util.spawnv_passfds` returned), before it writes the child the data it
  needs to start running;
- forkserver: the forkserver sends the child's pid as soon as it forked it;
  the parent reads it then (it reads it after writing the child's data
  otherwise), sends `spawn`, then writes the data.

A child of the user's own ``os.fork()`` is shown as one too (``child``,
``child #2``), behind the same gate as a Process's; ``os.waitpid`` on it is
a join.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys
from types import ModuleType

from . import gate, hooks, identity, names, outlet, recorder, registry, where
from . import kinds as K
from .workers import before_join, main_end, print_exc, process_exit, report_exc

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any


class _Starting:
    """A start of a child the user's code made (a Process's, or os.fork()),
    while it runs."""

    def __init__(self, label: str, data: dict[str, Any]) -> None:
        self.label, self.data = label, data
        self.sent = False
        self.gate: tuple[int, int] | None = None

    def send(self, pid: int | None) -> None:
        self.sent = True
        self.data["pid"] = pid
        recorder.emit(K.SPAWN, self.label, self.data)
        recorder.flush()

    def open_gate(self) -> None:
        """The parent's part of the gate of a forked child: open it (the
        child's first flush waits for it), and close both ends here."""
        if self.gate is None:
            return
        r, w = self.gate
        try:
            os.write(w, b"!")
        finally:
            os.close(w)
            os.close(r)


_starting: dict[int, _Starting] = {}  # thread ident -> its start in progress
_child_names: dict[str, int] = {}
_early_pids: dict[int, int] = {}  # forkserver: sentinel -> pid read early
_in_forkserver = False
_forks: dict[int, str] = {}  # pid -> label: children of the user's os.fork()
FORK_CHILD = "child"  # a child of os.fork(): it has no name of its own


def install() -> None:
    hooks.when_imported("multiprocessing.process", _patch_process)
    hooks.when_imported("multiprocessing.popen_fork", _patch_popen_fork)
    hooks.when_imported("multiprocessing.popen_forkserver", _patch_popen_forkserver)
    hooks.when_imported("multiprocessing.util", _patch_util)
    hooks.when_imported("multiprocessing.forkserver", _patch_forkserver)
    hooks.when_imported("multiprocessing.resource_tracker", _patch_resource_tracker)
    os.register_at_fork(after_in_child=_forked)
    os.fork, os.waitpid = _fork(os.fork), _waitpid(os.waitpid)


def _forked() -> None:
    global _in_forkserver
    start = _starting.get(_thread.get_ident())
    _starting.clear()
    _child_names.clear()
    _early_pids.clear()
    _forks.clear()
    if start is not None and start.gate is not None:
        os.close(start.gate[1])
        outlet.set_gate(start.gate[0])
    if _in_forkserver:  # a child of the forkserver: a process of the program
        recorder.unsilence("forkserver")


def child_label(name: str) -> str:
    n = _child_names.get(name, 0)
    _child_names[name] = n + 1
    return name if n == 0 else f"{name} #{n + 1}"


def _default_name(p: Any) -> bool:
    """Whether a Process has the name multiprocessing gave it (Process-2)."""
    return bool(p.name == f"{type(p).__name__}-{':'.join(str(i) for i in p._identity)}")


def _patch_process(process: ModuleType) -> None:
    BaseProcess: Any = process.BaseProcess
    real_init, real_start, real_join, real_bootstrap = (
        BaseProcess.__init__,
        BaseProcess.start,
        BaseProcess.join,
        BaseProcess._bootstrap,
    )

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        """Keep the name the user's line gives it (``cons = Process(...)``):
        a process without a name of its own is shown by it."""
        real_init(self, *args, **kwargs)
        frame = where.called_by_user(1)
        if frame is not None and recorder.current() is not None:
            given = names.given_once(frame, where.is_user_file)
            if given is not None:
                self._cv_given = registry.unique(given) if given.endswith(names.ITEM) else given

    def start(self: Any) -> Any:
        if getattr(self, "_closed", True) or self._popen is not None:
            return real_start(self)  # Python's own error: no __init__, closed, started twice
        method = self._start_method
        if method is None:
            from multiprocessing import context

            method = context._default_context.get_start_method()
        self._cv_method = method
        frame = where.called_by_user(1)
        # A manager's server process (Manager(), m.start()) is shown, from
        # the user's line that started it, but says nothing of its own: its
        # threads only serve the proxies' calls, which their callers report.
        server = frame is None and where.qualname(self._target) == K.MANAGER_SERVER
        if server:
            frame = where.user_frame(1)
        if frame is None or recorder.current() is None:
            self._cv_label = self.name
            real_start(self)
            _tag_popen(self)
            return
        given = getattr(self, "_cv_given", None)
        label = self._cv_label = child_label(given if given and _default_name(self) else self.name)
        self._cv_spawned = not server
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
            record.open_gate()
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
        before_join(label, frame, what="process", pid=self.pid, timeout=timeout)
        real_join(self, timeout)
        code = self.exitcode
        recorder.emit(K.JOINED, label, {"alive": code is None, "exitcode": code})

    def _bootstrap(self: Any, parent_sentinel: Any = None) -> Any:
        identity.set_process(
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
                # What multiprocessing prints, from its frame that called
                # run(), without this package's frames; the same exit code.
                if print_exc(f"Process {self.name}:\n", e, sys._getframe(1)):
                    raise SystemExit(1) from None
                raise
            finally:
                # Its code is done: what comes now is multiprocessing's exit
                # (joining its queues' feeder threads, its children), which
                # may wait.
                with contextlib.suppress(Exception):
                    main_end()

        self.run = traced_run
        code = real_bootstrap(self, parent_sentinel)
        process_exit(code)
        return code

    BaseProcess.__init__, BaseProcess.start, BaseProcess.join = __init__, start, join
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
    cut = bool(getattr(popen, "_cv_cut", False)) and code == -signal.SIGTERM
    say_reaped(label, popen.pid, code, cut)


def say_reaped(label: str, pid: int, code: int, cut: bool = False) -> None:
    sig = None
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = str(-code)
    data = {"pid": pid, "exitcode": code, "signal": sig, "cut_off": cut}
    recorder.emit_as(recorder.shown_worker(), K.REAPED, label, data)


def _fork(real_fork: Any) -> Any:
    def fork() -> int:
        frame = where.called_by_user(1)
        if frame is None or recorder.current() is None:
            return real_fork()  # multiprocessing's own fork, say
        label = child_label(FORK_CHILD)
        data = where.frame_data(frame)
        gate.before("start", label, data)
        data.update(daemon=False, method="fork", target="")
        record = _Starting(label, data)
        record.gate = os.pipe()
        parent, me = os.getpid(), _thread.get_ident()
        _starting[me] = record
        try:
            pid = real_fork()
        except BaseException:  # no child (the limit of processes, say)
            _starting.pop(me, None)
            record.open_gate()
            raise
        if pid == 0:  # the child: its first flush waits for the parent's spawn
            identity.set_process(label, label, "fork", False, parent)
            recorder.announce()
            return 0
        _starting.pop(me, None)
        _forks[pid] = label
        try:
            record.send(pid)
        finally:
            record.open_gate()
        return pid

    return fork


def _waitpid(real_waitpid: Any) -> Any:
    def waitpid(pid: int, options: int) -> Any:
        label = _forks.get(pid)
        frame = where.called_by_user(1) if label is not None else None
        if frame is None or label is None:
            return real_waitpid(pid, options)
        if not options & os.WNOHANG:
            before_join(label, frame, what="process", pid=pid, timeout=None)
        got, status = real_waitpid(pid, options)
        if got == pid and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):  # not stopped
            code = os.waitstatus_to_exitcode(status)
            del _forks[pid]
            say_reaped(label, pid, code)
            recorder.emit(K.JOINED, label, {"alive": False, "exitcode": code})
        return got, status

    return waitpid


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
