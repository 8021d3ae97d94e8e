"""The ``course`` command as a user meets it: one line for a mistake or an interruption, never a traceback."""

import argparse
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
