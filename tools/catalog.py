"""Keep the Chinese catalogues in step with the code and the templates.

    python tools/catalog.py              # add new messages (empty), drop unused ones
    python tools/catalog.py --only lock  # the same, for one catalogue only
    python tools/catalog.py --check      # exit 1 if any message lacks a translation

Messages are extracted with Babel from `app/**.py` (calls to `_`, `N_`,
`ngettext`) and `templates/**.html` (Jinja's `_()` and `{% trans %}`). Each
goes to one catalogue in `app/locale/zh/LC_MESSAGES/`: the experiment's own
(`<slug>.po`) when only that experiment's module and templates use it, else
`core.po`. Existing translations are kept.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PO_DIR = ROOT / "app" / "locale" / "zh" / "LC_MESSAGES"
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def owner_of(path: Path) -> str:
    rel = path.relative_to(ROOT).as_posix()
    m = re.match(r"app/experiments/(\w+)(?:\.py$|/)", rel)  # a module, or a lesson's folder
    if m and m.group(1) not in ("__init__", "spec", "lesson", "constants"):
        return m.group(1).replace("_", "-").replace("queue-calls", "queue")
    m = re.match(r"templates/partials/([\w-]+)/", rel)
    if m:
        return m.group(1)
    if rel.startswith("app/programs/") or rel in ("templates/programs.html", "app/web/programs.py"):
        return "program"  # a user's program: its page, runtime and view
    return "core"


def extract() -> dict[str, set[str]]:
    """msgid -> the owners of the files that use it."""
    uses: dict[str, set[str]] = defaultdict(set)
    files = [(p, "python") for p in sorted((ROOT / "app").rglob("*.py"))]
    files += [(p, "jinja2") for p in sorted((ROOT / "templates").rglob("*.html"))]
    for path, method in files:
        options = {"extensions": "jinja2.ext.i18n"} if method == "jinja2" else {}
        for _lineno, message, _comments, _context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options
        ):
            msgids = message if isinstance(message, tuple) else (message,)
            for msgid in msgids:
                if msgid:
                    uses[msgid].add(owner_of(path))
    return uses


def assign(uses: dict[str, set[str]]) -> dict[str, set[str]]:
    """owner -> its msgids: an experiment's own, or core's when shared."""
    owned: dict[str, set[str]] = defaultdict(set)
    for msgid, owners in uses.items():
        owned[next(iter(owners)) if len(owners) == 1 else "core"].add(msgid)
    return owned


def load(owner: str) -> Catalog:
    path = PO_DIR / f"{owner}.po"
    if path.exists():
        with path.open("rb") as f:
            return read_po(f, locale="zh")
    return Catalog(locale="zh", project="concviz")


def problems(catalogs: dict[str, Catalog], uses: dict[str, set[str]]) -> list[str]:
    translated: dict[str, str] = {}
    for catalog in catalogs.values():
        for message in catalog:
            if message.id and message.string:
                translated[str(message.id)] = str(message.string)
    out = []
    for msgid in sorted(uses):
        text = translated.get(msgid)
        if not text:
            out.append(f"no Chinese for {msgid!r}")
        elif set(PLACEHOLDER.findall(msgid)) != set(PLACEHOLDER.findall(text)):
            out.append(f"placeholders differ in the Chinese for {msgid!r}: {text!r}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--only", help="update this catalogue only (e.g. core, lock)")
    args = ap.parse_args()
    uses = extract()
    owned = assign(uses)
    catalogs = {p.stem: load(p.stem) for p in PO_DIR.glob("*.po")}
    if args.check:
        found = problems(catalogs, uses)
        print("\n".join(found) or f"all {len(uses)} messages have Chinese")
        sys.exit(1 if found else 0)
    known = {str(m.id): str(m.string) for c in catalogs.values() for m in c if m.id}
    PO_DIR.mkdir(parents=True, exist_ok=True)
    for owner, msgids in sorted(owned.items()):
        if args.only and owner != args.only:
            continue
        catalog = Catalog(locale="zh", project="concviz", fuzzy=False)
        for msgid in sorted(msgids):
            catalog.add(msgid, known.get(msgid, ""))
        with (PO_DIR / f"{owner}.po").open("wb") as f:
            write_po(f, catalog, width=100, omit_header=False, sort_output=True)
    for stale in set(catalogs) - set(owned) if not args.only else ():
        (PO_DIR / f"{stale}.po").unlink()
    empty = sum(1 for m in uses if not known.get(m))
    print(f"{len(uses)} messages in {len(owned)} catalogues; {empty} without Chinese yet")


if __name__ == "__main__":
    main()
