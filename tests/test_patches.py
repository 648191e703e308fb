"""What changed between two frames of a stage (app/web/patches.py, read
with app/web/markup.py): each patch, applied as the page applies it
(tests/stagedom.py), makes the older stage into the newer exactly."""

from __future__ import annotations

import random

import pytest
from stagedom import Stage

from app.web.markup import parse
from app.web.patches import Patch, diff
from app.web.render import env

CARD = (
    '<div class="card state-{state}" id="w-{name}"><span class="name">{name}</span>'
    ' <div class="doing">{doing}</div>'
    '<div class="foot">a line that stays as it is from one frame to the next</div></div>'
)


def stage(counter: int, cards: dict[str, tuple[str, str]], items: list[str], log: list[str]) -> str:
    """A stage much like a lesson's: counters, a queue of items with ids
    after slots without, cards, a log whose lines come and go."""
    return (
        f'\n<div id="counters"><span class="num" id="c-n">{counter}</span>'
        '<span class="lbl">made</span></div>\n'
        '<div id="queue">\n  <span class="slot"></span><span class="slot"></span>\n  '
        + "\n  ".join(
            f'<button class="chip" id="q-{i}" hx-get="/i/{i}">{i}</button>' for i in items
        )
        + '\n</div>\n<div class="cards">'
        + "".join(CARD.format(name=n, state=s, doing=d) for n, (s, d) in cards.items())
        + '</div>\n<ol class="log">\n'
        + "".join(
            f'  <li id="ev-{i}">line {i}: a worker did a thing to an item</li>\n' for i in log
        )
        + "</ol>\n"
    )


def patch(old: str, new: str) -> list[Patch] | None:
    a, b = parse(old), parse(new)
    assert a is not None
    assert b is not None
    return diff(old, a, new, b)


def applied(old: str, patches: list[Patch]) -> str:
    if not patches:  # on the wire: the frame's id alone
        return old
    page = Stage(old)
    page.receive(env.get_template("partials/_patch.html").render(patches=patches))
    return page.html()


BASE = stage(1, {"P1": ("run", "making"), "C1": ("wait", "waiting")}, ["a", "b"], ["1", "2"])


def test_equal_frames_have_an_empty_patch() -> None:
    assert patch(BASE, BASE) == []


def test_a_changed_text_is_sent_alone_by_its_id() -> None:
    new = BASE.replace('id="c-n">1<', 'id="c-n">2<')
    assert patch(BASE, new) == [Patch("outerMorph", "#c-n", '<span class="num" id="c-n">2</span>')]


def test_a_changed_class_is_sent_as_a_start_tag_and_a_part_without_an_id_by_its_place() -> None:
    cards = {"P1": ("blocked", "waiting in put()"), "C1": ("wait", "waiting")}
    new = stage(1, cards, ["a", "b"], ["1", "2"])
    found = patch(BASE, new)
    assert found is not None
    assert [(p.swap, p.target) for p in found] == [
        ("cvz-attrs", "#w-P1"),
        ("outerMorph", "#w-P1>:nth-child(2)"),
    ]
    assert found[0].html == '<div class="card state-blocked" id="w-P1"></div>'
    assert applied(BASE, found) == new


def test_items_leaving_and_coming_are_dropped_and_put_after_those_that_stay() -> None:
    new = stage(
        1, {"P1": ("run", "making"), "C1": ("wait", "waiting")}, ["b", "c", "d"], ["1", "2"]
    )
    found = patch(BASE, new)
    assert found is not None
    assert [(p.swap, p.target) for p in found] == [("cvz-drop", "#q-a"), ("afterend", "#q-b")]
    assert found[1].html == (
        '\n  <button class="chip" id="q-c" hx-get="/i/c">c</button>'
        '\n  <button class="chip" id="q-d" hx-get="/i/d">d</button>'
    )
    assert applied(BASE, found) == new


