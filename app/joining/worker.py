"""`concviz worker --join URL [--as ROLE]`: add a worker of this machine to
a lesson running on the presenter's concviz.

It asks the server for the run's program, runs it in the role asked for
(``python FILE ROLE LABEL``) under this machine's tracer, with the limits
of a user's program (`app.programs`: own session, own temp dir), and
sends its events to the run (`sender`), where it shows on the stage under
this machine's name with its real pids. It says what it does, one line per
change, and leaves on Ctrl-C (or SIGTERM), when the presenter revokes the
join address, or when the run ends: its program gets SIGTERM, LEAVE_GRACE_S
to finish its item, then SIGKILL; nothing of it is left, no process, no
temp dir.

The program runs with your rights on this machine: join only a server you
trust, as you would run its program yourself. Exit codes: 0 left (Ctrl-C,
the run ended), 1 stopped otherwise (revoked, the server lost, the
program failed), 2 could not join.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from pydantic import BaseModel

from app.budget import WorkerBudget
from app.events import RUN_END, RawEvent
from app.joining.sender import TIMEOUT_S, Refused, Sender
from app.joining.wire import JoinAddress, host_label, parse_address, redis_problem, redis_url_for
from app.programs import rundirs, source
from app.programs import runtime as program_runtime
from app.programs.boot.concviz_tracer import kinds as K
from app.settings import Settings

# After SIGTERM, how long the program gets to finish its item and leave
# before the runtime's stop (SIGTERM again, a second, SIGKILL).
LEAVE_GRACE_S = 5.0
TICK_S = 0.05
CANNOT_JOIN = 2


def say(message: str) -> None:
    print(f"concviz worker: {message}", flush=True)


class CannotJoin(Exception):
    """Joining failed before the program started; str(exc) says why."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    from app.cli import add_program_limits

    p = argparse.ArgumentParser(
        prog="concviz worker",
        description="Add a worker of this machine to a lesson running on another concviz"
        " (its presenter's page shows the command). The lesson's program runs here, with"
        " your rights.",
    )
    p.add_argument("--join", required=True, metavar="URL", help="the join address")
    p.add_argument(
        "--as",
        dest="role",
        metavar="ROLE",
        help="consumer or producer (default: the lesson's first, a consumer)",
    )
    add_program_limits(p)
    return p.parse_args(argv)


def fetch(address: JoinAddress) -> tuple[dict[str, Any], int]:
    """What the run gives a joined worker, and the server's clock minus
    this machine's (measured halfway through the request)."""
    req = urllib.request.Request(address.url, headers={"accept": "application/json"})
    before = time.monotonic_ns()
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as answer:
            info = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise CannotJoin(_refusal(exc.code, _said(exc), address)) from None
    except (OSError, ValueError) as exc:
        raise CannotJoin(f"cannot reach concviz at {address.base}: {_reason(exc)}") from None
    after = time.monotonic_ns()
    if not isinstance(info, dict) or "server_ns" not in info:
        raise CannotJoin(f"what answers at {address.base} is no concviz server")
    return info, int(info["server_ns"]) - (before + after) // 2


def _said(exc: urllib.error.HTTPError) -> str:
    try:
        said = json.loads(exc.read() or b"{}")
    except ValueError:
        said = {}
    return str(said.get("detail") if isinstance(said, dict) else "") or str(exc.reason)


def _refusal(status: int, said: str, address: JoinAddress) -> str:
    if status == 403:
        return f"the join address was refused: {said}"
    if status in (404, 410):
        return f"run {address.run} is not going on at {address.base}: {said}"
    return f"concviz at {address.base} answered {status}: {said}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    return str(getattr(exc, "strerror", None) or exc)


class Params(BaseModel):
    """A joined worker's run of the program (what `ProgramRuntime` reads)."""

    args: list[str]
    speed: float = 1.0


@dataclass
class Resource:
    env: dict[str, str]

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class JoinedProgram:
    """The run's program as this machine runs it (the `Experiment` that
    `ProgramRuntime` needs)."""

    text: str
    filename: str
    env: dict[str, str]
    notes: dict[str, str] = field(default_factory=lambda: {"finished": "its program ended"})

    def worker_count(self, params: Any) -> int:
        return 1

    def script(self, params: Any) -> str:
        return self.text

    def script_name(self, params: Any) -> str:
        return self.filename

    def prepare(self) -> Resource:
        return Resource(dict(self.env))


def program_of(info: dict[str, Any], reached: str) -> JoinedProgram:
    """The program to run from the server's answer; CannotJoin if it is not one."""
    filename = str(info.get("filename", ""))
    text = info.get("program")
    if not source.FILENAME.match(filename) or not isinstance(text, str):
        raise CannotJoin("the server's answer holds no program to run")
    url = str((info.get("env") or {}).get("REDIS_URL", ""))
    env = {}
    if url:
        problem = redis_problem(url, reached)
        if problem:
            raise CannotJoin(problem)
        env["REDIS_URL"] = redis_url_for(url, reached)
    return JoinedProgram(text, filename, env)


