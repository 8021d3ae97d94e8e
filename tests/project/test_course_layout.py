"""The course's files follow the layout and the curriculum contract."""

import ast
import json
import re
from pathlib import Path

import pytest

from course import units as course_units

ROOT = Path(__file__).resolve().parents[2]
UNITS = course_units.units(ROOT)
CONTRACT = ROOT.parent / "shared" / "CURRICULUM.md"


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _contract_functions():
    """unit name in the contract table -> graded function names."""
    table = {}
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| ([a-z &]+) \| (.+?) \| ", line)
        if m and "`" in m.group(2):
            names = re.findall(r"`([a-z_0-9]+)\(", m.group(2))
            table.setdefault(m.group(1).strip(), []).extend(names)
    return table


def test_there_are_units():
    assert [u.id for u in UNITS][:2] == ["01_perceptron", "02_backprop"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.id)
def test_each_unit_has_a_lecture_and_one_exercise_notebook(unit):
    assert unit.lecture.exists(), f"missing lecture {unit.lecture}"
    assert len(unit.source_notebooks) == 1


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.id)
def test_solution_folders_hold_only_notebooks(unit):
    # nbgrader would copy any other file (a solved helper .py) to students unchanged
    others = [p.name for p in unit.source_dir.iterdir() if p.suffix != ".ipynb"]
    assert not others, f"{unit.source_dir} must hold only notebooks, found {others}"


ALL_NOTEBOOKS = (
    sorted(ROOT.glob("lectures/*.ipynb"))
    + sorted(ROOT.glob("solutions/*/*.ipynb"))
    + sorted(ROOT.glob("exercises/*/*.ipynb"))
)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebooks_are_committed_without_outputs(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, (
                f"{path.name}: commit notebooks without outputs (Kernel > Restart and clear outputs)"
            )


@pytest.mark.skipif(not CONTRACT.exists(), reason="the curriculum contract (../shared/CURRICULUM.md) is not here")
def test_every_contract_function_of_a_present_unit_has_its_own_answer_cell():
    sources = "\n".join(
        "\n".join("".join(c["source"]) for c in _cells(p) if c["cell_type"] == "code")
        for p in ROOT.glob("solutions/*/*.ipynb")
    )
    starts = set()
    for p in ROOT.glob("solutions/*/*.ipynb"):
        for c in _cells(p):
            if c.get("metadata", {}).get("nbgrader", {}).get("solution"):
                m = re.match(r"def ([a-z_0-9]+)\(", "".join(c["source"]))
                if m:
                    starts.add(m.group(1))
    for unit, names in _contract_functions().items():
        present = [n for n in names if f"def {n}(" in sources]
        if not present:
            continue  # unit not written yet
        missing = [n for n in names if n not in starts]
        assert not missing, f"contract unit {unit!r}: no answer cell starting with `def NAME(` for {missing}"


@pytest.mark.parametrize("path", sorted(ROOT.glob("exercises/*/*.ipynb")), ids=lambda p: p.parent.name)
def test_released_stubs_parse_and_hide_solutions(path):
    for cell in _cells(path):
        src = "".join(cell["source"])
        assert "BEGIN SOLUTION" not in src and "BEGIN HIDDEN TESTS" not in src
        if cell["cell_type"] == "code":
            ast.parse(src)  # MIT's scar: a stub like `x = # TODO` does not parse


@pytest.mark.parametrize("path", sorted(ROOT.glob("solutions/*/*.ipynb")), ids=lambda p: p.parent.name)
def test_every_test_cell_has_a_unique_grade_id_named_after_a_function(path):
    cells = _cells(path)
    answers = {
        c["metadata"]["nbgrader"]["grade_id"][len("answer_") :]
        for c in cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    ids = [
        c["metadata"]["nbgrader"]["grade_id"] for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
    ]
    assert len(ids) == len(set(ids))
    for gid in ids:
        assert any(gid == a or gid.startswith(a + "_") for a in answers), (
            f"test {gid!r} does not name a graded function of {path.name}"
        )
