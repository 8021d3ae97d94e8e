"""The course as a student and an instructor meet it: `course lab` in a real, headless Chromium.

One test walks the whole way and writes a screenshot of each step to test-artifacts/browser/:
the first lecture run in JupyterLab (its heading, then a figure), the first exercise answered with
its visible tests passing, nbgrader's Validate button passing it, and the instructor's formgrader.

It runs `course lab` on a temporary copy of unit 1 (tracked files are never touched), on a free
loopback port with a token of its own, and drives Debian's Chromium (/usr/bin/chromium) with
Playwright; nothing is downloaded. Without Chromium or Playwright the test SKIPS and says why
(`apt-get install chromium`, `pip install -e ".[test]"`).
"""

import os
import socket
import subprocess

import pytest

from course.programs.lab import lab_command, missing_extensions

from browser import (
    ARTIFACTS,
    TOKEN,
    UNIT,
    chromium_or_skip,
    code_cell,
    launch,
    open_notebook,
    run_all_and_wait,
    save,
    shot,
    solved_answer_cells,
    type_cell,
    validate,
)
from helpers import bin_path


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
