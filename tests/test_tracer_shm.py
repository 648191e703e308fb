"""Shared memory under the tracer: a segment's life (made, opened by its
name, mapped by a forked child, closed, unlinked) on the stage, and in the
log in words. What is written into it the tracer does not see."""

from __future__ import annotations

import contextlib
import os
import time

import httpx
import pytest
from conftest import LiveServer
from probes import left_in_shm, settle, wait_for
from tracerharness import folded, looking, seen, trace

from app.programs.rundirs import RunDir
from app.programs.state import ProgramState
from app.programs.view import view

PROGRAM = """
import multiprocessing as mp
from multiprocessing import shared_memory
from gate import wait_for_go

def fill(name):
    block = shared_memory.SharedMemory(name=name)  # opened by its name
    block.buf[0] = 42
    block.close()

def nudge(shm):
    shm.buf[1] = 7  # its parent's mapping, copied by fork
    wait_for_go()

if __name__ == "__main__":
    shm = shared_memory.SharedMemory(create=True, size=4096)
    sl = shared_memory.ShareableList([1, 2, 3])
    spawned = mp.get_context("spawn").Process(target=fill, args=(shm.name,), name="filler")
    spawned.start()
    spawned.join()
    forked = mp.get_context("fork").Process(target=nudge, args=(shm,), name="nudger")
    forked.start()
    forked.join()
    print(shm.buf[0], shm.buf[1], sl[2])
    shm.close()
    shm.unlink()
    sl.shm.close()
    sl.shm.unlink()
"""


def test_a_segment_s_life_is_on_the_stage_and_in_the_log() -> None:
    # The test looks while the forked child runs, then lets it end.
    looked: list[ProgramState] = []
    run = trace(PROGRAM, go_when=looking(seen("thread", "nudger"), looked))
    assert run.printed() == "42 7 3\n"
    opened = [(e.worker, e.data["name"], e.data["created"]) for e in run.of("shm_open")]
    assert opened == [("main", "shm", True), ("main", "sl", True), ("filler", "block", False)]
    key = run.of("shm_open")[0].item
    made = run.of("shm_open")[0].data
    assert made["type"] == "SharedMemory"
    assert made["size"] >= 4096
    assert made["line"] == run.line("shm = shared_memory.SharedMemory(create=True")
    assert key == "shm:" + made["segment"]
    assert run.of("shm_open")[1].data["type"] == "ShareableList"
    assert [e.worker for e in run.of("shm_close", key)][:2] == ["filler", "main"]
    assert [e.worker for e in run.of("shm_unlink")] == ["main", "main"]

    # While the forked child runs: main and it map the segment, the
    # spawned one has closed its own; the name is still there.
    during = looked[-1]
    seg = during.objs[key].segment
    assert seg is not None
    assert [during.proc_label(pid) for pid in during.mapping(seg)] == ["main", "nudger"]
    assert not seg.unlinked
    page = view(during, {"source": run.source, "filename": "main.py"})
    shm_boxes = page["objects"]["shm"]
    assert [b.obj.name for b in shm_boxes] == ["shm", "sl"]
    assert shm_boxes[0].mapped == ["main", "nudger"]

    # At the end: nobody maps it, and its name is gone.
    after = folded(run)
    seg = after.objs[key].segment
    assert seg is not None
    assert seg.unlinked
    assert after.mapping(seg) == []
    shown = after.extras()["objects"]
    assert {o["name"]: o["segment"]["unlinked"] for o in shown if "segment" in o} == {
        "shm": True,
        "sl": True,
    }


TWO_HANDLES = """
import multiprocessing as mp
from multiprocessing import shared_memory
from gate import wait_for_go

def child(name):
    own = shared_memory.SharedMemory(name=name)
    own.close()  # the mapping it was born with stays
    wait_for_go()

if __name__ == "__main__":
    writer = shared_memory.SharedMemory(create=True, size=64)
    reader = shared_memory.SharedMemory(name=writer.name)
    reader.close()  # writer is still open here
    manager = mp.Manager()  # its server is forked now: it maps the segment too
    p = mp.get_context("fork").Process(target=child, args=(writer.name,), name="child")
    p.start()
    p.join()
    manager.shutdown()
    writer.close()
    writer.unlink()
"""


