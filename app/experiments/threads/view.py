"""What the threads lesson's templates need, from its folded state (pure)."""

from __future__ import annotations

from typing import Any

from app.experiments.lesson import last_printed
from app.experiments.threads.overlay import OUTCOME, ThreadsState
from app.i18n import N_, _

# What the lesson runs: main's process, threads in it, and one child process.
RUNS = N_("threads of one process, and one child process")
CONSOLE_SHOWN = 8

# name, how it was started (the pieces of code between which a line may
# break), and in words.
WAYS = (
    ("main", (N_("the main thread"),), N_("started by the OS with the process")),
    ("T1", ("Thread(", "target=greet)"), N_("way 1: a function to run")),
    ("T2", ("class Greeter(Thread):", " run()"), N_("way 2: a subclass")),
)


def view(state: ThreadsState, params: dict[str, Any]) -> dict[str, Any]:
    main_w = state.named("MainThread")
    main_pid = main_w.pid if main_w else 0
    cards = []
    for name, how, way in WAYS:
        w = main_w if name == "main" else state.named(name)
        cards.append(
            {
                "name": name,
                # main's "how" is words; the others' are code, shown as is
                "how": tuple(_(part) for part in how) if name == "main" else how,
                "way": _(way),
                "w": w,
                "same_pid": bool(w and main_w and w.pid == main_pid),
                "own_tid": bool(w and main_w and w.tid and w.tid != main_w.tid),
            }
        )
    sides = [
        {
            "mode": mode,
            "side": side,
            "same_pid": bool(side.changer_pid and side.changer_pid == main_pid),
            # how a child process began: a fork copies main's memory
            "method": proc.method if (proc := state.procs.get(side.changer_pid)) else "",
        }
        for mode, side in state.memory.items()
    ]
    repeat = int(params.get("repeat", 0))
    return {
        "cards": cards,
        "main_w": main_w,
        "repeat": repeat,
        "rounds": sorted(state.rounds.items()),
        "sides": sides,
        "printed": last_printed(state, CONSOLE_SHOWN, OUTCOME),
        "runbar_facts": [_(RUNS), _("%(n)s rounds") % {"n": repeat}],
    }
