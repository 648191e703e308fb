"""A rendered stage read as a tree of elements, to tell what changed between
two frames (`app.web.patches`).

Only markup this app renders is read here: Jinja's output with every value
escaped, so a `<` or `>` is never inside a text or an attribute value. The
reading is strict: markup a browser would build into another tree than the
one written (a block inside a `<p>`, a `<tr>` straight in a `<table>`, an
unclosed or stray tag, a `<div/>`, raw text elements) makes it `None`, and
such a stage is then always sent whole. Nothing inside an `<svg>` or
`<math>` is read apart: its children are parsed in another namespace than a
fragment sent alone would be.
"""

from __future__ import annotations

import re

# The tags and comments of a rendered page; attribute values are escaped,
# so `>` ends a tag.
_TAG = re.compile(r"<(?:!--.*?--|(/?)([A-Za-z][A-Za-z0-9-]*)([^>]*))>", re.S)
_ID = re.compile(r"""\sid=(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""")

VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())  # noqa: SIM905
# Read whole: their children are in another namespace.
OPAQUE = frozenset({"svg", "math"})
# Their content is not markup, or the parser treats it specially.
_RAW = frozenset({"script", "style", "textarea", "title", "template", "xmp", "iframe", "noscript"})
# A <p> ends at any of these: the browser's tree would differ from the text.
_ENDS_P = frozenset(
    "address article aside blockquote details dialog div dl fieldset figcaption figure"  # noqa: SIM905
    " footer form h1 h2 h3 h4 h5 h6 header hgroup hr main menu nav ol p pre section"
    " table ul".split()
)
_TABLE_PARTS = frozenset({"tr", "td", "th"})


class Element:
    """One element of a frame: where it is in the frame's text, and its
    element children in order (text is what lies between them)."""

    __slots__ = ("children", "close", "end", "id", "inner", "start", "tag")

    def __init__(self, tag: str, start: int, inner: int, id: str | None) -> None:
        self.tag = tag
        self.start = start  # its `<`
        self.inner = inner  # just after its start tag
        self.close = inner  # where its end tag starts
        self.end = inner  # just after its end tag
        self.id = id
        self.children: list[Element] = []


def parse(html: str) -> Element | None:
    """The elements of `html`, under a root spanning all of it (tag ""); None
    if the browser would read it otherwise (see the module's docstring)."""
    root = Element("", 0, 0, None)
    stack = [root]
    opaque = 0  # depth inside an <svg> or <math>
    for m in _TAG.finditer(html):
        closing, tag, rest = m.groups()
        if tag is None:  # a comment
            continue
        if not tag.islower():
            tag = tag.lower()
        if closing:
            top = stack[-1]
            if top.tag != tag or len(stack) == 1:
                return None
            top.close, top.end = m.span()
            stack.pop()
            if opaque and tag in OPAQUE:
                opaque -= 1
            continue
        alone = rest.endswith("/")  # <x/>
        if opaque:
            if tag in OPAQUE:
                opaque += 1
            if not alone:
                stack.append(Element(tag, 0, 0, None))  # closed, not kept
            continue
        if tag in _RAW or (alone and tag not in VOID and tag not in OPAQUE):
            return None
        parent = stack[-1]
        if (parent.tag == "p" and tag in _ENDS_P) or (
            tag in _TABLE_PARTS and parent.tag in ("table", "")
        ):
            return None
        found = _ID.search(rest) if "id=" in rest else None
        start, end = m.span()
        el = Element(tag, start, end, _first(found.groups()) if found else None)
        parent.children.append(el)
        if alone or tag in VOID:
            continue
        if tag in OPAQUE:
            opaque = 1
        stack.append(el)
    if len(stack) != 1:
        return None
    root.close = root.end = len(html)
    return root


def _first(groups: tuple[str | None, ...]) -> str | None:
    return next((g for g in groups if g is not None), None)
