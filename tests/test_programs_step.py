"""Step mode for a traced program, through the real server: the class
chooses which thread of a real program does its next action, and so makes
the lock race lose an update by hand."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, LiveServer, tidy_client
from probes import wait_for
from test_programs_live import finish, nothing_left, of, start, trace

from app.programs import gallery

pytestmark = pytest.mark.live

SCALE = ["0.5"]  # lock_race's threads sleep 0.05 s between read and write


@pytest.fixture(scope="module")
def step_server() -> Iterator[LiveServer]:
    server = LiveServer(env={"CONCVIZ_MAX_RUNS": "2", "CONCVIZ_PROGRAM_SECONDS": "30"})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sc(step_server: LiveServer) -> Iterator[httpx.Client]:
    with tidy_client(step_server, 20) as c:
        yield c


def lock_race(c: httpx.Client) -> str:
    ex = gallery.find("lock_race")
    assert ex is not None
    run_id = start(c, ex.source(), SCALE, filename=ex.filename)
    r = c.post(f"/api/runs/{run_id}/step", json={"on": True})
    assert r.status_code == 200
    assert r.json()["stepping"] is True
    return run_id


def wanting(run: dict[str, Any]) -> dict[str, list[Any]]:
    """What each thread waits for a permit to do: name -> [kind, item]."""
    return {w["name"]: w["wants"] for w in run["workers"] if w["wants"]}


def wait_wants(c: httpx.Client, run_id: str, **expected: str) -> dict[str, list[Any]]:
    """Wait until each named thread wants the given action."""

    def ok(run: dict[str, Any]) -> bool:
        wants = wanting(run)
        return all(name in wants and wants[name][0] == kind for name, kind in expected.items())

    return wanting(wait_for(c, run_id, ok, 15))


def permit(c: httpx.Client, run_id: str, name: str) -> None:
    r = c.post(f"/api/runs/{run_id}/permit", json={"worker": name})
    assert r.status_code == 200, r.text


def test_the_class_makes_the_lock_race_lose_an_update_by_hand(sc: httpx.Client) -> None:
    run_id = lock_race(sc)
    # main waits to start the first thread; nothing else has happened.
    wants = wait_wants(sc, run_id, main="start")
    assert list(wants) == ["main"]
    assert wants["main"][1].startswith("Thread-")
    permit(sc, run_id, "main")
    # The first thread read the counter, and waits to sleep; main waits to
    # start the second.
    run = wait_for(sc, run_id, lambda r: len(wanting(r)) == 2, 15)
    first = next(name for name in wanting(run) if name != "main")
    wait_wants(sc, run_id, **{first: "sleep", "main": "start"})
    permit(sc, run_id, "main")
    run = wait_for(sc, run_id, lambda r: len(wanting(r)) == 3, 15)
    second = next(name for name in wanting(run) if name not in ("main", first))
    assert wanting(run)[second][0] == "sleep"
    # Both read 10 before either wrote: now each writes 10 - 1.
    permit(sc, run_id, first)
    permit(sc, run_id, second)
    # A permit given is used once: the same thread cannot be let go twice
    # for one action.
    again = sc.post(f"/api/runs/{run_id}/permit", json={"worker": second})
    assert again.status_code == 409
    assert "not waiting for a permit" in again.json()["detail"]
    pair = (first, second)
    wait_for(
        sc,
        run_id,
        lambda r: all(w["state"] == "finished" for w in r["workers"] if w["name"] in pair),
        15,
    )
    # Run freely: the other eight go without permits, and the program ends.
    r = sc.post(f"/api/runs/{run_id}/step", json={"on": False})
    assert r.json()["stepping"] is False
    run = finish(sc, run_id)
    assert run["status"] == "finished"
    evs = trace(sc, run_id)
    printed = "".join(e["data"]["text"] for e in of(evs, "out"))
    got = int(printed.split("got")[1].split()[0])
    assert got >= 1  # an update was lost: two threads wrote what they both read
    # From the trace: both threads were started before either one slept
    # (the sleep between its read and its write).
    started = {e["item"]: e["seq"] for e in of(evs, "start_thread")}
    slept = {e["worker"]: e["seq"] for e in of(evs, "sleep")}
    assert max(started[first], started[second]) < min(slept[first], slept[second])
    # Each of the two asked, and was permitted, before it slept.
    asked = [e for e in of(evs, "wants") if e["worker"] in (first, second)]
    assert {e["worker"] for e in asked} == {first, second}
    assert {e["data"]["kind"] for e in asked} == {"sleep"}
    permits = [e["data"]["worker"] for e in of(evs, "permit")]
    assert permits[:4] == ["main", "main", first, second]


def test_stop_while_threads_wait_for_permits_leaves_nothing(
    sc: httpx.Client, step_server: LiveServer
) -> None:
    run_id = lock_race(sc)
    wait_wants(sc, run_id, main="start")
    permit(sc, run_id, "main")
    wait_for(sc, run_id, lambda r: len(wanting(r)) == 2, 15)
    r = sc.post(f"/api/runs/{run_id}/stop")
    assert r.status_code == 200
    assert finish(sc, run_id)["status"] == "stopped"
    nothing_left(step_server)


RACE = """\
import os
import sys
import threading
import time

