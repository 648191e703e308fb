"""Two languages: English and Simplified Chinese.

English is the source language: every message in the templates and the
code is an English msgid. Chinese comes from gettext catalogues,
`app/locale/zh/LC_MESSAGES/*.po` (one per part of the app, so that each can
be edited alone), merged when first needed. An installed wheel carries them
compiled (`*.mo`, made by setup.py); a checkout has only the `.po` sources,
which Babel compiles in memory.

The language of the text being made is a context variable: pages set it from
the visitor's choice (a cookie) or `Accept-Language`; a run renders its frame
once per language in use, setting it around each render. `_` and the Jinja
`{% trans %}` / `_()` read it.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT = "en"
COOKIE = "concviz_lang"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_current: ContextVar[str] = ContextVar("concviz_lang", default=DEFAULT)


def N_(message: str) -> str:
    """Marks a message for the catalogues; it is translated where shown."""
    return message


def catalogue_files(lang: str, locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """The catalogues of a language, one per part of the app: the compiled
    `.mo` where there is one, else the `.po` source."""
    by_name: dict[str, Path] = {}
    for path in sorted((locale_dir / lang / "LC_MESSAGES").glob("*.[mp]o")):
        if path.suffix == ".mo" or path.stem not in by_name:
            by_name[path.stem] = path
    return [by_name[name] for name in sorted(by_name)]


def _load(path: Path, lang: str) -> Translations:
    with path.open("rb") as f:
        if path.suffix == ".mo":
            return Translations(fp=f)
        catalog = read_po(f, locale=lang)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


@cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang == DEFAULT:
        return gettext.NullTranslations()
    merged = Translations()
    for path in catalogue_files(lang):
        merged.merge(_load(path, lang))
    return merged


def current() -> str:
    return _current.get()


def set_current(lang: str) -> None:
    _current.set(lang if lang in LANGUAGES else DEFAULT)


@contextmanager
def speaking(lang: str) -> Iterator[None]:
    token = _current.set(lang if lang in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def _(message: str) -> str:
    # gettext's answer to "" is the catalogue's header (Project-Id-Version...):
    # an empty message (a run's reason before it has one) stays empty.
    if not message:
        return ""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    if not singular and not plural:
        return ""
    return translations(_current.get()).ngettext(singular, plural, n)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The visitor's choice, else the first language they accept that we
    have, else English."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.split("-")[0] in LANGUAGES:
            return tag.split("-")[0]
    return DEFAULT


# Messages the templates look up from data (a status, a reason, a role), so
# that the catalogues know them.
DYNAMIC = (
    N_("starting"),
    N_("running"),
    N_("finished"),
    N_("stopped"),
    N_("failed"),
    N_("every item was consumed"),
    N_("stopped by the teacher"),
    N_("the server is shutting down"),
    N_("the program ended"),
    N_("done"),
    N_("retired"),
    N_("sentinel"),
    N_("producer"),
    N_("consumer"),
    N_("producers"),
    N_("consumers"),
    N_("main"),
    N_("process"),
    N_("thread"),
    N_("True"),
    N_("False"),
)
