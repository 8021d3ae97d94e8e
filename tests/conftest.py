"""Shared fixtures: the course root and a small notebook factory."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root():
    return ROOT


def bin_path(name):
    """An executable of the environment running the tests (course, nbgrader, ...)."""
    return str(Path(sys.executable).parent / name)
