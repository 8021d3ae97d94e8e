"""Reading a submission: strict about what it is, lenient about how a valid notebook was saved."""

import json

import nbformat
import pytest

from course import units as course_units
from course.grading.submission import (
    SKIP_TAG,
    NotGradable,
    all_ids,
    cells_by_role,
    grade_id,
    parse_submission,
    role,
    skip_after_last_test,
    sources,
)

from conftest import ROOT

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


def test_every_source_cell_of_a_role_has_the_matching_grade_id():
    for src in sources(ROOT):
        answers = cells_by_role(src.nb, "answer")
        assert answers and all(c["metadata"]["nbgrader"]["grade_id"].startswith("answer_") for c in answers)
        assert src.graded_names == [c["metadata"]["nbgrader"]["grade_id"][len("answer_") :] for c in answers]
        assert src.tests and all(role(c) == "test" for c in cells_by_role(src.nb, "test"))
        assert cells_by_role(src.nb, "setup"), f"{src.unit}: no locked setup cell"


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
