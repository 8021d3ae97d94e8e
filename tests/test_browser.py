"""The course as a student and an instructor meet it: `course lab` in a real, headless Chromium.

One test walks the whole way and writes a screenshot of each step to test-artifacts/browser/:
the first lecture run in JupyterLab (its heading, then a figure), the first exercise answered with
its visible tests passing, nbgrader's Validate button passing it, and the instructor's formgrader.

It runs `course lab` on a temporary copy of unit 1 (tracked files are never touched), on a free
loopback port with a token of its own, and drives Debian's Chromium (/usr/bin/chromium) with
Playwright; nothing is downloaded. Without Chromium or Playwright the test SKIPS and says why
(`apt-get install chromium`, `pip install -e ".[test]"`).
"""

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from servers import course_lab, wait_for_http

from course.grading.submission import solved_answers
from course.programs.lab import free_port, lab_command, missing_extensions

from helpers import ROOT, bin_path

ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
# Headless, and nothing that reaches beyond this machine (no sync, updates or field trials).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
TOKEN = "course-browser-test"
UNIT = "01_perceptron"
LONG = 180_000  # ms: running a whole lecture on 2 shared cores


def test_nbgrader_extensions_are_enabled():
    """The formgrader, the assignment list and the Validate button load in `course lab`."""
    assert missing_extensions() == []


def test_lab_command():
    cmd = lab_command("/course", port=9999, open_browser=False, token="t", notebook="lectures/01.ipynb")
    assert cmd[1:4] == ["-m", "jupyter", "lab"] and cmd[-1] == "lectures/01.ipynb"
    assert {"--port=9999", "--port-retries=0", "--no-browser", "--IdentityProvider.token=t"} <= set(cmd)
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)  # only where Jupyter needs it


def test_lab_says_when_its_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [bin_path("course"), "lab", "--no-browser", "--port", str(port)], capture_output=True, text=True, timeout=60
        )
    assert r.returncode == 1
    assert f"port {port} is already in use" in r.stderr and f"--port {port + 1}" in r.stderr


def chromium_or_skip():
    """Playwright's sync API, or a skip that says what is missing."""
    pw = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e '.[test]'")
    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium; or set COURSE_CHROMIUM)")
    return pw


def launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def solved_answer_cells(path):
    """grade_id -> source of the answer cells of the solution notebook at ``path``, as a student types them."""
    return solved_answers(json.loads(path.read_text(encoding="utf-8")))


def copy_unit(root, folders=("solutions", "exercises")):
    """A course root at ``root`` with unit 1 only: nbgrader's config, the lecture, and the unit's
    folder in each of ``folders`` (solutions/: the source; exercises/: the release)."""
    (root / "lectures").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copy(ROOT / "lectures" / f"{UNIT}.ipynb", root / "lectures")
    for folder in folders:
        shutil.copytree(ROOT / folder / UNIT, root / folder / UNIT)
    return root


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory):
    """A course root with unit 1 only: nbgrader's config, the lecture, the source and the release."""
    return copy_unit(tmp_path_factory.mktemp("lab") / "course")


@pytest.fixture(scope="module")
def lab(course_copy, tmp_path_factory):
    """`course lab --no-browser` on the copy; yields its base URL. Stopped (its process group) at the end."""
    chromium_or_skip()
    port = free_port()
    state = tmp_path_factory.mktemp("jupyter-state")
    # Don't ask about fetching Jupyter's news (offline, and the toast would hide part of the screenshots).
    news = state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')
    base, log = f"http://127.0.0.1:{port}", state / "lab.log"
    try:
        with course_lab(course_copy, state, log, "--port", str(port), "--token", TOKEN) as proc:
            wait_for_http(f"{base}/api/status?token={TOKEN}", proc, log, timeout=90, what="course lab")
            yield base
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(state / "lab.log", ARTIFACTS / "lab.log")


def shot(page, name, locator=None, folder=ARTIFACTS):
    """A PNG of the page (or of the viewport scrolled to ``locator``): ``folder``/``name``.png
    (test-artifacts/browser/ unless the test has a folder of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    if locator is not None:
        locator.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(1000)  # cells scrolled into view are painted lazily (content-visibility)
    page.screenshot(path=str(folder / f"{name}.png"))


def menu(page, top, item):
    """Click JupyterLab's menu bar ``top`` > ``item``."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def open_notebook(page, base, path):
    """Open ``path`` alone: ``reset`` drops the tabs an earlier test left in the workspace, one of
    which could still be the notebook that Run All acts on (seen: lecture 5 run again, not 6)."""
    page.goto(f"{base}/lab/tree/{path}?reset&token={TOKEN}")
    wait_for_kernel(page)


def wait_for_kernel(page, timeout=60_000):
    """Wait until the notebook just opened is shown and its kernel is ready (the status bar says Idle)."""
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").wait_for(timeout=timeout)
    page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=timeout)


