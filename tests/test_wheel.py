"""The wheel: built from this tree, installed into a fresh venv, and served
from another directory, as a teacher gets it from `pip install .`, pipx or
`uv tool install`.

Offline and fast by design:

- The wheel is built with `pip wheel --no-build-isolation` from a copy of the
  tree: the build requirements (setuptools, babel) are in the test extra, so
  nothing is downloaded, and the build's `build/` and `*.egg-info` land in the
  copy, not in the checkout.
- The fresh venv has no pip and gets the wheel with `--no-deps --no-index`.
  Its dependencies are this environment's own: a `.pth` file in the fresh
  venv's site-packages names this environment's site-packages. (`--system-
  site-packages` would show the base interpreter's packages, not this venv's.)
  The checkout's `app` stays out of sight: the `.pth` files of a directory
  that a `.pth` adds are not read, so this environment's editable install is
  not, and the server starts in a temp directory, not in the checkout.
"""

from __future__ import annotations

import contextlib
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from babel.messages.pofile import read_po
from babel.support import Translations
from conftest import ROOT, free_port
from probes import ENDED, family, settle, start, wait_for

from app.experiments import EXPERIMENTS
from app.i18n import catalogue_files
from app.web.render import shipped_dir

PO_DIR = ROOT / "app" / "locale" / "zh" / "LC_MESSAGES"
# Not part of what `pip install .` builds from, or made by a build.
NOT_SOURCE = (".git", ".venv", "venv", "build", "dist", "test-artifacts", "*.egg-info")
NOT_SOURCE += ("__pycache__", ".*_cache", ".hypothesis")


