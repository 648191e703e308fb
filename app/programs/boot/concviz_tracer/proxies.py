"""A manager's proxies: the key of the object behind one, its `new`, and
the user's line that calls it (`managers`, `managed_values`)."""

from __future__ import annotations

from . import gate, registry, where

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any

LIB = "Manager"

_seen: set[str] = set()  # the keys this process has said `new` of


def key_of(token: Any) -> str:
    address = token.address
    if isinstance(address, tuple):
        address = ":".join(str(a) for a in address)
    return f"mgr:{address}/{token.id}"


def said_new(
    key: str, typeid: str, frame: Any, name: str | None, extra: dict[str, Any] | None = None
) -> None:
    _seen.add(key)
    registry.new(typeid, LIB, frame, name=name, key=key, **(extra or {}))


def opened(proxy: Any, op: str) -> tuple[str, dict[str, Any]]:
    """The key of `proxy`'s object and the user's line calling `op` on it,
    once step mode lets the call go."""
    key = key_of_proxy(proxy)
    data = where.at(3)
    gate.before(op, key, data)
    return key, data


def key_of_proxy(proxy: Any) -> str:
    token = proxy._token
    key = key_of(token)
    if key not in _seen:
        # Not the name on the user's line: that line uses it (item = q.get()).
        said_new(key, token.typeid, where.user_frame(2), f"<{token.typeid}>")
    return key


def bound(args: Any, kwds: Any, names: tuple[str, ...], defaults: tuple[Any, ...]) -> list[Any]:
    """The call's arguments by position, with their defaults."""
    out = list(defaults)
    for i, a in enumerate(args[: len(names)]):
        out[i] = a
    for i, n in enumerate(names):
        if n in kwds:
            out[i] = kwds[n]
    return out