def test_new_lines_at_the_top_go_first_and_the_last_ones_are_dropped() -> None:
    cards = {"P1": ("run", "making"), "C1": ("wait", "waiting")}
    before = stage(1, cards, ["a"], ["5", "4", "3", "2", "1"])
    after = stage(1, cards, ["a"], ["7", "6", "5", "4", "3"])
    found = patch(before, after)
    assert found is not None
    assert [(p.swap, p.target) for p in found] == [
        ("cvz-drop", "#ev-2"),
        ("cvz-drop", "#ev-1"),
        ("afterbegin", ":scope>:nth-child(4)"),
    ]
    assert found[2].html == (
        '\n  <li id="ev-7">line 7: a worker did a thing to an item</li>'
        '\n  <li id="ev-6">line 6: a worker did a thing to an item</li>'
    )
    assert applied(before, found) == after


def test_a_change_in_the_stages_own_parts_is_no_patch_the_whole_frame_goes() -> None:
    assert patch(BASE, BASE + '<p id="extra">new part</p>') is None
    assert patch(BASE, BASE.replace('\n<div id="queue">', '<div id="queue">')) is None


def test_an_element_whose_parts_cost_more_than_it_goes_whole() -> None:
    new = BASE.replace("line 1:", "line one:").replace("line 2:", "line two:")
    found = patch(BASE, new)
    assert found == [
        Patch("outerMorph", ":scope>:nth-child(4)", new[new.index("<ol") : new.index("</ol>") + 5])
    ]


def test_markup_a_browser_reads_otherwise_is_not_read() -> None:
    assert parse("<p>a<div>b</div></p>") is None
    assert parse("<table><tr><td>x</td></tr></table>") is None
    assert parse("<div><span></div>") is None
    assert parse("<div/>") is None
    assert parse("<div><script>x</script></div>") is None
    tree = parse(
        '<svg viewBox="0 0 1 1"><rect id="r"/><g><title>t</title></g></svg><br><input id="i">'
    )
    assert tree is not None
    assert [(c.tag, c.id, len(c.children)) for c in tree.children] == [
        ("svg", None, 0),
        ("br", None, 0),
        ("input", "i", 0),
    ]


@pytest.mark.parametrize("seed", range(20))
def test_a_viewer_that_skipped_frames_gets_every_change_since_in_one_patch(seed: int) -> None:
    """From any frame to any later one (the union of the changes between),
    the patch makes the one into the other, whatever came and went."""
    rng = random.Random(seed)
    frames = []
    counter, items, log, serial = 0, ["a"], ["0"], 0
    states = ["run", "wait", "blocked"]
    for _ in range(12):
        counter += rng.randint(0, 3)
        for _ in range(rng.randint(0, 2)):
            serial += 1
            items.append(f"i{serial}")
            log.insert(0, str(serial))
        items = items[rng.randint(0, min(2, len(items))) :]
        log = log[:5]
        cards = {
            n: (rng.choice(states), rng.choice(["x", "y <b>z</b>"])) for n in ("P1", "P2", "C1")
        }
        frames.append(stage(counter, cards, items, log))
    for i, old in enumerate(frames):
        for new in frames[i:]:
            found = patch(old, new)
            if found is not None:
                assert applied(old, found) == new


def test_an_id_also_inside_an_svg_is_not_a_target() -> None:
    """An <svg> is read whole: an id in it and outside it is no one's id."""
    svg = '<svg viewBox="0 0 1 1"><rect id="c-n" width="{w}"/></svg>'
    old = BASE + svg.format(w=1)
    new = old.replace('id="c-n">1<', 'id="c-n">2<')
    found = patch(old, new)
    assert found is not None
    assert [(p.swap, p.target) for p in found] == [("outerMorph", "#counters>:nth-child(1)")]
    assert applied(old, found) == new


def test_a_pre_goes_whole() -> None:
    """The browser drops the newline that starts a <pre>: its children are
    not patched one by one."""
    old = BASE + '<pre id="out">\n<b id="x">1</b>\n<i>and a long line that stays the same</i></pre>'
    new = old.replace('<b id="x">1</b>', '<b id="x">2</b>')
    found = patch(old, new)
    assert found is not None
    assert [(p.swap, p.target) for p in found] == [("outerMorph", "#out")]
