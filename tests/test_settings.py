"""Server settings from flags and environment variables, and their bounds."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.settings import BOUNDS, Settings, default_processes


def test_the_environment_sets_a_setting_and_a_flag_wins_over_it() -> None:
    env = {"CONCVIZ_RECORD_LIMIT": "500", "CONCVIZ_MAX_RUNS": "3", "CONCVIZ_LAN": "yes"}
    assert Settings.from_env(env).record_limit == 500
    assert Settings.from_env(env).lan is True
    assert Settings.from_env(env, max_runs=2).max_runs == 2
    assert Settings.from_env({}).record_limit == 2_000_000


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_each_bound_is_enforced_with_the_setting_and_its_bounds_named(name: str) -> None:
    low, high = BOUNDS[name]
    kind = type(getattr(Settings, name))
    assert getattr(Settings.from_env({}, **{name: kind(low)}), name) == low
    assert getattr(Settings.from_env({}, **{name: kind(high)}), name) == high
    for bad in (low - 1, high + 1):
        with pytest.raises(SystemExit) as caught:
            Settings.from_env({}, **{name: kind(bad)})
        message = str(caught.value)
        flag = "--" + name.replace("_", "-")
        assert flag in message
        assert f"CONCVIZ_{name.upper()}" in message
        assert f"from {int(low)} to {int(high)}" in message


def test_a_value_that_is_not_a_number_is_named() -> None:
    with pytest.raises(SystemExit, match="CONCVIZ_FPS must be a number"):
        Settings.from_env({"CONCVIZ_FPS": "fast"})


def test_the_server_refuses_a_bad_flag_with_a_message_and_no_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "app", "--record-limit", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0
    assert "--record-limit (or CONCVIZ_RECORD_LIMIT) must be from 0 to 1000000000" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_programs_process_limit_leaves_room_for_a_pool_of_one_worker_per_cpu() -> None:
    # Pool() starts os.cpu_count() workers besides main.
    assert default_processes(2) == 16
    assert default_processes(None) == 16
    assert default_processes(16) == 32 > 16 + 1
    assert default_processes(64) == 128
