"""The fold of a traced program's events, the hang diagnosis and the view:
pure, no processes."""

from __future__ import annotations

from typing import Any

import pytest
from redisstage import said

from app import i18n, timeline
from app.events import Event
from app.programs import diagnosis, poolhangs, view
from app.programs.boot.concviz_tracer import kinds as K
from app.programs.calls import written
from app.programs.model import fold, fold_all
from app.programs.state import CONSOLE_LINES, ITEMS_SHOWN, QUIET, RAW_OUT, STALLS, ProgramState
from app.web import render

MAIN = 100


def spoken(sentences: list[diagnosis.Sentence]) -> list[str]:
    """What a diagnosis says, sentence by sentence, in English."""
    return [x.message % x.parts for x in sentences]


class Story:
    """Events as a program would send them, numbered as the server does."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.t = 0.0

    def __call__(
        self, worker: str, pid_: int, tid_: int, kind: str, item: str | None = None, **data: Any
    ) -> Story:
        self.t += 0.01
        self.events.append(
            Event(len(self.events) + 1, self.t, worker, pid_, tid_, kind, item, data)
        )
        return self

    def start(self) -> Story:
        self("main", 1, 1, "run_start", backend="process", params={})
        self("main", MAIN, MAIN, K.PROC, name="MainProcess", ppid=1, main=True, method=None)
        return self("main", MAIN, MAIN, K.THREAD, name="MainThread", daemon=False, main=True)

    def quiet(self) -> Story:
        return self("main", 1, 0, QUIET, s=0.5)

    def pool(self, workers: int = 1) -> Story:
        """main makes `pool`, a multiprocessing.Pool (key 100.1)."""
        kind = {"type": "Pool", "lib": "multiprocessing", "name": "pool"}
        return self("main", MAIN, MAIN, K.NEW, "100.1", workers=workers, **kind)

    def thread(self, name: str, tid: int) -> Story:
        """main starts the thread `name`, which says so."""
        self("main", MAIN, MAIN, K.START_THREAD, name, tid=tid, daemon=False, line=9)
        return self(name, MAIN, tid, K.THREAD, name=name, daemon=False, main=False)

    def child(self, name: str, pid: int, **data: Any) -> Story:
        """A child process of main, and its main thread."""
        self(name, pid, pid, K.PROC, name=name, ppid=MAIN, main=False, **data)
        return self(name, pid, pid, K.THREAD, name="MainThread", daemon=False, main=True)

    def state(self) -> ProgramState:
        return fold_all(self.events)


def lock_cycle() -> Story:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Lock", lib="threading", name="a", line=3)
    s("main", MAIN, MAIN, K.NEW, "100.2", type="Lock", lib="threading", name="b", line=4)
    s("main", MAIN, MAIN, K.START_THREAD, "T1", tid=201, daemon=False, line=20)
    s("main", MAIN, MAIN, K.START_THREAD, "T2", tid=202, daemon=False, line=21)
    s("T1", MAIN, 201, K.THREAD, name="T1", daemon=False, main=False)
    s("T2", MAIN, 202, K.THREAD, name="T2", daemon=False, main=False)
    s("T1", MAIN, 201, K.ACQUIRED, "100.1", line=8)
    s("T2", MAIN, 202, K.ACQUIRED, "100.2", line=14)
    s("T1", MAIN, 201, K.ACQUIRE_WAIT, "100.2", timeout=None, line=10)
    s("T2", MAIN, 202, K.ACQUIRE_WAIT, "100.1", timeout=None, line=16)
    s("main", MAIN, MAIN, K.JOIN, "T1", what="thread", tid=201, timeout=None, line=22)
    return s


def test_a_lock_cycle_is_named_once_the_program_is_quiet() -> None:
    story = lock_cycle()
    assert diagnosis.diagnose(story.state()) == []  # not yet quiet: batches may be on the way
    state = story.quiet().state()
    words = [s.message % s.parts for s in diagnosis.diagnose(state)]
    assert words[0] == diagnosis.STUCK
    assert "T1 holds a and waits for b" in words
    assert "T2 holds b and waits for a" in words
    assert "main waits for T1 to end (join)" in words


def cycle_beside_a_busy_main(timeout: float | None = None) -> Story:
    """T1 and T2 deadlocked on a and b, while main loops printing."""
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Lock", lib="threading", name="a", line=3)
    s("main", MAIN, MAIN, K.NEW, "100.2", type="Lock", lib="threading", name="b", line=4)
    for name, tid, held in (("T1", 201, "100.1"), ("T2", 202, "100.2")):
        s("main", MAIN, MAIN, K.START_THREAD, name, tid=tid, daemon=False, line=20)
        s(name, MAIN, tid, K.THREAD, name=name, daemon=False, main=False)
        s(name, MAIN, tid, K.ACQUIRED, held, line=8)
    s("T1", MAIN, 201, K.ACQUIRE_WAIT, "100.2", timeout=timeout, line=10)
    s("T2", MAIN, 202, K.ACQUIRE_WAIT, "100.1", timeout=None, line=16)
    return s


def test_a_lock_cycle_is_named_while_main_goes_on_once_it_has_lasted() -> None:
    s = cycle_beside_a_busy_main()
    s("main", MAIN, MAIN, K.SLEEP, s=1.0, line=30)
    assert diagnosis.diagnose(s.state()) == []  # a cycle seen one batch early is not one yet
    s.t += diagnosis.CYCLE_AFTER_S
    s("main", MAIN, MAIN, K.OUT, text="main: still waiting...\n", stream="stdout", line=31)
    s("main", MAIN, MAIN, K.SLEEP, s=1.0, line=30)
    words = spoken(diagnosis.diagnose(s.state()))
    assert words == [
        diagnosis.DEADLOCKED,
        "T1 holds a and waits for b",
        "T2 holds b and waits for a",
    ]
    # The whole program was not stuck: a Stop keeps no 'stuck when it
    # ended', but which workers were deadlocked (the rest went on).
    s.quiet()
    s("main", MAIN, MAIN, K.OUT, text="main: still waiting...\n", stream="stdout", line=31)
    s("main", 1, 0, "run_end", outcome="stopped", reason="stopped by the teacher")
    words = spoken(diagnosis.said(s.state()))
    assert words == [
        diagnosis.DEADLOCKED_AT_END,
        "T1 holds a and waits for b",
        "T2 holds b and waits for a",
    ]
    # Had one of them moved after all, there would be no such deadlock to tell.
    s = cycle_beside_a_busy_main()
    s.t += diagnosis.CYCLE_AFTER_S
    s("main", MAIN, MAIN, K.SLEEP, s=1.0, line=30)
    s.quiet()
    s("T1", MAIN, 201, K.ACQUIRED, "100.2", line=10)
    s("main", 1, 0, "run_end", outcome="stopped", reason="stopped by the teacher")
    assert diagnosis.said(s.state()) == []


def test_daemon_threads_deadlocked_while_main_finished_its_work_are_named_after_the_end() -> None:
    s = cycle_beside_a_busy_main()
    s.t += diagnosis.CYCLE_AFTER_S
    s("main", MAIN, MAIN, K.SLEEP, s=1.0, line=30)
    s.quiet()
    s("main", MAIN, MAIN, K.OUT, text="done\n", stream="stdout", line=31)
    s("main", MAIN, MAIN, K.EXIT, exitcode=0)
    s("main", 1, 0, "run_end", outcome="finished", reason="the program ended")
    assert spoken(diagnosis.said(s.state())) == [
        diagnosis.DEADLOCKED_AT_END,
        "T1 holds a and waits for b",
        "T2 holds b and waits for a",
    ]


def test_a_hang_on_semaphores_says_who_took_them_and_has_not_released_them() -> None:
    # A bounded buffer with its mutex taken before the wait for space: the
    # producer holds `mutex` and both slots of `empty`; the consumer waits
    # for `mutex`.
    s = Story().start()
    for key, name, value in (("100.1", "mutex", 1), ("100.2", "empty", 2)):
        s("main", MAIN, MAIN, K.NEW, key, type="Semaphore", lib="threading", name=name, value=value)
    s("main", MAIN, MAIN, K.START_THREAD, "producer", tid=201, daemon=False, line=20)
    s("main", MAIN, MAIN, K.START_THREAD, "consumer", tid=202, daemon=False, line=21)
    s("producer", MAIN, 201, K.THREAD, name="producer", daemon=False, main=False)
    s("consumer", MAIN, 202, K.THREAD, name="consumer", daemon=False, main=False)
    s("producer", MAIN, 201, K.ACQUIRED, "100.2", value=1, line=9)
    s("producer", MAIN, 201, K.ACQUIRED, "100.2", value=0, line=9)
    s("producer", MAIN, 201, K.ACQUIRED, "100.1", value=0, line=8)
    s("producer", MAIN, 201, K.ACQUIRE_WAIT, "100.2", timeout=None, line=9)
    s("consumer", MAIN, 202, K.ACQUIRE_WAIT, "100.1", timeout=None, line=16)
    s("main", MAIN, MAIN, K.JOIN, "producer", what="thread", tid=201, timeout=None, line=22)
    state = s.quiet().state()
    words = spoken(diagnosis.diagnose(state))
    assert "producer waits for empty, held by producer" in words
    assert "consumer waits for mutex, held by producer" in words
    page = render.env.get_template("partials/program/_objects.html").render(
        view.view(state, {"source": ""})
    )
    assert "held by producer ×2" in page


def test_a_lock_cycle_with_a_timeout_in_it_will_end_by_itself() -> None:
    s = cycle_beside_a_busy_main(timeout=5.0)
    s.t += 2 * diagnosis.CYCLE_AFTER_S
    s("main", MAIN, MAIN, K.SLEEP, s=1.0, line=30)
    assert diagnosis.diagnose(s.state()) == []


def test_any_event_after_quiet_silences_the_diagnosis() -> None:
    story = lock_cycle().quiet()
    story("T1", MAIN, 201, K.SLEEP, s=0.1, line=9)
    assert diagnosis.diagnose(story.state()) == []


def test_a_timeout_pending_is_no_hang() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="multiprocessing", name="q", maxsize=3)
    s("main", MAIN, MAIN, K.GET_WAIT, "100.1", timeout=2.0, size=0, line=7)
    assert diagnosis.diagnose(s.quiet().state()) == []


def test_a_consumer_on_an_empty_queue_with_nobody_to_put_is_the_termination_problem() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="multiprocessing", name="q", maxsize=0)
    s("main", MAIN, MAIN, K.SPAWN, "eater", pid=300, daemon=False, method="fork", line=30)
    s("eater", 300, 300, K.PROC, name="eater", ppid=MAIN, main=False, method="fork")
    s("eater", 300, 300, K.THREAD, name="MainThread", daemon=False, main=True)
    s("eater", 300, 300, K.GET, "100.1", v="'dish 1'", size=0, line=12)
    s("eater", 300, 300, K.GET_WAIT, "100.1", timeout=None, size=0, line=12)
    s("main", MAIN, MAIN, K.JOIN, "eater", what="process", pid=300, timeout=None, line=31)
    words = spoken(diagnosis.diagnose(s.quiet().state()))
    assert "eater waits in q.get(); q is empty and no live worker can put" in words
    assert "main waits for eater to end (join)" in words


def pool_story() -> Story:
    """main waits for a task's result; the pool's worker that ran another
    task waits for a new one, the one running this one waits on a queue."""
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="queue", name="q")
    s(
        "main",
        MAIN,
        MAIN,
        K.NEW,
        "100.2",
        type="ThreadPoolExecutor",
        lib="concurrent.futures",
        name="ex",
    )
    for task in ("t1", "t2"):
        s("main", MAIN, MAIN, K.SUBMIT, "100.2", task=task, fn="work", line=8)
    s("W1", MAIN, 301, K.TASK_START, "100.2", task="t1", fn="work")
    s("W1", MAIN, 301, K.TASK_END, "100.2", task="t1", error=None)
    s("W2", MAIN, 302, K.TASK_START, "100.2", task="t2", fn="work")
    s("W2", MAIN, 302, K.GET_WAIT, "100.1", timeout=None, size=0, line=4)
    return s("main", MAIN, MAIN, K.RESULT_WAIT, "100.2", task="t2", fn="work", timeout=None, line=9)


def test_a_wait_for_a_pools_result_and_an_idle_worker_are_named_in_a_hang() -> None:
    state = pool_story().quiet().state()
    assert (state.thread("W1").op, state.thread("W1").on) == (K.WORK, "100.2")
    assert view.doing(state, state.main()) == "waiting for a result from ex"
    assert view.doing(state, state.thread("W1")) == "waiting for a task from ex"
    words = spoken(diagnosis.diagnose(state))
    # The cause first, then who waits on it (main's pid comes first).
    assert words[1:] == [
        "W1, a worker of ex, waits for a task; none comes",
        "W2 waits in q.get(); q is empty and no live worker can put",
        "main waits for a result from ex",
    ]


def test_a_result_waited_for_while_a_task_is_not_started_is_no_hang_yet() -> None:
    s = pool_story()
    s("main", MAIN, MAIN, K.SUBMIT, "100.2", task="t3", fn="work", line=8)
    assert diagnosis.diagnose(s.quiet().state()) == []  # a worker may yet start it


def test_a_pool_whose_only_worker_waits_for_a_task_it_submitted_is_named_in_a_hang() -> None:
    # ThreadPoolExecutor(max_workers=1): its task submits another and waits
    # for its result; no worker is left to run it.
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.2", type="ThreadPoolExecutor", name="pool", workers=1)
    s("main", MAIN, MAIN, K.SUBMIT, "100.2", task="t1", fn="outer", line=6)
    s("W1", MAIN, 301, K.TASK_START, "100.2", task="t1", fn="outer")
    s("W1", MAIN, 301, K.SUBMIT, "100.2", task="t2", fn="<lambda>", line=4)
    s("W1", MAIN, 301, K.RESULT_WAIT, "100.2", task="t2", fn="<lambda>", timeout=None, line=5)
    s("main", MAIN, MAIN, K.RESULT_WAIT, "100.2", task="t1", fn="outer", timeout=None, line=7)
    words = spoken(diagnosis.diagnose(s.quiet().state()))
    assert words[0] == diagnosis.STUCK
    assert words[1:] == [
        "main waits for a result from pool",
        "W1, a worker of pool, waits for the result of <lambda> from pool; that task can run only"
        " in a free worker of pool, and its only one is this, busy waiting",
    ]
    # With a second worker allowed, one may yet start it: no hang.
    next(e for e in s.events if e.kind == K.NEW).data["workers"] = 2
    assert diagnosis.diagnose(s.quiet().state()) == []


def test_a_task_whose_workers_process_ended_is_not_left_running() -> None:
    # Pool(2).map over 5 items: ForkPoolWorker-2 does items 1 and 2 and dies
    # in item 3 (os._exit); ForkPoolWorker-1 does 0 and 4. Its tasks show in
    # the order given, the latest first, and item 3 as never finished.
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Pool", lib="multiprocessing", name="pool")
    for n, pid in ((2, 302), (1, 301)):
        name = f"ForkPoolWorker-{n}"
        s(name, pid, pid, K.PROC, name=name, ppid=MAIN, main=False, method="fork", daemon=True)
        s(name, pid, pid, K.THREAD, name="MainThread", daemon=False, main=True)
    for pid, item, ends in ((302, 1, True), (302, 2, True), (302, 3, False)):
        s("ForkPoolWorker-2", pid, pid, K.TASK_START, "100.1", task=f"100.9.{item}", fn="work")
        if ends:
            s("ForkPoolWorker-2", pid, pid, K.TASK_END, "100.1", task=f"100.9.{item}", error=None)
    s("ForkPoolWorker-2", 302, 302, K.EXIT, exitcode=1)
    for item in (0, 4):
        s("ForkPoolWorker-1", 301, 301, K.TASK_START, "100.1", task=f"100.9.{item}", fn="work")
        s("ForkPoolWorker-1", 301, 301, K.TASK_END, "100.1", task=f"100.9.{item}", error=None)
    (pool,) = [b for boxes in view.objects(s.state(), {}).values() for b in boxes if b.tasks]
    assert [(words, where) for _fn, _st, words, where in pool.tasks] == [
        ("done", "ForkPoolWorker-1"),
        ("not finished: its worker's process ended", "ForkPoolWorker-2"),
        ("done", "ForkPoolWorker-2"),
        ("done", "ForkPoolWorker-2"),
        ("done", "ForkPoolWorker-1"),
    ]
    s("main", MAIN, MAIN, K.RESULT_WAIT, "100.1", timeout=None, line=10)
    words = spoken(diagnosis.why_stuck(s.quiet().state()))
    assert (
        "main waits for a result from pool, and one will never come: the process of"
        " ForkPoolWorker-2 ended while it ran that task"
    ) in words


def test_a_pool_says_how_many_tasks_it_was_given_and_how_each_call_ended() -> None:
    s = Story().start().pool(workers=1)
    w = ("ForkPoolWorker-1", 301, 301)
    for n in range(12):
        s("main", MAIN, MAIN, K.SUBMIT, "100.1", task=f"100.9.{n}", fn="safe_div", line=9)
    for n in range(10):
        call = f"safe_div(9, {9 - n})"
        error = "ZeroDivisionError: division by zero" if n == 9 else None
        s(*w, K.TASK_START, "100.1", task=f"100.9.{n}", fn="safe_div", call=call)
        s(*w, K.TASK_END, "100.1", task=f"100.9.{n}", error=error)
    state = s.state()
    pool = state.objs["100.1"]
    assert (pool.tasks_given, pool.tasks_done, pool.tasks_failed) == (12, 9, 1)
    html = render.env.get_template("partials/program/_objects.html").render(
        {**view.view(state, {"source": ""}), "state": state}
    )
    assert "tasks given: 12 · done: 9" in html
    assert "failed: 1" in html
    # The latest first, each with its arguments, a failed one with its exception.
    assert "safe_div(9, 0) · failed: ZeroDivisionError: division by zero" in html
    assert "safe_div(9, 1) · done" in html
    assert "safe_div · queued" in html
    assert "+4 more" in html  # eight of twelve listed


def test_a_result_that_came_lets_its_waiter_go_on() -> None:
    s = pool_story()
    s("main", MAIN, MAIN, K.RESULT_GOT, "100.2", task="t2", fn="work", ready=True, line=9)
    assert s.quiet().state().main().op == ""


def test_a_child_that_cannot_exit_until_its_queue_is_fed_is_named_in_a_hang() -> None:
    # The lecture's warning: join a process that put in a queue before
    # getting what it put.
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="multiprocessing", name="q", maxsize=0)
    s("main", MAIN, MAIN, K.SPAWN, "kid", pid=300, daemon=False, method="fork", line=8)
    s("kid", 300, 300, K.PROC, name="kid", ppid=MAIN, main=False, method="fork")
    s("kid", 300, 300, K.THREAD, name="MainThread", daemon=False, main=True)
    s("kid", 300, 300, K.PUT, "100.1", v="'xxx...'", size=1, line=4)
    s("kid", 300, 300, K.END, daemon_threads=[])
    s("main", MAIN, MAIN, K.JOIN, "kid", what="process", pid=300, timeout=None, line=10)
    words = spoken(diagnosis.diagnose(s.quiet().state()))
    assert (
        "kid has run its code to the end but cannot exit: it put more in q than its pipe"
        " holds, and nobody takes it"
    ) in words
    assert "main waits for kid to end (join)" in words


def test_a_wait_while_a_spawned_child_is_still_starting_is_no_hang_yet() -> None:
    # A spawned child imports the program before it runs a line of its own:
    # for a while it is a live process with no thread on the stage, and what
    # main waits for may come from it.
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="multiprocessing", name="q", maxsize=0)
    s("main", MAIN, MAIN, K.SPAWN, "helper", pid=300, daemon=False, method="spawn", line=8)
    s("helper", 300, 300, K.PROC, name="helper", ppid=MAIN, main=False, method="spawn")
    s("main", MAIN, MAIN, K.GET_WAIT, "100.1", timeout=None, line=9)
    assert diagnosis.diagnose(s.quiet().state()) == []
    s("helper", 300, 300, K.THREAD, name="MainThread", daemon=False, main=True)
    s("helper", 300, 300, K.GET_WAIT, "100.1", timeout=None, line=4)
    words = spoken(diagnosis.diagnose(s.quiet().state()))
    assert words[0] == diagnosis.STUCK  # once it shows itself waiting too, it is a hang


def test_a_wait_for_a_command_that_is_not_python_is_no_hang_and_its_box_says_why() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.SPAWN, "sleep", pid=300, method="exec", command="sleep 5", line=3)
    s("main", MAIN, MAIN, K.JOIN, "sleep", what="process", pid=300, timeout=None, line=4)
    state = s.quiet().state()
    assert diagnosis.diagnose(state) == []  # nothing inside it is traced: it may end
    assert (state.procs[300].name, state.procs[300].command) == ("sleep", "sleep 5")
    # Once it ended, main goes on; had main waited for a Python child that
    # waits for nothing traced, that would be a hang.
    s("main", MAIN, MAIN, K.REAPED, "sleep", pid=300, exitcode=0, signal=None, cut_off=False)
    assert s.state().procs[300].exitcode == 0


def waiting_for_an_event(signal: str) -> Story:
    s = Story().start()
    s("main", MAIN, MAIN, K.SIGNAL, signal=signal, handled=True, line=3)
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Event", lib="threading", name="done", line=2)
    return s("main", MAIN, MAIN, K.WAIT, "100.1", timeout=None, line=5)


def test_a_wait_a_timers_signal_may_end_is_no_hang() -> None:
    # signal.alarm(2) and a SIGALRM handler that sets the event.
    assert diagnosis.diagnose(waiting_for_an_event("SIGALRM").quiet().state()) == []


def test_a_hang_in_a_program_that_handles_a_signal_says_a_signal_may_end_it() -> None:
    words = [
        x.message % x.parts
        for x in diagnosis.diagnose(waiting_for_an_event("SIGINT").quiet().state())
    ]
    assert words[:2] == [
        diagnosis.STUCK,
        "Only a signal can still wake it: the program handles SIGINT.",
    ]
    s = waiting_for_an_event("SIGINT")
    s("main", MAIN, MAIN, K.SIGNAL, signal="SIGINT", handled=False, line=6)
    assert diagnosis.SIGNALS not in [x.message for x in diagnosis.diagnose(s.quiet().state())]


def test_a_processs_threads_keep_their_places_on_the_stage_as_they_change() -> None:
    s = Story().start()
    for n, tid in (("T1", 201), ("T2", 202), ("T3", 203)):
        s("main", MAIN, MAIN, K.START_THREAD, n, tid=tid, daemon=False, line=9)
        s(n, MAIN, tid, K.THREAD, name=n, daemon=False, main=False)
    s("T1", MAIN, 201, K.SLEEP, s=1.0, line=4)  # the first to change, then the last
    s("T3", MAIN, 203, K.SLEEP, s=1.0, line=4)
    s("T1", MAIN, 201, K.OUT, text="hi\n", stream="stdout", line=5)
    [box] = view.boxes(s.state())
    assert [w.name for w in box.threads] == ["main", "T1", "T2", "T3"]


def test_unfinished_tasks_are_counted_in_the_join_diagnosis() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="JoinableQueue", lib="multiprocessing", name="q")
    s("main", MAIN, MAIN, K.QJOIN, "100.1", unfinished=3, line=9)
    words = spoken(diagnosis.diagnose(s.quiet().state()))
    assert "main waits in q.join(); 3 tasks were never marked done" in words


def test_a_put_into_a_joinable_queue_is_a_task_until_it_is_marked_done() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="JoinableQueue", lib="multiprocessing", name="q")
    s("main", MAIN, MAIN, K.NEW, "100.2", type="Queue", lib="multiprocessing", name="plain")
    for _ in range(2):
        s("main", MAIN, MAIN, K.PUT, "100.1", v="1", size=1, line=4)
        s("main", MAIN, MAIN, K.PUT, "100.2", v="1", size=1, line=5)
    assert s.state().objs["100.1"].unfinished == 2
    assert s.state().objs["100.2"].unfinished == 0  # a plain Queue has no tasks
    s("C", 300, 300, K.TASK_DONE, "100.1", unfinished=1, line=9)
    assert s.state().objs["100.1"].unfinished == 1


def test_a_join_that_returned_leaves_no_task_unfinished() -> None:
    # Two threads' task_done read the count together (a queue.Queue's own
    # lock cannot be held across the call): each says 1 is left.
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="queue", name="q")
    s("main", MAIN, MAIN, K.QJOIN, "100.1", unfinished=2, line=9)
    s("C1", MAIN, 301, K.TASK_DONE, "100.1", unfinished=1, line=5)
    s("C2", MAIN, 302, K.TASK_DONE, "100.1", unfinished=1, line=5)
    assert s.state().objs["100.1"].unfinished == 1
    s("main", MAIN, MAIN, K.QJOINED, "100.1", line=9)
    assert s.state().objs["100.1"].unfinished == 0


def test_a_thread_born_in_a_child_process_is_named_once_with_its_process() -> None:
    s = Story().start()
    s("kid", 300, 300, K.PROC, name="kid", ppid=MAIN, main=False, method="fork")
    s("kid", 300, 300, K.THREAD, name="MainThread", daemon=False, main=True)
    s("kid", 300, 300, K.START_THREAD, "kid/helper", tid=301, daemon=False, line=9)
    s("kid/helper", 300, 301, K.THREAD, name="helper", daemon=False, main=False)
    state = s.state()
    assert sorted(state.workers) == ["kid", "kid/helper", "main"]
    assert state.workers["kid/helper"].thread_name == "helper"  # type: ignore[attr-defined]


def test_items_follow_puts_and_gets_even_when_a_get_arrives_first() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="multiprocessing", name="q", maxsize=3)
    s("C", 300, 300, K.GET, "100.1", v="'a'", size=1, line=5)  # its batch came first
    s("main", MAIN, MAIN, K.PUT, "100.1", v="'a'", size=1, line=4)
    s("main", MAIN, MAIN, K.PUT, "100.1", v="'b'", size=1, line=4)
    q = s.state().objs["100.1"]
    assert list(q.items) == ["'b'"]
    assert q.size == 1
    assert q.puts == 2
    assert q.gets == 1


def test_threads_with_the_same_label_in_two_processes_stay_apart() -> None:
    s = Story().start()
    s("worker", 301, 301, K.THREAD, name="MainThread", daemon=False, main=True)
    s("worker", 302, 302, K.THREAD, name="MainThread", daemon=False, main=True)
    names = sorted(s.state().workers)
    assert names == ["main", "worker", "worker (302)"]


def test_a_killed_process_takes_its_threads_and_a_daemon_thread_is_cut_off_at_exit() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.START_THREAD, "keeper", tid=201, daemon=True, line=5)
    s("keeper", MAIN, 201, K.THREAD, name="keeper", daemon=True, main=False)
    s("keeper", MAIN, 201, K.SLEEP, s=3.0, line=9)
    s("main", MAIN, MAIN, K.END, daemon_threads=["keeper"])
    s("main", MAIN, MAIN, K.EXIT, exitcode=0)
    state = s.state()
    assert state.workers["keeper"].state == "cut_off"
    assert state.workers["main"].state == "finished"
    s2 = Story().start()
    s2("main", MAIN, MAIN, K.SPAWN, "child", pid=300, daemon=False, method="spawn", line=3)
    s2("child", 300, 300, K.THREAD, name="MainThread", daemon=False, main=True)
    s2("main", MAIN, MAIN, K.REAPED, "child", pid=300, exitcode=-9, signal="SIGKILL")
    st = s2.state()
    assert st.workers["child"].state == "killed"
    assert st.procs[300].signal == "SIGKILL"
    assert st.procs[300].exitcode == -9


def test_printed_text_becomes_console_lines_in_the_writers_name() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.OUT, text="hello", stream="stdout", line=2)
    s("main", MAIN, MAIN, K.OUT, text=" world\nsecond", stream="stdout", line=2)
    s("main", 1, 0, "run_end", outcome="finished", reason="the program ended")
    state = s.state()
    assert [(c.worker, c.text) for c in state.console] == [
        ("main", "hello world"),
        ("main", "second"),
    ]


def test_a_line_begun_shows_meanwhile_as_a_terminal_shows_it() -> None:
    # A prompt, and a progress bar that rewrites its line, show before
    # their line ends (the page shows the text after the last carriage
    # return, render.terminal_text).
    s = Story().start()
    s("main", MAIN, MAIN, K.OUT, text="done before\nName: ", stream="stdout", line=2)
    s("T1", MAIN, 11, K.OUT, text="\r10%", stream="stderr", line=5)
    s("T1", MAIN, 11, K.OUT, text="\r20%", stream="stderr", line=5)
    shown = view.view(s.state(), {"source": "", "filename": "x.py"})["console"]
    assert [(c.worker, c.stream, c.text) for c in shown] == [
        ("main", "stdout", "done before"),
        ("main", "stdout", "Name: "),
        ("T1", "stderr", "\r10%\r20%"),
    ]
    assert render.env.filters["terminal_text"](shown[-1].text) == "20%"
    s("T1", MAIN, 11, K.OUT, text="\r100%\n", stream="stderr", line=5)
    state = s.state()
    assert [c.text for c in state.console] == ["done before", "\r10%\r20%\r100%"]
    assert [c.text for c in view.view(state, {"source": ""})["console"]][-1] == "Name: "


def test_threads_writing_on_one_line_of_the_screen_make_one_line_as_in_a_terminal() -> None:
    # Two threads print a letter each, in turns, with end=""; main ends the
    # line: the terminal shows "ABBA", then main's next line.
    s = Story().start()
    for who, tid, letter in (("T1", 11, "A"), ("T2", 12, "B"), ("T2", 12, "B"), ("T1", 11, "A")):
        s(who, MAIN, tid, K.OUT, text=letter, stream="stdout", line=3)
    s("main", MAIN, MAIN, K.OUT, text="\n", stream="stdout", line=9)
    s("main", MAIN, MAIN, K.OUT, text="finished\n", stream="stdout", line=10)
    assert [(c.worker, c.text) for c in s.state().console] == [
        ("T1, T2", "ABBA"),
        ("main", "finished"),
    ]


def test_a_console_that_shows_the_latest_lines_says_how_many_came_before() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.OUT, text="".join(f"line {n}\n" for n in range(1000)), line=2)
    s("main", 1, 0, "run_end", outcome="finished", reason="the program ended")
    shown = view.view(s.state(), {"source": "", "filename": "x.py"})
    assert [c.text for c in shown["console"]][-1] == "line 999"
    assert shown["console_earlier"] == 1000 - len(shown["console"])
    html = render.env.get_template("partials/program/_console.html").render(
        {**shown, "state": s.state(), "run": {"id": "r1"}}
    )
    assert f"Earlier lines not shown here: {shown['console_earlier']}." in html
    # A line far longer than a screen holds, up to 600 characters.
    s("main", MAIN, MAIN, K.OUT, text="x" * 5000 + "\n", line=3)
    long = render.env.get_template("partials/program/_console.html").render(
        {**view.view(s.state(), {"source": ""}), "state": s.state(), "run": {"id": "r1"}}
    )
    assert "x" * 600 + "</span>" in long
    assert "x" * 601 not in long
    assert "… and 4400 more characters" in long
    assert '<a href="/api/recordings/r1/export" download>' in html  # where every line is
    s = Story().start()
    s("main", MAIN, MAIN, K.OUT, text="one line\n", line=2)
    assert view.view(s.state(), {"source": ""})["console_earlier"] == 0


def test_the_view_marks_each_live_thread_on_its_line() -> None:
    state = lock_cycle().state()
    source = "\n".join(f"line {n}" for n in range(1, 30))
    lines = view.code(source, state)
    assert lines[9].workers == ["T1"]
    assert lines[15].workers == ["T2"]
    assert lines[21].workers == ["main"]


def test_the_fold_keeps_one_state_per_run() -> None:
    state = ProgramState()
    for e in lock_cycle().events:
        assert fold(state, e) is state


def wants(s: Story, worker: str, tid: int, item: str | None, action: str, line: int) -> None:
    """A thread's `wants` (its data has a `kind`, as Story's own argument is named)."""
    s(worker, MAIN, tid, K.WANTS, item, line=line)
    s.events[-1].data["kind"] = action


def stepped() -> Story:
    """T1 and T2 wait for their permits in step mode; main waits in a join."""
    s = Story().start()
    s("main", 1, 0, "step_on")
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Lock", lib="threading", name="fork", line=3)
    s("main", MAIN, MAIN, K.START_THREAD, "T1", tid=201, daemon=False, line=20)
    s("main", MAIN, MAIN, K.START_THREAD, "T2", tid=202, daemon=False, line=21)
    s("T1", MAIN, 201, K.THREAD, name="T1", daemon=False, main=False)
    s("T2", MAIN, 202, K.THREAD, name="T2", daemon=False, main=False)
    wants(s, "T1", 201, "100.1", "acquire", 8)
    wants(s, "T2", 202, None, "sleep", 14)
    return s


def test_a_thread_that_wants_a_permit_says_what_and_where_and_is_permitted_by_tid() -> None:
    state = stepped().state()
    t1, t2 = state.workers["T1"], state.workers["T2"]
    assert state.stepping
    assert t1.wants == ("acquire", "100.1")
    assert t2.wants == ("sleep", None)
    assert (t1.slot, t2.slot) == (201, 202)
    assert (t1.line, t2.line) == (8, 14)  # its line mark is where it waits


def test_a_wants_is_cleared_by_its_permit_and_by_the_thread_doing_it() -> None:
    story = stepped()
    story("main", 1, 0, "permit")
    story.events[-1].data["worker"] = "T1"
    state = story.state()
    assert state.workers["T1"].wants is None  # no second permit for one click
    assert state.workers["T2"].wants == ("sleep", None)
    story("T2", MAIN, 202, K.SLEEP, s=0.1, line=14)
    assert story.state().workers["T2"].wants is None


def test_a_thread_that_slept_and_wants_its_next_permit_is_no_longer_sleeping() -> None:
    story = stepped()
    story("T2", MAIN, 202, K.SLEEP, s=0.1, line=14)
    wants(story, "T2", 202, "100.1", "acquire", 15)
    state = story.state()
    assert state.workers["T2"].state == "running"  # as its card says
    # Its timeline and its card say it is held for the class's go-ahead.
    assert state.lanes["T2"][-1][1:] == ("held", "fork.acquire()")
    assert view.doing(state, state.workers["T2"]) == "held: waits for the class's go-ahead"
    story("main", 1, 0, "permit")
    story.events[-1].data["worker"] = "T2"
    story("T2", MAIN, 202, K.ACQUIRED, "100.1", line=15)
    assert story.state().lanes["T2"][-1][1] != "held"


def test_a_step_button_says_a_threads_start_by_the_name_on_its_line() -> None:
    story = stepped()
    wants(story, "main", MAIN, "Thread-3 (work)", "start", 3)
    source = "import threading\nt = threading.Thread(target=work)\nt.start()\n"
    said = view.view(story.state(), {"source": source})["wanted"]
    assert said == {"main": "t.start()", "T1": "fork.acquire()", "T2": "time.sleep()"}


def test_a_step_button_says_the_call_as_its_line_writes_it_arguments_and_all() -> None:
    """A poll (`get` with a timeout) reads as one: a permit lets it by at once."""
    story = stepped()
    story("main", MAIN, MAIN, K.NEW, "100.2", type="Queue", lib="queue", name="tallies")
    wants(story, "main", MAIN, "100.2", "get", 5)
    lines = [""] * 22
    lines[4] = "        name, made = tallies.get(timeout=0.2)  # a tally, if one came"
    lines[7] = "    with fork:"  # no call on the line: as `written` says it
    lines[13] = "    time.sleep(max(0.5, 1 / (2 + speed)))"
    said = view.view(story.state(), {"source": "\n".join(lines)})["wanted"]
    assert said == {
        "main": "tallies.get(timeout=0.2)",
        "T1": "fork.acquire()",
        "T2": "time.sleep(max(0.5, 1 / (2 + speed)))",
    }
    lines[13] = "    time.sleep(" + "a_very_long_expression + " * 3 + "0)"
    said = view.view(story.state(), {"source": "\n".join(lines)})["wanted"]
    assert said["T2"] == "time.sleep(…)"  # too long to be a button's words, and not empty


def test_threads_waiting_for_permits_are_no_hang() -> None:
    story = stepped()
    story("main", MAIN, MAIN, K.JOIN, "T1", what="thread", tid=201, timeout=None, line=22)
    story("T1", MAIN, 201, K.ACQUIRE_WAIT, "100.1", timeout=None, line=8)
    story("T2", MAIN, 202, K.ACQUIRE_WAIT, "100.1", timeout=None, line=15)
    state = story.quiet().state()
    assert diagnosis.diagnose(state) == []  # stepping: the class holds them
    story("main", 1, 0, "step_off")
    state = story.quiet().state()
    assert diagnosis.diagnose(state)[0].message == diagnosis.STUCK
    assert all(w.wants is None for w in state.threads())


def test_events_the_tracer_lost_are_said_on_the_stage() -> None:
    from app.web.render import env

    story = Story().start()
    story("main", MAIN, MAIN, K.LOST, events=7)
    state = story.state()
    assert state.lost == 7
    html = env.get_template("partials/program/_lost.html").render(state=state)
    assert "7 traced calls were lost on the way" in html


def test_an_item_tells_its_journey_in_any_program() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="queue", name="jobs", line=3)
    s("T1", MAIN, 201, K.THREAD, name="T1", daemon=False, main=False)
    s("T2", MAIN, 202, K.THREAD, name="T2", daemon=False, main=False)
    s("T2", MAIN, 202, K.GET, "100.1", v="'job 1'", line=9)  # before its put: another batch
    s("T1", MAIN, 201, K.PUT, "100.1", v="'job 1'", line=5)
    s("T1", MAIN, 201, K.PUT, "100.1", v="'job 2'", line=5)
    s("T1", MAIN, 201, K.PUT, "100.1", v="None", line=6)
    first = s.state().journeys["job 1"]
    assert (first.queue, first.producer, first.consumer, first.done) == ("jobs", "T1", "T2", None)
    assert first.waited is not None
    s("T2", MAIN, 202, K.GET, "100.1", v="'job 2'", line=9)  # its next call: done with job 1
    s("T1", MAIN, 201, K.PUT, "100.1", v="'job 1'", line=5)  # the same value again
    state = s.state()
    assert state.journeys["job 2"].consumer == "T2"
    assert state.journeys["job 2"].done is None  # T2 still holds it
    again = state.journeys["job 1"]
    assert (again.producer, again.put is not None, again.got) == ("T1", True, None)
    assert "None" not in state.journeys  # a sentinel has no journey


def test_a_producer_far_ahead_leaves_no_item_taken_for_an_early_one() -> None:
    """At full speed a producer puts hundreds of items before its consumer
    takes the first: the queue shows the latest ITEMS_SHOWN, and each item
    taken that is no longer shown is one of the older ones, not a get that
    came before its put."""
    n = 3 * ITEMS_SHOWN
    story = Story().start()
    story("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="multiprocessing", name="q")
    for k in range(n):
        story("P", 101, 101, K.PUT, "100.1", v=repr(k), size=None)
    for k in range(n):
        story("C", 102, 102, K.GET, "100.1", v=repr(k), size=None)
    q = story.state().objs["100.1"]
    assert (q.puts, q.gets, q.size, len(q.items), q.early) == (n, n, 0, 0, {})


def test_from_a_lifo_queue_far_ahead_the_item_taken_leaves_the_picture() -> None:
    """A LIFO queue holding more than it shows gives its newest item: that
    one is shown, and goes from the picture (a FIFO queue's would be one of
    the older ones, not shown)."""
    n = ITEMS_SHOWN + 5
    story = Story().start()
    story("main", MAIN, MAIN, K.NEW, "100.1", type="LifoQueue", lib="queue", name="q")
    for k in range(n):
        story("P", 101, 101, K.PUT, "100.1", v=repr(k), size=k + 1)
    story("C", 102, 102, K.GET, "100.1", v=repr(n - 1), size=n - 1)
    q = story.state().objs["100.1"]
    assert repr(n - 1) not in q.items
    assert (len(q.items), q.size, q.early) == (ITEMS_SHOWN - 1, n - 1, {})


def test_a_get_that_comes_before_its_put_waits_for_it() -> None:
    """Batches of different processes arrive out of step: a get whose put
    has not come yet is remembered, and that put then shows no item."""
    story = Story().start()
    story("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="multiprocessing", name="q")
    story("P", 101, 101, K.PUT, "100.1", v="'a'", size=None)
    story("C", 102, 102, K.GET, "100.1", v="'b'", size=None)
    q = story.state().objs["100.1"]
    assert (list(q.items), q.early) == (["'a'"], {"'b'": 1})
    story("P", 101, 101, K.PUT, "100.1", v="'b'", size=None)
    q = story.state().objs["100.1"]
    assert (list(q.items), q.early, q.size) == (["'a'"], {}, 1)


def test_a_process_running_an_asyncio_loop_says_so_from_its_line_in_both_languages() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.EVENT_LOOP, line=21)
    state = s.state()
    assert state.procs[MAIN].event_loop == 21
    assert state.extras()["processes"][0]["event_loop"] == 21
    loop = s.events[-1:]
    assert said(state, loop) == [
        "main (pid 100) runs an asyncio event loop: its coroutines take turns in this thread"
    ]
    assert said(state, loop, "zh") == [
        "main (pid 100) 运行一个 asyncio 事件循环：它的协程在这个线程里轮流执行"
    ]


def test_a_child_still_going_when_the_program_ended_was_ended_not_finished() -> None:
    # main forked a child and exited at once: the run ends with main, and
    # the child, still asleep, is ended with it (plain Python would let it
    # finish its sleep).
    s = Story().start()
    s("main", MAIN, MAIN, K.SPAWN, "child", pid=300, daemon=False, method="fork", line=2)
    s("child", 300, 300, K.THREAD, name="MainThread", daemon=False, main=True)
    s("child", 300, 300, K.SLEEP, s=2.0, line=4)
    s("main", MAIN, MAIN, K.END, daemon_threads=[])
    s("main", MAIN, MAIN, K.EXIT, exitcode=0)
    s("main", 1, 0, "run_end", outcome="finished", reason="the program ended")
    state = s.state()
    assert state.status == "finished"
    assert state.workers["main"].state == "finished"
    assert state.workers["child"].state == "killed"
    assert state.procs[300].with_run


def test_sys_exit_with_a_code_is_no_crash_and_an_uncaught_exception_is() -> None:
    quits = Story().start()
    quits("main", MAIN, MAIN, K.END, daemon_threads=[])  # SystemExit ends its code too
    quits("main", MAIN, MAIN, K.EXIT, exitcode=2)
    main = quits.state().workers["main"]
    assert main.state == "finished"
    assert quits.state().procs[MAIN].exitcode == 2
    broke = Story().start()
    broke("main", MAIN, MAIN, K.EXC, error="ValueError: broke", line=3)
    broke("main", MAIN, MAIN, K.EXIT, exitcode=1)
    assert broke.state().workers["main"].state == "crashed"


def test_a_child_that_ran_no_code_of_the_users_is_named_by_the_parent_that_reaped_it() -> None:
    s = Story().start()  # a pool's idle worker: its parent's `reaped` is all there is of it
    s("main", MAIN, MAIN, K.REAPED, "ForkPoolWorker-3", pid=303, exitcode=0, signal=None)
    p = s.state().procs[303]
    assert (p.name, p.ppid, p.exitcode, p.alive) == ("ForkPoolWorker-3", MAIN, 0, False)


def test_a_broken_barrier_lets_its_waiters_go_and_says_it_is_broken() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Barrier", lib="threading", name="b", parties=3)
    s.thread("T1", 201).thread("T2", 202)
    s("T1", MAIN, 201, K.BWAIT, "100.1", waiting=0, parties=3, timeout=None, line=5)
    s("T2", MAIN, 202, K.BWAIT, "100.1", waiting=1, parties=3, timeout=None, line=5)

    def box(state: ProgramState) -> str:
        page = render.env.get_template("partials/program/_objects.html").render(
            view.view(state, {"source": ""})
        )
        return " ".join(page.split())

    assert "2 of 3 arrived" in box(s.state())
    s("main", MAIN, MAIN, K.BROKEN, "100.1", line=10)  # main aborts it
    s("T1", MAIN, 201, K.BROKEN, "100.1", line=5)
    state = s.state()

    def states(state: ProgramState) -> dict[str, str]:
        return {w.name: w.state for w in state.threads()}

    # T2's BrokenBarrierError is on its way
    assert states(state) == {"main": "running", "T1": "running", "T2": "blocked"}
    s("T2", MAIN, 202, K.BROKEN, "100.1", line=5)
    state = s.state()
    assert set(states(state).values()) == {"running"}
    assert "broken" in box(state)
    assert "arrived" not in box(state)
    # A barrier reset and passed is whole again.
    s("T1", MAIN, 201, K.BWAIT, "100.1", waiting=0, parties=1, timeout=None, line=12)
    s("T1", MAIN, 201, K.BPASSED, "100.1", index=0, line=12)
    assert "0 of 1 arrived" in box(s.state())


def test_a_cancelled_future_is_shown_cancelled_and_is_no_task_a_worker_may_start() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="ThreadPoolExecutor", lib="concurrent.futures")
    for task in ("100.2", "100.3"):
        s("main", MAIN, MAIN, K.SUBMIT, "100.1", task=task, fn="work", line=6)
    s("main", MAIN, MAIN, K.CANCELLED, "100.1", task="100.3", fn="work")
    state = s.state()
    assert state.main() is not None
    assert state.main().state == "running"  # cancelling is no wait
    (pool,) = [b for boxes in view.objects(state, {}).values() for b in boxes if b.tasks]
    assert [words for _fn, _st, words, _where in pool.tasks] == ["cancelled", "queued"]


def test_a_queue_shows_its_items_in_the_order_they_will_leave() -> None:
    s = Story().start()
    for key, kind in (("100.1", "Queue"), ("100.2", "LifoQueue"), ("100.3", "PriorityQueue")):
        s("main", MAIN, MAIN, K.NEW, key, type=kind, lib="queue", name=kind.lower(), maxsize=0)
        for v in ("(3, 'low')", "(10, 'lowest')", "(1, 'high')", "(2, 'mid')"):
            s("main", MAIN, MAIN, K.PUT, key, v=v, line=9)
    s("main", MAIN, MAIN, K.NEW, "100.4", type="PriorityQueue", lib="queue", name="odd")
    for v in ("<Job a>", "<Job b>"):  # reprs that do not read back: as they came
        s("main", MAIN, MAIN, K.PUT, "100.4", v=v, line=12)
    boxes = {b.obj.name: b.items for b in view.objects(s.state(), {})["queue"]}
    assert boxes == {
        "queue": ["(3, 'low')", "(10, 'lowest')", "(1, 'high')", "(2, 'mid')"],
        "lifoqueue": ["(2, 'mid')", "(1, 'high')", "(10, 'lowest')", "(3, 'low')"],
        "priorityqueue": ["(1, 'high')", "(2, 'mid')", "(3, 'low')", "(10, 'lowest')"],
        "odd": ["<Job a>", "<Job b>"],
    }
    # a get takes the one drawn first
    s("main", MAIN, MAIN, K.GET, "100.3", v="(1, 'high')", line=14)
    boxes = {b.obj.name: b.items for b in view.objects(s.state(), {})["queue"]}
    assert boxes["priorityqueue"] == ["(2, 'mid')", "(3, 'low')", "(10, 'lowest')"]
    page = render.env.get_template("partials/program/_objects.html").render(
        view.view(s.state(), {"source": ""}), run={"id": "r1"}
    )
    assert page.count('class="pg-item next" title="the next out"') == 4


def test_a_pool_whose_workers_die_as_they_start_is_named_while_it_makes_new_ones() -> None:
    s = Story().start().pool(workers=2)
    s("main", MAIN, MAIN, K.SUBMIT, "100.1", task="100.2.0", fn="square", line=9)
    s("main", MAIN, MAIN, K.RESULT_WAIT, "100.1", task="100.2", fn="square", timeout=None, line=10)
    error = (
        "RuntimeError: \n  An attempt has been made to start a new process before the\n"
        "  current process has finished its bootstrapping phase.\n\n  This probably means"
    )
    for n in (1, 2, 3):
        name, pid = f"SpawnPoolWorker-{n}", 300 + n
        s.child(name, pid, method="spawn", daemon=True)
        if n == 1:
            assert diagnosis.diagnose(s.state()) == []  # one death is no pattern yet
        s(name, pid, pid, K.EXC, error=error, traceback="", line=8)
        s(name, pid, pid, K.EXIT, exitcode=1)
    words = spoken(diagnosis.diagnose(s.state()))
    assert words == [
        "The program cannot go on: main waits for pool, and its worker processes die as they"
        " start, so none of its tasks runs.",
        "3 of its workers have died so far: RuntimeError: An attempt has been made to start a new"
        " process before the current process has finished its bootstrapping phase.",
        poolhangs.MAIN_GUARD,
    ]
    # Stopped so (it is never quiet: the pool makes new ones for ever), it
    # says what it was.
    stopped = Story()
    stopped.events, stopped.t = list(s.events), s.t
    stopped("main", MAIN, MAIN, K.EXIT, exitcode=-15)
    stopped("main", 1, 0, "run_end", outcome="stopped", reason="stopped by the teacher")
    assert spoken(diagnosis.said(stopped.state()))[0] == (
        "When the run ended, main waited for pool, whose worker processes died as they"
        " started, so none of its tasks ran."
    )
    assert spoken(diagnosis.said(stopped.state()))[1:] == words[1:]
    # A pool that runs tasks is not one whose workers die as they start.
    s("SpawnPoolWorker-3", 303, 303, K.TASK_START, "100.1", task="100.2.0", fn="square")
    assert diagnosis.diagnose(s.state()) == []


def test_only_the_latest_processes_that_ended_are_drawn_and_the_rest_counted() -> None:
    """A pool that replaces dying workers for ever makes hundreds of boxes."""
    s = Story().start().pool(workers=2)
    for n in range(1, 21):
        name, pid = f"SpawnPoolWorker-{n}", 300 + n
        s.child(name, pid, method="spawn", daemon=True)
        if n < 20:
            s(name, pid, pid, K.EXC, error="RuntimeError: " + "bootstrapping " * 40, line=8)
            s(name, pid, pid, K.EXIT, exitcode=1)
    seen = view.view(s.state(), {"source": ""})
    names = [b.name for b in seen["boxes"]]
    kept = [f"SpawnPoolWorker-{n}" for n in range(8, 20)]
    assert names == ["main", *kept, "SpawnPoolWorker-20"]  # the live one, whenever it started
    assert seen["boxes_ended_more"] == 7
    page = render.env.get_template("partials/program/_procs.html").render(seen, run={"id": "r1"})
    assert "and 7 more processes that ended earlier" in page
    # Python's message is cut on the card, whole in its tooltip.
    assert page.count('<div class="err" title="RuntimeError: bootstrapping') == 12


def test_a_result_from_a_pool_terminated_before_its_task_ran_will_never_come() -> None:
    # with Pool(1): two tasks; the block ends while the first runs; main
    # then waits for the second.
    s = Story().start().pool().child("ForkPoolWorker-1", 301)
    for task in ("100.2", "100.3"):
        s("main", MAIN, MAIN, K.SUBMIT, "100.1", task=task, fn="slow", line=11)
    s("ForkPoolWorker-1", 301, 301, K.TASK_START, "100.1", task="100.2", fn="slow")
    s("main", MAIN, MAIN, K.TERMINATE, "100.1", line=13)
    s("main", 1, 0, K.REAPED, pid=301, exitcode=-15, signal="SIGTERM")
    s("main", MAIN, MAIN, K.RESULT_WAIT, "100.1", task="100.3", fn="slow", timeout=None, line=14)
    state = s.quiet().state()
    (pool,) = [b for boxes in view.objects(state, {}).values() for b in boxes if b.tasks]
    assert [words for _fn, _st, words, _where in pool.tasks] == [
        "never ran: its pool was terminated",
        "not finished: its worker's process ended",
    ]
    assert said(state, [e for e in s.events if e.kind == K.TERMINATE]) == [
        "main (pid 100) terminated pool: its workers end now, and tasks it had not started will"
        " never run: 1"
    ]
    words = spoken(diagnosis.diagnose(state))
    assert words == [
        diagnosis.STUCK,
        "main waits for a result from pool, and one will never come: pool was terminated before"
        " that task ran",
    ]


def test_an_asyncio_loop_with_nothing_to_run_hangs_unless_it_watches_input_or_output() -> None:
    for io, stuck in ((0, True), (1, False)):
        s = Story().start()
        s("main", MAIN, MAIN, K.EVENT_LOOP, line=15)
        s("main", MAIN, MAIN, K.LOOP_WAIT, io=io, line=15)
        state = s.quiet().state()
        assert bool(diagnosis.diagnose(state)) is stuck
        (main,) = state.threads()
        assert view.doing(state, main) == (
            "in its asyncio event loop, which has nothing to run"
            if stuck
            else "in its asyncio event loop, waiting for input or output"
        )
        s("main", MAIN, MAIN, K.LOOP_WOKE)
        assert s.state().threads()[0].state == "running"


def test_a_pool_whose_workers_all_wait_for_tasks_queued_behind_them_names_each() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.2", type="ThreadPoolExecutor", name="pool", workers=2)
    for n, tid in ((1, 301), (2, 302)):
        s("main", MAIN, MAIN, K.SUBMIT, "100.2", task=f"t{n}", fn="outer", line=6)
        s(f"W{n}", MAIN, tid, K.TASK_START, "100.2", task=f"t{n}", fn="outer")
        s(f"W{n}", MAIN, tid, K.SUBMIT, "100.2", task=f"i{n}", fn="inner", line=4)
        s(f"W{n}", MAIN, tid, K.RESULT_WAIT, "100.2", task=f"i{n}", fn="inner", timeout=None)
    s("main", MAIN, MAIN, K.RESULT_WAIT, "100.2", task="t1", fn="outer", timeout=None, line=7)
    words = spoken(diagnosis.diagnose(s.quiet().state()))
    assert words[2:] == [
        f"W{n}, a worker of pool, waits for the result of inner from pool; that task can run only"
        " in a free worker of pool, and all 2 of them are busy waiting, this one among them"
        for n in (1, 2)
    ]


def test_a_line_written_past_python_and_read_late_takes_its_place_in_the_console() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.OUT, text="1 print\n", stream="stdout", at=0)
    s("main", MAIN, MAIN, K.OUT, text="3 print\n", stream="stdout", at=11)
    late = s.t - 0.005  # stamped before "3 print", read after it
    s.events.append(Event(len(s.events) + 1, late, "main", 1, 0, RAW_OUT, None, {"text": "2 raw"}))
    assert [c.text for c in s.state().console] == ["1 print", "2 raw", "3 print"]
    # A console that keeps its latest lines drops its oldest to make room.
    state = s.state()
    for _n in range(CONSOLE_LINES - 3):
        state.console.append(state.console[-1])
    fold(state, Event(999, late, "main", 1, 0, RAW_OUT, None, {"text": "2b raw"}))
    assert len(state.console) == CONSOLE_LINES
    assert [c.text for c in state.console][:3] == ["2 raw", "2b raw", "3 print"]


def test_a_pool_worker_that_has_run_no_task_yet_is_shown_waiting_for_one() -> None:
    s = Story().start().pool().child("ForkPoolWorker-1", 301, daemon=True)
    s("ForkPoolWorker-1", 301, 301, K.POOL_WORKER, "100.1")
    state = s.state()
    worker = state.thread("ForkPoolWorker-1")
    assert worker is not None
    assert view.doing(state, worker) == "waiting for a task from pool"


def test_a_semaphore_one_thread_releases_and_another_takes_is_held_by_no_one() -> None:
    # full = Semaphore(0): the producer releases it twice and ends; the
    # consumer takes it twice and waits for a third.
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Semaphore", lib="threading", name="full", value=0)
    s.thread("consumer", 201).thread("producer", 202)
    for value in (1, 2):
        s("producer", MAIN, 202, K.RELEASED, "100.1", value=value, line=4)
    for value in (1, 0):
        s("consumer", MAIN, 201, K.ACQUIRED, "100.1", value=value, line=7)
    s("producer", MAIN, 202, K.END, error=None)
    s("consumer", MAIN, 201, K.ACQUIRE_WAIT, "100.1", timeout=None, line=7)
    s("main", MAIN, MAIN, K.JOIN, "consumer", what="thread", tid=201, timeout=None, line=11)
    state = s.quiet().state()
    words = spoken(diagnosis.diagnose(state))
    assert "consumer waits for full, and no live worker will release it" in words
    page = render.env.get_template("partials/program/_objects.html").render(
        view.view(state, {"source": ""}), run={"id": "r1"}
    )
    assert "held by" not in page


def test_a_wait_for_a_semaphore_its_ended_holders_took_says_they_have_ended() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Semaphore", lib="threading", name="slots", value=2)
    for name, tid, value in (("w0", 201, 1), ("w1", 202, 0)):
        s.thread(name, tid)
        s(name, MAIN, tid, K.ACQUIRED, "100.1", value=value, line=5)
        s(name, MAIN, tid, K.END, error=None)
    s("main", MAIN, MAIN, K.ACQUIRE_WAIT, "100.1", timeout=None, line=12)
    words = spoken(diagnosis.diagnose(s.quiet().state()))
    assert "main waits for slots, held by w0, w1, which have ended" in words


def sockets_story(server_peer: str) -> Story:
    """main waits to read from conn, a connection it accepted; the thread
    client waits to read from its end, c, which reaches `server_peer`."""
    s = Story().start().thread("client", 200)
    sock = {"type": "socket", "lib": "socket", "family": "AF_INET"}
    s("main", MAIN, MAIN, K.NEW, "100.1", name="srv", local="127.0.0.1:5000", peer="", **sock)
    s(
        "main",
        MAIN,
        MAIN,
        K.NEW,
        "100.2",
        name="conn",
        local="127.0.0.1:5000",
        peer="127.0.0.1:4001",
        **sock,
    )
    s(
        "client",
        MAIN,
        200,
        K.NEW,
        "100.3",
        name="c",
        local="127.0.0.1:4001",
        peer=server_peer,
        **sock,
    )
    s("main", MAIN, MAIN, K.SOCK_WAIT, "100.2", op="recv", timeout=None, line=12)
    return s("client", MAIN, 200, K.SOCK_WAIT, "100.3", op="recv", timeout=None, line=7)


def test_two_ends_of_one_connection_that_both_wait_to_read_are_named_stuck() -> None:
    state = sockets_story("127.0.0.1:5000").quiet().state()
    assert (
        view.doing(state, state.workers["main"]) == "waiting in conn.recv(): nothing has come yet"
    )
    assert spoken(diagnosis.diagnose(state)) == [
        diagnosis.STUCK,
        "main waits in conn.recv(): nothing has come, and its other end is in this program,"
        " where nothing will send",
        "client waits in c.recv(): nothing has come, and its other end is in this program,"
        " where nothing will send",
    ]


def test_a_socket_the_outside_may_answer_or_connect_to_is_no_hang() -> None:
    # c reaches a server outside the program: it may answer.
    assert diagnosis.diagnose(sockets_story("93.184.216.34:80").quiet().state()) == []
    # A listener waits for a connection: anyone may connect.
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="socket", lib="socket", name="srv",
      family="AF_INET", local="127.0.0.1:5000", peer="")  # fmt: skip
    s("main", MAIN, MAIN, K.SOCK_WAIT, "100.1", op="accept", timeout=None, line=5)
    state = s.quiet().state()
    assert diagnosis.diagnose(state) == []
    assert view.doing(state, state.workers["main"]) == "waiting in srv.accept() for a connection"
    # Once it has its connection, main goes on.
    s("main", MAIN, MAIN, K.SOCK_WOKE, "100.1", op="accept")
    assert s.state().workers["main"].state == "running"


def test_a_read_of_a_pipe_nobody_will_write_is_named_unless_a_command_holds_it() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.FD_WAIT, op="os.read", fd=3, what="pipe", line=10)
    state = s.quiet().state()
    assert view.doing(state, state.workers["main"]) == (
        "waiting in os.read() on a pipe: nothing has come yet"
    )
    assert spoken(diagnosis.diagnose(state))[1:] == [
        "main waits in os.read() on a pipe: nothing has come, and no live worker will write to"
        " it (a read gets end-of-file only once every copy of the pipe's write end is closed)"
    ]
    # A command the program runs (not traced) may write to it: no hang.
    s("main", MAIN, MAIN, K.SPAWN, "sort", pid=300, method="exec", command="sort", line=9)
    assert diagnosis.diagnose(s.quiet().state()) == []
    s("main", MAIN, MAIN, K.REAPED, "sort", pid=300, exitcode=0, signal=None, cut_off=False)
    assert diagnosis.diagnose(s.quiet().state())[0].message == diagnosis.STUCK


def test_a_select_or_a_named_fifo_may_be_served_from_outside() -> None:
    waits: list[dict[str, Any]] = [
        {"op": "select", "files": 2, "timeout": None},
        {"op": "os.read", "what": "fifo"},
        {"op": "input", "what": "pipe"},  # what the parent will write, or a user types
    ]
    for data in waits:
        s = Story().start()
        s("main", MAIN, MAIN, K.FD_WAIT, line=4, **data)
        assert diagnosis.diagnose(s.quiet().state()) == []
    state = s.state()
    assert view.doing(state, state.workers["main"]) == "waiting in input(): nothing has come yet"
    s = Story().start()
    s("main", MAIN, MAIN, K.FD_WAIT, op="select", files=2, timeout=None, line=4)
    state = s.state()
    assert view.doing(state, state.workers["main"]) == "waiting in select() for input or output"
    s("main", MAIN, MAIN, K.FD_WOKE, op="select")
    assert s.state().workers["main"].state == "running"


def test_a_thread_whose_sleep_is_over_and_says_nothing_since_is_running() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.SLEEP, s=1.0, line=3)  # at 0.04 s
    s.t = 1.2  # 1.16 s later: the sleep is over, but not for long
    state = s.quiet().state()
    assert (state.workers["main"].state, view.doing(state, state.workers["main"])) == (
        "sleeping",
        "sleeping 1 s",
    )
    s.t = 2.0  # then it computes, or waits in something untraced
    state = s.quiet().state()
    assert state.workers["main"].state == "running"


def stalls(s: Story, *waits: dict[str, Any]) -> Story:
    """The runtime's sample of threads that wait in the kernel."""
    return s("main", 1, 0, STALLS, stalls=list(waits))


