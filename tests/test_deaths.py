"""Which of a program's processes died unreaped, from /proc's stat fields."""

from __future__ import annotations

from app.programs.deaths import Deaths


def stat(state: str, wait_status: int = 0) -> list[str]:
    """Fields 3.. of /proc/PID/stat: the state first, the exit code (wait
    status) at field 52."""
    fields = ["0"] * 50
    fields[0] = state
    fields[49] = str(wait_status)
    return fields


def test_a_zombie_is_said_after_a_whole_tick_once_with_its_signal() -> None:
    deaths = Deaths(leader=100)
    assert deaths.check({100: stat("S"), 101: stat("Z", 9)}) == []  # its parent may reap it now
    said = deaths.check({100: stat("S"), 101: stat("Z", 9)})
    assert said == [{"pid": 101, "exitcode": -9, "signal": "SIGKILL", "unreaped": True}]
    assert deaths.check({100: stat("S"), 101: stat("Z", 9)}) == []


def test_an_exit_code_and_the_leader_and_a_child_reaped_in_time() -> None:
    deaths = Deaths(leader=100)
    deaths.check({100: stat("Z"), 102: stat("Z", 3 << 8), 103: stat("Z", 15)})
    # 103 was reaped before the next tick: its parent says so, not us.
    said = deaths.check({100: stat("Z"), 102: stat("Z", 3 << 8)})
    assert said == [{"pid": 102, "exitcode": 3, "signal": None, "unreaped": True}]


def test_a_pid_used_again_by_a_new_process_is_said_again() -> None:
    deaths = Deaths(leader=1)
    deaths.check({5: stat("Z", 9)})
    assert deaths.check({5: stat("Z", 9)})
    deaths.check({})  # reaped
    deaths.check({5: stat("Z", 15)})
    assert deaths.check({5: stat("Z", 15)})[0]["signal"] == "SIGTERM"
