"""The programs page in a real browser: paste a program, run it, watch it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, LiveServer

pytestmark = pytest.mark.browser

PROGRAM = """\
import threading
import time
from multiprocessing import Process, Queue


def cook(shelf):
    for n in range(3):
        shelf.put(f"bun {n}")
        print("baked bun", n)
    time.sleep(30)  # still cooking when the test looks


if __name__ == "__main__":
    shelf = Queue(5)
    baker = Process(target=cook, args=(shelf,), name="baker")
    baker.start()
    waiter = threading.Thread(target=time.sleep, args=(30,), name="waiter")
    waiter.start()
    baker.join()
"""


def open_editor(page: Any) -> None:
    """The editor folds away while a run is on the stage: open it, as a teacher would."""
    if not page.evaluate("() => document.getElementById('pg-edit').open"):
        page.click("#pg-edit > summary")


def editor(browser: Any, server: LiveServer, size: tuple[int, int] = (1280, 800)) -> Any:
    """The programs page at a projector's size (or `size`), its editor open."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(server.url + "/programs")
    open_editor(page)
    return page


def test_a_pasted_program_runs_live_with_its_console_queue_and_lines(
    browser: Any, live_server: LiveServer
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/programs")
    open_editor(page)
    page.fill("#pg-filename", "bakery.py")
    page.fill("#pg-source", PROGRAM)
    page.click("#pg-run")
    # The run's id arrives with the answer to Run (an earlier run of the
    # server may be on the stage already, with a status of its own).
    page.wait_for_function("() => document.getElementById('run-id').value !== ''")
    run_id = page.input_value("#run-id")
    page.wait_for_function(
        "id => document.querySelector('#runbar code')?.textContent === id", arg=run_id
    )
    # The editor folds away and the run is in view (it comes below them).
    page.wait_for_function("() => !document.getElementById('pg-edit').open")
    top = page.evaluate("document.getElementById('run-area').getBoundingClientRect().top")
    assert 0 <= top < 800 / 2
    try:
        # The console: each line with the process that printed it.
        page.wait_for_function(
            "() => [...document.querySelectorAll('#pg-console li')]"
            ".filter(li => li.textContent.includes('baked bun 2')).length === 1",
            timeout=15000,
        )
        line = page.locator("#pg-console li", has_text="baked bun 2")
        assert line.locator(".who").inner_text() == "baker"
        # The queue, under the program's own name, with its three items.
        shelf = page.locator(".pg-queue", has_text="shelf")
        assert "multiprocessing.Queue(5)" in shelf.inner_text()
        page.wait_for_function(
            "() => document.querySelectorAll('.pg-queue .pg-item:not(.empty)').length === 3"
        )
        # An item tells its journey: who put it in, and that it waits.
        page.click(".pg-queue .pg-item button:text-is(\"'bun 1'\")")
        page.wait_for_selector("#journey .journey-card")
        card = page.inner_text("#journey")
        assert "bun 1: its journey" in card
        assert "baker puts it in the queue" in card
        assert "still in the queue" in card
        page.locator("#journey").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "programs-journey.png"))
        page.evaluate("scrollTo(0, 0)")
        # Where each one is: baker sleeps on its line, main waits in join.
        page.wait_for_function(
            "() => [...document.querySelectorAll('#code li.here')]"
            ".some(li => li.textContent.includes('baker'))",
        )
        at = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('#code li.here')]"
            ".flatMap(li => [...li.querySelectorAll('.at')]"
            ".map(a => [a.textContent.trim(), li.querySelector('code').textContent])))"
        )
        assert "time.sleep(30)" in at["baker"]
        assert "baker.join()" in at["main"]
        # Processes with their threads: the waiter thread is in main's box.
        main_box = page.locator(".pg-proc", has_text="main").first
        assert "waiter" in main_box.inner_text()
        page.screenshot(path=str(ARTIFACTS / "programs-running.png"))
    finally:
        page.click("#pg-stop")
        page.wait_for_function(
            "() => ['stopped', 'finished'].includes("
            "document.querySelector('#run-status').textContent.trim().toLowerCase())",
            timeout=15000,
        )
    page.screenshot(path=str(ARTIFACTS / "programs-stopped.png"))
    assert errors == []


CHATTY = """\
import time

for n in range(60):
    print("line", n)
n = 60
while True:  # one more line every 50 ms, until Stop
    time.sleep(0.05)
    print("line", n)
    n += 1
"""

CONSOLE_END = (
    "() => { const b = document.querySelector('#pg-console .console');"
    " return b.scrollHeight - b.scrollTop - b.clientHeight; }"
)
LAST_LINE = (
    "() => Number([...document.querySelectorAll('#pg-console .text')].at(-1)"
    "?.textContent.split(' ')[1] ?? -1)"
)


