"""A manager's dicts, lists, Values, Arrays and Namespaces: what one holds
when it is made, and after each call that changes it (`changed`), asked of
the manager's server while it holds at most SHOWN_UP_TO items and while
asking is quick (`managers`)."""

from __future__ import annotations

import time

from . import kinds as K
from . import recorder, where
from .proxies import opened

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

CONTAINERS = K.MANAGER_VALUES
SHOWN_UP_TO = 64  # a dict, list or Array is shown while it holds at most this many
SHOWN_CHARS = 240  # and this much of what it holds
SLOW_S = 0.05  # a fetch of its contents that took longer: by its length only, then

_slow: set[str] = set()  # those of CONTAINERS whose contents are slow to fetch


def made(typeid: str, args: Any, kwds: Any) -> str | None:
    """What a new dict, list, Value, Array or Namespace holds, from the
    arguments that made it."""
    if typeid not in CONTAINERS:
        return None
    try:
        if typeid == "Value":
            return where.short_repr(args[1]) if len(args) > 1 else None
        if typeid == "Array":
            return shown(list(args[1])) if len(args) > 1 else None
        if typeid == "Namespace":
            # as a Namespace prints itself: by name
            fields = ", ".join(f"{k}={where.short_repr(v)}" for k, v in sorted(kwds.items()))
            return _cut(f"Namespace({fields})")
        return shown(dict(*args, **kwds) if typeid == "dict" else list(*args))
    except Exception:  # arguments the server will refuse too
        return None


def _cut(text: str) -> str:
    """`text` cut at SHOWN_CHARS, keeping its closing bracket."""
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 2] + "…" + text[-1]


def shown(value: dict[Any, Any] | list[Any]) -> str:
    """A dict or list as Python prints it, in its order, each item short
    (`where.short_repr`), cut at SHOWN_CHARS; a big one by its length."""
    if len(value) > SHOWN_UP_TO:
        return f"<{len(value)} items>"
    if isinstance(value, dict):
        text = ", ".join(f"{where.short_repr(k)}: {where.short_repr(v)}" for k, v in value.items())
        text = "{" + text + "}"
    else:
        text = "[" + ", ".join(where.short_repr(v) for v in value) + "]"
    return _cut(text)


CHANGES = {
    "Value": ("set",),
    "Array": ("__setitem__",),
    "Namespace": ("__setattr__", "__delattr__"),
    "dict": ("__setitem__", "__delitem__", "clear", "pop", "popitem", "setdefault", "update"),
    "list": (
        *("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend"),
        *("insert", "pop", "remove", "reverse", "sort", "clear"),
    ),
}


# How step mode names such a call ("w1 wants: set item in tally").
ACTIONS = {
    "__setitem__": "set_item_in",
    "__delitem__": "delete_item_from",
    "__iadd__": "add_to",
    "__setattr__": "set_attribute_of",
    "__delattr__": "delete_attribute_of",
}


def change(method: str) -> Any:
    """The traced `method` of one of CONTAINERS' proxies that changes it."""

    def call(proxy: Any, real: Any, args: Any, kwds: Any) -> Any:
        key, data = opened(proxy, ACTIONS.get(method, method.strip("_")))
        result = real(proxy, method, args, kwds)
        # Stamped as it asks what the object holds: the change stamped last
        # shows what every change before it left.
        t = time.monotonic_ns()
        data.update(op=method, shows=_holds(proxy, real, key))
        recorder.emit(K.CHANGED, key, data, t)
        return result

    return call


def _holds(proxy: Any, real: Any, key: str) -> str:
    """What the object `key` holds now, short: asked of the server."""
    typeid = proxy._token.typeid
    try:
        if typeid == "Value":
            return where.short_repr(real(proxy, "get", (), {}))
        if typeid != "Namespace":
            n = int(real(proxy, "__len__", (), {}))
            if n > SHOWN_UP_TO or key in _slow:
                return f"<{n} items>"
        elif key in _slow:
            return "Namespace(…)"
        start = time.monotonic()
        if typeid == "Namespace":  # its repr, made by the server
            value: Any = str(real(proxy, "__repr__", (), {}))
        elif typeid == "dict":
            value = real(proxy, "copy", (), {})
        else:
            value = real(proxy, "__getitem__", (slice(None),), {})
        if time.monotonic() - start > SLOW_S:
            _slow.add(key)
        return _cut(value) if isinstance(value, str) else shown(value)
    except Exception:  # the server has gone
        return "?"