def test_a_command_that_fills_its_pipe_while_main_waits_for_its_end_is_named() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.SPAWN, "seq", pid=300, method="exec", command="seq 100000", line=3)
    s("main", MAIN, MAIN, K.JOIN, "seq", what="process", pid=300, timeout=None, line=4)
    assert diagnosis.diagnose(s.quiet().state()) == []  # seq may end by itself
    full = {"wait": "write", "call": "write", "fd": 1, "file": "pipe", "std": "stdout"}
    state = (
        stalls(s, {"pid": 300, "tid": 300, "threads": 1, **full, "ends": [MAIN]}).quiet().state()
    )
    assert spoken(diagnosis.diagnose(state))[1:] == [
        "main waits for seq to end, and it never will: seq waits to write to its stdout, a pipe"
        " that is full, and main, which can read it, waits too (communicate() reads a command's"
        " output while it waits for its end)"
    ]
    html = render.env.get_template("partials/program/_procs.html").render(
        view.view(state, {"source": ""})
    )
    assert "waiting to write to its stdout, a pipe: it is full (in C code)" in html
    # Had another process of the program held the read end, one that runs,
    # seq might go on: no hang.
    s("main", MAIN, MAIN, K.SPAWN, "cat", pid=301, method="exec", command="cat", line=5)
    state = stalls(s, {"pid": 300, "tid": 300, **full, "ends": [MAIN, 301]}).quiet().state()
    assert diagnosis.diagnose(state) == []


