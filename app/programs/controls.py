"""The files in a run's directory through which the server steers its
program while it runs, each written whole or not at all:

- step mode's gate (`concviz_tracer/gate.py`): one byte every process of
  the program maps (step mode on or off), and the speed its sleeps scale by;
- the permits directory, where a permit for a thread appears (a file named
  after its native id);
- a lesson's live settings (`concviz_live.py`), a JSON file of its
  constants' values;
- the presenter's calls (`concviz_live.next_call`), one JSON file each.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from pathlib import Path
from typing import Any

GATE_FILE = "gate"
GATE_SPEED_AT = 8  # where the run's speed is in it (a double)
PERMITS_DIR = "permits"
LIVE_FILE = "live.json"
CALLS_DIR = "calls"
CALLS_WAITING = 32  # calls the program has not taken yet, at most


class Controls:
    """The control files of one run, made in its directory `workdir`."""

    def __init__(self, workdir: Path, speed: float, live: dict[str, Any]) -> None:
        self.workdir = workdir
        self.gate_path = workdir / GATE_FILE
        self.gate_path.write_bytes(b"\0" * GATE_SPEED_AT + struct.pack("d", speed))
        self.permits = workdir / PERMITS_DIR
        self.permits.mkdir(mode=0o700)
        self.live_path = workdir / LIVE_FILE
        self.write_live(live)
        self.calls = workdir / CALLS_DIR
        self.calls.mkdir(mode=0o700)
        self._sent = 0

    def set_stepping(self, on: bool) -> None:
        self.clear_permits()  # a permit given under the old mode is void
        self._write_gate(0, b"\1" if on else b"\0")

    def set_speed(self, speed: float) -> None:
        self._write_gate(GATE_SPEED_AT, struct.pack("d", speed))

    def permit(self, slot: int) -> bool:
        """A permit for the thread whose native id is `slot`."""
        path = self.permits / str(slot)
        aside = self.permits / f".{slot}.new"
        try:
            aside.write_bytes(b"")
            os.replace(aside, path)  # the thread never sees half a permit
        except OSError:
            return False
        return True

    def clear_permits(self) -> None:
        for entry in self.permits.glob("*"):
            entry.unlink(missing_ok=True)

    def _write_gate(self, offset: int, data: bytes) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.gate_path, os.O_WRONLY)
            try:
                os.pwrite(fd, data, offset)
            finally:
                os.close(fd)

    def write_live(self, values: dict[str, Any]) -> None:
        aside = self.workdir / f".{LIVE_FILE}.new"
        with contextlib.suppress(OSError):
            aside.write_text(json.dumps(values), encoding="utf-8")
            os.replace(aside, self.live_path)  # read whole or not at all

    def send(self, command: Any) -> bool:
        """A call for the program; False when it has not taken the last
        `CALLS_WAITING` yet."""
        try:
            if sum(1 for _ in self.calls.glob("*.json")) >= CALLS_WAITING:
                return False
            self._sent += 1
            aside = self.calls / f".{self._sent:08d}.new"
            aside.write_text(json.dumps(command), encoding="utf-8")
            os.replace(aside, self.calls / f"{self._sent:08d}.json")
        except OSError:
            return False
        return True
