"""pyproject.toml and environment.yml install the same packages; torch stays pinned to the CPU build."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(req):
    return re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].lower()


def _pyproject():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return data["dependencies"] + data["optional-dependencies"]["test"]


def _conda_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return [r for r in pip if not r.startswith("-")], env


def test_environment_yml_is_valid_conda_syntax():
    _, env = _conda_pip()
    assert env["name"] and env["channels"] and "python=3.11" in env["dependencies"]


def test_both_files_list_the_same_requirements():
    assert sorted(_pyproject()) == sorted(_conda_pip()[0])


def test_torch_is_pinned_everywhere():
    for reqs in (_pyproject(), _conda_pip()[0]):
        assert [r for r in reqs if _name(r) == "torch"] == ["torch==2.13.0"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.strip().splitlines()[-1]
    assert command in readme, "the README's test command and .ci/run must be the same line"