def test_a_process_named_by_its_variable_shows_that_name_and_its_own_beside_it() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.SPAWN, "cons", pid=300, method="fork", target="consumer", line=9)
    s.child("cons", 300, label="cons", method="fork")
    s.events[-2].data["name"] = "Process-2"  # its own name, as multiprocessing gave it
    state = s.state()
    assert (state.procs[300].name, state.procs[300].own_name) == ("cons", "Process-2")
    html = render.env.get_template("partials/program/_procs.html").render(
        view.view(state, {"source": ""})
    )
    assert '<span class="name">cons</span>' in html
    assert ">Process-2</span>" in html


def test_a_program_without_shared_objects_says_so_in_the_past_once_it_ended() -> None:
    def shown(state: ProgramState) -> str:
        template = render.env.get_template("partials/program/_objects.html")
        return template.render({**view.view(state, {"source": ""}), "state": state})

    s = Story().start()
    assert "No queue, lock or other shared object yet." in shown(s.state())
    s("main", MAIN, MAIN, K.EXIT, exitcode=0)
    s("main", 1, 0, "run_end", status="finished", reason="")
    html = shown(s.state())
    assert "The program made no queue, lock or other shared object." in html
    assert "yet" not in html


def test_a_thread_its_process_did_not_wait_for_ended_unfinished_not_finished() -> None:
    """os._exit(2) while a thread (no daemon) still runs: Python's exit would
    have waited for it; this one did not."""
    s = Story().start().thread("ticker", 201)
    s("ticker", MAIN, 201, K.SLEEP, s=0.5, line=5)
    s("main", MAIN, MAIN, K.EXIT, exitcode=2)
    state = s.state()
    ticker = state.workers["ticker"]
    assert ticker.state == "ended_with_process"
    assert view.doing(state, ticker) == (
        "ended unfinished with its process (os._exit waits for no thread)"
    )
    assert state.lanes["ticker"][-1][1] == "ended_with_process"
    # main called os._exit on its way, before the end of its code
    assert state.main().state == "ended_with_process"


