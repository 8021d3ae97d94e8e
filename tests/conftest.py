"""Shared fixtures: the course root, the functions of a solution notebook. Shared helpers are in helpers.py."""

import json
import os
from functools import cache

import numpy as np
import pytest

from course.grading.submission import cells_by_role, source_text

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
