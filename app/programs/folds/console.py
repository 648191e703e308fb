"""What the program prints, line by line per thread and stream, and what
the console says about it (an exception, an `input()` at end of input)."""

from __future__ import annotations

from app.events import Event
from app.programs.folds.workers import thread_of
from app.programs.state import ConsoleLine, ProgramState


def _print(state: ProgramState, line: ConsoleLine) -> None:
    """A whole line printed: on the console (which keeps the latest), and
    among the lines the latest event completed."""
    _console(state, line)
    state.printed.append(line)


def _console(state: ProgramState, line: ConsoleLine) -> None:
    state.console.append(line)
    state.console_total += 1


def out(state: ProgramState, e: Event) -> None:
    d = e.data or {}
    text = str(d.get("text", ""))
    stream = str(d.get("stream", "stdout"))
    into = str(d.get("into", ""))
    w = thread_of(state, e)
    state.output_bytes += len(text.encode("utf-8", "replace"))
    key = (w.name, stream, into)
    pending = state.partial.pop(key, "") + text
    *whole, rest = pending.split("\n")
    for line in whole:
        _print(state, ConsoleLine(e.t, w.name, stream, line, into))
    if rest:
        state.partial[key] = rest


def raw_out(state: ProgramState, e: Event) -> None:
    """A line written past Python's streams: no worker of the program is
    known to have written it (its console line has none)."""
    d = e.data or {}
    text = str(d.get("text", ""))
    state.output_bytes += len(text.encode("utf-8", "replace")) + 1
    _print(state, ConsoleLine(e.t, "", str(d.get("stream", "stdout")), text))


def flush_partial(state: ProgramState, t: float, of: str | None = None) -> None:
    """The lines begun but not ended, as they are: all of them, or `of` one
    worker's."""
    for key in [k for k in state.partial if of is None or k[0] == of]:
        worker, stream, into = key
        _print(state, ConsoleLine(t, worker, stream, state.partial.pop(key), into))


def exc(state: ProgramState, e: Event) -> None:
    w = thread_of(state, e)
    w.error = str((e.data or {}).get("error", ""))


def stdin_eof(state: ProgramState, e: Event) -> None:
    w = thread_of(state, e)
    flush_partial(state, e.t, of=w.name)  # the prompt shows before the note on it
    _console(state, ConsoleLine(e.t, w.name, "note", "input()"))
