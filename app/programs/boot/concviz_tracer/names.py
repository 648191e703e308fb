"""Names users recognise: an object is named after the variable its creating
line assigns it to (``q = Queue(3)`` gives ``q``, ``self.q = Queue()`` gives
``self.q``, or ``alice.q`` in ``alice = Kitchen()``; ``a, b = Pipe()`` gives
``a`` and ``b``; ``inbox = make_queue()`` where it is returned gives
``inbox``), else ``<Type>@line``.
One made into a list (``forks = [Lock() for _ in range(5)]``,
``forks.append(Lock())``, ``forks += [Lock(), Lock()]``, ``.extend``) is
named as an item of it, ``forks[]``, which `registry` numbers in the order
they are made: ``forks[0]``, ``forks[1]``; one in a dict display by its key
(``locks = {"left": Lock()}`` gives ``locks['left']``).

The call being made is found exactly: the frame's current instruction has a
source position (``co_positions``), which is the position of its ``ast.Call``
node. Each user file is parsed once, when an object is first made in it.
"""

from __future__ import annotations

import ast
import linecache
from types import FrameType

# filename -> {(lineno, end_lineno, col, end_col) of a call: the names it is given}
_index: dict[str, dict[tuple[int, int, int, int], list[str]]] = {}
_looped: dict[str, set[tuple[int, int, int, int]]] = {}  # filename -> calls in a loop's body
_CONSTRUCTORS = ("__init__", "__new__")
ITEM = "[]"  # a name's end when it names an item of a list
RETURNED = "return"  # made to be returned (``return Queue()``): its caller names it


def _targets(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Tuple | ast.List):
        return [ast.unparse(e) for e in target.elts]
    return [ast.unparse(target)]


def _key(call: ast.expr) -> tuple[int, int, int, int]:
    return (call.lineno, call.end_lineno or 0, call.col_offset, call.end_col_offset or 0)


def _map(value: ast.expr | None, target: ast.expr | None, out: dict) -> None:
    if value is None or target is None:
        return
    if isinstance(value, ast.Call):
        out[_key(value)] = _targets(target)
    elif isinstance(value, ast.IfExp):  # q = Queue(3) if fifo else LifoQueue(3)
        _map(value.body, target, out)
        _map(value.orelse, target, out)
    elif isinstance(value, ast.ListComp | ast.List) and not isinstance(
        target, ast.Tuple | ast.List
    ):
        _items(value, ast.unparse(target), out)
    elif isinstance(value, ast.Dict) and not isinstance(target, ast.Tuple | ast.List):
        for k, v in zip(value.keys, value.values, strict=True):  # {"left": Lock()}
            if isinstance(k, ast.Constant) and isinstance(v, ast.Call):
                out[_key(v)] = [f"{ast.unparse(target)}[{k.value!r}]"]
    elif (
        isinstance(value, ast.Tuple | ast.List)
        and isinstance(target, ast.Tuple | ast.List)
        and len(value.elts) == len(target.elts)
    ):
        for v, t in zip(value.elts, target.elts, strict=True):
            _map(v, t, out)


def _items(value: ast.expr, owner: str, out: dict) -> None:
    """The calls whose results become items of the list `owner`: the
    element of ``[Lock() for ...]``, each call of ``[Lock(), Lock()]``."""
    if isinstance(value, ast.ListComp) and isinstance(value.elt, ast.Call):
        out[_key(value.elt)] = [owner + ITEM]
    elif isinstance(value, ast.List):
        for elt in value.elts:
            if isinstance(elt, ast.Call):
                out[_key(elt)] = [owner + ITEM]


def _build(filename: str) -> dict[tuple[int, int, int, int], list[str]]:
    out: dict[tuple[int, int, int, int], list[str]] = {}
    try:
        tree = ast.parse("".join(linecache.getlines(filename)), filename)
    except (SyntaxError, ValueError):
        return out
    looped = _looped[filename] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.AsyncFor | ast.While):
            looped.update(_key(n) for n in ast.walk(node) if isinstance(n, ast.Call))
        if isinstance(node, ast.Assign):
            _map(node.value, node.targets[0], out)
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr):
            _map(node.value, node.target, out)
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
            out[_key(node.value)] = [RETURNED]
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                _map(item.context_expr, item.optional_vars, out)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            _items(node.value, ast.unparse(node.target), out)  # xs += [Lock() for ...]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and len(node.args) == 1
        ):
            owner = ast.unparse(node.func.value)
            if node.func.attr == "append" and isinstance(node.args[0], ast.Call):
                out[_key(node.args[0])] = [owner + ITEM]  # xs.append(Lock())
            elif node.func.attr == "extend":
                _items(node.args[0], owner, out)  # xs.extend([Lock() for ...])
    return out


