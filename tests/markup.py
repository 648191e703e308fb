"""A user's program whose labels carry markup (a thread's name, an item it
prints, its exception's message), for the escaping tests."""

from __future__ import annotations

from typing import Any

import httpx
from probes import ENDED, settle, wait_for

XSS = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"

PROGRAM = f"""
import queue
import threading

XSS = {XSS!r}


def work():
    q = queue.Queue()
    q.put(XSS + "#1")
    print(q.get())
    raise RuntimeError("crashed on " + XSS)


t = threading.Thread(target=work, name=XSS)
t.start()
t.join()
"""


def marked_run(client: httpx.Client) -> dict[str, Any]:
    """A run of `PROGRAM`: ended, recorded, its thread crashed with markup in
    its name and its message."""
    r = client.post("/api/programs", json={"source": PROGRAM, "args": []})
    assert r.status_code == 201, r.text
    done = wait_for(client, r.json()["id"], lambda r: r["status"] in ENDED)
    assert done["status"] == "finished"  # the thread's crash is the program's business
    crashed = next(w for w in done["workers"] if w["name"] == XSS)
    assert crashed["state"] == "crashed"
    assert XSS in crashed["error"]
    # The replay pages read the recording, written every FLUSH_S.
    settle(
        lambda: {r["id"]: r["status"] for r in client.get("/api/recordings").json()}.get(
            done["id"]
        ),
        lambda status: status == "finished",
    )
    return done