# The input prompts of the open notebook's code cells: "[3]:" run, "[*]:" running or queued, "[ ]:" not run.
_PROMPTS = """
    const cells = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')];
    const prompts = cells.map(c => (c.querySelector('.jp-InputPrompt') || {}).textContent || '');
"""
_RUN_STATE = (
    _PROMPTS
    + """
    const done = prompts.filter(p => /\\[\\d+\\]/.test(p)).length;
    if (cells.length > 0 && done === cells.length) return 'done';
    if (done > 0 && !prompts.some(p => p.includes('*'))) return 'stopped';
    return false;
"""
)


def run_all_and_wait(page, timeout=LONG):
    """Run > Run All Cells, then wait until every code cell has an execution count.

    Run All stops at the first error, leaving later cells unnumbered: all numbered means no error.
    Stopped early (some cells numbered, none running or queued, some not): fails at once with
    the error the notebook shows, instead of waiting out ``timeout``.
    """
    menu(page, "Run", "Run All Cells")
    try:
        state = page.wait_for_function(f"() => {{ {_RUN_STATE} }}", timeout=timeout, polling=500).json_value()
    except Exception as e:
        prompts = page.evaluate(f"() => {{ {_PROMPTS} return prompts; }}")
        raise AssertionError(f"Run All did not finish in {timeout / 1000:.0f} s; the prompts: {prompts}") from e
    if state == "stopped":
        errors = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type*=stderr]")
        shown = "\n".join(errors.all_inner_texts())[-3000:]
        raise AssertionError(f"Run All stopped before the last cell; the notebook shows:\n{shown}")


def code_cell(page, starts_with):
    """The code cell of the open notebook whose source starts with ``starts_with``."""
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
    return cells.filter(has=page.locator(".cm-content", has_text=starts_with)).first


def type_cell(page, cell, source):
    """Replace the source of ``cell`` by typing into its editor (select all, then the new text)."""
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(source)  # as typed text, without the editor's auto-indentation
    page.keyboard.press("Escape")


def save(page):
    """Ctrl+S, then wait until the notebook's tab is no longer marked as modified."""
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "() => !document.querySelector('.lm-DockPanel .lm-TabBar-tab.lm-mod-current.jp-mod-dirty')",
        timeout=30_000,
    )


def validate(page):
    """Click nbgrader's Validate button of the open notebook; its dialog must say Success and that
    the notebook passes all the tests. The dialog stays open (Escape closes it)."""
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar").get_by_role(
        "button", name=re.compile("Validate")
    ).click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_text(re.compile("Success")).wait_for(timeout=LONG)
    assert "passes all the tests" in dialog.inner_text()


@pytest.mark.slow
def test_student_and_instructor_in_jupyterlab(lab, course_copy):
    pw = chromium_or_skip()
    solutions = solved_answer_cells(course_copy / "solutions" / UNIT / "perceptron.ipynb")
    console = []
    with pw.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        try:
            # 1. The first lecture, run in the browser: a heading, then a figure.
            open_notebook(page, lab, f"lectures/{UNIT}.ipynb")
            heading = page.locator(".jp-MarkdownOutput h1").first
            heading.wait_for()
            assert "perceptron" in heading.inner_text().lower()
            shot(page, "01-lecture-heading")
            run_all_and_wait(page)
            figure = page.locator(".jp-RenderedImage img").first
            figure.wait_for()
            assert figure.evaluate("img => img.complete && img.naturalWidth > 100")
            shot(page, "02-lecture-figure", figure)

            # 2. The first exercise: answer both functions, run everything, see the visible tests pass.
            exercise = f"exercises/{UNIT}/perceptron.ipynb"
            open_notebook(page, lab, exercise)
            for name in ("perceptron_predict", "perceptron_fit"):
                cell = code_cell(page, f"def {name}(")
                assert "raise NotImplementedError()" in cell.locator(".cm-content").inner_text()
                type_cell(page, cell, solutions[f"answer_{name}"])
            run_all_and_wait(page)
            for name in ("perceptron_predict", "perceptron_fit"):
                passed = page.locator(".jp-OutputArea-output", has_text=f"{name}: visible tests passed")
                passed.wait_for()
            shot(
                page,
                "03-exercise-tests-passed",
                page.locator(".jp-OutputArea-output", has_text="perceptron_predict: visible tests passed"),
            )
            save(page)

            # 3. nbgrader's Validate button (the student's last step before handing in).
            validate(page)
            shot(page, "04-exercise-validated")
            page.keyboard.press("Escape")

            # 4. The instructor's formgrader: the course's assignments, from solutions/.
            page.goto(f"{lab}/formgrader?token={TOKEN}")
            page.get_by_role("link", name=UNIT).wait_for(timeout=60_000)
            assert "could not be created" not in page.inner_text("body")  # `course lab` made the exchange
            shot(page, "05-formgrader")
        except Exception:
            shot(page, "99-failure")
            raise
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "console.log").write_text("\n".join(console) + "\n")
            browser.close()

    # The saved notebook passes nbgrader's validator too (the `nbgrader validate` command's code).
    from nbgrader.validator import Validator

    result = Validator().validate(str(course_copy / exercise))
    assert not result.get("failed") and not result.get("changed"), result
