"""The timeline as geometry: lanes, a legend of what is drawn, room for every
name, and nothing that would tell a hidden result."""

from __future__ import annotations

from collections import deque

import pytest

from app import i18n, timeline
from app.experiments import EXPERIMENTS
from app.model import LANE_SEGMENTS, RunState, WorkerView, add_segment
from app.web import render


def state_with(lanes: dict[str, list[tuple[float, str, str | None]]], t: float = 10.0) -> RunState:
    s = RunState()
    s.last_t = t
    for name, segs in lanes.items():
        s.lanes[name] = deque(segs)
        s.workers[name] = WorkerView(name, role="worker")
    return s


def test_the_legend_names_each_state_drawn_once_in_a_fixed_order() -> None:
    s = state_with(
        {
            "C1": [(0.0, "get_wait", None), (1.0, "consuming", "P1#1"), (3.0, "get_wait", None)],
            "P1": [(0.0, "producing", "P1#1"), (0.5, "put_wait", "P1#1"), (2.0, "finished", None)],
        }
    )
    tl = timeline.build(s)
    assert [state for state, _ in tl.legend] == [
        "producing",
        "put_wait",
        "consuming",
        "get_wait",
        "finished",
    ]
    assert dict(tl.legend)["put_wait"] == "waiting: queue full"


def test_the_legend_speaks_the_readers_language() -> None:
    s = state_with({"C1": [(0.0, "consuming", None)]})
    with i18n.speaking("zh"):
        assert timeline.build(s).legend == [("consuming", "正在消费")]


def test_a_state_too_short_to_draw_is_not_in_the_legend() -> None:
    s = state_with(
        {"P1": [(0.0, "producing", None), (5.0, "ready", None), (5.0001, "producing", None)]}
    )
    states = {state for state, _ in timeline.build(s).legend}
    assert states == {"producing"}


@pytest.mark.parametrize("name", ["main", "proc-daemon", "proc-normal", "P16", "thr-daemon"])
def test_the_label_column_fits_every_name_at_the_projection_size(name: str) -> None:
    tl = timeline.build(state_with({name: [(0.0, "starting", None)]}))
    # 0.72 em is the widest of a bold sans-serif's lower-case letters here.
    assert tl.label_w >= 6 + 0.72 * timeline.LABEL_FONT * len(name)
    seg = tl.lanes[0].segments[0]
    assert seg.x >= tl.label_w
    assert seg.x + seg.w <= timeline.WIDTH + 0.1


def test_the_queue_depth_label_fits_in_chinese_too() -> None:
    s = state_with({"P1": [(0.0, "producing", None)]})
    s.depth_track.extend([(0.0, 0), (1.0, 3)])
    with i18n.speaking("zh"):
        tl = timeline.build(s)
    assert tl.depth_label == "队列中"
    assert tl.label_w >= timeline.text_width("队列中", timeline.LABEL_FONT)


def test_ticks_stay_clear_of_both_ends() -> None:
    tl = timeline.build(state_with({"P1": [(0.0, "producing", None)]}, t=7.0))
    assert tl.ticks
    for x, _ in tl.ticks:
        assert tl.label_w + timeline.TICK_ROOM <= x <= timeline.WIDTH - timeline.TICK_ROOM


def test_from_the_first_hidden_state_on_every_lane_is_hidden() -> None:
    s = state_with(
        {
            "P1": [(0.0, "calling", "q.get()"), (1.0, "returned", "q.get()")],
            "P2": [(0.0, "calling", "q.get()"), (2.0, "raised", "q.get()")],
        }
    )
    tl = timeline.build(s, hide=frozenset({"returned", "raised"}))
    for lane in tl.lanes:
        # Neither how a call ended nor when: both lanes turn hidden at 1 s.
        assert [seg.state for seg in lane.segments] == ["calling", "hidden"]
        assert lane.segments[1].title.endswith("from 1.00 s")
        assert lane.segments[0].x + lane.segments[0].w == pytest.approx(lane.segments[1].x, abs=0.2)
        assert all(
            "returned" not in seg.title and "raised" not in seg.title for seg in lane.segments
        )
    assert [state for state, _ in tl.legend] == ["calling", "hidden"]
    # Shown, the same run tells it.
    shown = timeline.build(s)
    assert {seg.state for lane in shown.lanes for seg in lane.segments} == {
        "calling",
        "returned",
        "raised",
    }


def test_a_hidden_timeline_draws_no_queue_depth_after_its_cut() -> None:
    s = state_with({"P1": [(0.0, "calling", None), (1.0, "returned", None)]})
    s.depth_track.extend([(0.0, 0), (0.5, 1), (3.0, 2)])
    hidden = timeline.build(s, hide=frozenset({"returned"}))
    assert hidden.depth_max == 1
    assert timeline.build(s).depth_max == 2


