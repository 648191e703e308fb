"""The join routes (app/web/joins.py) in the server's own process: a
lesson that takes joined workers, batches made by hand (no worker process:
tests/test_join_live.py has those), the token, revoke, and the gate."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import run_async
from joinlesson import PROGRAM, REDIS_URL, SLUG, joined_lesson
from starlette.routing import Route

from app.experiments import EXPERIMENTS
from app.experiments.spec import Experiment
from app.joining.desk import MAX_JOINED
from app.programs.boot.concviz_tracer import kinds as K
from app.settings import Settings
from app.web.app import create_app


@pytest.fixture
def joinable(tmp_path: Path) -> Iterator[Experiment]:
    exp = joined_lesson(tmp_path)
    EXPERIMENTS[SLUG] = exp
    yield exp
    del EXPERIMENTS[SLUG]


@asynccontextmanager
async def served(
    tmp_path: Path, routes: list[Any] | None = None, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app in this process (`routes`: filled with the app's)."""
    app = create_app(Settings(db=str(tmp_path / "runs.sqlite3"), **settings))
    if routes is not None:
        routes.extend(_routes(app.routes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            yield c


def batch(*events: list[Any], worker: str = "w" * 16, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "worker": worker,
        "host": "alice",
        "role": "consumer",
        "offset_ns": 0,
        "events": list(events),
    }
    body.update(extra)
    return body


def started(pid: int, t: int) -> list[list[Any]]:
    return [
        [t, "main", pid, pid, K.PROC, None, {"name": "MainProcess", "main": True, "ppid": 1}],
        [t, "main", pid, pid, K.THREAD, None, {"name": "MainThread", "main": True}],
        [t, "main", pid, pid, K.SLEEP, None, {"s": 0.5, "line": 4}],
    ]


def workers(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in run["workers"]}


async def now_ns(c: httpx.AsyncClient, url: str) -> int:
    return int((await c.get(url)).json()["server_ns"])


def test_a_worker_joins_shows_on_the_stage_and_leaves(joinable: Experiment, tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path) as c:
            run = (await c.post("/api/runs", json={"experiment": SLUG})).json()
            offer = (await c.get(f"/api/runs/{run['id']}/join")).json()
            assert offer["open"]
            assert re.fullmatch(rf"http://127\.0\.0\.1:8000/join/{run['id']}/[\w-]+", offer["url"])
            assert offer["command"] == f"concviz worker --join {offer['url']}"
            path = offer["url"].removeprefix("http://127.0.0.1:8000")
            join = (await c.get(path)).json()
            assert join["program"] == PROGRAM
            assert join["filename"] == "joined_test.py"
            assert join["roles"] == ["consumer", "producer"]
            assert join["env"] == {"REDIS_URL": REDIS_URL}
            assert join["events"] == f"{path}/events"
            hello = await c.post(join["events"], json=batch())
            assert hello.json() == {"label": "alice/consumer", "speed": 1.0}
            assert (
                await c.patch(f"/api/runs/{run['id']}", json={"params": {"speed": 4}})
            ).status_code == 200
            assert (await c.post(join["events"], json=batch())).json()["speed"] == 4.0  # it follows
            t = await now_ns(c, path)
            assert (await c.post(join["events"], json=batch(*started(4242, t)))).status_code == 200
            shown = workers((await c.get(f"/api/runs/{run['id']}")).json())
            assert shown["alice/consumer"]["pid"] == 4242
            assert shown["alice/consumer"]["alive"]
            assert [
                w["label"] for w in (await c.get(f"/api/runs/{run['id']}/join")).json()["workers"]
            ] == ["alice/consumer"]
            bye = batch([t + 1, "main", 4242, 4242, K.EXIT, None, {"exitcode": 0}], last=True)
            assert (await c.post(join["events"], json=bye)).status_code == 200
            shown = workers((await c.get(f"/api/runs/{run['id']}")).json())
            assert not shown["alice/consumer"]["alive"]
            assert (await c.get(f"/api/runs/{run['id']}/join")).json()["workers"] == []
            await c.post(f"/api/runs/{run['id']}/stop")
            ended = await c.get(path)
            assert ended.status_code == 410
            assert "has ended" in ended.json()["detail"]
            assert (await c.post(join["events"], json=batch())).status_code == 410

    run_async(go())


def test_a_revoked_token_is_refused_and_its_workers_end_on_the_stage(
    joinable: Experiment, tmp_path: Path
) -> None:
    async def go() -> None:
        async with served(tmp_path) as c:
            run = (await c.post("/api/runs", json={"experiment": SLUG})).json()
            offer = (await c.get(f"/api/runs/{run['id']}/join")).json()
            path = offer["url"].removeprefix("http://127.0.0.1:8000")
            t = await now_ns(c, path)
            assert (
                await c.post(f"{path}/events", json=batch(*started(4242, t)))
            ).status_code == 200
            revoked = (await c.delete(f"/api/runs/{run['id']}/join")).json()
            assert not revoked["open"]
            assert revoked["workers"] == []
            assert not workers((await c.get(f"/api/runs/{run['id']}")).json())["alice/consumer"][
                "alive"
            ]
            refused = await c.post(f"{path}/events", json=batch())
            assert refused.status_code == 403
            assert "no longer" in refused.json()["detail"]
            assert (await c.get(path)).status_code == 403
            again = (await c.post(f"/api/runs/{run['id']}/join")).json()
            assert again["open"]
            assert again["url"] != offer["url"]
            assert (await c.get(path)).status_code == 403  # the old one, for good
            stage = await c.get(f"/experiments/{SLUG}?run={run['id']}")
            assert f'hx-get="/runs/{run["id"]}/join"' in stage.text
            page = await c.get(f"/runs/{run['id']}/join")
            assert again["command"] in page.text
            assert 'id="join-revoke"' in page.text
            closed = await c.post(f"/runs/{run['id']}/join/revoke")
            assert "Joining is closed" in closed.text
            assert 'id="join-open"' in closed.text
            await c.post(f"/api/runs/{run['id']}/stop")

    run_async(go())


def test_a_wrong_batch_gets_422_naming_what_is_wrong_and_changes_nothing(
    joinable: Experiment, tmp_path: Path
) -> None:
    async def go() -> None:
        async with served(tmp_path) as c:
            run = (await c.post("/api/runs", json={"experiment": SLUG})).json()
            offer = (await c.get(f"/api/runs/{run['id']}/join")).json()
            events = offer["url"].removeprefix("http://127.0.0.1:8000") + "/events"
            before = (await c.get(f"/api/runs/{run['id']}")).json()["events"]
            wrong = await c.post(
                events, json=batch([1, "main", 7, 7, "run_end", None, None], role="boss")
            )
            assert wrong.status_code == 422
            fields = [e["field"] for e in wrong.json()["errors"]]
            assert fields == ["role", "events.0"]
            assert "not one a tracer sends" in wrong.json()["detail"]
            not_json = await c.post(
                events, content=b"{nope", headers={"content-type": "application/json"}
            )
            assert not_json.status_code == 422
            assert "not valid JSON" in not_json.json()["detail"]
            huge = await c.post(events, content=b" " * (1 << 20 + 1))
            assert huge.status_code == 422
            assert "longer than" in huge.json()["detail"]
            after = (await c.get(f"/api/runs/{run['id']}")).json()
            assert after["events"] - before < 5  # the program's own, at most
            assert "alice/consumer" not in workers(after)
            await c.post(f"/api/runs/{run['id']}/stop")

    run_async(go())


def test_a_run_takes_a_limited_number_of_joined_workers(
    joinable: Experiment, tmp_path: Path
) -> None:
    async def go() -> None:
        async with served(tmp_path) as c:
            run = (await c.post("/api/runs", json={"experiment": SLUG})).json()
            offer = (await c.get(f"/api/runs/{run['id']}/join")).json()
            events = offer["url"].removeprefix("http://127.0.0.1:8000") + "/events"
            answers = await asyncio.gather(
                *(c.post(events, json=batch(worker=f"{i:016d}")) for i in range(MAX_JOINED + 1))
            )
            codes = sorted(a.status_code for a in answers)
            assert codes == [200] * MAX_JOINED + [429]
            full = next(a for a in answers if a.status_code == 429)
            assert f"{MAX_JOINED} joined workers" in full.json()["detail"]
            labels = {a.json()["label"] for a in answers if a.status_code == 200}
            assert len(labels) == MAX_JOINED
            await c.post(f"/api/runs/{run['id']}/stop")

    run_async(go())


def _routes(found: list[Any]) -> list[Route]:
    """Every route, those of the included routers too."""
    out: list[Route] = []
    for r in found:
        if isinstance(r, Route):
            out.append(r)
        elif hasattr(r, "original_router"):  # FastAPI's included router
            out += _routes(r.original_router.routes)
    return out


def _path(route: Route) -> str:
    return re.sub(r"\{[^}]+\}", "ab12cd34", route.path).replace(
        "/join/ab12cd34/ab12cd34", "/join/ab12cd34/" + "t" * 32
    )


def test_under_lan_only_the_join_batches_pass_the_gate_without_the_presenter(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        routes: list[Any] = []
        async with served(tmp_path, routes, lan=True, host="0.0.0.0") as c:
            checked = 0
            for route in routes:
                for method in sorted((route.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
                    r = await c.request(method, _path(route), json={})
                    if route.path == "/join/{run_id}/{token}/events":
                        assert r.status_code == 404, r.text  # past the gate: no such run
                        continue
                    assert r.status_code == 403, (method, route.path)
                    assert "only the presenter" in r.text, (method, route.path)
                    checked += 1
            assert checked >= 20
            assert (await c.get("/api/runs/ab12cd34/join")).status_code == 403
            assert (await c.get("/runs/ab12cd34/join")).status_code == 403

    run_async(go())


def test_without_joins_a_run_offers_no_joining(tmp_path: Path) -> None:
    async def go() -> None:
        async with served(tmp_path) as c:
            body = {"experiment": "queue", "params": {}}
            run = (await c.post("/api/runs", json=body)).json()
            assert (await c.get(f"/api/runs/{run['id']}/join")).status_code == 404
            page = await c.get(f"/experiments/queue?run={run['id']}")
            assert "join-panel" not in page.text
            await c.post(f"/api/runs/{run['id']}/stop")

    run_async(go())


def test_a_worker_gone_silent_is_shown_ended(
    joinable: Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.joining.desk
    import app.web.joins

    monkeypatch.setattr(app.joining.desk, "SILENT_S", 0.1)
    monkeypatch.setattr(app.web.joins, "HEARTBEAT_S", 0.02)

    async def go() -> None:
        async with served(tmp_path) as c:
            run = (await c.post("/api/runs", json={"experiment": SLUG})).json()
            offer = (await c.get(f"/api/runs/{run['id']}/join")).json()
            path = offer["url"].removeprefix("http://127.0.0.1:8000")
            t = await now_ns(c, path)
            assert (
                await c.post(f"{path}/events", json=batch(*started(4242, t)))
            ).status_code == 200
            for _ in range(500):
                shown = workers((await c.get(f"/api/runs/{run['id']}")).json())["alice/consumer"]
                if not shown["alive"]:
                    break
                await asyncio.sleep(0.01)
            assert not shown["alive"]
            assert (await c.get(f"/api/runs/{run['id']}/join")).json()["workers"] == []
            again = await c.post(f"{path}/events", json=batch())  # it was only asleep
            assert again.status_code == 409
            assert "join again" in again.json()["detail"]
            await c.post(f"/api/runs/{run['id']}/stop")

    run_async(go())
