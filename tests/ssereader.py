"""A small reader of server-sent events for the tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Message:
    data: str
    id: str | None = None
    event: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


def messages(response: httpx.Response) -> Iterator[Message]:
    data: list[str] = []
    msg_id: str | None = None
    event: str | None = None
    for line in response.iter_lines():
        if line == "":
            if data or event:
                yield Message("\n".join(data), msg_id, event)
            data, msg_id, event = [], None, None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                data.append(value)
            elif field == "id":
                msg_id = value
            elif field == "event":
                event = value


def read_events(
    client: httpx.Client, run_id: str, last_event_id: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """JSON events of a run until the stream ends (or `limit` of them)."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    out: list[dict[str, Any]] = []
    with client.stream("GET", f"/api/runs/{run_id}/events", headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for msg in messages(r):
            event = msg.json()
            assert msg.id == str(event["seq"])
            out.append(event)
            if limit is not None and len(out) >= limit:
                break
    return out