def test_a_process_that_called_os_exit_midway_did_not_finish_its_code() -> None:
    """os._exit(1) in a child's task: its exit code says 1, and its main
    thread, which never reached the end of its code, is not "finished"."""
    s = Story().start().child("a", 300)
    s("a", 300, 300, K.SLEEP, s=0.05, line=4)
    s("main", MAIN, MAIN, K.REAPED, "a", pid=300, exitcode=1)
    state = s.state()
    (a,) = [w for w in state.threads() if w.pid == 300]
    assert (a.state, a.exitcode) == ("ended_with_process", 1)
    # A child of os.fork() ends with os._exit(): that is its way, no cut.
    s = Story().start()
    s("main", MAIN, MAIN, K.SPAWN, "child", pid=300, daemon=False, method="fork", target="")
    s.child("child", 300, method="fork")
    s("main", MAIN, MAIN, K.REAPED, "child", pid=300, exitcode=7)
    state = s.state()
    assert [(w.state, w.exitcode) for w in state.threads() if w.pid == 300] == [("finished", 7)]
    # One that ran its code to the end (sys.exit(3) too) finished it.
    s = Story().start().child("b", 300)
    s("b", 300, 300, K.END, daemon_threads=[])
    s("main", MAIN, MAIN, K.REAPED, "b", pid=300, exitcode=3)
    state = s.state()
    assert [(w.state, w.exitcode) for w in state.threads() if w.pid == 300] == [("finished", 3)]