def test_a_process_maps_a_segment_until_its_last_handle_closes_and_forks_inherit_it() -> None:
    looked: list[ProgramState] = []
    run = trace(TWO_HANDLES, go_when=looking(seen("shm_close", "child"), looked))
    during = looked[-1]
    (obj,) = during.objs.values()
    assert obj.segment is not None
    mapped = [during.proc_label(pid) for pid in during.mapping(obj.segment)]
    assert mapped == ["main", "SyncManager-1", "child"]
    after = folded(run)
    assert after.mapping(after.objs[obj.key].segment) == []  # type: ignore[arg-type]


@pytest.mark.live
def test_what_a_program_never_unlinked_in_dev_shm_is_gone_when_the_server_is_killed_mid_run() -> (
    None
):
    """A segment, and the named semaphores of spawn's lock and queue (which
    the resource tracker would unlink, but it is killed with the program)."""
    name = f"concviz_test_{os.getpid()}"
    source = (
        "import time\n"
        "import multiprocessing as mp\n"
        "from multiprocessing import shared_memory\n"
        f"board = shared_memory.SharedMemory(name={name!r}, create=True, size=64)\n"
        "if __name__ == '__main__':\n"
        "    spawn = mp.get_context('spawn')\n"
        "    lock, q = spawn.Lock(), spawn.Queue()\n"
        "    sems = [lock._semlock.name, q._rlock._semlock.name, q._wlock._semlock.name,\n"
        "            q._sem._semlock.name]\n"
        "    print('made', *sems, flush=True)\n"
        "    time.sleep(60)  # never unlinked\n"
    )
    server = LiveServer()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            run = client.post("/api/programs", json={"source": source}).json()
            said = wait_for(
                client, run["id"], lambda r: any("made" in c["text"] for c in r["console"])
            )
        sems = next(c["text"] for c in said["console"] if "made" in c["text"]).split()[1:]
        made = {name} | {"sem." + s.lstrip("/") for s in sems}  # a lock, a queue's three
        assert len(made) == 5
        assert left_in_shm(made) == made
        server.proc.kill()  # SIGKILL: the program's watchdog ends it
        server.proc.wait()
    finally:
        server.stop()
    left = settle(lambda: left_in_shm(made), lambda left: not left, timeout=10)
    for n in left:  # not for the next run to find
        os.unlink(f"/dev/shm/{n}")
    assert left == set()


def test_the_file_of_a_semaphore_cut_off_half_made_goes_when_its_run_does() -> None:
    """A process killed inside sem_open leaves glibc's temporary file,
    /dev/shm/sem.XXXXXX, which no name marks. Ending the run removes those
    made during it; one a process holds open (being made now), one made
    before the run and a semaphore's named file stay."""
    run_dir = RunDir("prog.py", "pass\n", 1.0, {})
    tag = f"{os.getpid() % 100000:05d}"
    paths = {
        what: f"/dev/shm/sem.{prefix}{tag}"
        for what, prefix in (("cut off", "c"), ("held", "h"), ("before", "b"))
    }
    paths["named"] = f"/dev/shm/sem.mp-test{tag}"
    for path in paths.values():
        with open(path, "wb") as f:
            f.write(bytes(32))
    hour_ago = time.time() - 3600
    os.utime(paths["before"], (hour_ago, hour_ago))
    holding = open(paths["held"], "rb")  # noqa: SIM115 (held across the removal)
    try:
        run_dir.remove()
        left = {what for what, path in paths.items() if os.path.exists(path)}
    finally:
        holding.close()
        for path in paths.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    assert left == {"held", "before", "named"}
