"""Which modules get traced objects, and when (right after their import)."""

from __future__ import annotations

import sys
from types import ModuleType

from . import hooks, recorder, where

TYPE_CHECKING = False  # typing costs an import in every process
if TYPE_CHECKING:
    from typing import Any


def install() -> None:
    hooks.when_imported("threading", _threading)
    hooks.when_imported("queue", _queue)
    hooks.when_imported("asyncio.queues", _asyncio_queues)
    hooks.when_imported("multiprocessing.context", _context)
    hooks.when_imported("multiprocessing.pool", _pool)
    hooks.when_imported("multiprocessing.synchronize", _synchronize)
    hooks.when_imported("multiprocessing.sharedctypes", _sharedctypes)
    hooks.when_imported("multiprocessing.shared_memory", _shared_memory)
    hooks.when_imported("concurrent.futures._base", _futures)
    hooks.when_imported("concurrent.futures.thread", _executors)
    hooks.when_imported("concurrent.futures.process", _executors)
    hooks.when_imported("redis.client", _redis)
    hooks.when_imported("multiprocessing.managers", _managers)
    hooks.when_imported("traceback", where.hide_in_tracebacks)
    hooks.when_imported("socket", _socket)


def _threading(threading: ModuleType) -> None:
    from . import locks, syncs

    locks.install(threading)
    syncs.install(threading)


def _queue(queue: ModuleType) -> None:
    from . import queues

    queues.install(queue)


def _asyncio_queues(module: ModuleType) -> None:
    from . import aqueues

    aqueues.install(module)


def _redis(client: ModuleType) -> None:
    from . import redisq

    redisq.install(client)


def _managers(managers: ModuleType) -> None:
    from . import managers as traced

    traced.install(managers)


def _synchronize(synchronize: ModuleType) -> None:
    from . import semnames

    semnames.install(synchronize)


def _sharedctypes(sharedctypes: ModuleType) -> None:
    from . import shared

    shared.install(sharedctypes)


def _shared_memory(module: ModuleType) -> None:
    from . import shm

    shm.install(module)


def _socket(module: ModuleType) -> None:
    from . import sockets

    sockets.install(module)


def _pool(pool: ModuleType) -> None:
    from . import pools

    pools.install_pool(pool)


def _futures(base: ModuleType) -> None:
    from . import results

    results.install_futures(base)


def _executors(module: ModuleType) -> None:
    from . import pools

    pools.install_executor(module)


# multiprocessing's context methods: the user's calls get traced objects.

_MADE_BY = {
    "Queue": ("mpqueues", "make_queue"),
    "JoinableQueue": ("mpqueues", "make_joinable"),
    "SimpleQueue": ("mpqueues", "make_simple"),
    "Lock": ("mpsync", "make_lock"),
    "RLock": ("mpsync", "make_rlock"),
    "Semaphore": ("mpsync", "make_semaphore"),
    "BoundedSemaphore": ("mpsync", "make_bounded"),
    "Condition": ("mpsync", "make_condition"),
    "Event": ("mpsync", "make_event"),
    "Barrier": ("mpsync", "make_barrier"),
    "Value": ("mpsync", "make_shared"),
    "Array": ("mpsync", "make_shared"),
    "Pipe": ("conns", "make_pipe"),
    "Pool": ("pools", "make_pool"),
}


def _context(context: ModuleType) -> None:
    BaseContext: Any = context.BaseContext
    for name, (module, maker) in _MADE_BY.items():
        setattr(BaseContext, name, _traced_method(getattr(BaseContext, name), module, maker))
    # Bound at import as the default context's methods: bind them again
    # (when multiprocessing was imported before the tracer was installed).
    mp = sys.modules.get("multiprocessing")
    default = getattr(context, "_default_context", None)
    if mp is not None and default is not None and hasattr(mp, "Queue"):
        for name in _MADE_BY:
            setattr(mp, name, getattr(default, name))


def _traced_method(real: Any, module: str, maker: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        frame = where.called_by_user(1)
        if frame is None or recorder.is_silent():
            return real(self, *args, **kwargs)
        make = getattr(__import__(f"{__package__}.{module}", fromlist=[maker]), maker)
        return make(self, frame, real, *args, **kwargs)

    method.__name__ = real.__name__
    method.__qualname__ = real.__qualname__
    method.__doc__ = real.__doc__
    return method
