"""Patch a module right after it is imported, before anyone uses it.

Importing `multiprocessing` and `concurrent.futures` in every process would
cost each of them (the forkserver and the resource tracker included) tens
of milliseconds; instead a finder first in ``sys.meta_path`` lets the usual
finders find the module and runs the patch at the end of the module's own
execution. `multiprocessing` binds ``Queue``, ``Lock``... of its default
context at import, so patching ``multiprocessing.context`` this way (before
``multiprocessing/__init__`` goes on) gives ``from multiprocessing import
Queue`` the patched method too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from types import ModuleType

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from typing import Any

_hooks: dict[str, list[Callable[[ModuleType], None]]] = {}


def when_imported(name: str, patch: Callable[[ModuleType], None]) -> None:
    """Run `patch(module)` once module `name` is imported (now if it is)."""
    module = sys.modules.get(name)
    if module is not None:
        patch(module)
        return
    _hooks.setdefault(name, []).append(patch)
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def _run(name: str, module: ModuleType) -> None:
    for patch in _hooks.pop(name, []):
        try:
            patch(module)
        except Exception as e:  # the program runs on, untraced there
            sys.stderr.write(f"concviz: could not trace {name}: {e!r}\n")


class _Finder:  # a meta path finder (importlib.abc costs an import)
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader: Any = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then_patch(module: ModuleType) -> None:
            exec_module(module)
            _run(fullname, module)

        # The loader of a source module is its own object: patching it
        # touches no other module.
        loader.exec_module = exec_then_patch
        return spec