def test_the_console_follows_its_newest_line_unless_the_reader_scrolled_it_up(
    browser: Any, live_server: LiveServer
) -> None:
    page = editor(browser, live_server)
    page.fill("#pg-source", CHATTY)
    page.click("#pg-run")
    page.wait_for_function("() => document.getElementById('run-id').value !== ''")
    try:
        page.wait_for_function(f"() => ({LAST_LINE})() >= 65", timeout=15000)
        # More lines than the box holds: it shows the newest one, as a terminal does.
        assert page.evaluate(
            "() => { const b = document.querySelector('#pg-console .console');"
            " return b.scrollHeight > b.clientHeight + 100; }"
        )
        page.wait_for_function(f"() => ({CONSOLE_END})() <= 4")
        # A reader who scrolls up to read an earlier line keeps it while
        # lines keep coming.
        page.eval_on_selector("#pg-console .console", "b => { b.scrollTop = 0; }")
        seen = page.evaluate(LAST_LINE)
        page.wait_for_function(f"() => ({LAST_LINE})() >= {seen + 5}", timeout=15000)
        assert page.eval_on_selector("#pg-console .console", "b => b.scrollTop") == 0
        # Scrolled back to the end, it follows again.
        page.eval_on_selector("#pg-console .console", "b => { b.scrollTop = b.scrollHeight; }")
        seen = page.evaluate(LAST_LINE)
        page.wait_for_function(f"() => ({LAST_LINE})() >= {seen + 5}", timeout=15000)
        page.wait_for_function(f"() => ({CONSOLE_END})() <= 4")
    finally:
        page.click("#pg-stop")
    page.wait_for_function(
        "() => document.querySelector('#run-status').textContent.trim().toLowerCase()"
        " === 'stopped'",
        timeout=15000,
    )
    page.wait_for_function(f"() => ({CONSOLE_END})() <= 4")


def test_on_a_phone_a_started_run_comes_into_view_below_the_bar_not_under_it(
    browser: Any, live_server: LiveServer
) -> None:
    page = editor(browser, live_server, (390, 844))
    page.fill("#pg-source", "import time\nprint('hello')\ntime.sleep(30)\n")
    page.click("#pg-run")
    page.wait_for_function("() => document.getElementById('run-id').value !== ''")
    run_id = page.input_value("#run-id")
    try:
        page.wait_for_function("() => !document.getElementById('pg-edit').open")
        # The editor's line (to open it again) just below the sticky bar, and the run.
        page.wait_for_function(
            "() => { const bar = document.querySelector('.pg-bar').getBoundingClientRect();"
            " const line = document.querySelector('#pg-edit > summary').getBoundingClientRect();"
            " return line.top >= bar.bottom - 1 && line.bottom <= innerHeight; }"
        )
        assert page.locator("#pg-edit > summary").is_visible()
    finally:
        httpx.post(f"{live_server.url}/api/runs/{run_id}/stop", timeout=30)


def test_a_program_that_does_not_compile_is_refused_on_the_page_at_its_line(
    browser: Any, live_server: LiveServer
) -> None:
    page = editor(browser, live_server)
    page.fill("#pg-source", "print('one')\nprint('two'\nprint('three')\n")
    page.click("#pg-run")
    page.wait_for_function(
        "() => document.querySelector('#form-message').textContent.includes('line')"
    )
    message = page.inner_text("#form-message")
    assert "Not started" in message
    assert "line 2" in message
    # The editor selects the line it names.
    start, end = page.evaluate(
        "() => { const s = document.getElementById('pg-source');"
        " return [s.selectionStart, s.selectionEnd]; }"
    )
    assert page.input_value("#pg-source")[start:end] == "print('two'"
    assert page.input_value("#run-id") == ""  # nothing started
    # Mended, and refused for another reason: no line is selected again.
    page.fill("#pg-source", "print('one')\nprint('two')\n")
    page.fill("#pg-filename", "my lesson.py")
    page.evaluate("() => document.getElementById('pg-source').setSelectionRange(0, 0)")
    page.click("#pg-run")
    page.wait_for_function(
        "() => document.querySelector('#form-message').textContent.includes('File name')"
    )
    assert page.evaluate(
        "() => { const s = document.getElementById('pg-source');"
        " return [s.selectionStart, s.selectionEnd]; }"
    ) == [0, 0]


