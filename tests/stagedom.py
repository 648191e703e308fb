"""A stage as a page holds it, to apply the stream's messages to, as htmx
and static/app.js do: the whole stage morphed in, or a patch's partials
(app/web/patches.py), each target found in the stage before any is applied.
Text nodes are kept apart as the browser's are (no merging), so that a
patch that would leave stray text behind shows it."""

from __future__ import annotations

import html as htmllib
import re

from app.web.markup import Element, parse

PARTIAL = re.compile(r'<hx-partial hx-target="([^"]*)" hx-swap="([^"]*)">(.*?)</hx-partial>', re.S)


class Node:
    def __init__(self, tag: str, start: str, end: str, children: list[Node | str]) -> None:
        self.tag, self.start, self.end, self.children = tag, start, end, children
        self.id = (re.search(r'\sid="([^"]*)"', start) or [None, None])[1]

    def html(self) -> str:
        return (
            self.start
            + "".join(c if isinstance(c, str) else c.html() for c in self.children)
            + self.end
        )

    def elements(self) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node)]


def nodes(text: str) -> list[Node | str]:
    """The nodes of a fragment, as a browser would parse it."""
    tree = parse(text)
    assert tree is not None, f"a fragment the browser would read otherwise: {text[:200]}"
    return _children(text, tree)


def _children(text: str, el: Element) -> list[Node | str]:
    out: list[Node | str] = []
    at = el.inner
    for c in el.children:
        if c.start > at:
            out.append(text[at : c.start])
        start = text[c.start : c.inner]
        if c.end == c.inner:  # a void element: nothing inside, no end tag
            out.append(Node(c.tag, start, "", []))
        elif c.tag in ("svg", "math"):  # read whole, as app.web.markup does
            out.append(Node(c.tag, start, text[c.inner : c.end], []))
        else:
            out.append(Node(c.tag, start, text[c.close : c.end], _children(text, c)))
        at = c.end
    if el.close > at:
        out.append(text[at : el.close])
    return out


class Stage:
    def __init__(self, html: str = "") -> None:
        self.root = Node("section", "", "", nodes(html))

    def html(self) -> str:
        return self.root.html()

    def receive(self, data: str) -> None:
        """Apply one message's data, as the page's stage does."""
        partials = PARTIAL.findall(data)
        if not partials:
            assert "<hx-partial" not in data, data[:300]
            self.root.children = nodes(data)  # innerMorph: the same nodes in the end
            return
        assert PARTIAL.sub("", data).strip() == "", "a patch is only partials"
        tasks = [(self._find(htmllib.unescape(t)), swap, body) for t, swap, body in partials]
        for (parent, node), swap, body in tasks:
            self._swap(parent, node, swap, body)

    def _find(self, target: str) -> tuple[Node | None, Node]:
        if target == "this":
            return None, self.root
        assert target.startswith("find "), target
        steps = target[5:].split(">")
        parent, node = None, self._by_id(steps[0]) if steps[0] != ":scope" else self.root
        for step in steps[1:]:
            k = int(re.fullmatch(r":nth-child\((\d+)\)", step)[1])  # type: ignore[index]
            parent, node = node, node.elements()[k - 1]
        if parent is None:
            parent = self._parent(self.root, node)
        return parent, node

    def _by_id(self, step: str) -> Node:
        assert step.startswith("#"), step
        found = [n for n in _walk(self.root) if n.id == step[1:]]
        assert found, f"no element {step} in the stage"
        return found[0]

    def _parent(self, at: Node, node: Node) -> Node | None:
        for c in at.elements():
            if c is node:
                return at
            p = self._parent(c, node)
            if p is not None:
                return p
        return None

    def _swap(self, parent: Node | None, node: Node, swap: str, body: str) -> None:
        if swap == "afterbegin":
            node.children[:0] = nodes(body)
            return
        assert parent is not None, f"{swap} on the stage itself"
        at = next(i for i, c in enumerate(parent.children) if c is node)
        if swap == "outerMorph":
            parent.children[at : at + 1] = nodes(body)
        elif swap == "afterend":
            parent.children[at + 1 : at + 1] = nodes(body)
        elif swap == "cvz-drop":
            start = at - 1 if at and isinstance(parent.children[at - 1], str) else at
            del parent.children[start : at + 1]
        elif swap == "cvz-attrs":
            new = nodes(body)
            assert len(new) == 1
            assert isinstance(new[0], Node)
            assert new[0].tag == node.tag
            node.start = new[0].start
        else:
            raise AssertionError(f"unknown swap {swap}")


def _walk(node: Node) -> list[Node]:
    out = []
    for c in node.elements():
        out.append(c)
        out.extend(_walk(c))
    return out
