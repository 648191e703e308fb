"""`concviz` and `python -m app`: serve the app.

Kept light at import time: worker processes import the main module again.
"""

from __future__ import annotations

import argparse
import gc
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from app.settings import Settings

# Open streams must not hold a shutdown forever.
GRACEFUL_SHUTDOWN_S = 3

# `--open` waits this long, so that the server answers the browser's first request.
OPEN_AFTER_S = 1.0


# A full collection runs after this many collections of the middle generation
# (Python's default: 10).
FULL_GC_EVERY = 100


def tune_gc() -> None:
    """Fewer and shorter full garbage collections. Each holds the event loop,
    and so every viewer's next frame, for as long as it walks the objects:
    with 1000 viewers (about 150 objects each: coroutines, closures, exit
    stacks) one took 60-120 ms, every 7 s (bench/fanout.py, measured with a
    `gc.callbacks` hook). What exists before serving (modules, the app) lives
    as long as the server and is frozen out of them, and they run a tenth as
    often. Nearly everything is freed by reference counting; the rest waits
    longer to be collected."""
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_GC_EVERY)


def open_browser(url: str) -> bool:
    """Open `url` in the browser. When that fails (`webbrowser.open` answers
    False, say on a server without a desktop), say why and print the address
    to open by hand."""
    if webbrowser.open(url):
        return True
    try:
        webbrowser.get()
        reason = "the browser did not start"
    except webbrowser.Error:
        reason = "no browser was found on this machine"
    print(f"concviz: could not open a browser: {reason}; open {url} yourself", flush=True)
    return False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="concviz",
        description="Serve concviz: real Python processes and threads, live in the browser.",
        epilog="Also: 'concviz run FILE.py [ARGS]' watches a program of yours run, live"
        " (on the server that answers on the port, or one it starts; --help for its"
        " flags); 'concviz worker --join URL' joins a run from another machine as one"
        " of its workers (the broker lesson).",
    )
    p.add_argument("--host", help="address to bind (default 127.0.0.1; env CONCVIZ_HOST)")
    p.add_argument("--port", type=int, help="port (default 8000; env CONCVIZ_PORT)")
    p.add_argument("--open", action="store_true", help="open the browser once serving")
    p.add_argument(
        "--lan",
        action="store_true",
        default=None,
        help="classroom mode: serve every interface; only the presenter (token) controls runs",
    )
    p.add_argument(
        "--redis",
        dest="redis_url",
        metavar="URL",
        help="the broker lesson's Redis server, redis://HOST:PORT/, rediss:// or unix:///PATH"
        " (default: an embedded one concviz starts; env CONCVIZ_REDIS_URL)",
    )
    p.add_argument("--max-workers", type=int, help="live workers across all runs (default 64)")
    p.add_argument("--max-runs", type=int, help="runs going at once (default 4)")
    p.add_argument(
        "--run-time-limit", type=float, help="seconds before a run stops itself (default 600)"
    )
    p.add_argument("--fps", type=float, help="frames per second per run, at most (default 20)")
    p.add_argument("--db", help="recordings database (default under the user's data directory)")
    p.add_argument(
        "--record-limit",
        type=int,
        help="events recorded per run; the run goes on unrecorded past it"
        " (default 2000000, 0: no limit)",
    )
    p.add_argument(
        "--send-timeout",
        type=float,
        help="seconds a stream's client may take to accept a message before it is dropped"
        " (default 10)",
    )
    p.add_argument(
        "--idle-limit",
        type=float,
        help="seconds a run may go with nothing happening (no event from any worker, not"
        " paused or in step mode) before it ends itself (default 120, 0: never)",
    )
    p.add_argument(
        "--allowed-hosts",
        help="more Host names to answer, comma-separated (a proxy's or a LAN name)",
    )
    add_program_limits(p)
    return p.parse_args(argv)


def add_program_limits(p: argparse.ArgumentParser) -> None:
    """The limits of a user's program (`/programs`, `concviz run`)."""
    g = p.add_argument_group("a user's program (it runs with your rights: these are its leash)")
    g.add_argument("--program-seconds", type=float, help="wall time (default 60)")
    g.add_argument(
        "--program-processes", type=int, help="live processes (default 16, or 2 per CPU if more)"
    )
    g.add_argument("--program-threads", type=int, help="live threads, all processes (default 128)")
    g.add_argument("--program-memory-mb", type=int, help="memory of one process (default 512)")
    g.add_argument("--program-output-kb", type=int, help="printed output (default 1024)")
    g.add_argument("--program-events", type=int, help="traced calls (default 10000000)")


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:  # concviz run FILE.py [ARGS]
        from app.programs.command import main as run_program

        run_program(argv[1:])
        return
    if argv[:1] == ["worker"]:  # concviz worker --join URL [--as ROLE]
        from app.joining.worker import main as join_as_worker

        raise SystemExit(join_as_worker(argv[1:]))
    serve(argv)


def serve(argv: list[str], on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until stopped; `on_ready(base_url)` runs in a thread of its own
    once the server answers."""
    import uvicorn

    from app.web.app import create_app
    from app.web.presenter import audience_url

    args = parse_args(argv)
    if args.lan and args.host is None:
        args.host = "0.0.0.0"
    # Each flag is named after its setting; a flag not given is None, and
    # leaves the setting to the environment or its default.
    settings = Settings.from_env(**{f.name: getattr(args, f.name, None) for f in fields(Settings)})
    app = create_app(settings)
    shown_host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0") else settings.host
    url = f"http://{shown_host}:{settings.port}/"
    print(f"concviz: serving on {url}", flush=True)
    if settings.lan:
        token = app.state.presenter.token
        url = f"{url}?token={token}"
        print(f"concviz: presenter (open once, keep it private): {url}", flush=True)
        print(f"concviz: audience: {audience_url(settings)}", flush=True)
    if args.open:
        threading.Timer(OPEN_AFTER_S, open_browser, args=(url,)).start()
    if on_ready is not None:
        base = f"http://127.0.0.1:{settings.port}"
        threading.Thread(target=on_ready, args=(base,), name="on-ready", daemon=True).start()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        log_level="warning",
    )
    tune_gc()
    _server_class()(config).run()


def _server_class() -> type:
    import uvicorn

    from app.web.streams import close_all_streams

    class Server(uvicorn.Server):
        """Ends the open streams as soon as a shutdown begins: pages keep
        theirs open, and would otherwise hold the shutdown for the whole
        graceful timeout."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            close_all_streams()
            super().handle_exit(sig, frame)

    return Server
