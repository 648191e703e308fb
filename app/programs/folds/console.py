"""What the program prints, line by line per stream (on the screen, one
line for every thread and process that writes on it, as in a terminal),
and what the console says about it (an exception, an `input()` at end of
input)."""

from __future__ import annotations

from app.events import Event
from app.programs.folds.workers import thread_of
from app.programs.state import ConsoleLine, Partial, ProgramState


def _print(state: ProgramState, line: ConsoleLine) -> None:
    """A whole line printed: on the console (which keeps the latest), and
    among the lines the latest event completed."""
    _console(state, line)
    state.printed.append(line)


def _console(state: ProgramState, line: ConsoleLine) -> None:
    console = state.console
    state.console_total += 1
    if not console or console[-1].t <= line.t:
        console.append(line)
        return
    # Said late (what was written past Python is read from its file): in
    # its place among the lines of its time.
    at = len(console)
    while at and console[at - 1].t > line.t:
        at -= 1
    if len(console) == console.maxlen:
        if at == 0:
            return  # older than any line kept
        console.popleft()
        at -= 1
    console.insert(at, line)


def out(state: ProgramState, e: Event) -> None:
    """Text written on a stream. On the screen, a line that threads or
    processes write on in turns is one line, as a terminal shows it."""
    d = e.data or {}
    text = str(d.get("text", ""))
    stream = str(d.get("stream", "stdout"))
    into = str(d.get("into", ""))
    w = thread_of(state, e)
    state.output_bytes += len(text.encode("utf-8", "replace"))
    key = (stream, into, e.pid if into else 0)
    line = state.partial.pop(key, None) or Partial([])
    # A writer of the line is one who wrote on it (not only ended it).
    if w.name not in line.writers and (text.partition("\n")[0] or not line.writers):
        line.writers.append(w.name)
    *whole, rest = (line.text + text).split("\n")
    if whole and line.shown and not whole[0]:
        whole = whole[1:]  # the end of a line already shown
    elif whole and line.shown:
        line.writers = [w.name]  # what follows the prompt, on a line of its own
    for i, done in enumerate(whole):
        _print(state, ConsoleLine(e.t, line.worker if i == 0 else w.name, stream, done, into))
    if rest:  # a line still begun: the writer who ended the last one begins it
        line.writers = [w.name] if whole else line.writers
        line.text = rest
        state.partial[key] = line


def raw_out(state: ProgramState, e: Event) -> None:
    """A line written past Python's streams: no worker of the program is
    known to have written it (its console line has none)."""
    d = e.data or {}
    text = str(d.get("text", ""))
    state.output_bytes += len(text.encode("utf-8", "replace")) + 1
    _print(state, ConsoleLine(e.t, "", str(d.get("stream", "stdout")), text))


def flush_partial(state: ProgramState, t: float, of: str | None = None) -> None:
    """The lines begun but not ended, as they are: all of them, or those
    worker `of` wrote on."""
    for key in [k for k, line in state.partial.items() if of is None or of in line.writers]:
        stream, into, _ = key
        line = state.partial.pop(key)
        if line.text or not line.shown:
            _print(state, ConsoleLine(t, line.worker, stream, line.text, into))


def exc(state: ProgramState, e: Event) -> None:
    w = thread_of(state, e)
    w.error = str((e.data or {}).get("error", ""))


def stdin_eof(state: ProgramState, e: Event) -> None:
    w = thread_of(state, e)
    prompts = [k for k, line in state.partial.items() if w.name in line.writers]
    flush_partial(state, e.t, of=w.name)  # the prompt shows before the note on it
    _console(state, ConsoleLine(e.t, w.name, "note", "input()"))
    for key in prompts:  # as on a terminal, the next newline ends the prompt's line
        state.partial[key] = Partial([w.name], shown=True)
