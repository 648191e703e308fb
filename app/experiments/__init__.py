"""The experiments, one module each, and the catalogue that lists them.

An experiment that is not built yet is listed as coming, with no page and no
parameters: nothing on the index pretends to work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from app.experiments import producer_consumer
from app.worker import WorkerFn


@dataclass(frozen=True)
class Role:
    """A kind of worker: its name prefix, its function and the parameter that
    says how many of it run."""

    name: str
    prefix: str
    fn: WorkerFn
    count_param: str


@dataclass(frozen=True)
class Experiment:
    slug: str
    title: str
    summary: str
    lecture_part: str
    params: type[BaseModel] | None = None
    roles: tuple[Role, ...] = ()
    program: str = ""
    # The role whose end means "no more items", and the role then ended
    # with one sentinel each.
    source_role: str = ""
    drain_role: str = ""
    modules: tuple[str, ...] = field(default=())

    @property
    def built(self) -> bool:
        return self.params is not None

    def live_params(self) -> frozenset[str]:
        if self.params is None:
            return frozenset()
        return frozenset(
            name
            for name, f in self.params.model_fields.items()
            if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("live")
        )

    def schema(self) -> dict[str, Any]:
        return self.params.model_json_schema() if self.params is not None else {}


EXPERIMENTS: dict[str, Experiment] = {
    e.slug: e
    for e in (
        Experiment(
            slug=producer_consumer.SLUG,
            title="Producer / consumer",
            summary="Producers and consumers, each a real process, share one bounded queue.",
            lecture_part="5",
            params=producer_consumer.Params,
            roles=(
                Role("producer", "P", producer_consumer.producer, "producers"),
                Role("consumer", "C", producer_consumer.consumer, "consumers"),
            ),
            program=producer_consumer.PROGRAM,
            source_role="producer",
            drain_role="consumer",
            modules=("app.experiments.producer_consumer",),
        ),
        Experiment(
            "queue",
            "The queue, call by call",
            "put, get, put_nowait, get_nowait and timeouts on one bounded queue; FIFO vs LIFO.",
            "3-4",
        ),
        Experiment(
            "joinable",
            "When does it end?",
            "The hang after the producers finish, then JoinableQueue, daemons and the sentinel.",
            "6-7",
        ),
        Experiment(
            "threads",
            "What a thread is",
            "Two ways to start a thread; threads share a global, a child process does not.",
            "8-10",
        ),
        Experiment(
            "daemon",
            "Daemon threads and processes",
            "Who outlives whom, on a timeline.",
            "11",
        ),
        Experiment(
            "lock",
            "The lock race",
            "Read, sleep, write: lost updates without a lock, none with one.",
            "12",
        ),
        Experiment(
            "ipc",
            "Pipes, files, sockets, shared memory",
            "The lecture's claims about each way to talk, measured live.",
            "2",
        ),
    )
}
