"""Fill empty Chinese translations from a Python dict file (msgid -> text).

    python tools/translate.py path/to/dict.py [catalogue]   # the file defines ZH = {...}

Only empty entries are filled; existing translations are kept.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO_DIR = Path(__file__).resolve().parents[1] / "app" / "locale" / "zh" / "LC_MESSAGES"


def main() -> None:
    table: dict[str, str] = runpy.run_path(sys.argv[1])["ZH"]
    filled = 0
    only = sys.argv[2] if len(sys.argv) > 2 else "*"
    for po in sorted(PO_DIR.glob(f"{only}.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale="zh")
        for message in catalog:
            if message.id and not message.string and message.id in table:
                message.string = table[str(message.id)]
                filled += 1
        with po.open("wb") as f:
            write_po(f, catalog, width=100, sort_output=True)
    print(f"filled {filled} translations")


if __name__ == "__main__":
    main()
