"""Each experiment's plain program: shown with who is where, downloadable,
and it runs on its own, telling the same story with exact accounting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from ssereader import read_events

from app.codeview import locate
from app.experiments import EXPERIMENTS
from app.model import CONSUMING, GET_WAIT, PUT_WAIT, WorkerView

# A user's program is its own script, and tells its own story (test_programs_live.py).
WITH_SCRIPTS = [
    e for e in EXPERIMENTS.values() if e.built and e.script is not None and e.slug != "program"
]


@pytest.mark.parametrize("exp", WITH_SCRIPTS, ids=lambda e: e.slug)
def test_the_downloaded_script_runs_on_its_own(exp: object, tmp_path: Path) -> None:
    assert exp.script is not None  # type: ignore[attr-defined]
    for backend in ("process", "thread"):
        params = {**exp.quick_params}  # type: ignore[attr-defined]
        if "backend" in exp.params.model_fields:  # type: ignore[attr-defined]
            params["backend"] = backend
        path = tmp_path / f"{exp.slug}-{backend}.py"  # type: ignore[attr-defined]
        path.write_text(exp.script(params))  # type: ignore[attr-defined]
        done = subprocess.run(
            [sys.executable, "-I", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip().splitlines()[-1].startswith("accounting:"), done.stdout


def test_producer_consumer_script_accounting_line() -> None:
    exp = EXPERIMENTS["producer-consumer"]
    assert exp.script is not None
    text = exp.script(exp.quick_params)
    assert "PRODUCERS = 3" in text
    assert "ITEMS_PER_PRODUCER = 5" in text
    assert "from multiprocessing import Process as Worker, Queue" in text


def test_code_view_puts_each_worker_on_its_line() -> None:
    exp = EXPERIMENTS["producer-consumer"]
    assert exp.script is not None
    workers = [
        WorkerView("P1", role="producer", state=PUT_WAIT),
        WorkerView("C1", role="consumer", state=GET_WAIT),
        WorkerView("C2", role="consumer", state=CONSUMING),
        WorkerView("P2", role="producer", state="finished"),
    ]
    lines = locate(exp.script({}), exp.code_lines, workers)
    where = {name: line.text for line in lines for name in line.workers}
    assert "q.put(item)" in where["P1"]
    assert "q.get()" in where["C1"]
    assert "pause(CONSUME_MS)" in where["C2"]
    assert "P2" not in where  # a finished worker is on no line


@pytest.mark.live
def test_a_run_offers_its_script_and_shows_the_code_view(client: httpx.Client) -> None:
    exp = EXPERIMENTS["producer-consumer"]
    r = client.post(
        "/api/runs", json={"experiment": exp.slug, "params": {**exp.quick_params, "producers": 2}}
    )
    run_id = r.json()["id"]
    read_events(client, run_id)
    script = client.get(f"/runs/{run_id}/script")
    assert script.status_code == 200
    assert "attachment" in script.headers["content-disposition"]
    compile(script.text, "producer_consumer.py", "exec")
    assert "PRODUCERS = 2" in script.text
    page = client.get(f"/experiments/{exp.slug}").text
    assert 'id="code"' in page
    assert client.get("/runs/nope/script").status_code == 404


@pytest.mark.live
def test_an_item_tells_its_journey(client: httpx.Client) -> None:
    exp = EXPERIMENTS["producer-consumer"]
    r = client.post("/api/runs", json={"experiment": exp.slug, "params": exp.quick_params})
    run_id = r.json()["id"]
    read_events(client, run_id)
    page = client.get(f"/runs/{run_id}/items/P2%233").text
    assert "P2 #3: its journey" in page
    assert "<b>P2</b> puts it in the queue" in page
    assert "ms</b> in the queue" in page
    assert "is done with it" in page
    assert "not among" in client.get(f"/runs/{run_id}/items/P9%231").text
