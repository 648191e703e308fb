"""What a run takes from outside its program (`Experiment.prepare`: the
broker lesson's database on a Redis server): held from the run's start to
its end, asked now and then whether it still serves, given back once."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class Outside:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: Any = None

    def take(self, experiment: Any) -> None:
        """Take what `experiment` needs (nothing if it names nothing); its
        own exception (the broker unavailable) goes to the caller."""
        prepare = getattr(experiment, "prepare", None)
        held = prepare() if prepare is not None else None
        with self._lock:
            self._held = held

    @property
    def env(self) -> dict[str, str]:
        """The environment it gives the program (REDIS_URL); empty once given back."""
        with self._lock:
            return dict(getattr(self._held, "env", None) or {})

    def guest_env(self) -> dict[str, str]:
        """The environment for a worker joined from another machine (the
        broker's guest user, `Lease.guest_env`); `env` if it has none."""
        with self._lock:
            held = self._held
        make = getattr(held, "guest_env", None)
        return dict(make()) if make is not None else self.env

    def revoke_guest(self) -> None:
        """Close the joined workers' own way in, if it has one."""
        with self._lock:
            revoke = getattr(self._held, "revoke_guest", None)
        if revoke is not None:
            revoke()

    def gone(self) -> str | None:
        """Why it no longer serves the run, in its own words, or None."""
        with self._lock:
            check = getattr(self._held, "check", None)
        if check is None:
            return None
        try:
            why: str | None = check()
        except Exception:
            log.exception("could not check what the run uses")
            return None
        return why or None

    def give_back(self) -> None:
        """Idempotent; a failure is logged (the run has ended), never raised."""
        with self._lock:
            held, self._held = self._held, None
        if held is not None:
            try:
                held.close()
            except Exception:
                log.exception("could not release what the run used")