def test_a_threads_end_read_after_its_processs_exit_still_finished_it() -> None:
    """The server says the program's process exited as it sees it go, and
    may say it before the last batch of its threads' events is read: a
    thread's end, read late, is still its end."""
    s = Story().start().thread("adder", 201)
    s("adder", MAIN, 201, K.ACQUIRED, "100.1", line=9)
    s("main", MAIN, MAIN, K.EXIT, exitcode=0)  # the server's, read first
    assert s.state().workers["adder"].state == "ended_with_process"
    s.t -= 0.02  # stamped before the exit
    s("adder", MAIN, 201, K.END)
    s("main", MAIN, MAIN, K.END, daemon_threads=[])
    state = s.state()
    assert [(w.name, w.state) for w in state.threads()] == [
        ("main", "finished"),
        ("adder", "finished"),
    ]
    assert [st for _t, st, _label in state.lanes["adder"]][-1] == "finished"


def test_a_wait_for_a_lock_copy_locked_at_the_fork_is_named_while_the_rest_goes_on() -> None:
    """The classic: a thread holds a threading lock as main forks `kid`;
    kid's copy is locked for good. A busy logger thread goes on, so the
    program is not stuck as a whole, but kid's wait never ends."""
    s = Story().start().thread("logger", 201).child("kid", 300)
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Lock", lib="threading", name="log_lock", line=4)
    s("logger", MAIN, 201, K.ACQUIRED, "100.1", line=8)
    copy = {"type": "Lock", "lib": "threading", "name": "log_lock", "copy_in": "kid"}
    s("kid", 300, 300, K.NEW, "300.2", **copy, locked_at_fork=True, line=12)
    s("kid", 300, 300, K.ACQUIRE_WAIT, "300.2", timeout=None, line=12)
    s("main", MAIN, MAIN, K.JOIN, "kid", what="process", timeout=None, line=20)
    assert diagnosis.diagnose(s.state()) == []  # a batch early, perhaps
    s.t += diagnosis.CYCLE_AFTER_S
    s("logger", MAIN, 201, K.RELEASED, "100.1", line=8)
    s("logger", MAIN, 201, K.ACQUIRED, "100.1", line=8)
    state = s.state()
    assert spoken(diagnosis.diagnose(state)) == [
        diagnosis.FORK_LOCKED,
        "kid waits for log_lock (kid's copy), which was locked when its process was forked: a"
        " threading lock is copied into the child, held by a thread the child does not have, so"
        " nothing will ever release it (a thread's lock is no lock between processes)",
    ]
    context = {**view.view(state, {"source": ""}), "state": state}
    html = render.env.get_template("partials/program/_objects.html").render(context)
    assert "locked since the fork, by no thread of this process" in html
    # The logger never lets the program go quiet; a Stop ends it, and the
    # page still says why kid could not go on.
    s("main", MAIN, MAIN, K.REAPED, "kid", pid=300, exitcode=-15, signal="SIGTERM")
    s("main", MAIN, MAIN, K.EXIT, exitcode=-15)
    s("main", 1, 0, "run_end", outcome="stopped", reason="stopped by the teacher")
    words = spoken(diagnosis.said(s.state()))
    assert words[0] == diagnosis.FORK_LOCKED_AT_END
    assert words[1].startswith("kid waits for log_lock (kid's copy), which was locked")


