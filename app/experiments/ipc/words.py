"""The IPC lesson's numbers in words, and the log scale of its two charts (pure)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Literal

from app.i18n import N_, _

KiB = 1024
MiB = 1024 * KiB


def size_words(n: float) -> str:
    """Bytes as a person says them: 64 B, 1 MiB, 23.5 GiB."""
    for unit, scale in (("GiB", 1024**3), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            v = n / scale
            return f"{v:.0f} {unit}" if v == int(v) or v >= 100 else f"{v:.1f} {unit}"
    return f"{int(n)} B"


def count_words(v: float) -> str:
    """A number as it is (a count, a tick on an axis), thousands with a thin
    space: 40, 0.01, 5 000."""
    return f"{v:,.0f}".replace(",", "\u2009") if v >= 1000 else f"{v:g}"


def number_words(v: float) -> str:
    """3 significant digits at most, thousands with a thin space."""
    if v >= 1000:
        return count_words(v)
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def time_words(us: float) -> str:
    if us >= 1_000_000:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{number_words(us / 1000)} ms"
    return f"{number_words(us)} µs"


_RATIOS = {
    # (a bigger, a smaller) than b, for a speed and for a time.
    "speed": (N_("%(r)s× faster than %(name)s"), N_("%(r)s× slower than %(name)s")),
    "time": (N_("%(r)s× longer than %(name)s"), N_("%(r)s× shorter than %(name)s")),
}


def ratio_words(a: float, b: float, name: str, kind: Literal["speed", "time"]) -> str:
    """How `a` compares with `b` (named `name`), said whole: '3.2× slower
    than os.pipe()', 'about the same as os.pipe()'."""
    if b <= 0 or a <= 0:
        return ""
    r = a / b
    if 1 / 1.15 <= r <= 1.15:
        return _("about the same as %(name)s") % {"name": name}
    bigger, smaller = _RATIOS[kind]
    if r > 1:
        return _(bigger) % {"r": f"{r:.1f}", "name": name}
    return _(smaller) % {"r": f"{1 / r:.1f}", "name": name}


class LogScale:
    """Positions on a log axis from a power of ten below the smallest value to
    one above the largest, at least `decades` wide; in whole percent (the CSS
    has a class for each)."""

    def __init__(self, values: list[float], decades: int = 2) -> None:
        vals = [v for v in values if v and v > 0]
        top = max(vals) if vals else 1.0
        self.hi = 10 ** math.ceil(math.log10(top) - 1e-9)
        low = min(vals) if vals else top
        self.lo = min(self.hi / 10**decades, 10 ** math.floor(math.log10(low) + 1e-9))
        self._span = math.log10(self.hi) - math.log10(self.lo)

    def at(self, v: float) -> int:
        if v <= self.lo:
            return 0
        return max(0, min(100, round((math.log10(v) - math.log10(self.lo)) / self._span * 100)))

    def ticks(self) -> list[tuple[int, float]]:
        out = []
        v = self.lo
        while v <= self.hi * 1.0001:
            out.append((self.at(v), v))
            v *= 10
        return out


def time_tick(us: float) -> str:
    """A power of ten of microseconds, short: 10 ns, 1 µs, 100 ms, 10 s."""
    for unit, scale in (("s", 1e6), ("ms", 1e3), ("µs", 1.0), ("ns", 1e-3)):
        if us >= scale * 0.999:
            return f"{us / scale:.0f} {unit}"
    return f"{us * 1000:g} ns"


def labelled(ticks: list[tuple[int, float]], label: Callable[[float], str]) -> list[Any]:
    """Every grid line; a label on every other one when they would crowd."""
    step = 1 if len(ticks) <= 4 else 2
    first = (len(ticks) - 1) % step  # keep the top one labelled
    return [(at, label(v) if i % step == first else "") for i, (at, v) in enumerate(ticks)]


# The ways, as the program names them: their labels (looked up with _()
# where shown: the words are translated, code stays code), and the ways of
# each of the lecture's (the form's choices).
LABELS = {
    "memcpy": N_("memory copy"),
    "os_pipe": "os.pipe()",
    "mp_pipe": "multiprocessing.Pipe()",
    "file": N_("temporary file"),
    "unix_socket": N_("AF_UNIX socket"),
    "tcp_socket": N_("TCP on 127.0.0.1"),
    "shared_memory": "shared_memory",
    "mp_queue": "multiprocessing.Queue",
}
GROUPS: dict[str, tuple[str, ...]] = {
    "all": tuple(k for k in LABELS if k != "memcpy"),
    "pipe": ("os_pipe", "mp_pipe"),
    "file": ("file",),
    "socket": ("unix_socket", "tcp_socket"),
    "shared_memory": ("shared_memory",),
    "queue": ("mp_queue",),
}
# The lecture's way each belongs to, as the CSS names it (`way-shared-memory`).
WAYS = {"memcpy": "limit"} | {
    key: group.replace("_", "-") for group, keys in GROUPS.items() if group != "all" for key in keys
}


def label_here(key: str) -> str:
    """A way's name in the language being rendered (code stays code)."""
    label = LABELS.get(key)
    return _(label) if label else key


# Why a way failed or was skipped, as the program says it (English), clause
# by clause: each known clause is said again in the reader's language. The
# parts named "need" and "free" are numbers of bytes, said as sizes.
_CLAUSES = (
    (r"^(?P<name>\S+) was killed \((?P<signal>\w+)\)$", N_("%(name)s was killed (%(signal)s)")),
    (
        r"^(?P<name>\S+) failed \(exit code (?P<code>-?\d+)\)$",
        N_("%(name)s failed (exit code %(code)s)"),
    ),
    (
        r"^nothing told (?P<name>\S+), so main ended it$",
        N_("nothing told %(name)s, so main ended it"),
    ),
    (
        r"^(?P<name>\S+) saw its link close and stopped by itself$",
        N_("%(name)s saw its link close and stopped by itself"),
    ),
    (
        r"^(?P<need>\d+) bytes of shared memory needed, /dev/shm has (?P<free>\d+) free$",
        N_("%(need)s of shared memory needed, /dev/shm has %(free)s free"),
    ),
    (
        r"^(?P<dir>.+) has (?P<free>\d+) bytes free: too little for these messages$",
        N_("%(dir)s has %(free)s free: too little for these messages"),
    ),
    (r"^could not set it up: (?P<error>.*)$", N_("could not set it up: %(error)s")),
)
_SIZES = frozenset({"need", "free"})


def reason_here(reason: str) -> str:
    """The program's reason, in the language being rendered."""
    out = ""
    for clause in reason.split("; ") if reason else ():
        said = clause
        for pattern, message in _CLAUSES:
            if m := re.match(pattern, clause):
                parts = m.groupdict()
                said = _(message) % {
                    k: size_words(int(v)) if k in _SIZES else v for k, v in parts.items()
                }
                break
        out = _("%(reason)s; %(more)s") % {"reason": out, "more": said} if out else said
    return out
