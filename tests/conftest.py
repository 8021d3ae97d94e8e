"""Shared fixtures: the course root, the functions of a solution notebook, `course lab` for the browser tests.

Shared helpers are in helpers.py (browser.py: Chromium; servers.py: real servers; corpus.py: the adversarial corpus)."""

import json
import os
import shutil
from functools import cache

import numpy as np
import pytest
import servers

from course.grading.submission import cells_by_role, source_text
from course.programs.lab import free_port

import browser
from helpers import ROOT


@pytest.fixture(autouse=True)
def _working_directory_kept():
    """A test that leaves the process elsewhere fails by name (later tests of the worker would run,
    and fail, in a folder that may be deleted)."""
    before = os.getcwd()
    yield
    after = os.getcwd()
    if after != before:
        os.chdir(before)
        pytest.fail(f"the test left the working directory in {after}")


@pytest.fixture
def course(tmp_path):
    """A course directory with unit 1's source only (modules that need more define their own ``course``)."""
    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / "01_perceptron", root / "solutions" / "01_perceptron")
    return root


@pytest.fixture(scope="session")
def root():
    return ROOT


@cache
def _answers(unit):
    (path,) = (ROOT / "solutions" / unit).glob("*.ipynb")
    ns = {"np": np}
    for cell in cells_by_role(json.loads(path.read_text(encoding="utf-8")), "answer"):
        exec(source_text(cell), ns)
    return ns


@pytest.fixture(scope="session")
def solution_answers():
    """``solution_answers("06_lstm")``: the functions the answer cells of that unit's solution notebook
    define, by name (a dict; read once per session). Tests use them as the reference correct implementation."""
    return _answers


# ---------------------------------------------------------------- course lab in a browser (tests/system/)
@pytest.fixture(scope="module")
def course_copy(tmp_path_factory):
    """A course root with unit 1 only: nbgrader's config, the lecture, the source and the release."""
    return browser.copy_unit(tmp_path_factory.mktemp("lab") / "course")


@pytest.fixture(scope="module")
def lab(course_copy, tmp_path_factory):
    """`course lab --no-browser` on the copy; yields its base URL. Stopped (its process group) at the end."""
    browser.chromium_or_skip()
    port = free_port()
    state = tmp_path_factory.mktemp("jupyter-state")
    # Don't ask about fetching Jupyter's news (offline, and the toast would hide part of the screenshots).
    news = state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')
    base, log = f"http://127.0.0.1:{port}", state / "lab.log"
    try:
        with servers.course_lab(course_copy, state, log, "--port", str(port), "--token", browser.TOKEN) as proc:
            servers.wait_for_http(f"{base}/api/status?token={browser.TOKEN}", proc, log, timeout=90, what="course lab")
            yield base
    finally:
        browser.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(state / "lab.log", browser.ARTIFACTS / "lab.log")
