"""What a program's processes write past Python's ``sys.stdout`` and
``sys.stderr``: a child that is not Python (``subprocess.run(["ls"])``),
``os.write(1, ...)``, a C library, a crash's last words. The tracer sends
what Python writes as events and keeps it out of the run's output files
(`launch.NO_ECHO`), so the files hold only the rest; the supervisor reads
them as they grow, a whole line at a time.
"""

from __future__ import annotations

from pathlib import Path

from app.programs.launch import STDERR_FILE, STDOUT_FILE

READ_AT_ONCE = 64 * 1024  # bytes read from a file per look (the output limit bounds the rest)
MAX_LINE = 4096  # a longer line is said in pieces


class OutputFiles:
    """The run's two output files in `workdir`, read on from where the
    last look ended."""

    def __init__(self, workdir: Path) -> None:
        self._paths = {"stdout": workdir / STDOUT_FILE, "stderr": workdir / STDERR_FILE}
        self._read = dict.fromkeys(self._paths, 0)
        self._partial = dict.fromkeys(self._paths, b"")

    def lines(self, final: bool = False) -> list[tuple[str, str, int]]:
        """(stream, line, where it starts in its file) for each whole line
        written since the last look; `final`: the program is over, a last
        unfinished line too."""
        out = []
        for stream, path in self._paths.items():
            try:
                with path.open("rb") as f:
                    f.seek(self._read[stream])
                    data = f.read() if final else f.read(READ_AT_ONCE)
            except OSError:
                data = b""
            start = self._read[stream] - len(self._partial[stream])  # of the line begun
            self._read[stream] += len(data)
            *whole, rest = (self._partial[stream] + data).split(b"\n")
            ended = len(whole)  # those that end with a newline
            if len(rest) > MAX_LINE or (final and rest):
                whole.append(rest)
                rest = b""
            self._partial[stream] = rest
            for k, raw in enumerate(whole):
                text = raw.decode("utf-8", "replace")
                pieces = range(0, len(text) or 1, MAX_LINE)
                out += [(stream, text[i : i + MAX_LINE], start) for i in pieces]
                start += len(raw) + (k < ended)
        return out
