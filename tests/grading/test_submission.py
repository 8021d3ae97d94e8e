"""Reading a submission: strict about what it is, lenient about how a valid notebook was saved."""

import json
import re

import nbformat
import pytest

from course import units as course_units
from course.grading.submission import (
    MAX_CELLS,
    SKIP_TAG,
    NotGradable,
    Source,
    all_ids,
    cells_by_role,
    grade_id,
    graded_name,
    graded_names,
    parse_submission,
    prepare_for_grading,
    role,
    skip_after_last_test,
    source_text,
    sources,
)

from helpers import ROOT

UNIT = course_units.get("01_perceptron", ROOT)
RELEASED = UNIT.release_dir / UNIT.source_notebooks[0].name


def test_a_notebook_saved_as_nbformat_v3_is_converted_not_refused():
    nb = nbformat.read(RELEASED, as_version=4)
    ids = all_ids(nb)
    v3 = nbformat.writes(nbformat.convert(nb, 3), version=3)
    assert json.loads(v3)["nbformat"] == 3
    read = parse_submission(v3.encode())
    assert read.nbformat == 4
    assert all_ids(read) == ids, "the nbgrader metadata must survive the conversion"


@pytest.mark.parametrize(
    "raw, why",
    [
        (b"", "empty"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "no cells"),
        (b'{"cells": 3, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "not a valid Jupyter notebook"),
        (b"[" * 100_000 + b"]" * 100_000, "not a Jupyter notebook"),
    ],
)
def test_a_file_that_is_not_a_notebook_gets_a_reason(raw, why):
    with pytest.raises(NotGradable, match=why):
        parse_submission(raw)


def test_a_link_in_place_of_a_submission_is_refused_not_followed(tmp_path):
    """A link a student planted (to the instructor's solutions, to /etc/shadow) is never read through."""
    from course.grading.submission import read_submission

    link = tmp_path / "submission.ipynb"
    link.symlink_to(RELEASED.resolve())
    with pytest.raises(NotGradable, match="symbolic link"):
        read_submission(link)
    assert read_submission(RELEASED).nbformat == 4, "a plain file is read as before"


def test_every_source_cell_of_a_role_has_the_matching_grade_id():
    for src in sources(ROOT):
        answers = cells_by_role(src.nb, "answer")
        assert answers and all(c["metadata"]["nbgrader"]["grade_id"].startswith("answer_") for c in answers)
        assert src.tests and all(role(c) == "test" for c in cells_by_role(src.nb, "test"))
        assert cells_by_role(src.nb, "setup"), f"{src.unit}: no locked setup cell"


def test_the_graded_names_of_every_unit_are_its_answer_cells_def_names_in_solutions_and_exercises():
    """One rule for the verifier (the solutions), the site (the exercises) and the tests (Source): an answer
    cell ``answer_NAME`` that starts with ``def NAME(`` is graded function NAME (the contract's rule)."""
    for src in sources(ROOT):
        defined = [
            m.group(1) for c in cells_by_role(src.nb, "answer") if (m := re.match(r"def (\w+)\(", source_text(c)))
        ]
        ids = [grade_id(c) for c in cells_by_role(src.nb, "answer") if source_text(c).startswith("def ")]
        assert ids == [f"answer_{name}" for name in defined], f"{src.unit}: an answer cell defines another name"
        released = json.loads((ROOT / "exercises" / src.unit / src.path.name).read_text(encoding="utf-8"))
        assert src.graded_names == graded_names(src.nb) == defined
        assert graded_names(released) == defined, f"{src.unit}: the exercise's graded functions differ"


def test_an_answer_cell_that_defines_no_function_names_no_graded_function():
    src = next(s for s in sources(ROOT) if s.unit == "05_vanishing_gradients")
    cell = next(c for c in cells_by_role(src.nb, "answer") if grade_id(c) == "answer_decay_prediction")
    assert graded_name(cell) is None and "decay_prediction" not in src.graded_names


@pytest.mark.parametrize("gid", ["solve", "answer_", "answer_not a name", "answers_solve"])
def test_an_answer_cell_without_the_answer_prefix_names_no_graded_function(tmp_path, gid):
    cell = nbformat.v4.new_code_cell("def solve(x):\n    return x\n")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False, "grade_id": gid}
    path = tmp_path / "x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    assert graded_name(cell) is None and graded_names(json.loads(path.read_text())) == []
    assert Source("01_x", path).graded_names == []


