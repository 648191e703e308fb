"""Every run's events, recorded in an embedded SQLite database.

::

    Run.ingest (event loop) --append()--> SimpleQueue --> writer thread --> SQLite (WAL)
                                                          (batches every FLUSH_S)
    reads (to_thread) ------------------- own connection per call --------^

A run's events are kept in chunks (`app.chunks`): each holds the events a
batch brought, numbered from its `first_seq`, as one blob of plain values.
One insert and one pickle per chunk cost the server about a quarter of
what a row and a JSON text per event did (bench/ingest.py), and they are
decoded only when a replay, a stream or an export reads them; each says
its latest time, so a replay finds a time by decoding one chunk, not all.
Recordings made before chunks keep their events one per row in `events`.

Beside the events, copies of a run's state (`keep_state`): its final state,
kept when it ends, and the replay's checkpoints, kept as an opening makes
them, so that the next opening of a long recording need not fold it all
again (`app.replay`). A copy is a pickle, tagged with the shape of the
state it was made from (`shape`): one of another shape (a newer concviz)
is not read. The database is the user's own, as trusted as the code.

One long-lived writer thread owns the writing connection: appends from the
loop never wait on the disk. It commits a batch every `FLUSH_S` (so a crash
loses at most that much) and everything left when it is closed (a SIGTERM
stops the server through its lifespan, which closes the recorder). Readers
open their own connection; WAL lets them read while the writer writes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pickle
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.chunks import ChunkTimes, chunks, events_from, pack
from app.events import Event
from app.replay import Times, TimesInMemory, freeze, thaw

log = logging.getLogger(__name__)

FLUSH_S = 0.25  # at most this much is lost if the server is killed
END_FLUSH_S = 0.02  # a batch with a run's end is written this soon
_STOP = object()

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    params TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    reason TEXT NOT NULL DEFAULT '',
    duration REAL NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    run_events INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    t REAL NOT NULL,
    worker TEXT NOT NULL,
    pid INTEGER NOT NULL,
    tid INTEGER NOT NULL,
    kind TEXT NOT NULL,
    item TEXT,
    data TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    run_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    events BLOB NOT NULL,
    t_max REAL,
    PRIMARY KEY (run_id, last_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS states (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    shape TEXT NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
"""


@functools.cache
def shape(new_state: Callable[[], Any]) -> str:
    """What a state of this kind is made of: a fresh one's pickle changes
    with every field, default and class a newer version adds or renames."""
    return hashlib.sha256(pickle.dumps(new_state())).hexdigest()[:16]


