"""Presenter and audience: who may change runs, and the audience following."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from conftest import LiveServer
from ssereader import messages

from app.web.addresses import lan_address, own_ipv4

pytestmark = pytest.mark.live

QUICK = {"items_per_producer": 0, "produce_min_ms": 50, "produce_max_ms": 100}


@pytest.fixture(scope="module")
def lan() -> Iterator[LiveServer]:
    server = LiveServer("--lan")
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def presenter_client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=15) as c:
        r = c.get(f"/?token={server.presenter_token()}")
        assert r.status_code == 303
        assert r.headers["location"] == "/"
        yield c


def test_the_token_address_sets_a_strict_cookie_and_drops_the_token(lan: LiveServer) -> None:
    with httpx.Client(base_url=lan.url, timeout=15) as c:
        r = c.get(f"/experiments/producer-consumer?token={lan.presenter_token()}&projector=1")
        assert r.status_code == 303
        assert r.headers["location"] == "/experiments/producer-consumer?projector=1"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/" in cookie
        assert r.headers["referrer-policy"] == "no-referrer"
        assert c.get("/?token=wrong").status_code == 403


def test_only_the_presenter_controls_runs(lan: LiveServer) -> None:
    with presenter_client(lan) as teacher, httpx.Client(base_url=lan.url, timeout=15) as student:
        run = teacher.post(
            "/api/runs", json={"experiment": "producer-consumer", "params": QUICK}
        ).json()
        rid = run["id"]
        slug = "producer-consumer"
        refused = [
            student.post("/api/runs", json={"experiment": slug, "params": QUICK}),
            student.patch(f"/api/runs/{rid}", json={"params": {"producers": 4}}),
            student.post(f"/api/runs/{rid}/pause"),
            student.post(f"/api/runs/{rid}/resume"),
            student.post(f"/api/runs/{rid}/stop"),
            student.post(f"/api/runs/{rid}/calls", json={"op": "get"}),
            student.post(f"/experiments/{slug}/start", data={"producers": "2"}),
            student.post(f"/experiments/{slug}/stop", data={"run_id": rid}),
            student.post(f"/experiments/{slug}/live", data={"run_id": rid, "field": "speed"}),
            student.post(f"/experiments/{slug}/pause", data={"run_id": rid}),
            student.patch(f"/api/recordings/{rid}", json={"name": "x"}),
            student.delete(f"/api/recordings/{rid}"),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused)
        now = student.get(f"/api/runs/{rid}").json()
        going = ("starting", "running")  # a program may still be starting up
        assert now["status"] in going  # nothing changed
        assert now["params"]["producers"] == run["params"]["producers"]
        assert len([r for r in student.get("/api/runs").json() if r["status"] in going]) == 1
        page = student.get(f"/experiments/{slug}").text
        assert "The teacher controls this run." in page
        assert teacher.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"


def test_a_cross_site_request_is_refused_even_with_the_cookie(lan: LiveServer) -> None:
    with presenter_client(lan) as teacher:
        body = {"experiment": "producer-consumer", "params": QUICK}
        evil = teacher.post("/api/runs", json=body, headers={"origin": "http://evil.example"})
        assert evil.status_code == 403
        sneaky = teacher.post("/api/runs", json=body, headers={"sec-fetch-site": "cross-site"})
        assert sneaky.status_code == 403
        ok = teacher.post("/api/runs", json=body, headers={"origin": lan.url})
        assert ok.status_code == 201
        teacher.post(f"/api/runs/{ok.json()['id']}/stop")


def test_the_audience_follows_the_presenter(lan: LiveServer) -> None:
    with presenter_client(lan) as teacher, httpx.Client(base_url=lan.url, timeout=15) as student:
        teacher.get("/experiments/producer-consumer")
        with student.stream("GET", "/watch/stream") as s:
            follow = messages(s)
            first = next(follow)
            assert "Producer / consumer" in first.data
            run = teacher.post(
                "/api/runs", json={"experiment": "producer-consumer", "params": QUICK}
            ).json()
            second = next(follow)
            assert f"/runs/{run['id']}/stream" in second.data
            assert "The teacher controls this run." in second.data
        teacher.post(f"/api/runs/{run['id']}/stop")
        home = teacher.get("/").text
        assert "/watch" in home  # the presenter sees where students go
        qr = teacher.get("/qr.svg")
        assert qr.headers["content-type"].startswith("image/svg+xml")
        assert qr.text.startswith("<svg")


def test_cross_site_control_is_refused_without_lan_too(client: httpx.Client) -> None:
    r = client.post(
        "/api/runs",
        json={"experiment": "producer-consumer", "params": QUICK},
        headers={"origin": "http://evil.example"},
    )
    assert r.status_code == 403


def test_students_reach_the_server_at_the_address_it_gives_them(lan: LiveServer) -> None:
    """The machine's name often resolves to a loopback address (127.0.1.1):
    the address comes from its network interfaces."""
    addresses = own_ipv4()
    if not addresses:  # a machine with no network but its loopback
        assert lan_address() == "localhost"
        return
    given = lan_address()
    assert given in addresses
    with presenter_client(lan) as teacher:
        home = teacher.get("/").text
    assert f"http://{given}:" in home
    for address in addresses:  # reached by that name, as a student's device does
        answer = httpx.get(f"{lan.url}/watch", headers={"host": f"{address}:{lan.port}"})
        assert answer.status_code == 200, (address, answer.text)


def test_students_see_the_recorded_runs_without_the_presenters_controls(lan: LiveServer) -> None:
    with presenter_client(lan) as teacher, httpx.Client(base_url=lan.url, timeout=15) as student:
        run = teacher.post(
            "/api/runs", json={"experiment": "producer-consumer", "params": QUICK}
        ).json()
        teacher.post(f"/api/runs/{run['id']}/stop")
        for _ in range(100):  # its recording is written a moment after its end
            if teacher.get(f"/api/recordings/{run['id']}/export").status_code == 200:
                break
            time.sleep(0.05)
        row = f'id="rec-{run["id"]}"'
        mine, theirs = teacher.get("/runs").text, student.get("/runs").text
        assert row in mine
        assert row in theirs
        for control in ('class="rename"', "hx-delete="):
            assert control in mine
            assert control not in theirs
        assert f'href="/runs/{run["id"]}"' in theirs  # the replay is theirs too


def test_a_student_is_not_told_to_press_start(lan: LiveServer) -> None:
    with presenter_client(lan) as teacher, httpx.Client(base_url=lan.url, timeout=15) as student:
        theirs = student.get("/experiments/threads").text
        mine = teacher.get("/experiments/threads").text
    assert "Waiting for the teacher to start a run." in theirs
    assert "Press <strong>Start</strong>" not in theirs
    assert "Press <strong>Start</strong>" in mine


def test_a_hidden_result_is_not_exported_to_students_until_the_reveal(lan: LiveServer) -> None:
    with presenter_client(lan) as teacher, httpx.Client(base_url=lan.url, timeout=15) as student:
        run = teacher.post(
            "/api/runs", json={"experiment": "producer-consumer", "params": QUICK}
        ).json()
        teacher.post(f"/api/runs/{run['id']}/reveal", json={"result_hidden": True})
        teacher.post(f"/api/runs/{run['id']}/stop")
        for path in (f"/api/recordings/{run['id']}/export", f"/api/runs/{run['id']}/trace"):
            refused = student.get(path)
            assert refused.status_code == 403, path
            assert "hidden until the teacher reveals it" in refused.json()["detail"]
            assert teacher.get(path).status_code == 200, path  # the teacher's to see
        teacher.post(f"/api/runs/{run['id']}/reveal", json={"result_hidden": False})
        assert student.get(f"/api/recordings/{run['id']}/export").status_code == 200
