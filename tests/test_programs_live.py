"""A user's program through the real server: `POST /api/programs`, its
traced events, its outcome read from the trace, its limits, and nothing
left behind. The example programs run with their delays scaled by 0.01."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import psutil
import pytest
from conftest import LiveServer, tidy_client
from probes import ENDED, alive, left_in_shm, settle, wait_for

from app.programs import gallery
from app.programs.rundirs import BASE_DIR
from app.programs.runtime import TERM_GRACE_S

pytestmark = pytest.mark.live

FAST = ["0.01"]


@pytest.fixture(scope="module")
def program_server() -> Iterator[LiveServer]:
    server = LiveServer(
        env={
            "CONCVIZ_MAX_RUNS": "4",
            "CONCVIZ_PROGRAM_PROCESSES": "6",
            "CONCVIZ_PROGRAM_OUTPUT_KB": "64",
            "CONCVIZ_PROGRAM_SECONDS": "30",
        }
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pc(program_server: LiveServer) -> Iterator[httpx.Client]:
    with tidy_client(program_server, 20) as c:
        yield c


def start(c: httpx.Client, text: str, args: list[str] | None = None, **extra: Any) -> str:
    r = c.post("/api/programs", json={"source": text, "args": args or [], **extra})
    assert r.status_code == 201, r.text
    assert r.json()["experiment"] == "program"
    run_id: str = r.json()["id"]
    return run_id


def finish(c: httpx.Client, run_id: str, timeout: float = 20) -> dict[str, Any]:
    return wait_for(c, run_id, lambda r: r["status"] in ENDED, timeout)


def named_stuck(c: httpx.Client, run_id: str) -> tuple[dict[str, Any], list[str]]:
    """The run once the page says why it is stuck, and what it says."""
    run = wait_for(c, run_id, lambda r: bool(r.get("diagnosis")), 15)
    return run, run["diagnosis"]


def trace(c: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    """The run's events, as recorded."""
    evs = settle(
        lambda: c.get(f"/api/recordings/{run_id}/export"),
        lambda r: r.status_code == 200 and r.json()["run"]["status"] in ENDED,
    )
    events: list[dict[str, Any]] = evs.json()["events"]
    return events


def of(evs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in evs if e["kind"] == kind]


