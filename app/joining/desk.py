"""One run's joining: its token, and the workers that joined with it.

The token is made when the presenter opens joining (the page does on the
first look at a run that takes joins), per run, and revoked by the
presenter; a revoked token never works again (opening again makes
another). A worker is registered by its first batch and holds a place
until it says it leaves, goes silent for SILENT_S (the stage then shows it
gone, and its next batch is refused: it joins again), or the token is
revoked.

Joined workers hold no places under the server's max_workers: they run on
their own machines, and what they cost the server (their events) is
bounded by the cap on them, MAX_JOINED a run, and the size of a batch
(`wire`). Clocks are the caller's (`time.monotonic()`), for the tests.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from app.events import RawEvent
from app.joining.translate import Translation
from app.programs.boot.concviz_tracer import kinds as K

MAX_JOINED = 16  # workers joined to one run at once
# A worker sends a batch at least this often (empty if it has nothing)...
HEARTBEAT_S = 1.0
# ...and one silent this long is gone (its machine slept, its network left).
SILENT_S = 10.0


class JoinRefused(Exception):
    """A join or a batch refused: `status` is its HTTP status, str(exc) why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class JoinedWorker:
    worker: str  # the id it chose
    host: str
    role: str
    translation: Translation
    last_seen: float
    pids: set[int] = field(default_factory=set)  # its processes alive on the stage
    kills: list[int] = field(default_factory=list)  # to SIGKILL, said in its next answer

    @property
    def label(self) -> str:
        return self.translation.label

    def saw(self, batch: list[RawEvent]) -> None:
        """Keep track of its processes from its translated events."""
        for _t, _w, pid, _tid, kind, _item, data in batch:
            if kind == K.PROC:
                self.pids.add(pid)
            elif kind == K.EXIT:
                self.pids.discard(pid)
            elif kind == K.REAPED and data:
                self.pids.discard(int(data.get("pid") or 0))


class JoinDesk:
    def kill(self, pid: int) -> bool:
        """Ask the joined worker whose process `pid` is (as its events say)
        to SIGKILL it, in the answer to its next batch; False if no joined
        worker has such a process alive."""
        for joined in self.workers.values():
            if pid in joined.pids:
                joined.kills.append(pid)
                return True
        return False

    def __init__(self, run_id: str, roles: tuple[str, ...], redis_prefix: str = "") -> None:
        self.run_id = run_id
        self.roles = roles
        self.redis_prefix = redis_prefix
        self.token: str | None = None
        self.workers: dict[str, JoinedWorker] = {}
        self._prefixes: set[str] = set()  # every prefix given in this run
        self._silenced: set[str] = set()  # workers dropped for their silence

    @property
    def open(self) -> bool:
        return self.token is not None

    def open_joining(self) -> str:
        """The token, made now if there is none."""
        if self.token is None:
            self.token = secrets.token_urlsafe(24)
        return self.token

    def revoke(self) -> list[JoinedWorker]:
        """No token works any longer; the workers joined with it, dropped."""
        self.token = None
        gone, self.workers = list(self.workers.values()), {}
        return gone

    def admits(self, token: str) -> bool:
        return self.token is not None and hmac.compare_digest(token.encode(), self.token.encode())

    def check(self, token: str) -> None:
        if not self.admits(token):
            raise JoinRefused(
                403,
                "this join address is not (or no longer) valid: the presenter revoked it, or"
                " it was mistyped; ask for the current one",
            )

    def worker(self, worker: str, host: str, role: str, offset_ns: int, now: float) -> JoinedWorker:
        """The joined worker `worker`, registered on its first batch."""
        found = self.workers.get(worker)
        if worker in self._silenced:
            raise JoinRefused(
                409,
                f"this worker was silent for more than {SILENT_S:g} s and was shown gone;"
                " join again",
            )
        if found is not None:
            if (found.host, found.role) != (host, role):
                raise JoinRefused(409, f"worker {worker} joined as {found.role} on {found.host}")
            found.last_seen = now
            if offset_ns != found.translation.offset_ns:
                t = found.translation
                found.translation = Translation(t.prefix, t.label, t.redis_prefix, offset_ns)
            return found
        if role not in self.roles:
            raise JoinRefused(422, f"role must be one of {', '.join(self.roles)}")
        if len(self.workers) >= MAX_JOINED:
            raise JoinRefused(
                429,
                f"run {self.run_id} has {MAX_JOINED} joined workers, the most it takes: one"
                " must leave first",
            )
        prefix = self._new_prefix(host)
        tr = Translation(prefix, f"{prefix}/{role}", self.redis_prefix, offset_ns)
        joined = self.workers[worker] = JoinedWorker(worker, host, role, tr, now)
        return joined

    def _new_prefix(self, host: str) -> str:
        prefix, n = host, 1
        while prefix in self._prefixes:
            n += 1
            prefix = f"{host} #{n}"
        self._prefixes.add(prefix)
        return prefix

    def leave(self, worker: str) -> JoinedWorker | None:
        return self.workers.pop(worker, None)

    def silent(self, now: float) -> list[JoinedWorker]:
        """The workers silent for SILENT_S, dropped."""
        gone = [w for w in self.workers.values() if now - w.last_seen > SILENT_S]
        for w in gone:
            del self.workers[w.worker]
            self._silenced.add(w.worker)
        return gone


class JoinBoard:
    """Every run's desk (the server keeps one board, on `app.state`)."""

    def __init__(self) -> None:
        self._desks: dict[str, JoinDesk] = {}

    def get(self, run_id: str) -> JoinDesk | None:
        return self._desks.get(run_id)

    def desk(self, run_id: str, roles: tuple[str, ...], redis_prefix: str = "") -> JoinDesk:
        found = self._desks.get(run_id)
        if found is None:
            found = self._desks[run_id] = JoinDesk(run_id, roles, redis_prefix)
        return found

    def forget(self, run_id: str) -> None:
        self._desks.pop(run_id, None)

    def desks(self) -> list[JoinDesk]:
        return list(self._desks.values())