def pip(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    pip("wheel", "--no-build-isolation", "--no-deps", "--no-index", "-w", str(tmp), str(source))
    (built,) = tmp.glob("concviz-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; its directory."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    found = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (Path(found.stdout.strip()) / "concviz-test-deps.pth").write_text("\n".join(ours) + "\n")
    pip("--python", str(python), "install", "--no-deps", "--no-index", str(wheel))
    return env_dir


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    workdir: Path
    log: Path


@pytest.fixture(scope="module")
def served(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The installed `concviz`, started from a directory of its own."""
    workdir = tmp_path_factory.mktemp("elsewhere")
    port = free_port()
    log = workdir / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONCVIZ_", "PYTHON"))}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [installed / "bin" / "concviz", "--port", str(port), "--db", workdir / "runs.sqlite3"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Served(f"http://127.0.0.1:{port}", proc, workdir, log)
    try:
        deadline = time.monotonic() + 30
        while not answers(server.url + "/healthz"):
            assert proc.poll() is None, f"the installed concviz exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no answer on /healthz:\n{log.read_text()}"
            time.sleep(0.05)
        yield server
    finally:
        stop(server)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def stop(server: Served) -> None:
    """SIGTERM, as a teacher's Ctrl-C; then nothing it started may be left."""
    if server.proc.poll() is not None:  # died early: whatever it left goes too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGKILL)
        return
    descendants = psutil.Process(server.proc.pid).children(recursive=True)
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        pytest.fail(f"the installed concviz did not stop on SIGTERM:\n{server.log.read_text()}")
    _, alive = psutil.wait_procs(descendants, timeout=5)
    assert not alive, f"left behind: {alive}"


def in_venv(installed: Path, code: str) -> str:
    result = subprocess.run(
        [installed / "bin" / "python", "-c", code],
        cwd=installed.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def chinese(msgid: str) -> str:
    """The Chinese of a message, from whichever catalogue holds it."""
    for po in sorted(PO_DIR.glob("*.po")):
        with po.open("rb") as f:
            message = read_po(f, locale="zh").get(msgid)
        if message is not None:
            assert message.string, msgid
            return str(message.string)
    raise AssertionError(f"no catalogue has {msgid!r}")


@pytest.mark.wheel
def test_the_wheel_carries_templates_static_and_compiled_catalogues_in_the_package(
    wheel: Path,
) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {name.split("/")[0] for name in names} == {"app", "concviz-0.1.0.dist-info"}
    in_package = {name.removeprefix("app/") for name in names}
    for shipped in ("templates", "static"):
        files = {p.relative_to(ROOT).as_posix() for p in (ROOT / shipped).rglob("*") if p.is_file()}
        assert files - in_package == set(), shipped
    compiled = {name for name in names if name.endswith(".mo")}
    assert compiled == {f"app/locale/zh/LC_MESSAGES/{po.stem}.mo" for po in PO_DIR.glob("*.po")}
    assert not [name for name in names if name.endswith(".po")]


@pytest.mark.wheel
def test_the_installed_package_is_the_one_that_runs_and_finds_its_files(installed: Path) -> None:
    out = in_venv(
        installed,
        "import app, app.i18n as i, app.web.render as r;"
        "print(app.__file__, r.TEMPLATES_DIR, r.STATIC_DIR, *i.catalogue_files('zh'), sep='\\n')",
    )
    package, templates, static, *catalogues = out.split()
    package_dir = Path(package).parent
    assert package_dir.is_relative_to(installed)
    assert Path(templates) == package_dir / "templates"
    assert Path(static) == package_dir / "static"
    assert catalogues
    assert all(Path(c).suffix == ".mo" for c in catalogues)


@pytest.mark.wheel
@pytest.mark.live
def test_the_installed_concviz_serves_a_lesson_and_its_static_files(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        page = client.get("/experiments/producer-consumer")
        assert page.status_code == 200
        assert "Producer / consumer" in page.text
        styles = re.findall(r'<link[^>]+href="(/static/[^"]+\.css)"', page.text)
        scripts = re.findall(r'<script[^>]+src="(/static/[^"]+\.js)"', page.text)
        assert "/static/app.css" in styles
        assert any("htmx" in s for s in scripts), scripts
        for path in styles + scripts:
            r = client.get(path)
            assert r.status_code == 200, path
            assert r.content == (ROOT / path.removeprefix("/")).read_bytes(), path


@pytest.mark.wheel
@pytest.mark.live
def test_the_installed_concviz_speaks_chinese_from_the_compiled_catalogue(
    served: Served,
) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        by_cookie = client.get(
            "/experiments/producer-consumer", headers={"Cookie": "concviz_lang=zh"}
        )
        by_header = client.get(
            "/experiments/producer-consumer", headers={"Accept-Language": "zh-CN,zh;q=0.9"}
        )
    for page in (by_cookie, by_header):
        assert page.status_code == 200
        assert chinese("Producer / consumer") in page.text
        assert chinese("Start") in page.text
        assert ">Producer / consumer<" not in page.text


@pytest.mark.wheel
@pytest.mark.live
def test_a_run_of_the_installed_concviz_uses_real_workers_and_leaves_none(
    served: Served,
) -> None:
    """The lesson's program comes from the installed package, and its real
    processes all end."""
    quick = EXPERIMENTS["producer-consumer"].quick_params
    with httpx.Client(base_url=served.url, timeout=10) as client:
        run = start(client, **quick)
        ended = wait_for(client, run["id"], lambda r: r["status"] in ENDED, timeout=60)
    assert ended["status"] == "finished", ended
    assert ended["counters"]["consumed"] == quick["producers"] * quick["items_per_producer"]
    pids = {w["pid"] for w in ended["workers"]}
    assert len(pids) == 1 + quick["producers"] + quick["consumers"]  # main's, and one each
    assert served.proc.pid not in pids
    workers = settle(
        lambda: [p for p in family(served.proc.pid) if p.kind == "worker" and p.running()],
        lambda left: not left,
    )
    assert workers == []


def test_the_installed_concviz_traces_a_program_with_the_tracer_it_ships(served: Served) -> None:
    """The tracer's boot directory travels in the wheel, and a program's
    processes find it there (not in a checkout)."""
    text = (
        "from multiprocessing import Process, Queue\n\n"
        "def send(q):\n    q.put('hello')\n\n"
        "if __name__ == '__main__':\n"
        "    q = Queue()\n    p = Process(target=send, args=(q,))\n    p.start()\n"
        "    print(q.get())\n    p.join()\n"
    )
    with httpx.Client(base_url=served.url, timeout=10) as client:
        r = client.post("/api/programs", json={"source": text})
        assert r.status_code == 201, r.text
        ended = wait_for(client, r.json()["id"], lambda r: r["status"] in ENDED, timeout=60)
    assert ended["status"] == "finished", ended
    assert [o["name"] for o in ended["objects"]] == ["q"]
    assert [c["text"] for c in ended["console"]] == ["hello"]
    assert len({p["pid"] for p in ended["processes"]}) == 2


def test_a_checkout_finds_templates_and_static_at_its_top(tmp_path: Path) -> None:
    package = tmp_path / "app"
    package.mkdir()
    (tmp_path / "templates").mkdir()
    assert shipped_dir("templates", package) == tmp_path / "templates"
    (package / "templates").mkdir()
    assert shipped_dir("templates", package) == package / "templates"


def test_a_package_without_its_folders_names_both_places_it_looked(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "app"
    package.mkdir(parents=True)
    with pytest.raises(RuntimeError, match="no static/ folder") as caught:
        shipped_dir("static", package)
    assert str(package / "static") in str(caught.value)
    assert str(tmp_path / "site-packages" / "static") in str(caught.value)


def test_a_compiled_catalogue_is_read_before_its_source(tmp_path: Path) -> None:
    messages = tmp_path / "zh" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    for name in ("core.po", "core.mo", "lock.po", "queue.mo"):
        (messages / name).touch()
    assert catalogue_files("zh", tmp_path) == [
        messages / "core.mo",
        messages / "lock.po",
        messages / "queue.mo",
    ]


def test_the_build_compiles_every_catalogue_with_every_translation(tmp_path: Path) -> None:
    setup = runpy.run_path(str(ROOT / "setup.py"), run_name="build_script")
    written = setup["compile_catalogues"](ROOT / "app" / "locale", tmp_path)
    assert catalogue_files("zh", tmp_path) == sorted(written)
    assert [p.stem for p in sorted(written)] == [p.stem for p in sorted(PO_DIR.glob("*.po"))]
    for mo in written:
        with mo.open("rb") as f:
            compiled = Translations(fp=f)
        with (PO_DIR / f"{mo.stem}.po").open("rb") as f:
            source = read_po(f, locale="zh")
        for message in source:
            if isinstance(message.id, str) and message.id and message.string:
                assert compiled.gettext(message.id) == message.string, message.id
