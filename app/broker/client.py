"""Talking to a Redis server: a short-lived client, never waiting long.

redis-py is imported on first use (100 ms), not with the server's modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# How long a Redis server gets to accept a connection and to answer a command.
TIMEOUT_S = 1.0


@contextmanager
def connected(url: str) -> Iterator[Any]:
    """A redis-py client of the server at `url`, closed after use."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
    try:
        yield client
    finally:
        client.close()


def redis_version(url: str) -> str:
    """The version of the Redis server at `url`, once it answers PING."""
    with connected(url) as client:
        client.ping()
        return str(client.info("server")["redis_version"])
