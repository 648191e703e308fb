"""Why a run ended: the reasons the runtime writes itself.

A run's reason is English text everywhere it is kept (the run object, the
`run_end` event, the recording), so that the API and old recordings read the
same. A page shows it in the reader's language with `shown`: a fixed phrase
is a message of its own, and a reason made from one of the templates here is
recognised by its shape and translated with its parts.
"""

from __future__ import annotations

import re
import signal

from app.i18n import N_, _

# Reasons no run writes any more (a program's limits name themselves, and a
# crash in a program is the program's business), kept so that the runs
# recorded with them still read in the reader's language.
TIME_LIMIT = N_("time limit reached (%(minutes)s min)")
CRASHED = N_("%(worker)s crashed (exit code %(code)s)")
INTERNAL_ERROR = N_("internal error: %(error)s")
# No event from any worker for the server's idle_limit (see `idle_reason`):
# in whole minutes when it is, else in seconds.
IDLE_MINUTES = N_("ended after %(minutes)s min with nothing happening")
IDLE_SECONDS = N_("ended after %(seconds)s s with nothing happening")

# A fixed phrase (a message of its own), kept here with the others.
EVENTS_UNREADABLE = N_("some of the run's events could not be read")

# A program's limits (app/programs/runtime.py), each named as its flag.
PROGRAM_TIME = N_("the program ran for %(n)s s, its limit (--program-seconds)")
RUN_TIME = N_("the run reached its time limit of %(n)s s (--run-time-limit)")
PROGRAM_PROCESSES = N_("the program passed its limit of %(n)s processes (--program-processes)")
PROGRAM_THREADS = N_("the program passed its limit of %(n)s threads (--program-threads)")
PROGRAM_MEMORY = N_("a process of the program passed %(n)s MB of memory (--program-memory-mb)")
PROGRAM_OUTPUT = N_("the program printed more than %(n)s KB (--program-output-kb)")
PROGRAM_EVENTS = N_("the program made more than %(n)s traced calls (--program-events)")
# A program that ended by itself, not well: how (its own words, a
# traceback, are on its stage).
PROGRAM_EXIT_CODE = N_("the program ended with exit code %(code)s")
PROGRAM_SIGNAL = N_("the program's first process was killed by %(signal)s")
# The broker lesson's Redis server (app/broker) cannot serve: a run that
# cannot start, or fails when it goes away, says so naming the server.
BROKER_WANTS_PASSWORD = N_(
    "the Redis server at %(where)s wants a password: give it in the URL,"
    " redis://:PASSWORD@HOST:PORT"
)
BROKER_REFUSED_PASSWORD = N_("the Redis server at %(where)s refused the password (%(said)s)")
BROKER_SILENT = N_("the Redis server at %(where)s did not answer within %(s)s s")
BROKER_UNREACHABLE = N_("cannot connect to the Redis server at %(where)s: %(said)s")
BROKER_LOST = N_("lost the connection to the Redis server at %(where)s (%(said)s)")
BROKER_NOT_REDIS = N_("what answers at %(where)s is not a Redis server")
BROKER_ANSWERED = N_("the Redis server at %(where)s answered: %(said)s")
BROKER_NOT_STARTED = N_("could not start the embedded Redis server: %(said)s")
EMBEDDED_STOPPED = N_("the embedded Redis server was stopped with concviz")
EMBEDDED_ENDED = N_("the embedded Redis server ended")
EMBEDDED_KILLED = N_("the embedded Redis server was killed (%(signal)s)")
EMBEDDED_EXIT_SAID = N_("the embedded Redis server exited with code %(code)s: %(said)s")
EMBEDDED_EXIT = N_("the embedded Redis server exited with code %(code)s")
BROKER = (
    BROKER_WANTS_PASSWORD,
    BROKER_REFUSED_PASSWORD,
    BROKER_SILENT,
    BROKER_UNREACHABLE,
    BROKER_LOST,
    BROKER_NOT_REDIS,
    BROKER_ANSWERED,
    BROKER_NOT_STARTED,
    EMBEDDED_KILLED,
    EMBEDDED_EXIT_SAID,
    EMBEDDED_EXIT,
)
PROGRAM_LIMITS = (
    PROGRAM_TIME,
    RUN_TIME,
    PROGRAM_PROCESSES,
    PROGRAM_THREADS,
    PROGRAM_MEMORY,
    PROGRAM_OUTPUT,
    PROGRAM_EVENTS,
)

TEMPLATES = (
    TIME_LIMIT,
    CRASHED,
    INTERNAL_ERROR,
    IDLE_MINUTES,
    IDLE_SECONDS,
    PROGRAM_EXIT_CODE,
    PROGRAM_SIGNAL,
    *PROGRAM_LIMITS,
    *BROKER,
)


def program_ended(code: int | None) -> str | None:
    """Why a program that ended by itself ended badly (None: it did not):
    its exit code, or the signal that killed it (a negative code)."""
    if not code:
        return None
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return PROGRAM_SIGNAL % {"signal": name}
    return PROGRAM_EXIT_CODE % {"code": code}


def idle_reason(limit_s: float) -> str:
    """Why a run ended after `limit_s` seconds with nothing happening."""
    if limit_s >= 60 and limit_s % 60 == 0:
        return IDLE_MINUTES % {"minutes": f"{limit_s / 60:g}"}
    return IDLE_SECONDS % {"seconds": f"{limit_s:g}"}


def _pattern(template: str) -> re.Pattern[str]:
    """The template as a pattern, each `%(name)s` a named group."""
    return re.compile(re.sub(r"%\\\((\w+)\\\)s", r"(?P<\1>.+?)", re.escape(template)), re.S)


_PATTERNS = [(template, _pattern(template)) for template in TEMPLATES]


def shown(reason: str) -> str:
    """`reason` in the current language (unchanged if it is no known message);
    no reason yet (a running run) is no text."""
    if not reason:
        return ""
    translated = _(reason)
    if translated != reason:
        return translated
    for template, pattern in _PATTERNS:
        found = pattern.fullmatch(reason)
        if found:
            return _(template) % found.groupdict()
    return reason