counter = 2


def take_one():
    global counter
    seen = counter
    time.sleep(0.01)
    counter = seen - 1


if __name__ == "__main__":
    while not os.path.exists(sys.argv[1]):  # the test's go
        time.sleep(0.01)
    threads = [threading.Thread(target=take_one, name=f"t{n}") for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("expected 0, got", counter)
"""

WHERE = (
    "() => Object.fromEntries([...document.querySelectorAll('#code li.here')]"
    ".flatMap(li => [...li.querySelectorAll('.at')]"
    ".map(a => [a.textContent.trim(), li.querySelector('code').textContent])))"
)


@pytest.mark.browser
def test_step_mode_on_the_page_lets_the_chosen_thread_go(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/programs")
    if not page.evaluate("() => document.getElementById('pg-edit').open"):
        page.click("#pg-edit > summary")
    page.fill("#pg-filename", "race.py")
    page.fill("#pg-source", RACE)
    page.fill("#pg-args", str(go))
    page.click("#pg-run")
    page.wait_for_selector("#run-status")
    assert page.is_hidden("#step-off")
    try:
        page.click("#step-on")
        # main polls for its go: in step mode each of its sleeps waits.
        main = page.locator("#permit-main")
        main.wait_for(timeout=15000)
        assert "main wants: time.sleep(0.01)" in main.inner_text()  # as its line writes it
        assert page.is_visible("#step-off")
        assert page.is_hidden("#step-on")
        go.touch()
        main.click()
        page.wait_for_function(
            "() => (document.querySelector('#permit-main') || {}).textContent"
            "?.includes('main wants: t.start()')",
            timeout=15000,
        )
        at = page.evaluate(WHERE)
        assert "t.start()" in at["main"]  # its line mark moved to where it waits
        page.click("#permit-main")
        # t0 read the counter and waits to sleep; main waits to start t1.
        t0 = page.locator("#permit-t0")
        t0.wait_for(timeout=15000)
        assert "t0 wants: time.sleep(0.01)" in t0.inner_text()
        page.wait_for_function(f"() => ({WHERE})()['t0']?.includes('time.sleep(0.01)')")
        page.screenshot(path=str(ARTIFACTS / "programs-step-mode.png"))
        t0.click()
        # t0 slept, wrote and ended: its mark left the source.
        page.wait_for_function(f"() => !({WHERE})()['t0']", timeout=15000)
        assert page.is_visible("#permit-main")
        page.click("#step-off")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#pg-console li')]"
            ".some(li => li.textContent.includes('expected 0, got'))",
            timeout=15000,
        )
        assert page.locator("#stepper").count() == 0
    finally:
        page.click("#pg-stop")
        page.wait_for_function(
            "() => ['stopped', 'finished'].includes("
            "document.querySelector('#run-status').textContent.trim().toLowerCase())",
            timeout=15000,
        )
    assert errors == []


TWO_LOCKS = """
import threading

spoon, fork = threading.Lock(), threading.Lock()

def left():
    with spoon:
        with fork:
            print("left ate")

def right():
    with fork:
        with spoon:
            print("right ate")

a = threading.Thread(target=left, name="left")
b = threading.Thread(target=right, name="right")
a.start()
b.start()
a.join()
b.join()
"""


def test_a_deadlock_made_step_by_step_is_named_and_stays_named_after_stop(
    sc: httpx.Client,
) -> None:
    """The class lets each thread take its first lock, then ask for the
    other's: both wait in real acquire() calls, which no go-ahead can end."""
    run_id = start(sc, TWO_LOCKS)
    assert sc.post(f"/api/runs/{run_id}/step", json={"on": True}).json()["stepping"] is True
    wait_wants(sc, run_id, main="start")
    permit(sc, run_id, "main")  # starts left
    wait_wants(sc, run_id, main="start", left="acquire")
    permit(sc, run_id, "main")  # starts right
    wait_wants(sc, run_id, left="acquire", right="acquire")
    permit(sc, run_id, "left")  # takes spoon
    permit(sc, run_id, "right")  # takes fork
    wait_wants(sc, run_id, left="acquire", right="acquire")
    permit(sc, run_id, "left")  # waits for fork
    permit(sc, run_id, "right")  # waits for spoon
    run = wait_for(sc, run_id, lambda r: bool(r["diagnosis"]), 15)
    assert run["stepping"] is True
    assert "left holds spoon and waits for fork" in run["diagnosis"]
    assert "right holds fork and waits for spoon" in run["diagnosis"]
    sc.post(f"/api/runs/{run_id}/stop")
    stopped = finish(sc, run_id)
    assert stopped["status"] == "stopped"
    assert "left holds spoon and waits for fork" in stopped["diagnosis"]


WHO_PRINTS_FIRST = """
import os, sys, threading, time

def say(name):
    print(f"{name} here")

while not os.path.exists(sys.argv[1]):  # the test's go
    time.sleep(0.01)
threads = [threading.Thread(target=say, args=(n,), name=n) for n in ("one", "two")]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


@pytest.mark.parametrize(
    ("call", "kind"),
    [('print(f"{name} here")', "print"), ('os.write(1, f"{name} here\\n".encode())', "os.write")],
    ids=["print", "os.write"],
)
def test_in_step_mode_a_print_is_a_step_so_the_class_picks_who_prints_first(
    sc: httpx.Client, tmp_path: Path, call: str, kind: str
) -> None:
    go = tmp_path / "go"
    run_id = start(sc, WHO_PRINTS_FIRST.replace('print(f"{name} here")', call), [str(go)])
    assert sc.post(f"/api/runs/{run_id}/step", json={"on": True}).json()["stepping"] is True
    go.touch()
    for _ in range(2):  # main starts both
        wait_wants(sc, run_id, main="start")
        permit(sc, run_id, "main")
    wants = wait_wants(sc, run_id, one=kind, two=kind)
    assert wants["one"][0] == wants["two"][0] == kind
    page = html.unescape(sc.get(f"/programs?run={run_id}").text)
    assert f"one wants: {call}" in page  # the button says the call as written
    permit(sc, run_id, "two")  # the second one started prints first
    run = wait_for(sc, run_id, lambda r: any(c["text"] == "two here" for c in r["console"]), 15)
    assert "one here" not in [c["text"] for c in run["console"]]  # it waits for its permit
    sc.post(f"/api/runs/{run_id}/step", json={"on": False})
    run = finish(sc, run_id)
    assert [c["text"] for c in run["console"]] == ["two here", "one here"]
