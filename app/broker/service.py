"""The broker the lesson's runs share: the embedded Redis server (started
on first use) or the one `--redis URL` names, and the databases it lends,
one to each running run.

A run's database is its own (its program finds it in REDIS_URL), emptied
and given back when the run ends. Redis has 16 (0 to 15); 0 is left
alone, being where a client without a database in its URL lands, so 15
runs may use the broker at once. On a server concviz did not start, a
database that holds keys is someone else's, and is never lent.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass

from app.broker import urls
from app.broker.client import TIMEOUT_S, connected, redis_version
from app.broker.embedded import EmbeddedRedis, version_problem
from app.broker.errors import BrokerUnavailable, reason

log = logging.getLogger(__name__)

DATABASES = range(1, 16)
# A joined worker's Redis user: every key and command of a program, none
# that reads or changes the server itself (its users, its config, its data
# on disk).
GUEST_RULES = ("on", "resetkeys", "~*", "resetchannels", "&*", "+@all", "-@admin", "-@dangerous")


@dataclass(frozen=True)
class BrokerInfo:
    url: str | None  # where the server is, never with its password
    error: str | None  # why it cannot serve a run (None: it answers)
    embedded: bool  # started by concviz
    version: str | None  # Redis's


class Lease:
    """One run's own database on the broker; `env` goes to its program.

    Workers that join the run from other machines get a Redis user of the
    run's own (`guest_env`), with a password made for it, rather than the
    server's: revoking joining deletes that user and cuts its connections
    (`revoke_guest`), so a revoked machine can no longer reach Redis."""

    def __init__(self, broker: Broker, db: int, url: str, server: EmbeddedRedis | None) -> None:
        self.db = db
        self.env = {"REDIS_URL": url}
        self._broker = broker
        self._server = server  # the embedded server it was lent on (None: --redis)
        self._guest: tuple[str, str] | None = None  # (user, its URL)
        self._guest_lock = threading.Lock()
        self.closed = False

    def guest_env(self) -> dict[str, str]:
        """The environment for a joined worker: the run's database as its
        guest user (made on the first call after a revoke). A server that
        wants no password (only this machine reaches it), or refuses to make
        a user, is given as it is."""
        url = self.env["REDIS_URL"]
        if urls.password(url) is None:
            return dict(self.env)
        with self._guest_lock:
            if self._guest is None:
                user = f"concviz-run{self.db}-{secrets.token_hex(4)}"
                secret = secrets.token_urlsafe(24)
                try:
                    with connected(url) as client:
                        client.execute_command("ACL", "SETUSER", user, *GUEST_RULES, f">{secret}")
                except Exception as exc:
                    log.warning("broker: no guest user for database %d: %s", self.db, exc)
                    return dict(self.env)
                self._guest = (user, urls.with_user(url, user, secret))
            return {"REDIS_URL": self._guest[1]}

    def revoke_guest(self) -> None:
        """Delete the guest user and close its connections. Idempotent."""
        with self._guest_lock:
            guest, self._guest = self._guest, None
        if guest is None:
            return
        try:
            with connected(self.env["REDIS_URL"]) as client:
                # Its connections first: once deleted, Redis knows no such user to kill.
                client.execute_command("CLIENT", "KILL", "USER", guest[0])
                client.execute_command("ACL", "DELUSER", guest[0])
        except Exception as exc:
            log.warning("broker: could not delete guest user %s: %s", guest[0], exc)

    def close(self) -> None:
        """Delete its guest, empty the database (FLUSHDB) and give it back.
        Idempotent."""
        self.revoke_guest()
        self._broker._release(self)

    def check(self) -> str | None:
        """Why the broker can no longer serve this run (None: it answers)."""
        return self._broker._check(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Lease db={self.db} {urls.shown(self.env['REDIS_URL'])}>"


class Broker:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._url: str | None = None  # --redis; None: embedded
        self._lan = False
        self._server: EmbeddedRedis | None = None
        self._leased: dict[int, Lease] = {}

    def configure(self, url: str | None = None, *, lan: bool = False) -> None:
        if url is not None and (problem := urls.problem(url)):
            raise ValueError(f"--redis {problem}")
        with self._lock:
            self.shutdown()
            self._url, self._lan = url, lan

    def current(self) -> BrokerInfo:
        """The broker as it is now: the embedded server is started on the
        first call (and again if it died), a given one is PINGed. Never
        raises; blocks for at most about a second on a given server."""
        with self._lock:
            if self._url is not None:
                return self._given()
            return self._embedded()

    def _given(self) -> BrokerInfo:
        assert self._url is not None
        shown = urls.shown(self._url)
        try:
            version = redis_version(self._url)
        except Exception as exc:  # redis-py's errors, OSError
            return BrokerInfo(shown, reason(exc, shown), False, None)
        problem = version_problem(version, f"the Redis server at {shown}")
        return BrokerInfo(shown, problem, False, version)

    def _embedded(self) -> BrokerInfo:
        server = self._server
        if server is not None and not server.running():
            log.warning("broker: %s; starting another", server.ended_why())
            self._drop_server()
            server = None
        if server is None:
            try:
                server = EmbeddedRedis.start(lan=self._lan)
            except BrokerUnavailable as exc:
                return BrokerInfo(None, str(exc), True, None)
            self._server = server
        try:
            with connected(server.url) as client:
                client.ping()
        except Exception as exc:
            return BrokerInfo(server.shown_url, reason(exc, server.shown_url), True, server.version)
        return BrokerInfo(server.shown_url, None, True, server.version)

    def lease(self) -> Lease:
        """A database of the broker for one run; raises BrokerUnavailable."""
        info = self.current()
        if info.error is not None:
            raise BrokerUnavailable(info.error)
        with self._lock:
            server = self._server
            base = server.url if server is not None else self._url
            assert base is not None
            others = 0
            for db in DATABASES:
                if db in self._leased:
                    continue
                url = urls.with_db(base, db)
                if server is None and not self._empty(url):
                    others += 1
                    continue
                lease = self._leased[db] = Lease(self, db, url, server)
                return lease
        if others:
            raise BrokerUnavailable(
                f"no free database on the Redis server at {info.url}: {others} of databases 1"
                " to 15 hold someone else's keys, and the others are in use by broker runs"
            )
        raise BrokerUnavailable(
            "the broker is busy: it holds at most 15 broker runs at once; wait for one to end"
        )

    def _empty(self, url: str) -> bool:
        try:
            with connected(url) as client:
                return int(client.dbsize()) == 0
        except Exception as exc:
            raise BrokerUnavailable(reason(exc, urls.shown(url))) from None

    def _release(self, lease: Lease) -> None:
        with self._lock:
            if lease.closed:
                return
            lease.closed = True
            server = lease._server
            flush = server is None or (server is self._server and server.running())
        # The database stays lent while it is emptied: no run gets it half-full.
        if flush:
            try:
                with connected(lease.env["REDIS_URL"]) as client:
                    client.flushdb()
            except Exception as exc:
                log.warning("broker: could not empty database %d: %s", lease.db, exc)
        with self._lock:
            if self._leased.get(lease.db) is lease:
                del self._leased[lease.db]

    def _check(self, lease: Lease) -> str | None:
        server = lease._server
        url = lease.env["REDIS_URL"]
        try:
            with connected(url) as client:
                client.ping()
        except Exception as exc:
            # An embedded server that does not answer may be just dead:
            # say how it ended rather than how the socket failed.
            if server is not None and server.ended(TIMEOUT_S):
                return server.ended_why()
            return reason(exc, urls.shown(url))
        return None

    def shutdown(self) -> None:
        """Stop the embedded server and remove its directory. Idempotent."""
        with self._lock:
            self._drop_server()
            self._leased = {}

    def _drop_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