def test_every_lessons_outcome_states_are_states_with_words() -> None:
    for exp in EXPERIMENTS.values():
        for state in exp.outcome_states:
            assert state in timeline.STATE_WORDS, (exp.slug, state)


def test_a_busy_lane_keeps_its_whole_span_and_its_recent_changes_exactly() -> None:
    lane: deque[tuple[float, str, str | None]] = deque()
    changes = [
        (0.2 + k * 0.002, ("lock_wait", "has_lock", "sleeping")[k % 3], None) for k in range(450)
    ]
    for seg in changes:
        add_segment(lane, seg)
    assert len(lane) <= LANE_SEGMENTS
    assert lane[0][0] == 0.2  # it began when the worker did
    assert list(lane)[-50:] == changes[-50:]
    starts = [seg[0] for seg in lane]
    assert starts == sorted(set(starts))
    # Drawn: from its start, not blank until its last 120 changes.
    s = state_with({}, t=1.2)
    s.lanes["first"] = lane
    s.workers["first"] = WorkerView("first", role="worker")
    tl = timeline.build(s)
    x_start = tl.label_w + 0.2 / 1.2 * tl.plot_w
    assert abs(tl.lanes[0].segments[0].x - x_start) < 1


def test_a_wait_no_call_of_the_program_names_is_said_in_words() -> None:
    s = state_with({"main": [(0.0, "running", None), (1.0, "blocked", "exit")]})
    with i18n.speaking("zh"):
        tip = timeline.build(s).lanes[0].segments[-1].title
    assert tip.startswith("main：阻塞：")
    assert "exit" not in tip


def test_lanes_are_in_the_order_of_their_names_with_numbers_as_numbers() -> None:
    names = ["消费者-1", "生产者-2", "main", "生产者-10", "生产者-1", "消费者-2"]
    s = state_with({name: [(0.0, "running", None)] for name in names})
    assert [lane.name for lane in timeline.build(s).lanes] == [
        "main",
        "消费者-1",
        "消费者-2",
        "生产者-1",
        "生产者-2",
        "生产者-10",
    ]


def test_a_name_too_long_for_its_column_is_cut_and_the_plot_keeps_its_room() -> None:
    long = "第一阶段：读取图片的进程（负责从磁盘加载）"
    tl = timeline.build(
        state_with({long: [(0.0, "running", None)], "P1": [(0.0, "running", None)]})
    )
    assert tl.label_w == timeline.MAX_LABEL_W
    lane = next(lane for lane in tl.lanes if lane.name == long)
    assert lane.label.endswith("…")
    assert long.startswith(lane.label[:-1])
    assert timeline.text_width(lane.label, timeline.LABEL_FONT) <= tl.label_w
    assert next(lane for lane in tl.lanes if lane.name == "P1").label == "P1"


def test_threads_of_another_process_keep_the_ends_of_their_names_that_differ() -> None:
    names = ["daemon.py 10893/daemon thread", "daemon.py 10893/normal thread"]
    tl = timeline.build(state_with({n: [(0.0, "running", None)] for n in names}))
    labels = [lane.label for lane in tl.lanes]
    assert labels[0] != labels[1]
    for name, label in zip(names, labels, strict=True):
        assert label.startswith("…")
        assert name.endswith(label[1:])
        assert label.endswith(name.rpartition("/")[2])


@pytest.mark.parametrize(
    "names", [["main"], ["worker-1", "worker-2", "worker-3"], ["工人", "工人 #2"]]
)
def test_a_name_that_fits_its_column_is_drawn_whole(names: list[str]) -> None:
    tl = timeline.build(state_with({name: [(0.0, "running", None)] for name in names}))
    assert sorted(lane.label for lane in tl.lanes) == sorted(names)


def test_past_its_room_the_timeline_leaves_out_the_lanes_of_workers_that_ended_first() -> None:
    """A pool that replaces dying workers for ever: hundreds of lanes."""
    ended = 100
    lanes = {"main": [(0.0, "blocked", "pool.map()")]}
    for n in range(ended):
        lanes[f"W{n}"] = [(n / 100, "running", None), (n / 100 + 0.005, "crashed", None)]
    lanes |= {"X1": [(5.0, "running", None)], "X2": [(5.1, "running", None)]}
    s = state_with(lanes)
    for n in range(ended):
        s.workers[f"W{n}"].alive = False
    tl = timeline.build(s)
    assert len(tl.lanes) == timeline.MAX_LANES
    left_out = ended + 3 - timeline.MAX_LANES
    assert tl.lanes_more == left_out
    drawn = [lane.name for lane in tl.lanes]
    assert drawn[0] == "main"
    assert drawn[-2:] == ["X1", "X2"]  # live: always drawn
    assert drawn[1:-2] == [f"W{n}" for n in range(left_out, ended)]  # then those that ended last
    with i18n.speaking("en"):
        page = render.env.get_template("partials/_timeline.html").render(timeline=tl)
    assert f"and {left_out} more workers that ended earlier (not drawn)" in page
