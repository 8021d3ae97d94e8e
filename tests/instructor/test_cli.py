"""The ``course`` command as a user meets it: one line for a mistake or an interruption, never a traceback."""

import argparse
import os
import subprocess
import sys

import pytest

from course.programs import cli


def test_ctrl_c_in_any_command_is_one_line_and_status_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_release", interrupted)
    assert cli.main(["release", "--check"]) == 130
    err = capsys.readouterr().err.strip()
    assert err == "course release: interrupted (Ctrl-C)", f"expected one line, got: {err!r}"


def test_every_option_of_every_command_says_what_it_is_for():
    commands = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if action.option_strings and not action.help:
                pytest.fail(f"`course {name} --help`: {'/'.join(action.option_strings)} has no help text")


def test_course_grade_says_at_once_what_it_is_doing(tmp_path):
    nb = tmp_path / "empty.ipynb"
    nb.write_text("{}")
    run = subprocess.run(
        [sys.executable, "-m", "course.programs.cli", "grade", str(nb)], capture_output=True, text=True, timeout=300
    )
    assert run.stderr.splitlines()[0].startswith("course grade: grading 1 notebook(s)"), run.stderr


def _grader_line(command, what, module, extra="grader", brings="the grader's tools"):
    return f'course {command}: {what} needs {brings} ({module} is not installed): pip install -e ".[{extra}]"'


@pytest.mark.parametrize(
    "argv, module, line",
    [
        (["grade", "nb.ipynb"], "dask", _grader_line("grade", "grading", "dask")),
        (["grade", "nb.ipynb"], "torch", _grader_line("grade", "grading", "torch")),
        (["similarity", "01_perceptron"], "copydetect", _grader_line("similarity", "the comparison", "copydetect")),
        (
            ["hub", "--instructor", "t"],
            "jupyterhub",
            _grader_line("hub", "the hub", "jupyterhub", "hub", "JupyterHub and the grader's tools"),
        ),
    ],
    ids=["grade-dask", "grade-torch", "similarity-copydetect", "hub-jupyterhub"],
)
def test_a_command_whose_extra_is_not_installed_names_the_extra_in_one_line(argv, module, line, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # how importlib sees a module that is not installed
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == line + "\n"


def test_a_module_of_the_extra_failing_as_the_command_runs_is_one_line_not_a_traceback(tmp_path):
    blocker = tmp_path / "blocked" / "psycopg"  # found by importlib, fails when imported: a broken install
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n")
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("")
    run = subprocess.run(
        [sys.executable, "-m", "course.programs.cli", "grades", "--course", str(course), "--db", "postgresql://u@h/db"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(blocker.parent)},
    )
    assert (run.returncode, run.stderr) == (2, _grader_line("grades", "the gradebook", "psycopg") + "\n")


def test_a_missing_module_outside_the_extras_keeps_its_traceback(monkeypatch):
    def broken(args):
        raise ModuleNotFoundError("No module named 'nosuchmodule'", name="nosuchmodule")

    monkeypatch.setattr(cli, "_cmd_release", broken)
    with pytest.raises(ModuleNotFoundError):  # a bug, not a profile: its traceback is the report
        cli.main(["release", "--check"])