def default_path() -> Path:
    """Under the user's data directory (XDG_DATA_HOME, or ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "concviz" / "runs.sqlite3"


@dataclass(frozen=True)
class RecordedRun:
    id: str
    experiment: str
    params: dict[str, Any]
    name: str
    created: str
    status: str
    reason: str
    duration: float
    events: int  # recorded
    run_events: int  # the run had, recorded or not (0: not known yet)

    @property
    def cut(self) -> bool:
        """The run went on past its recording limit."""
        return self.run_events > self.events

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "run_events": max(self.events, self.run_events), "cut": self.cut}


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(_connect(path)) as conn, conn:
            conn.executescript(SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
            if "run_events" not in columns:  # a database from before the limit
                conn.execute("ALTER TABLE runs ADD COLUMN run_events INTEGER NOT NULL DEFAULT 0")
            if "t_max" not in {row[1] for row in conn.execute("PRAGMA table_info(chunks)")}:
                conn.execute("ALTER TABLE chunks ADD COLUMN t_max REAL")  # from before ChunkTimes
            # A run still 'running' here was cut short by a crash of the server.
            conn.execute(
                "UPDATE runs SET status = 'failed', reason = 'the server stopped during the run'"
                " WHERE status IN ('starting', 'running')"
            )
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._waiting = 0  # events appended and not written yet
        self._waiting_lock = threading.Lock()
        self._writer = threading.Thread(target=self._write, name="recorder", daemon=True)
        self._writer.start()

    # Writing: called from the event loop, never blocks on the disk.

    def begin(self, run_id: str, experiment: str, params: dict[str, Any], created: str) -> None:
        self._queue.put(("begin", (run_id, experiment, json.dumps(params), created)))

    def append(self, run_id: str, evs: list[Event]) -> None:
        with self._waiting_lock:
            self._waiting += len(evs)
        self._queue.put(("events", (run_id, evs)))

    def end(
        self, run_id: str, status: str, reason: str, duration: float, count: int, total: int
    ) -> None:
        """The run has ended: `count` events recorded of the `total` it had."""
        self._queue.put(("end", (status, reason, duration, count, total, run_id)))

    def keep_state(self, run_id: str, seq: int, state: Any, kind: str) -> None:
        """Keep a copy of `state`, the state after `seq` events, of shape
        `kind`. Frozen now (the caller may change it next), written by the
        writer thread. A state that does not freeze is rebuilt from the
        events when it is needed."""
        frozen = freeze(state)
        if frozen is None:
            log.warning("a state of run %s could not be kept (it does not pickle)", run_id)
        else:
            self.keep_frozen(run_id, seq, frozen, kind)

    def keep_frozen(self, run_id: str, seq: int, frozen: bytes, kind: str) -> None:
        """`keep_state` of a state frozen already (`app.replay.freeze`)."""
        self._queue.put(("state", (run_id, seq, kind, frozen)))

    @property
    def backlog(self) -> int:
        """Events waiting for the writer thread (see runs._wait_for_recorder)."""
        return self._waiting

    def close(self, timeout: float = 10.0) -> None:
        """Write what is left and stop the writer."""
        self._queue.put(_STOP)
        self._writer.join(timeout)
        if self._writer.is_alive():
            log.error("the recorder did not finish writing within %s s", timeout)

    def _write(self) -> None:
        conn = _connect(self.path)
        try:
            stop = False
            while not stop:
                ops = [self._queue.get()]
                deadline = time.monotonic() + FLUSH_S
                while ops[-1] is not _STOP and time.monotonic() < deadline:  # no wait once closed
                    if ops[-1][0] == "end":  # a replay waits for it (its state comes next)
                        deadline = min(deadline, time.monotonic() + END_FLUSH_S)
                    try:
                        ops.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                    except queue.Empty:
                        break
                if any(op is _STOP for op in ops):
                    stop = True
                    ops = [op for op in ops if op is not _STOP]
                ops = _coalesced(ops)
                try:
                    with conn:
                        for op in ops:
                            self._apply(conn, op)
                except sqlite3.Error:
                    log.exception("recording a batch of events failed")
                written = sum(len(op[1][1]) for op in ops if op[0] == "events")
                with self._waiting_lock:
                    self._waiting -= written
        finally:
            conn.close()

    @staticmethod
    def _apply(conn: sqlite3.Connection, op: tuple[str, Any]) -> None:
        kind, args = op
        if kind == "begin":
            conn.execute(
                "INSERT OR REPLACE INTO runs (id, experiment, params, created) VALUES (?, ?, ?, ?)",
                args,
            )
        elif kind == "events":
            run_id, evs = args
            conn.executemany(
                "INSERT OR IGNORE INTO chunks (run_id, last_seq, first_seq, events, t_max)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (run_id, chunk[-1].seq, chunk[0].seq, pack(chunk), max(e.t for e in chunk))
                    for chunk in chunks(evs)
                ],
            )
        elif kind == "state":
            # Not for a run deleted meanwhile (a replay's checkpoints come late).
            conn.execute(
                "INSERT OR REPLACE INTO states SELECT ?, ?, ?, ?"
                " WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?)",
                (*args, args[0]),
            )
        elif kind == "end":
            conn.execute(
                "UPDATE runs SET status = ?, reason = ?, duration = ?, events = ?, run_events = ?"
                " WHERE id = ?",
                args,
            )

    # Reading: blocking calls, for asyncio.to_thread.

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with closing(_connect(self.path)) as conn:
            yield conn

    def runs(self) -> list[RecordedRun]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT id, experiment, params, name, created, status, reason, duration, events,"
                " run_events FROM runs ORDER BY created DESC"
            ).fetchall()
        return [_recorded(row) for row in rows]

    def run(self, run_id: str) -> RecordedRun | None:
        with self._reading() as conn:
            row = conn.execute(
                "SELECT id, experiment, params, name, created, status, reason, duration, events,"
                " run_events FROM runs WHERE id = ?",
                (run_id,),
            ).fetchone()
        return _recorded(row) if row else None

    def events(self, run_id: str, after: int = 0, limit: int | None = None) -> list[Event]:
        """The run's events after the `after`-th, at most `limit` of them."""
        with self._reading() as conn:
            rows = conn.execute(  # a recording made before chunks
                "SELECT seq, t, worker, pid, tid, kind, item, data FROM events"
                " WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (run_id, after, -1 if limit is None else limit),
            ).fetchall()
            out = [
                Event(seq, t, worker, pid, tid, kind, item, json.loads(data) if data else None)
                for seq, t, worker, pid, tid, kind, item, data in rows
            ]
            if out:
                after = out[-1].seq
            want = -1 if limit is None else limit - len(out)
            if want:
                out += _from_chunks(conn, run_id, after, want)
        return out

    def times(self, run_id: str) -> Times:
        """Each recorded event's time, in order: read from a chunk when asked,
        or all at once for a recording from before chunks kept their times."""
        with self._reading() as conn:
            spans = conn.execute(
                "SELECT first_seq, last_seq, t_max FROM chunks WHERE run_id = ? ORDER BY last_seq",
                (run_id,),
            ).fetchall()
            old = conn.execute(
                "SELECT 1 FROM events WHERE run_id = ? LIMIT 1", (run_id,)
            ).fetchone()
        lazy = None if old else ChunkTimes.of(spans, functools.partial(self._chunk, run_id))
        return lazy if lazy is not None else TimesInMemory(e.t for e in self.events(run_id))

    def _chunk(self, run_id: str, first_seq: int) -> bytes:
        query = "SELECT events FROM chunks WHERE run_id = ? AND first_seq = ?"
        return self._blob(query, (run_id, first_seq), f"no chunk from {first_seq} in run {run_id}")

    def kept_states(self, run_id: str, kind: str) -> frozenset[int]:
        """The seq of each state kept for the run, of shape `kind`."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT seq FROM states WHERE run_id = ? AND shape = ?", (run_id, kind)
            ).fetchall()
        return frozenset(seq for (seq,) in rows)

    def kept_state(self, run_id: str, seq: int) -> Any:
        return thaw(self.kept_frozen(run_id, seq))

    def kept_frozen(self, run_id: str, seq: int) -> bytes:
        query = "SELECT state FROM states WHERE run_id = ? AND seq = ?"
        return self._blob(query, (run_id, seq), f"no state kept at {seq} for run {run_id}")

    def _blob(self, query: str, args: tuple[Any, ...], missing: str) -> bytes:
        with self._reading() as conn:
            row = conn.execute(query, args).fetchone()
        if row is None:
            raise KeyError(missing)
        blob: bytes = row[0]
        return blob

    def rename(self, run_id: str, name: str) -> bool:
        with self._reading() as conn, conn:
            return (
                conn.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id)).rowcount > 0
            )

    def delete(self, run_id: str) -> bool:
        with self._reading() as conn, conn:
            conn.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM chunks WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM states WHERE run_id = ?", (run_id,))
            return conn.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount > 0


def _recorded(row: tuple[Any, ...]) -> RecordedRun:
    run_id, experiment, params, name, created, status, reason, duration, count, total = row
    params = json.loads(params)
    return RecordedRun(
        run_id, experiment, params, name, created, status, reason, duration, count, total
    )


def _from_chunks(conn: sqlite3.Connection, run_id: str, after: int, limit: int) -> list[Event]:
    """The chunked events after the `after`-th, at most `limit` (-1: all)."""
    rows = conn.execute(
        "SELECT first_seq, events FROM chunks WHERE run_id = ? AND last_seq > ? ORDER BY last_seq",
        (run_id, after),
    )
    return events_from(rows, after, limit)


def _coalesced(ops: list[Any]) -> list[Any]:
    """The writer's ops, with the events a run appended one after another
    made one op (so one chunk, not one per small batch)."""
    out: list[Any] = []
    for op in ops:
        kind, args = op
        if kind == "events" and out and out[-1][0] == "events" and out[-1][1][0] == args[0]:
            out[-1][1][1].extend(args[1])
        else:
            out.append(("events", (args[0], list(args[1]))) if kind == "events" else op)
    return out
