"""What pre-commit checks before each commit also holds for what is committed: ruff's lint and format."""

import os
import subprocess

import pytest

from helpers import ROOT, bin_path


def _ruff(*args):
    ruff = bin_path("ruff")
    if not os.access(ruff, os.X_OK):
        pytest.skip(f"ruff is not installed next to {ruff}: pip install -e '.[test]'")
    return subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_code_and_the_notebooks_pass_ruff_check():
    r = _ruff("check", "--no-cache", ".")
    assert r.returncode == 0, f"fix these (`ruff check --fix .` fixes some):\n{r.stdout[-4000:]}"


def test_the_python_files_are_formatted_by_ruff():
    r = _ruff("format", "--no-cache", "--check", ".")
    assert r.returncode == 0, f"run `ruff format .`:\n{r.stdout[-4000:]}"
