"""Runs as the pages list them.

Three lists read the same rows: a lesson page's runs still going, the runs
that hold a limit (offered to be stopped next to Start when a start is
refused), and the runs page, whose rows come from the recordings. A run the
server still has is read from the run itself: a recording learns its length
and its end only once the run has ended, and would show a run that goes on
as 0.0 s and 0 events.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.experiments import EXPERIMENTS
from app.i18n import _
from app.recording import RecordedRun
from app.runs import ENDED, LimitReached, Run
from app.settings import Settings


@dataclass(frozen=True)
class RunRow:
    id: str
    experiment: str  # slug
    title: str  # the experiment's title, a message to translate
    name: str  # given to its recording, or ""
    created: str
    status: str
    paused: bool
    seconds: float  # on the run's clock
    events: int  # the run's events
    recorded: int  # of them in the recording
    workers: int  # places under max_workers it holds
    reason: str
    going: bool  # not ended: it can be stopped
    filename: str = ""  # a pasted program's file name, to tell one from another

    @property
    def length(self) -> str:
        """How long it has gone, in the reader's words."""
        return span(self.seconds)

    @property
    def cut(self) -> bool:
        """The run went on past its recording's limit."""
        return self.events > self.recorded


def _title(slug: str) -> str:
    exp = EXPERIMENTS.get(slug)
    return exp.title if exp is not None else slug


def of_run(run: Run, record: RecordedRun | None = None) -> RunRow:
    return RunRow(
        id=run.id,
        experiment=run.experiment.slug,
        title=run.experiment.title,
        name=record.name if record is not None else "",
        created=record.created if record is not None else run.created.isoformat(),
        status=run.status,
        paused=run.state.paused,
        seconds=run.clock_s,
        events=run.last_seq,
        recorded=run.recorded if run.recorder is not None else run.last_seq,
        workers=run.held_workers,
        reason=run.state.reason,
        going=run.status not in ENDED,
        filename=str(getattr(run.params, "filename", "")),
    )


def of_record(record: RecordedRun) -> RunRow:
    return RunRow(
        id=record.id,
        experiment=record.experiment,
        title=_title(record.experiment),
        name=record.name,
        created=record.created,
        status=record.status,
        paused=False,
        seconds=record.duration,
        events=max(record.events, record.run_events),
        recorded=record.events,
        workers=0,
        reason=record.reason,
        going=False,
        filename=str(record.params.get("filename", "")),
    )


def table(records: list[RecordedRun], runs: list[Run]) -> list[RunRow]:
    """The runs page's rows, newest first: each recording, read from its run
    while the server has it; a run not yet in the recordings comes first."""
    live = {r.id: r for r in runs}
    rows = [of_run(live.pop(rec.id), rec) if rec.id in live else of_record(rec) for rec in records]
    fresh = [of_run(r) for r in sorted(live.values(), key=lambda r: r.created, reverse=True)]
    return fresh + rows


def span(seconds: float) -> str:
    """A run's length as a reader says it: 12.5 s, 2 min 05 s, 1 h 02 min."""
    if seconds < 60:
        return _("%(s)s s") % {"s": f"{seconds:.1f}"}
    whole = int(seconds)
    if whole < 3600:
        return _("%(m)s min %(s)s s") % {"m": whole // 60, "s": f"{whole % 60:02d}"}
    return _("%(h)s h %(m)s min") % {"h": whole // 3600, "m": f"{whole % 3600 // 60:02d}"}


@dataclass(frozen=True)
class Offer:
    """A refused start, said next to Start: the limit, and the runs that
    hold it, each with a Stop."""

    limit: str  # the setting: max_runs or max_workers
    message: str
    holders: list[RunRow]


def offer(refusal: LimitReached, settings: Settings) -> Offer:
    holders = [of_run(r) for r in refusal.holders]
    if refusal.limit == "max_runs" and settings.max_runs == 1:
        message = _("One run may go at a time. Stop it, then Start again.")
    elif refusal.limit == "max_runs":
        message = _("At most %(n)s runs may go at once. Stop one of these, then Start again.") % {
            "n": settings.max_runs
        }
    elif refusal.limit == "max_workers" and refusal.wanted > settings.max_workers:
        message = _(
            "This run needs %(wanted)s workers, more than the %(max)s this server allows at"
            " once: choose fewer, or start the server with a higher --max-workers."
        ) % {"wanted": refusal.wanted, "max": settings.max_workers}
    elif refusal.limit == "max_workers":
        message = _(
            "%(wanted)s more workers would pass the limit of %(max)s. Stop one of these, then"
            " Start again."
        ) % {"wanted": refusal.wanted, "max": settings.max_workers}
    else:
        message = str(refusal)
    return Offer(refusal.limit, message, holders)