def test_what_is_typed_in_the_input_box_is_what_input_reads(
    browser: Any, live_server: LiveServer
) -> None:
    page = editor(browser, live_server)
    page.fill(
        "#pg-source",
        "name = input('your name? ')\nfor i in range(int(input('how many? '))):\n"
        "    print('hello', name, i)\n",
    )
    page.fill("#pg-stdin", "Ann\n2")
    page.click("#pg-run")
    page.wait_for_function("() => document.getElementById('run-id').value !== ''")
    page.wait_for_function(
        "id => document.querySelector('#runbar code')?.textContent === id"
        " && document.querySelector('#run-status')?.textContent.trim().toLowerCase()"
        " === 'finished'",
        arg=page.input_value("#run-id"),
        timeout=15000,
    )
    lines = page.locator("#pg-console li").all_inner_texts()
    said = [line.split(None, 1)[1] for line in lines]
    assert said == ["your name? Ann", "how many? 2", "hello Ann 0", "hello Ann 1"]
    # The box keeps what was typed, for the next Run.
    open_editor(page)
    assert page.input_value("#pg-stdin") == "Ann\n2"


def test_an_example_loads_into_the_editor_in_chinese(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"})
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + "/programs?example=deadlock")
    assert page.input_value("#pg-filename") == "deadlock.py"
    assert "fork = threading.Lock()" in page.input_value("#pg-source")
    assert "运行" in page.inner_text("#pg-run")
    assert "示例" in page.inner_text(".pg-examples")
    page.screenshot(path=str(ARTIFACTS / "programs-example-zh.png"))
    context.close()


def test_a_file_opened_in_the_editor_brings_its_text_and_its_name_when_the_server_takes_it(
    browser: Any, live_server: LiveServer
) -> None:
    page = editor(browser, live_server)
    names = [("week-3.py", "week-3.py"), ("作业3.py", "作业3.py"), ("1_threads.py", "1_threads.py")]
    for name, kept in names:
        page.set_input_files(
            "#pg-upload", files=[{"name": name, "mimeType": "text/x-python", "buffer": b"x = 1\n"}]
        )
        page.wait_for_function("n => document.getElementById('pg-filename').value === n", arg=kept)
        assert page.input_value("#pg-source") == "x = 1\n"
    # A space the server would refuse becomes "_"; a name refused still (a
    # leading dot) leaves the field's own.
    spaced = {"name": "my lesson.py", "mimeType": "text/x-python", "buffer": b"y\n"}
    page.set_input_files("#pg-upload", files=[spaced])
    page.wait_for_function("() => document.getElementById('pg-source').value === 'y\\n'")
    assert page.input_value("#pg-filename") == "my_lesson.py"
    hidden = {"name": ".hidden.py", "mimeType": "text/x-python", "buffer": b"z\n"}
    page.set_input_files("#pg-upload", files=[hidden])
    page.wait_for_function("() => document.getElementById('pg-source').value === 'z\\n'")
    assert page.input_value("#pg-filename") == "my_lesson.py"
    page.close()


# A paste as the browser makes it when the user presses Ctrl+V in the editor
# (the text itself is put in by `fill`, as the paste would).
PASTE = """text => {
  const box = document.getElementById('pg-source');
  box.focus();
  box.select();
  const data = new DataTransfer();
  data.setData('text/plain', text);
  box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true}));
}"""


def test_a_program_pasted_over_an_example_does_not_keep_the_examples_file_name(
    browser: Any, live_server: LiveServer
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(live_server.url + "/programs?example=deadlock")
    open_editor(page)
    assert page.input_value("#pg-filename") == "deadlock.py"
    page.evaluate(PASTE, "print('mine')\n")
    page.fill("#pg-source", "print('mine')\n")
    assert page.input_value("#pg-filename") == "program.py"
    assert page.inner_text("#pg-edit > summary code") == "program.py"  # its heading too
    # A name the user typed stays, whatever is pasted after it.
    page.fill("#pg-filename", "homework.py")
    page.evaluate(PASTE, "print('another')\n")
    assert page.input_value("#pg-filename") == "homework.py"
    assert page.inner_text("#pg-edit > summary code") == "homework.py"
    # Another program typed or filled in (no paste) is another program too.
    page.goto(live_server.url + "/programs?example=deadlock")
    open_editor(page)
    page.fill("#pg-source", "import asyncio\n\nasyncio.run(asyncio.sleep(0))\n")
    assert page.input_value("#pg-filename") == "program.py"
    # An edit of the program the page came with keeps its name.
    page.goto(live_server.url + "/programs?example=deadlock")
    open_editor(page)
    page.focus("#pg-source")
    page.keyboard.press("Control+End")
    page.keyboard.type("print('one more line')\n")
    assert page.input_value("#pg-filename") == "deadlock.py"
    # A paste into part of the program is an edit of it: the name stays.
    page.goto(live_server.url + "/programs?example=deadlock")
    open_editor(page)
    page.evaluate(
        """() => {
          const box = document.getElementById('pg-source');
          box.focus();
          box.setSelectionRange(0, 3);
          box.dispatchEvent(new ClipboardEvent('paste', {bubbles: true}));
        }"""
    )
    assert page.input_value("#pg-filename") == "deadlock.py"
    page.close()
