"""Shared fixtures: the course root, the functions of a solution notebook, and a small notebook factory."""

import json
import os
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from course.grading.submission import cells_by_role, source_text

ROOT = Path(__file__).resolve().parent.parent


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


def bin_path(name):
    """An executable of the environment running the tests (course, nbgrader, ...)."""
    return str(Path(sys.executable).parent / name)


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


# ---------------------------------------------------------------- the hint tables (tests/test_hints_*.py)
def with_bug(fn, bug):
    """``fn`` with its keyword ``bug`` set: one row of a table of wrong implementations. It keeps
    ``fn``'s name, which the checks quote ("your lstm_forward is wrong")."""

    def buggy(*args, **kwargs):
        return fn(*args, **kwargs, bug=bug)

    buggy.__name__ = fn.__name__
    return buggy


def hint_of(check, *fns, **kwargs):
    """The message of the AssertionError that ``check(*fns, **kwargs)`` must raise."""
    with pytest.raises(AssertionError) as e:
        check(*fns, **kwargs)
    return str(e.value)
