"""A thread's call as the program writes it (``q.get()``, ``lock.acquire()``),
for the step buttons and the timeline: the program's own words, the same
in both languages of the page. A wait that no call of the program names
(its code is done and it waits for its children, an event loop with
nothing to run) keeps its key, which the timeline says in words. Pure."""

from __future__ import annotations

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