def test_a_main_whose_code_is_done_names_the_threads_and_children_it_waits_for() -> None:
    s = Story().start().thread("heartbeat", 201)
    s("heartbeat", MAIN, 201, K.SLEEP, s=0.5, line=5)
    s("main", MAIN, MAIN, K.SPAWN, "kid", pid=300, daemon=False, method="fork", line=8)
    s.child("kid", 300)
    s("main", MAIN, MAIN, K.END, daemon_threads=[])
    state = s.state()
    assert view.doing(state, state.main()) == "code done; waiting for heartbeat, kid to end"
    # What the stage does not draw (a queue's feeder thread) it cannot name.
    s = Story().start()
    s("main", MAIN, MAIN, K.END, daemon_threads=[])
    state = s.state()
    assert view.doing(state, state.main()) == (
        "code done; waiting for its other threads and processes"
    )


def test_a_put_that_waits_because_the_queues_taker_crashed_says_so() -> None:
    s = Story().start().thread("producer", 201).thread("consumer", 202)
    queue = {"type": "Queue", "lib": "queue", "name": "buf", "maxsize": 1}
    s("main", MAIN, MAIN, K.NEW, "100.1", **queue, line=3)
    s("producer", MAIN, 201, K.PUT, "100.1", v="1", size=1, line=7)
    s("consumer", MAIN, 202, K.GET, "100.1", v="1", size=0, line=12)
    s("consumer", MAIN, 202, K.END, error="ZeroDivisionError: division by zero")
    s("producer", MAIN, 201, K.PUT, "100.1", v="2", size=1, line=7)
    s("producer", MAIN, 201, K.PUT_WAIT, "100.1", timeout=None, line=7)
    s("main", MAIN, MAIN, K.JOIN, "producer", what="thread", tid=201, timeout=None, line=20)
    words = spoken(diagnosis.diagnose(s.quiet().state()))
    assert (
        "producer waits in buf.put(); buf is full and no live worker can get: consumer, which"
        " took from it, crashed (ZeroDivisionError: division by zero)"
    ) in words


