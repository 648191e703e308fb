"""A program stopped at a limit that the server found only after the
program had ended by itself (what it counts trails the program) finished."""

from __future__ import annotations

import pytest

from app.programs.limits import ended_by_itself, first_passed, limits_from
from app.settings import Settings

ASKED = 1_000  # when its processes were asked to end (ns)


@pytest.mark.parametrize(
    ("code_ended", "exit_code", "handles_term", "by_itself"),
    [
        (900, 0, False, True),  # a burst, then its end, before it was asked
        (1_100, 0, False, True),  # its end raced the asking, no signal ended it
        (1_100, 2, False, True),  # sys.exit(2) is its own end too
        (0, 0, False, False),  # its main code never ended: it was still going
        (900, -15, False, False),  # ended by the SIGTERM (a thread still printing)
        (900, None, False, False),  # no exit code known
        (900, 0, True, True),  # it handles SIGTERM, but had ended before
        (1_100, 0, True, False),  # it handles SIGTERM and ended because asked to
    ],
)
def test_a_program_ended_by_itself_only_if_its_code_ended_and_no_signal_ended_it(
    code_ended: int, exit_code: int | None, handles_term: bool, by_itself: bool
) -> None:
    assert ended_by_itself(code_ended, ASKED, exit_code, handles_term) is by_itself


@pytest.mark.parametrize(
    ("lesson", "program_seconds", "run_seconds", "flag"),
    [
        (False, 60, 300, "--program-seconds"),  # a user's program's own limit
        (False, 60, 5, "--run-time-limit"),  # any run's, when it is the smaller
        (True, 60, 300, "--run-time-limit"),  # a lesson's program: any run's
    ],
)
def test_a_run_stopped_by_its_time_names_the_setting_that_set_it(
    lesson: bool, program_seconds: float, run_seconds: float, flag: str
) -> None:
    settings = Settings(program_seconds=program_seconds)
    lim = limits_from(settings, run_seconds, lesson=lesson)
    limit = min(program_seconds, run_seconds) if not lesson else run_seconds
    passed = first_passed(
        lim, seconds=limit + 1, processes=1, threads=1, memory_mb=1, output_kb=0, events=0
    )
    assert passed is not None
    assert (passed.name, passed.limit) == ("seconds", limit)
    assert f"{limit:g} s" in passed.reason
    assert flag in passed.reason
