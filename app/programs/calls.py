"""A thread's call as the program writes it (``q.get()``, ``lock.acquire()``),
for the step buttons and the timeline: the program's own words, the same
in both languages of the page. A wait that no call of the program names
(its code is done and it waits for its children, an event loop with
nothing to run) keeps its key, which the timeline says in words. Pure."""

from __future__ import annotations

import re

from app.i18n import N_

# A call the program writes otherwise than `obj.op()`; `…` is what the
# trace does not say (a key, a value).
WRITTEN = {
    "qjoin": "{obj}.join()",
    "cwait": "{obj}.wait()",
    "bwait": "{obj}.wait()",
    "sock_read": "{obj}.recv()",
    "sock_write": "{obj}.sendall()",
    "sleep": "time.sleep()",
    "pipe_read": "os.read()",
    "pipe_write": "os.write()",
    "fd_read": "os.read()",
    "fd_write": "os.write()",
    "select": "select.select()",
    "input": "input()",
    "set_item_in": "{obj}[…] = …",
    "delete_item_from": "del {obj}[…]",
    "add_to": "{obj} += …",
    "set_attribute_of": "{obj}.… = …",
    "delete_attribute_of": "del {obj}.…",
}
# Waits the program does not write as a call, and how the timeline says them.
UNWRITTEN = {
    "exit": N_("its code done, waiting for its threads and processes"),
    "loop": N_("in its event loop, with nothing to run"),
    "loop_io": N_("in its event loop, waiting for input or output"),
    "work": N_("waiting for a task"),
    "result": N_("waiting for a result"),
}


def written(op: str, obj: str) -> str:
    """`op` on the object named `obj` (or on none) as the program writes it."""
    if op in UNWRITTEN:
        return op
    form = WRITTEN.get(op)
    if form is not None:
        return form.format(obj=obj or "…")
    return f"{obj}.{op}()" if obj else f"{op}()"


CALL_SHOWN = 48  # a call longer than this on its line is said without its arguments: f(…)


def as_on_line(text: str, method: str, receiver: str | None = None) -> str | None:
    """The call of `method` on `receiver` as the line `text` writes it,
    arguments and all (``tallies.get(timeout=0.2)``); on whatever the line
    calls it on if `receiver` is None (a thread's ``t0.start()``); a
    function's, on nothing, if it is "" (``print(f"{name} here")``);
    ``print(…)`` if its arguments are too long to show. None if the line
    has no such call."""
    if receiver is None:  # on whatever it is called on
        before = r"[\w.\[\]]+\."
    else:  # on `receiver`, or on nothing (a function: print)
        before = rf"(?<![\w.]){re.escape(receiver)}\." if receiver else r"(?<![\w.])"
    found = re.search(rf"{before}{re.escape(method)}\(", text)
    if found is None:
        return None
    depth, end = 1, found.end()
    while end < len(text) and depth:
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        end += 1
    if depth:
        return None
    call = text[found.start() : end]
    return call if len(call) <= CALL_SHOWN else text[found.start() : found.end()] + "…)"
