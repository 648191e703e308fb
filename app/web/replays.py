"""Recorded runs: the runs page, replay with step back, and the recordings
API (their downloads: `app.web.downloads`).

A replay is the same fold of the same events as the live run, drawn with the
same frame template; `app.replay.Replay` keeps checkpoints so that a jump
anywhere stays instant.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import format_sse_event
from pydantic import BaseModel, ConfigDict, Field

from app.experiments import EXPERIMENTS, Experiment
from app.i18n import _
from app.model import fold as default_fold
from app.recording import RecordedRun, Recorder, shape
from app.registry import RunRegistry
from app.replay import Replay
from app.runs import ENDED, NotFound
from app.web import runlist
from app.web.render import env, stage_context, templates
from app.web.streams import END, EventStream, stream

router = APIRouter()

REPLAYS_KEPT = 4  # replays kept in memory, most recently used
PLAY_FRAME_S = 0.05  # a frame every 50 ms while playing
# A run that has just ended: how long its replay waits for the recorder to
# write its end, and how often it looks.
ENDING_WAIT_S = 2.0
ENDING_POLL_S = 0.02


@dataclass
class ReplayView:
    """What the frame templates read from a run, for a recorded one."""

    id: str
    experiment: Experiment
    params: BaseModel
    state: Any
    result_hidden: bool = False


@dataclass
class Loaded:
    record: RecordedRun
    experiment: Experiment
    params: BaseModel
    replay: Replay


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100)


def recorder(request: Request) -> Recorder:
    recorder: Recorder = request.app.state.recorder
    return recorder


def _cache(request: Request) -> OrderedDict[str, Loaded]:
    cache: OrderedDict[str, Loaded] | None = getattr(request.app.state, "replays", None)
    if cache is None:
        cache = request.app.state.replays = OrderedDict()
    return cache


async def recorded(request: Request, run_id: str) -> RecordedRun | None:
    """The run's recording. A run that has just ended is shown ended before
    the recorder has written its last batch (it writes every FLUSH_S): its
    replay, export and trace wait for that batch (or, for a run that ended
    before any was written, for its first), so that it opens whole."""
    registry: RunRegistry = request.app.state.registry
    deadline = time.monotonic() + ENDING_WAIT_S
    while True:
        record = await asyncio.to_thread(recorder(request).run, run_id)
        if (record is not None and record.status != "running") or time.monotonic() > deadline:
            return record
        try:
            run = registry.get(run_id)
        except NotFound:
            return record
        if not run.ended.is_set():
            return record  # still going: what is recorded so far (if anything yet)
        # Ended, and its end not written yet, or not even its start (a quick run).
        await asyncio.sleep(ENDING_POLL_S)


async def load(request: Request, run_id: str) -> Loaded:
    """The recorded run, with its replay (cached); 404 if there is none."""
    cache = _cache(request)
    record = await recorded(request, run_id)
    if record is None:
        raise HTTPException(404, f"no recorded run '{run_id}'")
    hit = cache.get(run_id)
    if hit is not None and hit.record.events == record.events and record.status != "running":
        hit.record = record  # same events; the name may have changed
        cache.move_to_end(run_id)
        return hit
    exp = EXPERIMENTS.get(record.experiment)
    if exp is None or exp.params is None:
        raise HTTPException(404, f"run '{run_id}' is of an experiment this server lacks")
    params = exp.params.model_validate(record.params)
    replay = await asyncio.to_thread(_open, recorder(request), record, exp)
    # The checkpoints not kept yet are made in the background: the first
    # frames show meanwhile, and every jump after is short.
    replay.start_building()
    loaded = cache[run_id] = Loaded(record, exp, params, replay)
    while len(cache) > REPLAYS_KEPT:
        cache.popitem(last=False)
    return loaded


def _open(recorder: Recorder, record: RecordedRun, exp: Experiment) -> Replay:
    """The replay of a recording, reading its events as it needs them, with
    the states kept in it (its end, checkpoints of an earlier opening)."""
    kind = shape(exp.new_state)

    def keep(k: int, frozen: bytes) -> None:
        recorder.keep_frozen(record.id, k, frozen, kind)

    return Replay(
        lambda after, limit: recorder.events(record.id, after, limit),
        record.events,
        recorder.times(record.id),
        exp.new_state,
        exp.fold or default_fold,
        record.params,
        stored=recorder.kept_states(record.id, kind),
        load=lambda k: recorder.kept_frozen(record.id, k),
        keep=keep,
    )


def _replay_vars(replay: Replay, at: int) -> dict[str, Any]:
    """What the run bar needs to say that this is a replay, and where."""
    return {
        "replay": True,
        "replay_at": at,
        "replay_length": replay.length,
        "replay_duration": replay.duration,
    }


def hidden(request: Request, run_id: str) -> bool:
    """Whether the run's result is hidden now (the class predicts): its
    replay hides it too, until the teacher reveals it. A recording of
    another server's run has nothing hidden."""
    registry: RunRegistry = request.app.state.registry
    try:
        return bool(registry.get(run_id).result_hidden)
    except NotFound:
        return False