class Watch:
    """What the worker learns from its program's events on their way out."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.pid = 0
        self.exitcode: int | None = None
        self.ended = ""

    def __call__(self, batch: list[RawEvent]) -> None:
        for _t, _w, pid, _tid, kind, _item, data in batch:
            if kind == K.PROC and data and data.get("main") and not self.pid:
                self.pid = pid
                say(f"{self.label} runs as pid {pid} on {socket.gethostname()}")
            elif kind == K.EXIT and data and pid == self.pid:
                self.exitcode = data.get("exitcode")
            elif kind == RUN_END and data:
                self.ended = str(data.get("reason") or "")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        address = parse_address(args.join)
        info, offset_ns = fetch(address)
        roles = [str(r) for r in info.get("roles") or []]
        role = args.role or (roles[0] if roles else "")
        if role not in roles:
            raise CannotJoin(f"--as must be one of {', '.join(roles) or 'no role'} (got {role!r})")
        program = program_of(info, address.host)
        host = host_label(socket.gethostname())
        envelope = {"worker": secrets.token_urlsafe(12), "host": host, "role": role}
        envelope["offset_ns"] = offset_ns
        sender = Sender(
            address.base + str(info["events"]),
            envelope,
            heartbeat_s=float(info.get("heartbeat_s", 1.0)),
            max_events=int(info.get("max_events", 1000)),
        )
        try:
            label = str(sender.hello()["label"])
        except Refused as exc:
            raise CannotJoin(_refusal(exc.status, str(exc), address)) from None
        except OSError as exc:
            raise CannotJoin(f"cannot reach concviz at {address.base}: {_reason(exc)}") from None
    except (ValueError, CannotJoin) as exc:
        print(f"concviz worker: {exc}", file=sys.stderr, flush=True)
        return CANNOT_JOIN
    except KeyboardInterrupt:
        print("concviz worker: interrupted before it joined", file=sys.stderr, flush=True)
        return CANNOT_JOIN
    say(f"joined run {address.run} ({info.get('experiment')}) at {address.base} as {label}")
    return run(args, info, program, sender, label, role)


def run(
    args: argparse.Namespace,
    info: dict[str, Any],
    program: JoinedProgram,
    sender: Sender,
    label: str,
    role: str,
) -> int:
    time_left = float(info.get("time_limit_s", 600.0))
    limits = {k: v for k, v in vars(args).items() if k.startswith("program_")}
    limits["program_seconds"] = limits.get("program_seconds") or min(86400.0, time_left)
    settings = Settings.from_env(**limits)
    watch = Watch(label)

    def on_batch(batch: list[RawEvent]) -> None:
        watch(batch)
        sender.put(batch)

    speed = float(info.get("speed", 1.0))
    budget = WorkerBudget(1)
    budget.acquire(1)
    rundirs.sweep()
    rt = program_runtime.ProgramRuntime(
        program,
        Params(args=[role, label], speed=speed),
        on_batch,
        budget,
        time_limit_s=time_left,
        settings=settings,
    )
    speeds = [speed]

    def follow(answer: dict[str, Any]) -> None:
        """The presenter moved the speed slider, or pressed Kill on one of
        the program's processes: the program follows."""
        new = answer.get("speed")
        if isinstance(new, int | float) and new > 0 and new != speeds[-1]:
            speeds.append(float(new))
            rt.set_speed(float(new))
        for pid in answer.get("kill") or []:
            if type(pid) is int and rt.kill(pid):  # only a process of its own program
                say(f"the presenter killed process {pid}")

    sender.on_answer = follow
    # Ctrl-C and SIGTERM only count, and the wait below acts on them: a
    # KeyboardInterrupt raised inside Thread.join() may leave that thread
    # marked ended while it runs (CPython 3.11, threading's
    # _wait_for_tstate_lock), and the worker would exit while its runtime
    # still removes the program's directory.
    interrupts = Interrupts()
    previous = {sig: signal.signal(sig, interrupts) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        sender.start()
        rt.start()
        say(f"running {program.filename} {role} {label!r} under the tracer")
        code, asked = _wait(rt, sender, interrupts)
        if not asked and watch.exitcode != 0:
            code = 1  # it failed on its own, or a limit stopped it
    finally:
        if not rt.done:  # an error of our own: the program goes too
            rt.stop("the worker stopped")
            rt.join(30.0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sender.finish()
    why = watch.ended or "its program ended"
    if watch.exitcode is not None:
        why += f" (exit code {watch.exitcode})"
    say(f"left run {info.get('run')}: {why}")
    return code


class Interrupts:
    """A signal handler that counts Ctrl-C (and SIGTERM)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1


def _wait(
    rt: program_runtime.ProgramRuntime, sender: Sender, interrupts: Interrupts
) -> tuple[int, bool]:
    """Until the program ends: the worker's exit code, and whether the
    program was asked to end (else it ended on its own). Asked, it gets
    SIGTERM and LEAVE_GRACE_S to finish its item (a second Ctrl-C: none),
    then the runtime's stop."""
    code = 0
    asked_at = 0.0
    while not rt.join(TICK_S):
        if not asked_at and (interrupts.count or sender.stopped is not None):
            if interrupts.count:
                say("leaving (interrupted): stopping its program")
            elif sender.stopped is not None:
                code = 0 if sender.stopped.status in (404, 410) else 1
                say(f"stopping: {_why(sender.stopped)}")
            rt.terminate()
            asked_at = time.monotonic()
        if asked_at and (interrupts.count > 1 or time.monotonic() - asked_at > LEAVE_GRACE_S):
            rt.stop("its worker was interrupted" if interrupts.count else "its worker stopped it")
    return code, bool(asked_at)


def _why(refused: Refused) -> str:
    if refused.status == 403:
        return "the presenter revoked joining"
    if refused.status in (404, 410):
        return f"the run has ended: {refused}"
    return str(refused)
