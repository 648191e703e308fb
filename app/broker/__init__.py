"""The broker: a real Redis server that the broker lesson's runs share.

By default concviz starts one itself (`embedded`) on first use, in a
temporary directory, and stops it with the server; `--redis URL` (or
CONCVIZ_REDIS_URL) names a running one instead. Each run leases a database
of its own (`lease`), emptied when the run gives it back. Below the web
layer: the server calls `configure` and `sweep` at start, `shutdown` at
the end; a lesson calls `current` and `lease`.
"""

from __future__ import annotations

from app.broker.embedded import sweep
from app.broker.errors import BrokerUnavailable
from app.broker.service import Broker, BrokerInfo, Lease

__all__ = [
    "BrokerInfo",
    "BrokerUnavailable",
    "Lease",
    "configure",
    "current",
    "lease",
    "shutdown",
    "sweep",
]

# The server's one broker.
_broker = Broker()


def configure(url: str | None = None, *, lan: bool = False) -> None:
    """Use the Redis server at `url` (None: an embedded one, started on
    first use); with `lan`, an embedded one listens on every interface,
    behind a password. Stops an embedded one already started."""
    _broker.configure(url, lan=lan)


def current() -> BrokerInfo:
    """The broker now: where, which Redis, and why it cannot serve (or
    None). Starts the embedded server on the first call (about 0.1 s) or
    after it died; PINGs a given one (1 s at most). Never raises."""
    return _broker.current()


def lease() -> Lease:
    """A database of the broker's own for one run (`Lease.env` holds its
    REDIS_URL); raises BrokerUnavailable with the reason."""
    return _broker.lease()


def shutdown() -> None:
    """Stop the embedded server and remove its directory. Idempotent."""
    _broker.shutdown()
