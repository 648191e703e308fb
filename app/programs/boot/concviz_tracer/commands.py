"""Commands the user's code runs with `subprocess`: each child is a process
of the program, on the stage from the line that started it, named after
the command (``sleep``, ``sleep #2``). One that is Python says the rest
itself (the tracer starts in it too); one that is not is only its box, its
pid and its exit code. Waiting for it (``wait()``, ``communicate()``,
``subprocess.run``) is a join.

Only a Popen that the user's code makes, directly or through `subprocess`'s
own helpers, is shown: one a library makes for itself is its business.
"""

from __future__ import annotations

import os
import re
import sys
from types import FrameType, ModuleType

from . import gate, hooks, recorder, where
from . import kinds as K
from .processes import child_label, say_reaped
from .workers import before_join

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

COMMAND_CHARS = 80  # a command is shown up to this long
PYTHON = re.compile(r"python[\d.]*$")
# Python's options that take the next argument ("-W error").
OPTION_ARGS = frozenset({"-W", "-X", "--check-hash-based-pycs"})
# Set for a Python command the user's code runs: it shows itself at once, as
# the first process does, and its ``-c`` code is the user's (`startup`).
COMMAND = "CONCVIZ_TRACE_COMMAND"
ENV_AT = 9  # where Popen's env is among the arguments after args, if given by position


def install() -> None:
    hooks.when_imported("subprocess", _patch)


def _user_caller(module_file: str) -> FrameType | None:
    """The user's frame that called into `subprocess` (our wrapper's
    caller, past subprocess's own helpers), or None."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == module_file:
        frame = frame.f_back
    if frame is None or not where.is_user_file(frame.f_code.co_filename):
        return None
    return frame


def _command(args: Any) -> tuple[str, str, str]:
    """The name a child is shown by, its command line (shortened), and, for
    a Python one, the script it will name itself after (`identity.name`)."""
    argv = [os.fsdecode(a) for a in args] if isinstance(args, list | tuple) else [str(args)]
    words = argv[0].split() if argv else []
    name = os.path.basename(words[0]) if words else "command"
    line = " ".join([name, *argv[0].split(None, 1)[1:], *argv[1:]]) if words else ""
    if len(line) > COMMAND_CHARS:
        line = line[: COMMAND_CHARS - 1] + "…"
    script = ""
    rest = iter(argv[1:] if PYTHON.match(name) and isinstance(args, list | tuple) else ())
    for arg in rest:
        if arg == "-c":
            script = "python -c"
        elif arg == "-m":  # the module's file is known once it runs: no guess
            break
        elif arg in OPTION_ARGS:
            next(rest, None)
            continue
        elif arg.startswith("-"):
            continue
        else:
            script = os.path.basename(arg)
        break
    return name, line, script


def _patch(subprocess: ModuleType) -> None:
    Popen: Any = subprocess.Popen
    real_init, real_wait, real_poll = Popen.__init__, Popen.wait, Popen.poll
    module_file = str(subprocess.__file__)

    def __init__(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
        frame = _user_caller(module_file)
        shown = frame is not None and recorder.current() is not None
        if shown:
            name, line, script = _command(args)
            label = script or child_label(name)
            data = where.frame_data(frame)
            gate.before("start", label, data)
            env = kwargs.get("env")
            if script and len(rest) <= ENV_AT and (env is None or all(type(k) is str for k in env)):
                # A Python child: it shows itself at once.
                kwargs["env"] = {**(os.environ if env is None else env), COMMAND: "1"}
        real_init(self, args, *rest, **kwargs)
        if shown:
            # A Python child names itself after its script and pid: so does
            # its parent, so that both speak of one process.
            label = self._cv_label = f"{script} {self.pid}" if script else label
            data.update(daemon=False, method="exec", target="", command=line, pid=self.pid)
            recorder.emit(K.SPAWN, label, data)
            recorder.flush()

    def ended(self: Any) -> None:
        """Its end, said once, when its exit code is first known here."""
        label = getattr(self, "_cv_label", None)
        if label is not None and self.returncode is not None and not getattr(self, "_cv_end", 0):
            self._cv_end = 1
            say_reaped(label, self.pid, self.returncode)

    def wait(self: Any, timeout: float | None = None) -> Any:
        label = getattr(self, "_cv_label", None)
        frame = _user_caller(module_file) if label is not None else None
        if label is None or frame is None or self.returncode is not None:
            code = real_wait(self, timeout)
            ended(self)
            return code
        before_join(label, frame, what="process", pid=self.pid, timeout=timeout)
        try:
            return real_wait(self, timeout)
        finally:
            ended(self)
            code = self.returncode
            recorder.emit(K.JOINED, label, {"alive": code is None, "exitcode": code})

    def poll(self: Any) -> Any:
        code = real_poll(self)
        ended(self)
        return code

    Popen.__init__, Popen.wait, Popen.poll = __init__, wait, poll
