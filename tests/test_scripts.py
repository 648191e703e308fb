"""Each experiment's plain program: shown with who is where, downloadable,
and given with the form's values (that it runs on its own is test_lessons.py's)."""

from __future__ import annotations

import httpx
import pytest
from ssereader import read_events

from app.events import Event
from app.experiments import EXPERIMENTS
from app.programs.boot.concviz_tracer import kinds as K


def test_producer_consumer_script_has_the_form_s_values_in_its_constants() -> None:
    exp = EXPERIMENTS["producer-consumer"]
    assert exp.script is not None
    text = exp.script({**exp.quick_params, "backend": "thread"})
    assert "PRODUCERS = 3" in text
    assert "ITEMS_PER_PRODUCER = 5" in text
    assert 'BACKEND = "thread"' in text
    assert "SPEED" not in text  # the run's speed scales its sleeps


def _line(text: str, part: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if part in line)


def test_code_view_puts_each_worker_on_the_line_the_tracer_reports() -> None:
    exp = EXPERIMENTS["producer-consumer"]
    assert exp.script is not None
    assert exp.fold is not None
    params = exp.params().model_dump()  # type: ignore[misc]
    text = exp.script(params)
    state = exp.new_state()
    where = {
        "P1": (K.PUT_WAIT, _line(text, "q.put(f")),
        "C1": (K.GET_WAIT, _line(text, "item = q.get()")),
        "C2": (K.SLEEP, _line(text, "/ 1000)  # use the item")),
    }
    raws = [Event(1, 0.0, "main", 1, 1, "run_start", None, {"params": params})]
    for n, (name, (kind, line)) in enumerate(where.items(), start=2):
        raws.append(Event(n, n / 10, name, n, n, kind, "1.1", {"line": line}))
    raws.append(Event(9, 1.0, "P2", 9, 9, K.END, None, {}))
    for e in raws:
        exp.fold(state, e)
    code = exp.view(state, params)["program_code"]
    at = {name: line.text for line in code for name in line.workers}
    assert "q.put(" in at["P1"]
    assert "q.get()" in at["C1"]
    assert "# use the item" in at["C2"]
    assert "P2" not in at  # a finished worker is on no line


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
