"""The one build step pyproject.toml cannot declare: what the package needs
beside its Python modules.

A checkout keeps `templates/` and `static/` at the top level and the Chinese
catalogues as `.po` sources; the app reads them from there (an editable
install). A wheel carries them inside the package instead, as
`app/templates/`, `app/static/` and compiled `app/locale/*/LC_MESSAGES/*.mo`,
so that an installed `concviz` needs nothing but site-packages. Everything
else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGE = "app"
# Top-level folders of the checkout that the package carries inside it.
SHIPPED_DIRS = ("templates", "static")
LOCALE_DIR = ROOT / PACKAGE / "locale"


def compile_catalogues(source: Path, target: Path) -> list[Path]:
    """Every `<lang>/LC_MESSAGES/<name>.po` under `source` compiled to the
    same path under `target` as `.mo`, the way `app.i18n` compiles them in
    memory in a checkout (fuzzy entries left out)."""
    written = []
    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parts[-3])
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as f:
            write_mo(f, catalog)
        written.append(mo)
    return written


class BuildPyWithData(build_py):
    """`build_py`, then the shipped folders and compiled catalogues put into
    the package in the build directory. Left out of an editable install,
    whose package is the checkout itself."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / PACKAGE
        for name in SHIPPED_DIRS:
            # Removed first: a reused build directory must not keep a file
            # that is gone from the checkout.
            shutil.rmtree(package / name, ignore_errors=True)
            shutil.copytree(
                ROOT / name, package / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        for stale in (package / "locale").glob("*/LC_MESSAGES/*.mo"):
            stale.unlink()
        compile_catalogues(LOCALE_DIR, package / "locale")


if __name__ == "__main__":  # as setuptools runs it; tests read compile_catalogues
    setup(cmdclass={"build_py": BuildPyWithData})