def test_a_queues_unfinished_tasks_are_shown_once_the_program_counts_them() -> None:
    def shown(state: ProgramState) -> bool:
        context = {**view.view(state, {"source": ""}), "state": state, "run": {"id": "r1"}}
        html = render.env.get_template("partials/program/_objects.html").render(context)
        return "unfinished tasks:" in html

    s = Story()
    s.start()("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="queue", name="q", line=3)
    s("main", MAIN, MAIN, K.PUT, "100.1", v="1", size=1, line=4)
    assert not shown(s.state())  # a plain queue of a program that never asks
    s("main", MAIN, MAIN, K.GET, "100.1", v="1", size=0, line=5)
    s("main", MAIN, MAIN, K.TASK_DONE, "100.1", unfinished=0, line=6)
    assert shown(s.state())
    joinable = {"type": "JoinableQueue", "lib": "multiprocessing", "name": "jq"}
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.2", **joinable, line=3)
    assert shown(s.state())


def test_a_process_forked_from_another_thread_says_why_its_main_thread_has_that_name() -> None:
    """A pool's replacement worker is forked from the pool's worker handler
    thread: Python names its main thread after that one."""
    s = Story().start()
    s("ForkPoolWorker-3", 303, 303, K.PROC, name="ForkPoolWorker-3", ppid=MAIN, main=False)
    s("ForkPoolWorker-3", 303, 303, K.THREAD, name="Thread-1 (_handle_workers)", main=True)
    state = s.state()
    context = {**view.view(state, {"source": ""}), "state": state}
    html = render.env.get_template("partials/program/_procs.html").render(context)
    assert "its main thread, named after the thread that forked it" in html
    assert html.count("named after the thread that forked it") == 1  # not main's own


def test_a_pool_worker_its_pool_terminated_is_said_ended_by_it_not_killed() -> None:
    """The end of a `with Pool()` block ends the workers still there with
    SIGTERM: the box and the log say who did it, and the card is no alarm."""
    s = Story().start().pool(2)
    for pid in (301, 302):
        s.child(f"ForkPoolWorker-{pid - 300}", pid, daemon=True)
        s(f"ForkPoolWorker-{pid - 300}", pid, pid, K.POOL_WORKER, "100.1")
    s("main", MAIN, MAIN, K.TERMINATE, "100.1", line=7)
    s("main", MAIN, MAIN, K.REAPED, "ForkPoolWorker-1", pid=301, exitcode=-15, signal="SIGTERM")
    # A signal from elsewhere is a kill still.
    s("main", MAIN, MAIN, K.REAPED, "ForkPoolWorker-2", pid=302, exitcode=-9, signal="SIGKILL")
    state = s.state()
    one, two = state.thread("ForkPoolWorker-1"), state.thread("ForkPoolWorker-2")
    assert one is not None
    assert two is not None
    assert (one.state, two.state) == ("ended_by_pool", "killed")
    assert view.doing(state, one) == "ended by its pool's terminate()"
    context = {**view.view(state, {"source": ""}), "state": state}
    html = render.env.get_template("partials/program/_procs.html").render(context)
    assert "ended by pool.terminate()" in html
    assert "killed by SIGKILL" in html
    assert "killed by SIGTERM" not in html
    assert said(state, [e for e in s.events if e.kind == K.REAPED]) == [
        "ForkPoolWorker-1 was ended by pool.terminate() (SIGTERM)",
        "ForkPoolWorker-2 was killed by SIGKILL",
    ]
    # A worker still starting (spawn) has said nothing: the terminate names it.
    s = Story().start().pool(1)
    s("main", MAIN, MAIN, K.TERMINATE, "100.1", line=7, workers=[[301, "SpawnPoolWorker-1"]])
    s("main", MAIN, MAIN, K.REAPED, "SpawnPoolWorker-1", pid=301, exitcode=-15, signal="SIGTERM")
    worker = s.state().procs[301]
    assert (worker.name, worker.ppid, worker.pool_ended) == ("SpawnPoolWorker-1", MAIN, True)


def test_a_busy_threads_timeline_lane_starts_when_the_thread_did() -> None:
    """A thread that takes a lock hundreds of times: its lane still begins
    at its start, not at its last changes (main was shown joining threads
    that looked as if they had not started)."""
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Lock", lib="threading", name="lock", line=3)
    s.thread("first", 201)
    began = s.t
    for _ in range(150):
        s("first", MAIN, 201, K.ACQUIRED, "100.1", line=7)
        s("first", MAIN, 201, K.SLEEP, s=0.002, line=8)
        s("first", MAIN, 201, K.RELEASED, "100.1", line=7)
    lane = s.state().lanes["first"]
    assert lane[0][0] == pytest.approx(began)
    assert {state for _, state, _ in lane} >= {"running", "sleeping"}


def test_a_thread_that_waits_in_c_code_shows_it_until_it_moves() -> None:
    s = Story().start().thread("reader", 201)
    s("main", MAIN, MAIN, K.JOIN, "reader", what="thread", tid=201, timeout=None, line=12)
    read = {"wait": "read", "call": "read", "fd": 5, "file": "pipe"}
    state = stalls(s, {"pid": MAIN, "tid": 201, **read, "ends": [MAIN]}).quiet().state()
    reader = state.workers["reader"]
    assert view.doing(state, reader) == "waiting to read a pipe: it is empty for now (in C code)"
    assert reader.state == "blocked"  # its card and its timeline show a wait
    assert state.lanes["reader"][-1][1] == "blocked"
    # main holds the write end, and it waits too: stuck.
    assert spoken(diagnosis.diagnose(state))[1] == (
        "reader waits in C code to read a pipe: it is empty, and main, which can write to it or"
        " close it, waits too"
    )
    # Its next event says it moved: running again, no hang.
    s("reader", MAIN, 201, K.OUT, stream="stdout", text="got it\n", line=8)
    state = s.quiet().state()
    assert view.doing(state, state.workers["reader"]) == "running"
    assert state.workers["reader"].state == "running"
    assert diagnosis.diagnose(state) == []
    # A socket read in C may be answered from outside; a pipe whose other
    # end a process the stage does not know holds (a command's own child) may
    # be written: neither is a hang.
    for wait in (
        {"wait": "read", "call": "recvfrom", "fd": 4, "file": "socket"},
        {**read, "ends": [MAIN, 999]},
        {"wait": "child", "call": "wait4", "fd": -1, "child": -1, "children": [999]},
    ):
        state = stalls(s, {"pid": MAIN, "tid": 201, **wait}).quiet().state()
        assert state.workers["reader"].stall == {"pid": MAIN, "tid": 201, **wait}
        assert diagnosis.diagnose(state) == [], wait
    assert view.doing(state, state.workers["reader"]) == (
        "waiting for a child process to end (in C code)"
    )
    # Once the run has ended, it waits no more.
    state = s("main", 1, 0, "run_end", outcome="stopped", reason="stopped").state()
    assert view.doing(state, state.workers["reader"]) == "killed"


def test_a_command_whose_child_left_or_that_may_still_act_is_no_hang() -> None:
    """sh waits for a child that left the program's session (setsid): it may
    end; a watchdog command that sleeps may yet kill or write: no hang."""
    s = Story().start()
    s("main", MAIN, MAIN, K.SPAWN, "sh", pid=300, method="exec", command="sh -c ...", line=3)
    read = {"wait": "read", "call": "read", "fd": 3, "file": "pipe", "threads": 1}
    child = {"wait": "child", "call": "wait4", "fd": -1, "child": -1, "threads": 1}
    stalls(
        s,
        {"pid": MAIN, "tid": MAIN, **read, "ends": [300]},
        {"pid": 300, "tid": 300, **child, "children": []},
    )
    assert diagnosis.diagnose(s.quiet().state()) == []
    # Had sh waited for a child of its own that waits for good, it would be.
    state = (
        stalls(
            s,
            {"pid": MAIN, "tid": MAIN, **read, "ends": [300]},
            {"pid": 300, "tid": 300, **child, "children": [301]},
            {"pid": 301, "tid": 301, "wait": "write", "call": "write", "fd": 2, "file": "pipe"}
            | {"std": "stderr", "threads": 1, "ends": [MAIN], "name": "seq"},
        )
        .quiet()
        .state()
    )
    assert spoken(diagnosis.diagnose(state))[1:] == [
        "seq (pid 301) waits to write to its stderr, a pipe that is full, and main, which can read"
        " it, waits too",
        "main waits in C code to read a pipe: it is empty, and sh, which can write to it or close"
        " it, waits too",
    ]
    # A watchdog command that sleeps ("sleep 3; kill ...") may still act.
    s("main", MAIN, MAIN, K.SPAWN, "sh #2", pid=302, method="exec", command="sh -c ...", line=5)
    assert diagnosis.diagnose(s.quiet().state()) == []


def test_a_command_that_waits_for_input_main_never_closes_is_named() -> None:
    s = Story().start()
    s("main", MAIN, MAIN, K.SPAWN, "cat", pid=300, method="exec", command="cat", line=3)
    s("main", MAIN, MAIN, K.JOIN, "cat", what="process", pid=300, timeout=None, line=6)
    empty = {"wait": "read", "call": "read", "fd": 0, "file": "pipe", "std": "stdin"}
    stalls(s, {"pid": 300, "tid": 300, "threads": 1, **empty, "ends": [MAIN]})
    assert spoken(diagnosis.diagnose(s.quiet().state()))[1:] == [
        "main waits for cat to end, and it never will: cat waits to read its stdin, a pipe that"
        " main holds open and does not write to, waiting too (communicate() closes a command's"
        " input once it has written it)"
    ]


def test_the_timeline_says_a_wait_as_the_program_writes_the_call_in_both_languages() -> None:
    s = Story().start().thread("张三", 201)
    s("main", MAIN, MAIN, K.NEW, "7.1", type="Lock", lib="threading", name="勺子")
    s("张三", MAIN, 201, K.ACQUIRE_WAIT, "7.1", line=5)
    s("main", MAIN, MAIN, K.JOIN, "张三", what="thread", tid=201, timeout=None, line=12)
    state = s.state()
    assert state.lanes["张三"][-1][2] == "勺子.acquire()"
    assert state.lanes["main"][-1][2] == "张三.join()"
    with i18n.speaking("zh"):
        tips = {lane.name: lane.segments[-1].title for lane in timeline.build(state).lanes}
    assert tips["张三"].startswith("张三：阻塞 勺子.acquire()")


def test_a_call_is_written_as_the_program_writes_it() -> None:
    assert written("get", "q") == "q.get()"
    assert written("qjoin", "q") == "q.join()"
    assert written("start", "t0") == "t0.start()"
    assert written("sleep", "") == "time.sleep()"
    assert written("set_item_in", "tally") == "tally[…] = …"
    assert written("exit", "") == "exit"  # no call: the timeline says it in words


def test_processes_of_one_name_are_told_apart_on_their_boxes_as_in_the_console() -> None:
    s = Story().start()
    for label, pid in (("工人", 201), ("工人 #2", 202)):
        s(label, pid, pid, K.PROC, name="工人", ppid=MAIN, main=False)
        s(label, pid, pid, K.THREAD, name="MainThread", daemon=False, main=True)
    boxes = view.boxes(s.state())
    assert [(b.name, b.parent) for b in boxes] == [
        ("main", ""),
        ("工人", "main"),
        ("工人 #2", "main"),
    ]


def test_a_worker_waiting_for_a_go_ahead_says_the_call_it_wants_as_written() -> None:
    """In the log of step mode: `q.put()`, not the queue's key."""
    s = Story().start()
    s("main", MAIN, MAIN, K.NEW, "100.1", type="Queue", lib="queue", name="q")
    wants(s, "main", MAIN, "100.1", "put", 5)
    state = s.state()
    template = render.env.get_template("partials/program/_event_words.html")
    with i18n.speaking("en"):
        words = template.render(e=state.log[-1], state=state)
    assert words == f"main (pid {MAIN}) wants to: q.put()"