def _frame(
    loaded: Loaded,
    at: int,
    *,
    scrub: bool,
    player: bool = False,
    speed: float = 1.0,
    result_hidden: bool = False,
) -> str:
    """The stage after `at` events, with the position (and the scrubber);
    with `player`, the player's buttons too, paused: a step or a jump stops
    playing, and so does the end."""
    replay = loaded.replay
    at = max(0, min(at, replay.length))
    state = replay.state_at(at)
    view = ReplayView(loaded.record.id, loaded.experiment, loaded.params, state, result_hidden)
    return env.get_template("partials/_replay_frame.html").render(
        stage_context(view),
        **_replay_vars(replay, at),
        at=at,
        length=replay.length,
        duration=replay.duration,
        run_id=view.id,
        scrub=scrub,
        player=player,
        playing=False,
        speed=speed,
    )


@router.get("/runs", response_class=HTMLResponse)
async def runs_page(request: Request) -> HTMLResponse:
    records = await asyncio.to_thread(recorder(request).runs)
    registry: RunRegistry = request.app.state.registry
    # A run that goes on is read from the run itself (its time and events so
    # far), not from its recording, which learns them when it ends.
    rows = runlist.table(records, registry.all())
    return templates.TemplateResponse(request, "runs.html", {"rows": rows})


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def replay_page(
    run_id: str, request: Request, at: Annotated[int, Query(ge=0)] = 0
) -> Response:
    try:
        loaded = await load(request, run_id)
    except HTTPException as missing:
        # Just started: nothing is recorded yet, and the run is on its live page.
        registry: RunRegistry = request.app.state.registry
        try:
            run = registry.get(run_id)
        except NotFound:
            raise missing from None
        if run.ended.is_set():  # its recording was deleted
            raise
        return RedirectResponse(f"/experiments/{run.experiment.slug}?run={run_id}", 303)
    at = min(at, loaded.replay.length) if at else loaded.replay.length
    state = loaded.replay.state_at(at)
    view = ReplayView(run_id, loaded.experiment, loaded.params, state, hidden(request, run_id))
    return templates.TemplateResponse(
        request,
        "run.html",
        {
            "record": loaded.record,
            "run_id": run_id,
            "experiment": loaded.experiment,
            "at": at,
            "length": loaded.replay.length,
            "duration": loaded.replay.duration,
            "speed": 1.0,
            "playing": False,
            **stage_context(view),
            **_replay_vars(loaded.replay, at),
        },
    )


@router.get("/runs/{run_id}/frame", response_class=HTMLResponse)
async def replay_frame(
    run_id: str,
    request: Request,
    at: Annotated[int, Query(ge=0)] = 0,
    step: Annotated[int, Query(ge=-1000, le=1000)] = 0,
) -> HTMLResponse:
    """The stage after `at` (+ `step`) events; a step also moves the scrubber.
    Either stops playing."""
    loaded = await load(request, run_id)
    frame = _frame(
        loaded, at + step, scrub=step != 0, player=True, result_hidden=hidden(request, run_id)
    )
    return HTMLResponse(frame)