def test_only_an_answer_cell_names_a_graded_function():
    cell = nbformat.v4.new_code_cell("def solve(x):\n    return x\n")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False, "grade_id": "answer_solve"}
    assert graded_name(cell) == "solve"
    cell.metadata["nbgrader"].update(solution=False, grade=True, points=1)
    assert graded_name(cell) is None


def _skipped(nb):
    return [i for i, c in enumerate(nb.cells) if SKIP_TAG in c.metadata.get("tags", [])]


def test_only_the_code_cells_after_the_last_test_are_not_run():
    src = next(s for s in sources(ROOT) if s.unit == UNIT.id)
    nb = nbformat.read(RELEASED, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("train_for_a_minute()"))
    nb.cells.append(nbformat.v4.new_markdown_cell("the end"))
    skip_after_last_test(nb, src)
    last_test = max(i for i, c in enumerate(nb.cells) if grade_id(c) in src.tests)
    after = [i for i, c in enumerate(nb.cells) if i > last_test and c.cell_type == "code"]
    assert after and _skipped(nb) == after


def test_a_skip_tag_a_student_put_on_a_test_is_removed():
    """nbclient skips a cell tagged so, and nbgrader gives an unexecuted test cell full marks."""
    src = next(s for s in sources(ROOT) if s.unit == UNIT.id)
    nb = nbformat.read(RELEASED, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.metadata["tags"] = [SKIP_TAG, "keep-me"]
    skip_after_last_test(nb, src)
    tests = [c for c in nb.cells if grade_id(c) in src.tests]
    assert tests and all(c.metadata["tags"] == ["keep-me"] for c in tests)
    assert all(SKIP_TAG not in c.metadata.get("tags", []) for c in nb.cells[: nb.cells.index(tests[-1]) + 1])


def _padded(extra_cells, outputs=()):
    """The released notebook (JSON) with ``extra_cells`` appended and ``outputs`` on every code cell."""
    data = json.loads(RELEASED.read_text())
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = list(outputs)
    data["cells"] += extra_cells
    return json.dumps(data).encode()


def _code(i, source=""):
    return {
        "cell_type": "code",
        "id": f"x{i}",
        "metadata": {},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


def test_for_grading_blank_cells_are_dropped_before_the_notebook_is_validated():
    # 250,000 empty cells (32 MiB) held a grading worker 140 s: the work must follow the unit, not the file
    raw = _padded([_code(i, "" if i % 2 else ["\n", "  "]) for i in range(250_000)])
    nb = parse_submission(raw, for_grading=True)
    assert len(nb.cells) == len(json.loads(RELEASED.read_text())["cells"])


def test_for_grading_outputs_are_dropped_they_are_never_graded():
    huge = {"output_type": "stream", "name": "stdout", "text": "x" * 2**20}
    raw = _padded([], outputs=[huge] * 2)
    nb = parse_submission(raw, for_grading=True)
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    kept = parse_submission(raw)  # (read for the formgrader: kept)
    assert all(len(c.outputs) == 2 for c in kept.cells if c.cell_type == "code")


def test_more_cells_than_grading_could_need_are_refused_with_what_to_do():
    raw = _padded([_code(i, "x = 1") for i in range(MAX_CELLS + 1)])
    with pytest.raises(NotGradable, match="delete the cells you added"):
        parse_submission(raw, for_grading=True)


def test_a_copied_answer_cell_the_last_copy_is_graded_the_draft_runs_as_plain_code():
    src = next(s for s in sources(ROOT) if s.unit == UNIT.id)
    nb = nbformat.read(RELEASED, as_version=4)
    answer = next(c for c in nb.cells if grade_id(c) == "answer_perceptron_predict")
    draft = nbformat.from_dict(json.loads(json.dumps(answer)))
    draft.id, draft.source = "draft", "def perceptron_predict(X, w, b):\n    return None  # first try"
    nb.cells.insert(nb.cells.index(answer), draft)
    notes = prepare_for_grading(nb, src)
    copies = [c for c in nb.cells if grade_id(c) == "answer_perceptron_predict"]
    assert copies == [answer] and "nbgrader" not in draft.metadata and draft in nb.cells
    assert len(notes) == 1 and "'answer_perceptron_predict'" in notes[0] and "the last of them was graded" in notes[0]
