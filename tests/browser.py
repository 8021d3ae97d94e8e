"""Driving a real, headless Chromium with Playwright, as the browser tests do (shared by tests/system/).

Debian's Chromium (/usr/bin/chromium, or $COURSE_CHROMIUM), nothing downloaded; without it or
Playwright a test SKIPS and says why. Screenshots go to test-artifacts/.
"""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from course.grading.submission import solved_answers

from helpers import ROOT

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
UNIT = "01_perceptron"  # the unit copy_unit copies
LONG = 180_000  # ms: running a whole lecture on 2 shared cores


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