@router.get("/runs/{run_id}/play", response_class=EventStream)
async def replay_play(
    run_id: str,
    request: Request,
    at: Annotated[int, Query(ge=0)] = 0,
    speed: Annotated[float, Query(ge=0.1, le=20)] = 1.0,
) -> EventStream:
    """Frames from `at` to the end, paced by the run's own time / speed."""
    loaded = await load(request, run_id)  # 404 before the stream starts
    replay = loaded.replay
    start = 0 if at >= replay.length else at

    async def frames() -> AsyncIterator[bytes]:
        at = start
        t = replay.time_of(at)
        while True:
            end = at >= replay.length
            # The last frame turns the player back to paused: it says what it does.
            frame = _frame(
                loaded,
                at,
                scrub=True,
                player=end,
                speed=speed,
                result_hidden=hidden(request, run_id),
            )
            yield format_sse_event(data_str=frame)
            if end:
                yield END
                return
            await asyncio.sleep(PLAY_FRAME_S)
            t += PLAY_FRAME_S * speed
            at = max(at + 1, replay.index_at(t))

    return stream(request, frames())


@router.get("/runs/{run_id}/player", response_class=HTMLResponse)
async def replay_player(
    run_id: str,
    request: Request,
    at: Annotated[int, Query(ge=0)] = 0,
    speed: Annotated[float, Query(ge=0.1, le=20)] = 1.0,
    play: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    await load(request, run_id)
    return templates.TemplateResponse(
        request,
        "partials/_replay_player.html",
        {"run_id": run_id, "at": at, "speed": speed, "playing": play},
    )


# The recordings API.


@router.get("/api/recordings")
async def list_recordings(request: Request) -> list[dict[str, Any]]:
    return [r.to_dict() for r in await asyncio.to_thread(recorder(request).runs)]


@router.patch("/api/recordings/{run_id}")
async def rename_recording(run_id: str, body: Rename, request: Request) -> dict[str, Any]:
    if not await asyncio.to_thread(recorder(request).rename, run_id, body.name):
        raise HTTPException(404, f"no recorded run '{run_id}'")
    record = await asyncio.to_thread(recorder(request).run, run_id)
    assert record is not None
    return record.to_dict()


@router.post("/runs/{run_id}/rename", response_class=HTMLResponse)
async def rename_from_form(run_id: str, request: Request) -> HTMLResponse:
    """The runs page's rename form: answers with the new name, escaped."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    name = form.get("name", "").strip()
    if len(name) > 100:
        return HTMLResponse(html.escape(_("a name has at most 100 characters")), status_code=422)
    if not await asyncio.to_thread(recorder(request).rename, run_id, name):
        raise HTTPException(404, f"no recorded run '{run_id}'")
    return HTMLResponse(html.escape(name or run_id))


@router.delete("/api/recordings/{run_id}", status_code=204)
async def delete_recording(run_id: str, request: Request) -> Response:
    if not await asyncio.to_thread(recorder(request).delete, run_id):
        raise HTTPException(404, f"no recorded run '{run_id}'")
    _cache(request).pop(run_id, None)
    registry: RunRegistry = request.app.state.registry
    registry.forget(run_id)
    return Response(status_code=204)


@router.get("/runs/{run_id}/items/{item:path}", response_class=HTMLResponse)
async def item_journey(run_id: str, item: str, request: Request) -> HTMLResponse:
    """One item's journey: made by whom, how long it waited, taken by whom."""
    registry: RunRegistry = request.app.state.registry
    live = False
    try:
        run = registry.get(run_id)
        state, live = run.state, run.status not in ENDED
    except NotFound:
        state = (await load(request, run_id)).replay.state_at(10**12)
    j = getattr(state, "journeys", {}).get(item)
    # While it is under way on a live run, the card follows it.
    follow = live and j is not None and j.done is None
    context = {"j": j, "follow": follow, "url": request.url.path}
    return templates.TemplateResponse(request, "partials/_journey.html", context)
