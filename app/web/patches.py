"""What changed from one frame of a stage to another: the few parts a viewer
that has the older frame needs, rather than the whole stage again.

A patch is a list of `Patch`es, each an htmx `<hx-partial>` the page applies
(`templates/partials/_patch.html`; the two swaps of its own, `cvz-attrs` and
`cvz-drop`, are in static/app.js). Every target is an element of the OLDER
frame, as the viewer's page has it: htmx finds every target of a message
before it swaps any. An element is named by its id where the older frame
has that id once, else by its place under the nearest such ancestor
(`#workers>:nth-child(2)`), or under the stage (`:scope>...`).

What a patch holds, from the top of the stage down, for each element that
differs:

- the same children, in the same order, with the same text between them:
  its start tag if that differs (`cvz-attrs`), then each child that differs;
- children added or removed (matched by id, or in order for those without
  one), the others in the same order and the text before each the same: the
  removed ones dropped, each with the text before it (`cvz-drop`); each run
  of new ones, with the text before each, put after the child before them
  (`afterend`), or first (`afterbegin`); then each child kept that differs;
- anything else: the element whole, morphed in (`outerMorph`, which keeps
  focus, and the nodes that did not change, as the whole stage's
  `innerMorph` does).

Whichever is smaller for an element is sent: its parts, or it whole. When
the stage's own list of parts changes, or a frame cannot be read (see
`app.web.markup`), there is no patch (`None`): the viewer gets the frame
whole. The patch of two equal frames is empty.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from app.web.markup import OPAQUE, Element

# What a partial costs besides its selector and content (its tags).
PARTIAL_COST = len('<hx-partial hx-target="find " hx-swap="outerMorph"></hx-partial>')
_PLAIN_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# Sent whole when they change: what is in them is read in another namespace
# (`app.web.markup`), or the browser drops the newline that starts them.
_WHOLE = OPAQUE | {"pre", "listing"}
_ID_ANYWHERE = re.compile(r"""\sid=["']?([^\s"'=<>`]*)""")


class Patch(NamedTuple):
    swap: str  # htmx's swap style, or one of app.js's own
    target: str  # a CSS selector in the stage, or "this": the stage itself
    html: str


def diff(old: str, old_tree: Element, new: str, new_tree: Element) -> list[Patch] | None:
    """The patches that make the stage `old` (read as `old_tree`) into
    `new`; None if the whole of `new` must be sent instead."""
    if old == new:
        return []
    ids = _unique_ids(old)
    patches = _children(_Pair(old, new, ids), old_tree, new_tree, "this", ":scope")
    if patches is None:
        return None
    if sum(_cost(p) for p in patches) >= len(new):
        return None
    return patches


class _Pair:
    __slots__ = ("ids", "new", "old")

    def __init__(self, old: str, new: str, ids: set[str]) -> None:
        self.old, self.new, self.ids = old, new, ids


def _unique_ids(html: str) -> set[str]:
    """The ids the older frame has once, among those a selector can name:
    counted in all of its text, so that one that is also inside an `<svg>`
    (which is not read apart) is not taken for unique."""
    seen: set[str] = set()
    twice: set[str] = set()
    for found in _ID_ANYWHERE.finditer(html):
        i = found.group(1)
        (twice if i in seen else seen).add(i)
    return {i for i in seen - twice if _PLAIN_ID.fullmatch(i)}


def _cost(p: Patch) -> int:
    return PARTIAL_COST + len(p.target) + len(p.html)


def _element(pair: _Pair, o: Element, n: Element, target: str) -> list[Patch]:
    """The patches that make `o` (found by `target`) into `n`."""
    old, new = pair.old, pair.new
    if old[o.start : o.end] == new[n.start : n.end]:
        return []
    whole = [Patch("outerMorph", target, new[n.start : n.end])]
    if o.tag != n.tag or o.tag in _WHOLE or not (o.children or n.children):
        return whole
    parts = _children(pair, o, n, target, target)
    if parts is None:
        return whole
    if old[o.start : o.inner] != new[n.start : n.inner]:
        parts.insert(0, Patch("cvz-attrs", target, f"{new[n.start : n.inner]}</{n.tag}>"))
    if sum(_cost(p) for p in parts) >= _cost(whole[0]):
        return whole
    return parts


def _children(pair: _Pair, o: Element, n: Element, target: str, path: str) -> list[Patch] | None:
    """The patches that make `o`'s children into `n`'s (`target` finds `o`,
    `path` starts the selectors of its children); None if they cannot be
    matched up."""
    old, new = pair.old, pair.new
    okeys = _keys(o.children)
    nkeys = _keys(n.children)
    if okeys is None or nkeys is None:
        return None
    where = {key: i for i, key in enumerate(okeys)}
    # The old child each new one is (or None), in order.
    matched = [where.get(key) for key in nkeys]
    kept = [i for i in matched if i is not None]
    if kept != sorted(kept):
        return None
    # The text before each child, and after the last, as units with them.
    if old[_last_end(o) : o.close] != new[_last_end(n) : n.close]:
        return None
    patches: list[Patch] = []
    kept_set = set(kept)
    selectors = [_selector(pair, path, c, k) for k, c in enumerate(o.children)]
    for k in range(len(o.children)):
        if k not in kept_set:
            patches.append(Patch("cvz-drop", selectors[k], ""))
    later: list[Patch] = []
    run_from: int | None = None  # where the run of new children being read starts
    anchor: int | None = None  # the old child before it
    for j, i in enumerate([*matched, -1]):  # -1: past the last new child
        if i is None:
            if run_from is None:
                run_from = _end_before(n, j)
            continue
        if run_from is not None:
            html = new[run_from : n.children[j - 1].end]
            if anchor is None:
                patches.append(Patch("afterbegin", target, html))
            else:
                patches.append(Patch("afterend", selectors[anchor], html))
            run_from = None
        if i == -1:
            break
        oc, nc = o.children[i], n.children[j]
        if old[_end_before(o, i) : oc.start] != new[_end_before(n, j) : nc.start]:
            return None
        later.extend(_element(pair, oc, nc, selectors[i]))
        anchor = i
    return patches + later


def _keys(children: list[Element]) -> list[tuple[str, str, int]] | None:
    """Each child's key: its id, or its tag and its place among the children
    without an id; None if two children have one id."""
    keys = []
    anonymous = 0
    for c in children:
        if c.id is None:
            keys.append(("", c.tag, anonymous))
            anonymous += 1
        else:
            keys.append(("#", c.id, 0))
    if len(set(keys)) != len(keys):
        return None
    return keys


def _end_before(parent: Element, i: int) -> int:
    """Where the text before child `i` starts."""
    return parent.children[i - 1].end if i else parent.inner


def _last_end(parent: Element) -> int:
    return parent.children[-1].end if parent.children else parent.inner


def _selector(pair: _Pair, path: str, child: Element, index: int) -> str:
    if child.id is not None and child.id in pair.ids:
        return f"#{child.id}"
    return f"{path}>:nth-child({index + 1})"
