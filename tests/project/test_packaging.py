"""The install profiles: pyproject.toml's base (the student's course) and extras, environment.yml (the same
base), the modules the ``course`` command checks per extra, and the commands the README and CI run."""

import re
import tomllib
from pathlib import Path

import yaml

from course.interop import INSTALL_TORCH
from course.programs import extras

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]

#: The top-level modules each requirement installs (what course.programs.extras.MODULES lists).
IMPORTS = {
    "torch": {"torch"},
    "pandas": {"pandas"},
    "scikit-learn": {"sklearn"},
    "statsmodels": {"statsmodels"},
    "nbgrader": {"nbgrader"},
    "dask": {"dask", "distributed"},  # dask[distributed]
    "cryptography": {"cryptography"},
    "copydetect": {"copydetect"},
    "psycopg": {"psycopg"},
    "jupyterhub": {"jupyterhub"},
    "latex2mathml": {"latex2mathml"},
}
#: In the base and in an extra: nbgrader for the lab's Validate button. Not torch: units 1-8 check
#: against saved torch references where it is missing (course/references.py).
IN_BASE_TOO = {"nbgrader"}
#: The extras the README names: units 9-10, the instructor's grading, the hub, the website, CI.
PROFILES = ("torch", "grader", "hub", "site", "test")


def _name(req):
    return re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].lower()


def _flat(extra):
    """The requirements of ``extra`` with those of the extras it includes (``course[a,b]``), no self-references."""
    reqs = []
    for req in EXTRAS[extra]:
        if _name(req) == PROJECT["name"]:
            for included in re.search(r"\[(.*)\]", req).group(1).split(","):
                reqs += _flat(included.strip())
        else:
            reqs.append(req)
    return reqs


def _conda_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return [r for r in pip if not r.startswith("-")], env


def test_environment_yml_is_valid_conda_syntax():
    _, env = _conda_pip()
    assert env["name"] and env["channels"] and "python>=3.11,<3.14" in env["dependencies"]


def test_the_python_versions_are_the_same_in_pyproject_and_environment_yml():
    _, env = _conda_pip()
    assert f"python{PROJECT['requires-python']}" in env["dependencies"], "environment.yml: pyproject's requires-python"


def test_the_students_course_installs_no_torch():
    assert "torch" not in {_name(r) for r in PROJECT["dependencies"]}, (
        "units 1-8 need no torch (saved references, course/references.py): it belongs to the torch extra"
    )


def test_environment_yml_installs_the_students_course_as_pyproject_does():
    assert sorted(PROJECT["dependencies"]) == sorted(_conda_pip()[0]), "environment.yml: the base of pyproject.toml"


def test_torch_is_pinned_everywhere():
    for where, reqs in [("base", PROJECT["dependencies"]), ("conda", _conda_pip()[0])] + list(EXTRAS.items()):
        assert [r for r in reqs if _name(r) == "torch"] in ([], ["torch==2.13.0"]), where


def test_the_students_course_holds_nothing_of_the_extras():
    base = {_name(r) for r in PROJECT["dependencies"]}
    shared = base & (set(IMPORTS) | {_name(r) for extra in EXTRAS for r in _flat(extra)})
    assert shared <= IN_BASE_TOO, f"move {sorted(shared - IN_BASE_TOO)} out of the base into its extra"


def test_every_profile_is_an_extra_and_the_test_extra_includes_them_all():
    assert set(PROFILES) <= set(EXTRAS), f"pyproject.toml lacks the extras {sorted(set(PROFILES) - set(EXTRAS))}"
    for extra in EXTRAS:
        missing = set(_flat(extra)) - set(_flat("test"))
        assert not missing, f"the test extra (CI) lacks {sorted(missing)} of [{extra}]"


def test_the_course_command_checks_the_modules_each_extra_installs():
    for extra, modules in extras.MODULES.items():
        assert extra in EXTRAS, f"course/programs/extras.py names [{extra}], which pyproject.toml does not define"
        installed = set().union(*(IMPORTS[_name(r)] for r in _flat(extra)))
        assert set(modules) == installed, f"[{extra}]: MODULES lists {sorted(modules)}, pyproject {sorted(installed)}"


def test_every_command_names_an_extra_with_modules_and_the_torch_line_is_the_lectures():
    for command, (extra, _) in extras.COMMANDS.items():
        assert extra in extras.MODULES and extra in extras.WHAT, f"course {command}: [{extra}] is not described"
    assert extras.install_command("torch") == INSTALL_TORCH


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.strip().splitlines()[-1]
    assert command in readme, "the README's test command and .ci/run must be the same line"
    assert 'pip install -q -e ".[test]"' in command, "CI installs the test extra (everything it runs)"


def test_the_readme_first_command_installs_the_students_course():
    readme = (ROOT / "README.md").read_text()
    first = next(line for line in readme.splitlines() if line.endswith("course lab") and "venv" in line)
    assert "pip install -e . &&" in first, f"command 1 installs the base (the student's course): {first}"