def _call(frame: FrameType) -> tuple[int, int, int, int] | None:
    """The position of the call `frame` is making."""
    lasti = frame.f_lasti
    for k, pos in enumerate(frame.f_code.co_positions()):
        if k == lasti // 2:
            return (pos[0] or 0, pos[1] or 0, pos[2] or 0, pos[3] or 0)
    return None


def _at(frame: FrameType) -> list[str] | None:
    filename = frame.f_code.co_filename
    if filename == "<string>" and frame.f_code.co_name in _CONSTRUCTORS:
        return _made_field(frame)
    index = _index.get(filename)
    if index is None:
        index = _index[filename] = _build(filename)
    if not index:
        return None
    call = _call(frame)
    return index.get(call) if call is not None else None


def _made_field(frame: FrameType) -> list[str] | None:
    """``self.lock`` for a dataclass's ``lock: Lock = field(default_factory=
    Lock)``, in the ``__init__`` that `dataclasses` wrote (no source to
    read): it sets its fields in their order, so the one being made is the
    first with a factory that it has not set yet."""
    import dataclasses

    self = next(iter(frame.f_locals.values()), None)  # its first argument
    if self is None or not dataclasses.is_dataclass(self):
        return None
    for f in dataclasses.fields(self):
        if f.default_factory is not dataclasses.MISSING and not hasattr(self, f.name):
            return [f"self.{f.name}"]
    return None


def _naming(frame: FrameType | None, user: object) -> tuple[FrameType, list[str]] | None:
    """The frame whose line names what the call in `frame` returns, and the
    names: `frame`'s own, or past a constructor of the user's own subclass
    (``super().__init__()``) or a function that returns it (``return
    Queue()``), its caller's. `user(filename)` says whose a file is."""
    while frame is not None:
        names = _at(frame)
        if names is not None and names != [RETURNED]:
            return frame, names
        if names is None and frame.f_code.co_name not in _CONSTRUCTORS:
            return None
        frame = frame.f_back
        if frame is None or not user(frame.f_code.co_filename):  # type: ignore[operator]
            return None
    return None


def given(frame: FrameType | None, user: object) -> list[str] | None:
    """The names the user's code gives to what the call in `frame` returns
    (`_naming`), an owner's in front of ``self.`` (`_owned`)."""
    found = _naming(frame, user)
    return _owned(*found, user) if found is not None else None


def given_once(frame: FrameType | None, user: object) -> str | None:
    """The one name the user's code gives to what the call in `frame`
    returns, where that call is not in a loop's body (there, each one made
    would have the same name) and names no attribute of ``self``; an item
    of a list (``procs[]``) too. Else None."""
    found = _naming(frame, user)
    if found is None:
        return None
    at, names = found
    names = _owned(at, names, user)
    if len(names) != 1 or names[0].startswith("self."):
        return None
    if not names[0].endswith(ITEM) and _call(at) in _looped.get(at.f_code.co_filename, ()):
        return None
    return names[0]


def _owned(frame: FrameType, names: list[str], user: object) -> list[str]:
    """``self.lock`` made in a constructor of the user's class, for an object
    its caller names (``alice = Account(100)``): ``alice.lock``, as a
    deadlock between two accounts is said (``self.forks[]`` made in a list
    comprehension there too)."""
    if frame.f_code.co_name.endswith("comp>") and frame.f_back is not None:
        frame = frame.f_back  # the comprehension's own frame (before Python 3.12)
    back = frame.f_back
    if frame.f_code.co_name not in _CONSTRUCTORS or back is None:
        return names
    if not user(back.f_code.co_filename):  # type: ignore[operator]
        return names
    owner = _at(back)
    if not owner or len(owner) != 1 or owner[0].endswith(ITEM) or owner == [RETURNED]:
        return names
    return [owner[0] + n[4:] if n.startswith("self.") else n for n in names]