def example(
    c: httpx.Client, name: str, scale: str = FAST[0]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ex = gallery.find(name)
    assert ex is not None
    run_id = start(c, ex.source(), [scale], filename=ex.filename)
    run = finish(c, run_id)
    return run, trace(c, run_id)


def objects(evs: list[dict[str, Any]]) -> dict[str, str]:
    """Object keys by the names the user gave them."""
    return {e["data"]["name"]: e["item"] for e in of(evs, "new")}


def nothing_left(server: LiveServer) -> None:
    """No process of any program left, and no run directory."""

    def programs() -> list[int]:
        out = []
        for p in psutil.Process(server.proc.pid).children(recursive=True):
            try:
                if "CONCVIZ_TRACE_FIFO" in p.environ():
                    out.append(p.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return out

    assert settle(programs, lambda left: not left) == []
    mine = [d for d in BASE_DIR.glob(f"{server.proc.pid}-*")] if BASE_DIR.exists() else []
    assert settle(lambda: [d for d in mine if d.exists()], lambda left: not left) == []


def test_a_program_that_does_not_compile_gets_422_naming_line_and_column(
    pc: httpx.Client,
) -> None:
    before = len(pc.get("/api/runs").json())
    r = pc.post("/api/programs", json={"source": "print('hi')\nif True\n    pass\n"})
    assert r.status_code == 422
    body = r.json()
    assert body["line"] == 2
    assert body["column"] >= 1
    assert "line 2" in body["detail"]
    assert len(pc.get("/api/runs").json()) == before


def test_a_full_width_character_in_code_is_named_with_the_one_python_needs(
    pc: httpx.Client,
) -> None:
    """The mistake of a student typing code in a Chinese input mode."""
    r = pc.post(
        "/programs/run",
        data={"source": "def 打印（内容）：\n    print(内容)\n", "filename": "作业.py"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert r.status_code == 422
    assert "没有启动：第 1 行第 7 列" in r.text
    assert "(U+FF08)。（ 是全角字符：这里 Python 要的是 (" in r.text
    # The API says it too, in its own language.
    r = pc.post("/api/programs", json={"source": "print（1）\n", "filename": "作业.py"})
    assert r.status_code == 422
    assert "（ is a full-width character: Python needs ( in its place" in r.json()["detail"]


def test_a_runs_address_opened_as_it_starts_leads_to_its_live_page(pc: httpx.Client) -> None:
    """A run's own address (/runs/ID) opened before anything of it is
    recorded: its live page, not "page not found"."""
    run_id = start(pc, "import time\ntime.sleep(30)\n")
    try:
        r = pc.get(f"/runs/{run_id}")
        if r.status_code == 303:  # nothing recorded yet: the live page
            assert r.headers["location"] == f"/experiments/program?run={run_id}"
            r = pc.get(r.headers["location"], follow_redirects=True)
            assert str(r.url).endswith(f"/programs?run={run_id}")
        assert r.status_code == 200
        assert run_id in r.text
    finally:
        pc.post(f"/api/runs/{run_id}/stop")
    finish(pc, run_id)
    assert pc.get("/runs/nosuchrun").status_code == 404


def test_a_body_that_is_no_program_gets_a_clear_422(pc: httpx.Client) -> None:
    r = pc.post("/api/programs", json={"source": "", "args": []})
    assert r.status_code == 422
    r = pc.post("/api/programs", json={"source": "pass", "args": ["x"] * 100})
    assert r.status_code == 422
    assert "args" in r.text


def test_queue_calls_come_out_first_in_first_out_and_time_out(pc: httpx.Client) -> None:
    run, evs = example(pc, "queue_calls")
    assert run["status"] == "finished"
    box = objects(evs)["box"]
    puts = [e["data"]["v"] for e in of(evs, "put") if e["item"] == box]
    gets = [e["data"]["v"] for e in of(evs, "get") if e["item"] == box]
    assert puts == ["'apple'", "'pear'", "'plum'"]
    assert gets == puts
    assert [e["data"]["size"] for e in of(evs, "put")] == [1, 2, 3]
    full = of(evs, "full")
    empty = of(evs, "empty")
    assert len(full) == 2  # put(block=False), then put(timeout=...)
    assert len(empty) == 2
    assert any(e["data"].get("timeout") for e in full)
    # The put with a timeout was seen waiting before it gave up.
    waits = [e for e in of(evs, "put_wait") if e["item"] == box]
    assert waits
    assert waits[0]["seq"] < full[-1]["seq"]


def test_the_cook_makes_ten_dishes_and_the_eater_eats_ten(pc: httpx.Client) -> None:
    run, evs = example(pc, "cook_and_eater")
    assert run["status"] == "finished"
    counter = objects(evs)["counter"]
    assert len([e for e in of(evs, "put") if e["item"] == counter]) == 10
    assert len([e for e in of(evs, "get") if e["item"] == counter]) == 10
    procs = {e["data"]["name"]: e["pid"] for e in of(evs, "proc")}
    assert {"cook", "eater"} <= set(procs)
    assert len({procs["cook"], procs["eater"], procs["MainProcess"]}) == 3
    putters = {e["pid"] for e in of(evs, "put")}
    getters = {e["pid"] for e in of(evs, "get")}
    assert putters == {procs["cook"]}
    assert getters == {procs["eater"]}
    card = journey_card(pc, run["id"], "dish 3")
    assert "<b>cook</b> puts it in the queue" in card
    assert "<b>eater</b> takes it" in card
    assert "<b>eater</b> is done with it" in card


def journey_card(c: httpx.Client, run_id: str, item: str) -> str:
    """An item's journey card, as a click on it in the queue opens it."""
    r = c.get(f"/runs/{run_id}/items/{quote(item)}")
    assert r.status_code == 200
    return r.text


def test_the_endless_eater_is_named_stuck_and_stop_leaves_nothing(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    ex = gallery.find("endless_eater")
    assert ex is not None
    run_id = start(pc, ex.source(), FAST, filename=ex.filename)
    run, words = named_stuck(pc, run_id)
    assert "eater waits in counter.get(); counter is empty and no live worker can put" in words
    assert "main waits for eater to end (join)" in words
    assert run["status"] == "running"
    r = pc.post(f"/api/runs/{run_id}/stop")
    assert r.status_code == 200
    run = finish(pc, run_id)
    assert run["status"] == "stopped"
    nothing_left(program_server)
    # The cook had ended by itself; the eater was ended by the Stop, and says so.
    ends = {p["name"]: (p["exitcode"], p["with_run"]) for p in run["processes"]}
    assert ends["cook"] == (0, False)
    assert ends["eater"] == (None, True)
    # Its replay, asked for as soon as the run says it ended, opens whole.
    page = pc.get(f"/runs/{run_id}")
    assert page.text.count("ended with the run") == 1


PHILOSOPHERS = """
import threading
import time

N = 5
forks = [threading.Lock() for _ in range(N)]


def philosopher(i):
    with forks[i]:
        time.sleep(0.05)
        with forks[(i + 1) % N]:
            print(i, "eats")


ts = [threading.Thread(target=philosopher, args=(i,), name=f"P{i}") for i in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join()
"""


HEARTBEAT = """
import threading
import time

a, b = threading.Lock(), threading.Lock()


def one():
    with a:
        time.sleep(0.05)
        with b:
            pass


def two():
    with b:
        time.sleep(0.05)
        with a:
            pass


for job in (one, two):
    threading.Thread(target=job, name=job.__name__, daemon=True).start()
while True:
    print("main: still waiting...")
    time.sleep(0.2)
"""


def test_two_threads_deadlocked_are_named_while_main_goes_on_printing(pc: httpx.Client) -> None:
    run_id = start(pc, HEARTBEAT)
    run, words = named_stuck(pc, run_id)
    assert run["status"] == "running"
    assert words == [
        "Some workers are deadlocked: each holds a lock that another of them waits for, and none"
        " has a timeout. The rest of the program may go on, but these never will.",
        "one holds a and waits for b",
        "two holds b and waits for a",
    ]
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"


POOL_EXIT = """
from concurrent.futures import ThreadPoolExecutor
import queue

q = queue.Queue()


def consume():
    print("task got", q.get())


with ThreadPoolExecutor(2) as ex:
    ex.submit(consume)
q.put("hello")  # never reached: the with block's end waits for the task
"""


def test_a_with_block_waiting_for_its_pools_task_is_named_stuck(pc: httpx.Client) -> None:
    run_id = start(pc, POOL_EXIT)
    _, words = named_stuck(pc, run_id)
    assert words[1:] == [
        "ThreadPoolExecutor-0_0 waits in q.get(); q is empty and no live worker can put",
        "main waits for ex to end (join)",
    ]
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"


def test_the_dining_philosophers_deadlock_names_each_fork_by_its_place_in_the_list(
    pc: httpx.Client,
) -> None:
    run_id = start(pc, PHILOSOPHERS)
    _, words = named_stuck(pc, run_id)
    for i in range(5):
        assert f"P{i} holds forks[{i}] and waits for forks[{(i + 1) % 5}]" in words
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"


COMMANDS = """
import subprocess

jobs = [subprocess.Popen(["sleep", "0.3"]) for _ in range(2)]
for job in jobs:
    job.wait()
print("codes", [job.returncode for job in jobs], jobs[0].pid)
"""


def test_commands_the_program_runs_are_on_the_stage_with_their_real_pids(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    run_id = start(pc, COMMANDS)
    seen = wait_for(pc, run_id, lambda r: len(r["processes"]) == 3, 15)
    sleeps = [p for p in seen["processes"] if p["command"] == "sleep 0.3"]
    assert [p["name"] for p in sleeps] == ["sleep", "sleep #2"]
    run = finish(pc, run_id)
    assert run["status"] == "finished"
    assert not run.get("diagnosis")  # waiting for a command is no hang
    ended = [p for p in run["processes"] if p["command"] == "sleep 0.3"]
    assert [(p["alive"], p["exitcode"]) for p in ended] == [(False, 0), (False, 0)]
    printed = [c["text"] for c in run["console"] if c["stream"] == "stdout"]
    assert f"codes [0, 0] {ended[0]['pid']}" in printed  # the pid the program itself saw
    nothing_left(program_server)


MANAGER_HANG = """
from multiprocessing import Manager, Process


def eat(q):
    while True:
        print("ate", q.get())


if __name__ == "__main__":
    manager = Manager()
    q = manager.Queue()
    q.put("soup")
    eater = Process(target=eat, args=(q,), name="eater")
    eater.start()
    eater.join()
"""


def test_a_program_stuck_on_a_managers_queue_is_named_stuck_and_stop_leaves_nothing(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    run_id = start(pc, MANAGER_HANG)
    run, words = named_stuck(pc, run_id)
    assert "eater waits in q.get(); q is empty and no live worker can put" in words
    assert "main waits for eater to end (join)" in words
    [obj] = run["objects"]
    assert (obj["name"], obj["lib"], obj["type"]) == ("q", "Manager", "Queue")
    # The manager's server is on the stage, a child of main, with its pid.
    server = next(p for p in run["processes"] if p["name"] == "SyncManager-1")
    assert server["alive"]
    assert server["manager"]
    main = next(p for p in run["processes"] if p["name"] == "MainProcess")
    assert server["ppid"] == main["pid"]
    page = pc.get(f"/programs?run={run_id}").text
    assert "The manager's server: it holds the program's Manager objects" in page
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"
    nothing_left(program_server)


FUTURE_HANG = """
import queue
from concurrent.futures import ThreadPoolExecutor

orders = queue.Queue()


def cook():
    return orders.get()


with ThreadPoolExecutor(2) as kitchen:
    dish = kitchen.submit(cook)
    print(dish.result())
"""


def test_a_program_waiting_for_a_result_that_never_comes_is_named_stuck(
    pc: httpx.Client,
) -> None:
    run_id = start(pc, FUTURE_HANG)
    _, words = named_stuck(pc, run_id)
    assert "main waits for a result from kitchen" in words
    assert (
        "ThreadPoolExecutor-0_0 waits in orders.get(); orders is empty and no live worker can put"
        in words
    )
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"


JOIN_BEFORE_GET = """
from multiprocessing import Process, Queue


def work(q):
    q.put("x" * 1_000_000)  # more than a pipe holds


if __name__ == "__main__":
    q = Queue()
    p = Process(target=work, args=(q,), name="worker")
    p.start()
    p.join()  # before the get: the worker cannot exit until q is fed
    print(len(q.get()))
"""


def test_joining_a_process_before_getting_what_it_put_is_named_stuck(pc: httpx.Client) -> None:
    run_id = start(pc, JOIN_BEFORE_GET)
    _, words = named_stuck(pc, run_id)
    assert "main waits for worker to end (join)" in words
    assert (
        "worker has run its code to the end but cannot exit: it put more in q than its pipe"
        " holds, and nobody takes it"
    ) in words
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"


def test_lines_written_past_python_come_in_their_place_among_the_prints(
    pc: httpx.Client,
) -> None:
    text = """
import os
import subprocess

print("1 print")
os.write(1, b"2 os.write\\n")
print("3 print")
subprocess.run(["echo", "4 echo"])
print("5 print")
"""
    run = finish(pc, start(pc, text))
    assert [(c["worker"], c["text"]) for c in run["console"]] == [
        ("main", "1 print"),
        ("", "2 os.write"),
        ("main", "3 print"),
        ("", "4 echo"),
        ("main", "5 print"),
    ]


ASYNCIO_HANG = """
import asyncio


async def waiter(ev, n):
    print("waiter", n, "waits")
    await ev.wait()  # nobody sets it


async def main():
    ev = asyncio.Event()
    await asyncio.gather(waiter(ev, 1), waiter(ev, 2))


asyncio.run(main())
"""


def test_an_asyncio_program_whose_coroutines_all_await_in_vain_is_named_stuck(
    pc: httpx.Client,
) -> None:
    run_id = start(pc, ASYNCIO_HANG)
    run, words = named_stuck(pc, run_id)
    assert words[1:] == [
        "main runs an asyncio event loop with nothing to run: each of its coroutines awaits"
        " something (an Event set, a Queue put, a Future's result) that none of them will do"
    ]
    assert [c["text"] for c in run["console"]] == ["waiter 1 waits", "waiter 2 waits"]
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"


NO_MAIN_GUARD = """
import multiprocessing as mp


def square(x):
    return x * x


pool = mp.get_context("spawn").Pool(2)  # each spawned worker runs this file again
print(pool.map(square, [1, 2, 3]))
"""


def test_a_spawn_pool_without_its_main_guard_is_named_and_stop_leaves_nothing(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    run_id = start(pc, NO_MAIN_GUARD)
    _, words = named_stuck(pc, run_id)
    assert words[0] == (
        "The program cannot go on: main waits for pool, and its worker processes die as they"
        " start, so none of its tasks runs."
    )
    assert "before the current process has finished its bootstrapping phase." in words[1]
    assert 'under if __name__ == "__main__":' in words[2]
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"
    nothing_left(program_server)


BOTH_SEND_FIRST = """
from multiprocessing import Pipe, Process


def child(conn):
    conn.send(b"c" * 1_000_000)  # more than a pipe holds
    print("child got", len(conn.recv()))


if __name__ == "__main__":
    here, there = Pipe()
    p = Process(target=child, args=(there,), name="child")
    p.start()
    here.send(b"m" * 1_000_000)  # both send before they read: neither reads
    print("main got", len(here.recv()))
    p.join()
"""


@pytest.mark.parametrize("send", ["send", "send_bytes"])
def test_two_ends_that_both_send_more_than_a_pipe_holds_are_named_stuck(
    pc: httpx.Client, send: str
) -> None:
    """Named by the call the program makes (send_bytes is a send too)."""
    run_id = start(pc, BOTH_SEND_FIRST.replace(".send(", f".{send}("))
    run, words = named_stuck(pc, run_id)
    assert words[1:] == [
        f"main waits in here.{send}(): its message is more than a pipe holds, and no live"
        " worker reads there, the other end",
        f"child waits in there.{send}(): its message is more than a pipe holds, and no live"
        " worker reads here, the other end",
    ]
    states = {w["name"]: w["state"] for w in run["workers"]}
    assert states == {"main": "blocked", "child": "blocked"}
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"


def test_joinable_queue_join_returns_and_the_daemon_eaters_are_cut_off(pc: httpx.Client) -> None:
    run, evs = example(pc, "joinable_hotdogs")
    assert run["status"] == "finished"
    tray = objects(evs)["tray"]
    assert len([e for e in of(evs, "task_done") if e["item"] == tray]) == 15
    assert [e["data"]["unfinished"] for e in of(evs, "task_done")][-1] == 0
    assert of(evs, "qjoin")
    assert of(evs, "qjoined")
    eaters = {e["data"]["pid"]: e for e in of(evs, "reaped") if e["item"].startswith("eater")}
    assert len(eaters) == 2
    assert all(e["data"]["cut_off"] for e in eaters.values())


def test_a_program_finds_only_its_own_files_in_its_directory(pc: httpx.Client) -> None:
    """As `python homework.py` in a folder of its own: no file of concviz's
    beside it (a "process every .txt" exercise would take them)."""
    source = (
        "import os, sys\n"
        "open('notes.txt', 'w').close()\n"
        "print(sorted(os.listdir('.')), sys.argv[0])\n"
    )
    run = finish(pc, start(pc, source, filename="homework.py"))
    assert run["status"] == "finished"
    assert [c["text"] for c in run["console"]] == ["['homework.py', 'notes.txt'] homework.py"]


def test_a_program_named_in_chinese_runs_under_its_name_and_spawns(pc: httpx.Client) -> None:
    """As `python 作业3.py`: spawn runs the main module again by its path."""
    source = (
        "import multiprocessing as mp, sys\n"
        "def 工人():\n"
        "    print('工人 ran')\n"
        "if __name__ == '__main__':\n"
        "    print(sys.argv[0])\n"
        "    p = mp.get_context('spawn').Process(target=工人, name='工人')\n"
        "    p.start()\n"
        "    p.join()\n"
    )
    run_id = start(pc, source, filename="作业3.py")
    run = finish(pc, run_id)
    assert run["status"] == "finished"
    assert [c["text"] for c in run["console"]] == ["作业3.py", "工人 ran"]
    # The runs page tells it from other pasted programs by its name.
    page = pc.get("/runs").text
    row = page[page.index(f'id="rec-{run_id}"') :].split("</tr>")[0]
    assert "<code>作业3.py</code>" in row
    # Its trace names the child process as the stage does.
    meta = pc.get(f"/api/runs/{run_id}/trace").json()["traceEvents"]
    named = {m["args"]["name"] for m in meta if m.get("name") == "process_name"}
    assert "工人" in named
    # Its download keeps its name.
    script = pc.get(f"/runs/{run_id}/script")
    assert script.status_code == 200
    assert script.text == source
    assert script.headers["content-disposition"].endswith("filename*=UTF-8''%E4%BD%9C%E4%B8%9A3.py")


def test_two_ways_to_start_a_thread_are_both_seen(pc: httpx.Client) -> None:
    run, evs = example(pc, "two_ways_to_thread")
    assert run["status"] == "finished"
    started = {e["item"]: e for e in of(evs, "start_thread")}
    assert set(started) == {"ada", "grace"}
    ended = {e["worker"] for e in of(evs, "end") if "error" in (e.get("data") or {})}
    assert {"ada", "grace"} <= ended


def test_a_thread_shares_the_global_and_the_pid_a_child_process_does_not(
    pc: httpx.Client,
) -> None:
    run, evs = example(pc, "shared_global")
    main_pid = next(e["pid"] for e in of(evs, "proc") if e["data"]["main"])
    by = {e["worker"]: e for e in of(evs, "out") if "set total to 10" in e["data"]["text"]}
    assert by["setter-thread"]["pid"] == main_pid
    assert by["setter-process"]["pid"] != main_pid
    said = [e["data"]["text"] for e in of(evs, "out") if e["worker"] == "main"]
    assert any("after the thread, main sees total = 10" in t for t in said)
    assert any("after the process, main sees total = 0" in t for t in said)


def test_the_daemon_thread_is_cut_off_when_main_ends(pc: httpx.Client) -> None:
    # Scaled to 0.3 s against 0.2 s: the daemon still has 0.1 s to go when
    # the program ends (at 0.01 the margin is shorter than a busy exit).
    run, evs = example(pc, "daemon_thread", "0.1")
    assert run["status"] == "finished"
    main_end = [e for e in of(evs, "end") if "daemon_threads" in (e.get("data") or {})]
    assert main_end
    assert "daemon" in main_end[0]["data"]["daemon_threads"]
    assert not [e for e in of(evs, "end") if e["worker"] == "daemon"]
    assert not [
        e for e in of(evs, "out") if e["worker"] == "daemon" and "finished" in e["data"]["text"]
    ]


def test_the_lock_race_loses_updates_and_the_lock_loses_none(pc: httpx.Client) -> None:
    _, racy = example(pc, "lock_race")
    _, locked = example(pc, "lock_fixed")
    assert not of(racy, "acquired")
    got = [e["data"]["text"] for e in of(racy, "out") if "expected 0" in e["data"]["text"]]
    assert got
    assert not got[0].strip().endswith("got 0")
    guard = objects(locked)["guard"]
    assert len([e for e in of(locked, "acquired") if e["item"] == guard]) == 10
    assert len([e for e in of(locked, "released") if e["item"] == guard]) == 10
    assert [e for e in of(locked, "acquire_wait") if e["item"] == guard]
    done = [e["data"]["text"] for e in of(locked, "out") if "expected 0" in e["data"]["text"]]
    assert done[0].strip().endswith("got 0")


def test_a_shared_values_lock_shows_what_it_holds_and_ends_with_what_main_printed(
    pc: httpx.Client,
) -> None:
    run, evs = example(pc, "value_race")
    assert run["status"] == "finished"
    printed = [c["text"] for c in run["console"] if c["text"].startswith("expected")]
    got = printed[-1].rsplit(" ", 1)[1]
    lock = next(o for o in run["objects"] if o["name"] == "counter.get_lock()")
    assert (lock["guards"], lock["shows"]) == ("counter.value", got)
    # The workers' processes told it as they went: it climbed from 0 by ones
    # (a lost update may set it back), and main read the last value.
    told = [e for e in of(evs, "released") if e["item"] == lock["key"]]
    assert set(range(int(got) + 1)) <= {int(e["data"]["shows"]) for e in told}
    assert (told[-1]["worker"], told[-1]["data"]["shows"]) == ("main", got)
    page = pc.get(f"/runs/{run['id']}").text
    assert f"<code>counter.value = {got}</code>" in page


TCP_BOTH_READ = """
import socket
import threading

server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
port = server.getsockname()[1]


def client():
    link = socket.create_connection(("127.0.0.1", port))
    link.sendall(b"hello")
    print("client:", link.recv(100))  # waits for an answer


t = threading.Thread(target=client, name="client")
t.start()
conn, addr = server.accept()
print("server:", conn.recv(100))
conn.recv(100)  # waits for more: neither side sends again
"""


def test_two_sides_of_a_tcp_connection_that_both_wait_to_read_are_named_stuck(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    run_id = start(pc, TCP_BOTH_READ)
    run, words = named_stuck(pc, run_id)
    assert sorted(words[1:]) == [
        "client waits in link.recv(): nothing has come, and its other end is in this program,"
        " where nothing will send",
        "main waits in conn.recv(): nothing has come, and its other end is in this program,"
        " where nothing will send",
    ]
    page = pc.get(f"/programs?run={run_id}").text
    assert "waiting in conn.recv(): nothing has come yet" in page
    # On the stage: the listener from its listen(), each end once it waited.
    names = {o["name"] for o in run["objects"] if o["type"] == "socket"}
    assert names == {"server", "conn", "link"}
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"
    nothing_left(program_server)


PIPE_NOT_CLOSED = """
import os

r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    os.write(w, b"hello")
    os._exit(0)
# main forgot to close its own copy of the write end
print("main read", os.read(r, 100))
while os.read(r, 100):  # waits for end-of-file for ever
    pass
"""


def test_a_read_of_a_pipe_whose_write_end_main_kept_open_is_named_stuck(
    pc: httpx.Client,
) -> None:
    run_id = start(pc, PIPE_NOT_CLOSED)
    run, words = named_stuck(pc, run_id)
    assert words[1:] == [
        "main waits in os.read() on a pipe: nothing has come, and no live worker will write to"
        " it (a read gets end-of-file only once every copy of the pipe's write end is closed)"
    ]
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"
    # Its line is the read it waits in, not the print before it.
    waits = [e["data"] for e in of(trace(pc, run_id), "fd_wait") if e["worker"] == "main"]
    assert (waits[-1]["op"], waits[-1]["what"], waits[-1]["line"]) == ("os.read", "pipe", 11)


# The classic subprocess deadlock (the docs warn of it under Popen.wait):
# seq writes more than a pipe holds, and main waits for its end before it
# reads any.
POPEN_FULL_PIPE = """
import subprocess

p = subprocess.Popen(["seq", "1000000"], stdout=subprocess.PIPE)
p.wait()
print(len(p.stdout.read()))
"""
# A read in C code (a Popen pipe's readline) of a command that is still
# going: no hang.
POPEN_READLINE = """
import subprocess

p = subprocess.Popen(["sh", "-c", "echo hi; sleep 30; echo bye"], stdout=subprocess.PIPE, text=True)
for line in p.stdout:
    print("got", line.strip())
"""


def test_a_command_that_fills_its_pipe_while_main_waits_for_its_end_is_named(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    run_id = start(pc, POPEN_FULL_PIPE)
    run, words = named_stuck(pc, run_id)
    assert words[1:] == [
        "main waits for seq to end, and it never will: seq waits to write to its stdout, a pipe"
        " that is full, and main, which can read it, waits too (communicate() reads a command's"
        " output while it waits for its end)"
    ]
    page = pc.get(f"/programs?run={run_id}").text
    assert "waiting to write to its stdout, a pipe: it is full (in C code)" in page
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id)["status"] == "stopped"
    nothing_left(program_server)


def test_a_read_in_c_code_shows_as_a_wait_and_a_command_still_going_is_no_hang(
    pc: httpx.Client,
) -> None:
    run_id = start(pc, POPEN_READLINE)
    main = "waiting to read a pipe: it is empty for now (in C code)"
    run = wait_for(pc, run_id, lambda r: main in pc.get(f"/programs?run={run_id}").text, 15)
    # sh waits for its sleep, which may end: nothing is stuck.
    page = pc.get(f"/programs?run={run_id}").text
    assert "waiting for a child process to end (in C code)" in page
    assert "last seen at line 6" in page  # its print; it reads at line 5 now, in C code
    assert pc.get(f"/api/runs/{run_id}").json()["diagnosis"] == []
    assert [c["text"] for c in run["console"]] == ["got hi"]
    pc.post(f"/api/runs/{run_id}/stop")
    finish(pc, run_id)


def test_a_run_still_going_is_found_live_from_its_recording_and_the_runs_links(
    pc: httpx.Client,
) -> None:
    run_id = start(pc, PIPE_NOT_CLOSED)  # waits until stopped
    named_stuck(pc, run_id)
    recorded = pc.get(f"/runs/{run_id}").text
    assert f'<a href="/experiments/program?run={run_id}">still going: watch it live</a>' in recorded
    # The runs page links a run still going at its lesson address.
    live = pc.get(f"/experiments/program?run={run_id}", follow_redirects=True)
    assert live.status_code == 200
    assert str(live.url).endswith(f"/programs?run={run_id}")
    assert run_id in live.text
    pc.post(f"/api/runs/{run_id}/stop")
    finish(pc, run_id)
    assert "run it live" in pc.get(f"/runs/{run_id}").text


def test_a_deadlock_is_named_as_its_cycle(pc: httpx.Client, program_server: LiveServer) -> None:
    ex = gallery.find("deadlock")
    assert ex is not None
    # Each holds its first lock for 0.1 s: long enough for the other to take
    # its own (at 0.01 one may take both before the other starts).
    run_id = start(pc, ex.source(), ["0.5"], filename=ex.filename)
    run, words = named_stuck(pc, run_id)
    assert "lefty holds fork and waits for knife" in words
    assert "righty holds knife and waits for fork" in words
    # The two wait in plain acquire() calls, which nothing can interrupt and
    # Python cannot kill a thread: they run in the program's process, not the
    # server's, and Stop ends that process.
    main = next(w for w in run["workers"] if w["name"] == "main")
    assert main["pid"] != program_server.proc.pid
    tids = {w["tid"] for w in run["workers"] if w["name"] in ("lefty", "righty")}
    assert len(tids) == 2
    assert tids <= {t.id for t in psutil.Process(main["pid"]).threads()}
    asked = time.monotonic()
    assert pc.post(f"/api/runs/{run_id}/stop").json()["status"] == "stopped"
    assert time.monotonic() - asked < TERM_GRACE_S + 1.0  # bounded, not a timing claim
    stopped = finish(pc, run_id)
    assert stopped["status"] == "stopped"
    assert next(w for w in stopped["workers"] if w["name"] == "main")["exitcode"] == -15
    # Stopped stuck: the page still says why it could not go on.
    assert stopped["diagnosis"][0].startswith("The program was stuck when it ended")
    assert "lefty holds fork and waits for knife" in stopped["diagnosis"]
    nothing_left(program_server)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_every_start_method_is_traced_and_a_queue_crosses_into_the_child(
    pc: httpx.Client, method: str
) -> None:
    text = f"""
import multiprocessing as mp

def child(q):
    q.put("from the child")

if __name__ == "__main__":
    mp.set_start_method({method!r})
    q = mp.Queue()
    p = mp.Process(target=child, args=(q,), name="kid")
    p.start()
    print(q.get())
    p.join()
"""
    run_id = start(pc, text)
    assert finish(pc, run_id)["status"] == "finished"
    evs = trace(pc, run_id)
    kid = [e for e in of(evs, "proc") if e["data"]["name"] == "kid"]
    assert kid
    assert kid[0]["data"]["method"] == method
    q = objects(evs)["q"]
    put = [e for e in of(evs, "put") if e["item"] == q]
    assert put
    assert put[0]["pid"] == kid[0]["pid"]
    assert [e for e in of(evs, "get") if e["item"] == q and e["data"]["v"] == "'from the child'"]


def test_input_gets_end_of_file_with_a_note(pc: httpx.Client) -> None:
    text = "try:\n    input('name? ')\nexcept EOFError:\n    print('no keyboard here')\n"
    run_id = start(pc, text)
    run = finish(pc, run_id)
    assert run["status"] == "finished"
    evs = trace(pc, run_id)
    assert of(evs, "stdin_eof")
    assert any("no keyboard here" in c["text"] for c in run["console"])


def test_the_input_given_is_what_input_reads_each_line_shown_after_its_prompt(
    pc: httpx.Client,
) -> None:
    text = (
        "name = input('your name? ')\n"
        "n = int(input('how many? '))\n"
        "for i in range(n):\n"
        "    print('hello', name, i)\n"
        "input('more? ')\n"
    )
    run = finish(pc, start(pc, text, stdin="Ann\n2\n"))
    lines = [(c["stream"], c["text"]) for c in run["console"]]
    assert lines[:6] == [
        ("stdout", "your name? Ann"),
        ("stdout", "how many? 2"),
        ("stdout", "hello Ann 0"),
        ("stdout", "hello Ann 1"),
        ("stdout", "more? "),  # the prompt that met the end, then the note on it
        ("note", "input()"),
    ]
    assert lines[-1] == ("stderr", "EOFError: EOF when reading a line")
    assert pc.get(f"/api/runs/{run['id']}").json()["params"]["stdin"] == "Ann\n2\n"


def test_too_much_input_is_refused_naming_the_field_and_its_bound(pc: httpx.Client) -> None:
    r = pc.post("/api/programs", json={"source": "input()\n", "stdin": "x" * 65537})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "stdin"
    assert "65536" in r.json()["detail"]
    page = pc.post("/programs/run", data={"source": "input()\n", "stdin": "x" * 65537})
    assert page.status_code == 422
    assert (
        "Not started: Input must be text of at most 65536 characters (got text of 65537 characters)"
    ) in page.text
    assert "x" * 50 not in page.text  # the value is told by its size, not said back


def test_a_loop_without_traced_calls_still_stops_at_once(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    run_id = start(pc, "n = 0\nwhile True:\n    n += 1\n")
    wait_for(pc, run_id, lambda r: r["status"] == "running")
    t0 = time.monotonic()
    assert pc.post(f"/api/runs/{run_id}/stop").status_code == 200
    assert finish(pc, run_id, timeout=5)["status"] == "stopped"
    assert time.monotonic() - t0 < 5  # bounded, not a timing claim: Stop did not hang
    nothing_left(program_server)


def test_processes_started_in_a_loop_stop_at_the_limit_with_nothing_left(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    text = """
import time
from multiprocessing import Process

def rest():
    time.sleep(60)

if __name__ == "__main__":
    while True:
        Process(target=rest).start()
        time.sleep(0.01)
"""
    run_id = start(pc, text)
    run = finish(pc, run_id)
    assert run["status"] == "stopped"
    assert "limit of 6 processes" in run["reason"]
    assert run["limit"] == "processes"
    nothing_left(program_server)


def test_a_program_that_prints_megabytes_is_cut_at_the_output_limit(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    run_id = start(pc, "while True:\n    print('x' * 1000)\n")
    run = finish(pc, run_id)
    assert run["status"] == "stopped"
    assert "64 KB" in run["reason"]
    nothing_left(program_server)


BURST_THEN_END = """
for i in range(20000):
    print(f"line {i:04d} " + "x" * 60)
print("END")
"""


def test_a_program_that_printed_past_the_output_limit_and_ended_meanwhile_finished(
    pc: httpx.Client,
) -> None:
    # 1.4 MB in a blink, then its end: the server counts the lines after the
    # program has printed them. Stopped means ended by the signal; a program
    # whose code had ended and that exited by itself finished.
    for _ in range(3):
        run = finish(pc, start(pc, BURST_THEN_END))
        (main,) = run["processes"]
        if run["status"] == "stopped":
            assert (run["limit"], main["signal"]) == ("output_kb", "SIGTERM")
        else:
            assert run["console"][-1]["text"] == "END"
            assert (run["status"], run["reason"], run["limit"]) == (
                "finished",
                "the program ended",
                None,
            )
            assert main["exitcode"] == 0


def test_a_crash_in_a_child_process_is_shown_with_its_traceback(pc: httpx.Client) -> None:
    text = """
from multiprocessing import Process

def boom():
    raise ValueError("no soup today")

if __name__ == "__main__":
    p = Process(target=boom, name="chef")
    p.start()
    p.join()
    print("chef exit code", p.exitcode)
"""
    run_id = start(pc, text)
    assert finish(pc, run_id)["status"] == "finished"
    evs = trace(pc, run_id)
    exc = of(evs, "exc")
    assert exc
    assert "ValueError: no soup today" in exc[0]["data"]["error"]
    assert "raise ValueError" in exc[0]["data"]["traceback"]
    reaped = [e for e in of(evs, "reaped") if e["item"] == "chef"]
    assert reaped[0]["data"]["exitcode"] == 1
    # As `python program.py` prints it: the user's file by its name, and
    # none of concviz's own frames.
    printed = "\n".join(c["text"] for c in finish(pc, run_id)["console"])
    assert "Process chef:\nTraceback (most recent call last):" in printed
    assert 'File "program.py", line 5, in boom' in printed
    assert "concviz" not in printed
    assert "ValueError: no soup today" in printed


def test_only_the_presenter_may_run_a_program() -> None:
    server = LiveServer("--lan", "--host", "127.0.0.1")
    try:
        r = httpx.post(server.url + "/api/programs", json={"source": "print(1)"})
        assert r.status_code == 403
        r = httpx.post(
            server.url + "/api/programs",
            json={"source": "print(1)"},
            headers={"origin": "http://evil.example"},
        )
        assert r.status_code == 403
    finally:
        server.stop()


def test_the_program_list_counts_its_processes_in_the_run_object(pc: httpx.Client) -> None:
    run, evs = example(pc, "cook_and_eater")
    names = Counter(p["name"] for p in run["processes"])
    assert names["cook"] == 1
    assert names["eater"] == 1
    assert all(not p["alive"] for p in run["processes"])
    assert os.getpid() not in {p["pid"] for p in run["processes"]}


def test_a_stopped_managers_temporary_files_are_gone_with_its_run(pc: httpx.Client) -> None:
    """A Manager's socket lives in a temporary directory that its process
    removes as it exits: killed by Stop, it cannot. It is in the run's
    directory, which goes."""
    run_id = start(
        pc,
        "import multiprocessing as mp\n"
        "import multiprocessing.util\n"
        "if __name__ == '__main__':\n"
        "    with mp.Manager() as m:\n"
        "        inbox = m.Queue()\n"
        "        print(mp.util.get_temp_dir(), flush=True)\n"
        "        inbox.get()  # nothing comes\n",
    )
    run = wait_for(pc, run_id, lambda r: bool(r["console"]), 15)
    tmp = run["console"][0]["text"].strip()
    assert tmp.startswith(str(BASE_DIR))  # not the machine's /tmp
    assert os.path.isdir(tmp)
    pc.post(f"/api/runs/{run_id}/stop")
    finish(pc, run_id)
    assert settle(lambda: os.path.exists(tmp), lambda there: not there) is False


def test_a_killed_server_takes_the_program_with_it_and_the_next_one_tidies_up() -> None:
    server = LiveServer()
    try:
        with httpx.Client(base_url=server.url, timeout=20) as c:
            text = (
                "import time\nfrom multiprocessing import Process\n\n"
                "if __name__ == '__main__':\n"
                "    p = Process(target=time.sleep, args=(60,), name='sleeper')\n"
                "    p.start()\n    p.join()\n"
            )
            run_id = start(c, text)
            run = wait_for(c, run_id, lambda r: sum(p["alive"] for p in r["processes"]) == 2)
            pids = [p["pid"] for p in run["processes"]]
        left = list(BASE_DIR.glob(f"{server.proc.pid}-*"))
        assert left  # the run's directory, while it runs
        os.kill(server.proc.pid, 9)
        server.proc.wait()
        gone = settle(lambda: [p for p in pids if psutil.pid_exists(p)], lambda alive: not alive)
        assert gone == []
    finally:
        server.stop()
    second = LiveServer()
    try:
        assert [d for d in left if d.exists()] == []
    finally:
        second.stop()


def test_pause_stops_every_process_of_the_program_for_real(pc: httpx.Client) -> None:
    text = (
        "import time\nfrom multiprocessing import Process\n\n"
        "def tick():\n    while True:\n        time.sleep(0.01)\n\n"
        "if __name__ == '__main__':\n"
        "    p = Process(target=tick, name='ticker')\n    p.start()\n    tick()\n"
    )
    run_id = start(pc, text)
    run = wait_for(pc, run_id, lambda r: sum(p["alive"] for p in r["processes"]) == 2)
    pids = [p["pid"] for p in run["processes"]]
    assert pc.post(f"/api/runs/{run_id}/pause").status_code == 200
    states = settle(
        lambda: [psutil.Process(p).status() for p in pids],
        lambda s: all(x == psutil.STATUS_STOPPED for x in s),
    )
    assert all(x == psutil.STATUS_STOPPED for x in states)
    assert pc.get(f"/api/runs/{run_id}").json()["paused"] is True
    assert pc.post(f"/api/runs/{run_id}/resume").status_code == 200
    states = settle(
        lambda: [psutil.Process(p).status() for p in pids],
        lambda s: psutil.STATUS_STOPPED not in s,
    )
    assert psutil.STATUS_STOPPED not in states
    pc.post(f"/api/runs/{run_id}/stop")
    assert finish(pc, run_id)["status"] == "stopped"


@pytest.fixture(scope="module")
def tight_server() -> Iterator[LiveServer]:
    """Small limits, each reached in a second or two."""
    server = LiveServer(
        env={
            "CONCVIZ_PROGRAM_SECONDS": "2",
            "CONCVIZ_PROGRAM_THREADS": "12",
            "CONCVIZ_PROGRAM_MEMORY_MB": "64",
            "CONCVIZ_PROGRAM_EVENTS": "2000",
        }
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("text", "limit", "words"),
    [
        ("import time\nwhile True:\n    time.sleep(0.05)\n", "seconds", "ran for 2 s"),
        (
            "import threading, time\n"
            "for _ in range(100):\n"
            "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
            "time.sleep(30)\n",
            "threads",
            "limit of 12 threads",
        ),
        (
            "import time\nhog = []\nwhile True:\n    hog.append(bytearray(8 << 20))\n"
            "    time.sleep(0.01)\n",
            "memory_mb",
            "64 MB",
        ),
        (
            "import queue\nq = queue.Queue()\nwhile True:\n    q.put(1)\n    q.get()\n",
            "events",
            "more than 2000 traced calls",
        ),
    ],
    ids=["seconds", "threads", "memory", "events"],
)
def test_each_limit_stops_the_program_and_names_itself(
    tight_server: LiveServer, text: str, limit: str, words: str
) -> None:
    with tidy_client(tight_server, 20) as c:
        run_id = start(c, text)
        run = finish(c, run_id)
    assert run["status"] == "stopped"
    assert run["limit"] == limit
    assert words in run["reason"]
    nothing_left(tight_server)


def test_stop_leaves_no_shared_memory_or_semaphore_behind(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    text = """
import time
from multiprocessing import Process, get_context, shared_memory

def hold(name):
    block = shared_memory.SharedMemory(name=name)
    time.sleep(60)

if __name__ == "__main__":
    block = shared_memory.SharedMemory(create=True, size=4096)
    gate = get_context("spawn").Semaphore(2)  # its name in /dev/shm lasts as long as it does
    print("made", block.name, gate._semlock.name, flush=True)
    p = Process(target=hold, args=(block.name,), name="holder")
    p.start()
    p.join()
"""
    run_id = start(pc, text)
    run = wait_for(pc, run_id, lambda r: any("made" in c["text"] for c in r["console"]))
    _, name, sem = next(c["text"] for c in run["console"] if "made" in c["text"]).split()
    held = {name, "sem." + sem.lstrip("/")}  # /dev/shm/sem.mp-...
    assert left_in_shm(held) == held
    pc.post(f"/api/runs/{run_id}/stop")
    assert finish(pc, run_id)["status"] == "stopped"
    nothing_left(program_server)
    assert settle(lambda: left_in_shm(held), lambda left: not left) == set()


VICTIM = """
import time
from multiprocessing import Process


def nap():
    time.sleep(30)


if __name__ == "__main__":
    p = Process(target=nap, name="victim")
    p.start()
    p.join()
    print("victim's exit code:", p.exitcode)
"""


def test_the_presenter_kills_one_process_of_a_run_by_its_name(pc: httpx.Client) -> None:
    run_id = start(pc, VICTIM)
    there = wait_for(pc, run_id, lambda r: any(w["name"] == "victim" for w in r["workers"]))
    pid = next(w["pid"] for w in there["workers"] if w["name"] == "victim")

    # Only a live process of this run, named as the stage names it.
    nobody = pc.post(f"/api/runs/{run_id}/kill", json={"worker": "nobody"})
    assert nobody.status_code == 422
    assert "worker" in nobody.text
    assert "nobody" in nobody.text
    assert pc.post(f"/api/runs/{run_id}/kill", json={"worker": 7}).status_code == 422

    assert pc.post(f"/api/runs/{run_id}/kill", json={"worker": "victim"}).status_code == 200
    done = finish(pc, run_id)
    assert done["status"] == "finished"
    victim = next(w for w in done["workers"] if w["name"] == "victim")
    assert (victim["state"], victim["alive"]) == ("killed", False)
    evs = trace(pc, run_id)
    assert [(e["data"]["worker"], e["data"]["pid"]) for e in of(evs, "kill")] == [("victim", pid)]
    assert any("victim's exit code: -9" in e["data"]["text"] for e in of(evs, "out"))
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    ended = pc.post(f"/api/runs/{run_id}/kill", json={"worker": "victim"})
    assert ended.status_code == 409


NEGLECTFUL = """
import time
from multiprocessing import Process


def nap():
    time.sleep(30)


if __name__ == "__main__":
    Process(target=nap, name="napper").start()
    time.sleep(30)  # never looks at its child again
"""


def test_a_child_killed_while_its_parent_looks_elsewhere_shows_killed_at_once(
    pc: httpx.Client,
) -> None:
    """Its parent would say so only at its exit: the server sees the zombie."""
    run_id = start(pc, NEGLECTFUL)
    there = wait_for(pc, run_id, lambda r: any(w["name"] == "napper" for w in r["workers"]))
    pid = next(w["pid"] for w in there["workers"] if w["name"] == "napper")
    os.kill(pid, 9)
    seen = wait_for(
        pc, run_id, lambda r: any(w["name"] == "napper" and not w["alive"] for w in r["workers"])
    )
    assert seen["status"] == "running"
    napper = next(w for w in seen["workers"] if w["name"] == "napper")
    assert napper["state"] == "killed"
    assert next(p for p in seen["processes"] if p["pid"] == pid)["signal"] == "SIGKILL"
    pc.post(f"/api/runs/{run_id}/stop")
    reaped = of(trace(pc, run_id), "reaped")
    assert [(e["data"]["pid"], e["data"]["signal"]) for e in reaped][:1] == [(pid, "SIGKILL")]


DAEMONIZED = """\
import os
import time

r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.setsid()  # a session of its own, as a daemon makes
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode())
        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.waitpid(pid, 0)
print("daemon", os.read(r, 32).decode())
"""


def test_a_daemon_that_left_the_programs_session_ends_with_the_run(
    pc: httpx.Client, program_server: LiveServer
) -> None:
    run = finish(pc, start(pc, DAEMONIZED))
    assert run["status"] == "finished"
    said = next(c["text"] for c in run["console"] if c["text"].startswith("daemon"))
    daemon = int(said.split()[1])
    assert settle(lambda: alive(daemon), lambda up: not up) is False
    nothing_left(program_server)


def test_a_daemon_left_by_a_killed_server_is_ended_by_the_next_one() -> None:
    server = LiveServer()
    try:
        with httpx.Client(base_url=server.url, timeout=20) as c:
            run_id = start(c, DAEMONIZED + "time.sleep(60)\n")
            run = wait_for(c, run_id, lambda r: any("daemon" in x["text"] for x in r["console"]))
        said = next(x["text"] for x in run["console"] if x["text"].startswith("daemon"))
        daemon = int(said.split()[1])
        os.kill(server.proc.pid, 9)
        server.proc.wait()
        assert alive(daemon)  # nothing of the server was left to end it
    finally:
        server.stop()
    second = LiveServer()
    try:
        assert settle(lambda: alive(daemon), lambda up: not up) is False
    finally:
        second.stop()


def test_a_program_that_exits_badly_says_how_in_its_reason(pc: httpx.Client) -> None:
    run = finish(pc, start(pc, "import sys\nprint('giving up')\nsys.exit(3)\n"))
    assert run["status"] == "finished"  # by itself: its exit code is its own business
    assert run["reason"] == "the program ended with exit code 3"
    page = settle(
        lambda: pc.get(f"/runs/{run['id']}", headers={"accept-language": "zh-CN"}),
        lambda r: r.status_code == 200,  # once its recording is written
    )
    assert "程序结束了，退出码为 3" in page.text


def test_a_program_pasted_with_a_byte_order_mark_runs(pc: httpx.Client) -> None:
    run = finish(pc, start(pc, "\ufeffprint('marked')\r\n"))
    assert [c["text"] for c in run["console"]] == ["marked"]


def test_run_at_the_limit_of_runs_offers_to_stop_the_runs_that_hold_it(pc: httpx.Client) -> None:
    going = [start(pc, "import time\ntime.sleep(30)\n") for _ in range(4)]  # max_runs
    page = pc.post("/programs/run", data={"source": "print(1)\n", "filename": "one.py"})
    assert page.status_code == 429
    assert "At most 4 runs may go at once. Stop one of these, then Start again." in page.text
    assert "POST /api" not in page.text  # no words for programmers
    for run_id in going:
        assert f'hx-post="/runs/{run_id}/stop"' in page.text
        pc.post(f"/api/runs/{run_id}/stop")


def test_a_program_that_only_computes_is_on_the_stage_while_it_computes(pc: httpx.Client) -> None:
    busy = "import time\nstart = time.time()\nwhile time.time() - start < 20:\n    pass\n"
    run_id = start(pc, busy)
    run = wait_for(pc, run_id, lambda r: bool(r["processes"]))
    assert run["status"] == "running"
    (main,) = [w for w in run["workers"] if w["name"] == "main"]
    assert psutil.Process(main["pid"]).status() != psutil.STATUS_ZOMBIE  # its real pid
    assert pc.post(f"/api/runs/{run_id}/stop").json()["status"] == "stopped"


def test_what_is_written_past_python_is_on_the_console_once(pc: httpx.Client) -> None:
    text = (
        "import os, subprocess, sys\n"
        "print('from print')\n"
        "os.write(1, b'from os.write\\n')\n"
        "subprocess.run(['sh', '-c', 'echo from a shell; echo oops >&2'])\n"
    )
    run = finish(pc, start(pc, text))
    lines = [(c["worker"], c["stream"], c["text"]) for c in run["console"]]
    assert lines.count(("main", "stdout", "from print")) == 1  # not twice
    assert ("", "stdout", "from os.write") in lines
    assert ("", "stdout", "from a shell") in lines
    assert ("", "stderr", "oops") in lines


def test_a_childs_lines_into_a_pipe_are_marked_not_on_the_screen(pc: httpx.Client) -> None:
    text = (
        "import subprocess, sys\n"
        "got = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True)\n"
        "print('the child said', got.stdout.decode().strip())\n"
    )
    run_id = start(pc, text)
    run = finish(pc, run_id)
    lines = [(c.get("into", ""), c["text"]) for c in run["console"]]
    assert lines == [("pipe", "42"), ("", "the child said 42")]
    page = pc.get(f"/programs?run={run_id}").text
    assert '<span class="into">into a pipe, not the screen:</span> <span class="text">42' in page


ASYNCIO = """
import asyncio


async def cook(q):
    for dish in range(3):
        await q.put(dish)
    await q.put(None)


async def eat(q):
    while (dish := await q.get()) is not None:
        print("ate", dish)


async def main():
    q = asyncio.Queue(1)
    await asyncio.gather(cook(q), eat(q))


asyncio.run(main())
"""


def test_a_program_of_asyncio_tasks_is_told_that_its_loop_runs_in_one_drawn_thread(
    pc: httpx.Client,
) -> None:
    run = finish(pc, start(pc, ASYNCIO))
    assert run["status"] == "finished"
    [main] = run["processes"]
    line = ASYNCIO.splitlines().index("asyncio.run(main())") + 1
    assert main["event_loop"] == line
    assert [c["text"] for c in run["console"]] == ["ate 0", "ate 1", "ate 2"]
    page = pc.get(f"/programs?run={run['id']}").text
    assert f"Runs an asyncio event loop (line {line})" in page
