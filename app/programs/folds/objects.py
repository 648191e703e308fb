"""The program's objects (queues, locks, events, pipes, pools...) as the
fold keeps them: made on the tracer's `new`, or on first sight when that
was lost."""

from __future__ import annotations

from app.events import Event
from app.programs.state import ObjView, ProgramState


def new(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    key = e.item or ""
    if not key or key in state.objs:
        return
    obj = ObjView(
        key,
        str(d.get("type", "")),
        str(d.get("lib", "")),
        str(d.get("name") or key),
        line=d.get("line"),
        maxsize=int(d.get("maxsize") or 0),
        value=d.get("value"),
        parties=int(d.get("parties") or 0),
        peer=str(d.get("peer") or ""),
        workers=int(d.get("workers") or 0),
        guards=str(d.get("guards") or ""),
        family=str(d.get("family") or ""),
        local=str(d.get("local") or ""),
        remote=str(d.get("peer") or "") if d.get("type") == "socket" else "",
        shows=None if d.get("shows") is None else str(d["shows"]),
        locked_at_fork=bool(d.get("locked_at_fork")),
        copy_in=str(d.get("copy_in") or ""),
    )
    names = {o.name for o in state.objs.values() if o.copy_in == obj.copy_in}
    if obj.name in names:  # two objects made on lines with the same variable
        obj.name = f"{obj.name}@{obj.line}" if obj.line else f"{obj.name}#{len(state.objs)}"
    state.objs[key] = obj


def obj_of(state: ProgramState, e: Event) -> ObjView:
    obj = state.objs.get(e.item)  # type: ignore[arg-type]
    if obj is not None:
        return obj
    key = e.item or ""
    obj = state.objs.get(key)
    if obj is None:  # its `new` was lost, or made where nothing is traced
        obj = state.objs[key] = ObjView(key, "?", "", key)
    return obj


def changed(state: ProgramState, e: Event) -> None:
    """A Manager's dict, list, Value, Array or Namespace changed: what it
    holds now."""
    shows = (e.data or {}).get("shows")
    if shows is not None:
        obj_of(state, e).shows = str(shows)
