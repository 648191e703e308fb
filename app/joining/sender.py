"""A joined worker's events on their way to the run: a bounded queue that
its program's reader fills, and one thread that sends them, in order, in
batches, at least every heartbeat (an empty batch says it is still there).

Back-pressure: while the queue is full the reader waits, the program's
FIFO fills, and its processes wait to write (app/programs/fifo.py): a
program never runs further ahead of the server than the queue holds.

What the server answers steers the worker: its label and the run's speed
(200), or why it must stop: joining revoked (403), the run ended (410 or
404), a batch refused (422). A server that does not answer for LOST_AFTER_S
is lost. The reason is kept in `stopped`; the batches that come after are
dropped.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from app.events import RawEvent
from app.joining.wire import clean_event
from app.programs.boot.concviz_tracer.kinds import KINDS

# Batches of the program's reader waiting to be sent, at most (a tracer's
# batch holds up to 256 events).
QUEUED = 64
TIMEOUT_S = 10.0  # one request
LOST_AFTER_S = 10.0  # a server that does not answer this long is lost
RETRY_S = 0.2


class Refused(Exception):
    """The server will not take the worker's batches; str(exc) says why."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST `body` as JSON; the answer's JSON, or Refused(status, why) for
    an answer that is no success. OSError when the server does not answer."""
    data = json.dumps(body, separators=(",", ":"), default=str).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("content-type", "application/json")
    req.add_header("accept", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as answer:
            return dict(json.loads(answer.read() or b"{}"))
    except urllib.error.HTTPError as exc:
        raise Refused(exc.code, _detail(exc)) from None


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        said = json.loads(exc.read() or b"{}")
    except ValueError:
        said = {}
    detail = said.get("detail") if isinstance(said, dict) else None
    return str(detail or exc.reason)


class Sender:
    def __init__(
        self,
        url: str,
        envelope: dict[str, Any],
        *,
        heartbeat_s: float,
        max_events: int,
        on_answer: Callable[[dict[str, Any]], None] = lambda answer: None,
    ) -> None:
        self.url = url
        self.envelope = envelope  # worker, host, role, offset_ns
        self.heartbeat_s = heartbeat_s
        self.max_events = max_events
        self.on_answer = on_answer
        self.stopped: Refused | None = None
        self.sent = 0  # events
        self._queue: queue.Queue[list[RawEvent] | None] = queue.Queue(QUEUED)
        self._thread = threading.Thread(target=self._run, name="join-sender", daemon=True)

    def hello(self) -> dict[str, Any]:
        """The first batch, empty: the server registers the worker and
        answers its label. Raises Refused, or OSError."""
        return post(self.url, {**self.envelope, "events": []})

    def start(self) -> None:
        self._thread.start()

    def put(self, batch: list[RawEvent]) -> None:
        """The program's reader hands over a batch; it waits while the
        queue is full (back-pressure), unless the sender has stopped."""
        batch = [raw for raw in batch if raw[4] in KINDS]  # not the runtime's own
        while self.stopped is None:
            try:
                self._queue.put(batch, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self, timeout: float = LOST_AFTER_S + TIMEOUT_S) -> None:
        """Send what is queued, the last batch saying the worker leaves."""
        if self._thread.is_alive():
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                return
            self._thread.join(timeout)

    def _run(self) -> None:
        last = False
        while self.stopped is None and not last:
            events: list[Any] = []
            try:
                got = self._queue.get(timeout=self.heartbeat_s)
            except queue.Empty:
                got = []
            while True:
                if got is None:
                    last = True
                    break
                events += [clean_event(raw) for raw in got]
                if len(events) >= self.max_events:
                    break
                try:
                    got = self._queue.get_nowait()
                except queue.Empty:
                    break
            for start in range(0, max(len(events), 1), self.max_events):
                chunk = events[start : start + self.max_events]
                final = last and start + self.max_events >= len(events)
                if not self._send(chunk, final):
                    return

    def _send(self, events: list[Any], last: bool) -> bool:
        deadline = time.monotonic() + LOST_AFTER_S
        while True:
            try:
                answer = post(self.url, {**self.envelope, "events": events, "last": last})
            except Refused as exc:
                self.stopped = exc
                return False
            except OSError as exc:
                if time.monotonic() > deadline:
                    self.stopped = Refused(0, f"the server does not answer ({exc})")
                    return False
                time.sleep(RETRY_S)
                continue
            self.sent += len(events)
            self.on_answer(answer)
            return True
