"""Unit 11 graded end to end: the scan's rules hold in the grader too, where the check's combine runs
on the trusted side and the student's scan calls it across the sandbox (course.grading.verify)."""

import json

import pytest

from course import units as course_units
from course.grading import grade_notebooks
from course.grading.submission import cells_by_role, grade_id, solved_answers

from helpers import ROOT

UNIT = "11_linear_recurrences"
SCAN_TESTS = ("parallel_scan", "parallel_scan_lengths")

# a correct h, but one combine per time step: the sequential loop in disguise
SCAN_BY_STEPS = """
def parallel_scan(a, b, h0, combine=scan_combine):
    A, B = [a[:, :1]], [b[:, :1]]
    for t in range(1, a.shape[1]):
        na, nb = combine((A[-1], B[-1]), (a[:, t : t + 1], b[:, t : t + 1]))
        A.append(na)
        B.append(nb)
    return np.concatenate(A, axis=1) * h0[:, None, :] + np.concatenate(B, axis=1)
"""
# a correct h that never calls combine: the recurrence computed by the scan's own arithmetic
SCAN_WITHOUT_COMBINE = """
def parallel_scan(a, b, h0, combine=scan_combine):
    h, out = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return np.stack(out, axis=1)
"""


def _graded(tmp_path, **answers):
    unit = course_units.get(UNIT, ROOT)
    (source,) = unit.source_notebooks
    nb = json.loads((unit.release_dir / source.name).read_text(encoding="utf-8"))
    solved = solved_answers(json.loads(source.read_text(encoding="utf-8")))
    for cell in cells_by_role(nb, "answer"):
        cell["source"] = answers.get(grade_id(cell)[len("answer_") :], solved[grade_id(cell)])
    path = tmp_path / source.name
    path.write_text(json.dumps(nb), encoding="utf-8")
    (result,) = grade_notebooks([str(path)], root=ROOT)
    return {t["grade_id"]: t for t in result["tests"]}


@pytest.mark.slow
@pytest.mark.parametrize("scan", [SCAN_BY_STEPS, SCAN_WITHOUT_COMBINE], ids=["one-combine-per-step", "no-combine"])
def test_a_scan_that_is_a_loop_scores_zero_on_the_scan_tests_only(tmp_path, scan):
    tests = _graded(tmp_path, parallel_scan=scan)
    for gid, t in tests.items():
        if gid in SCAN_TESTS:
            assert t["score"] == 0, f"{gid}: a sequential scan got {t['score']}"
            assert "combine" in (t["error"] or ""), t["error"]
        else:  # the other functions (minGRU calls the student's scan by name: correct values) keep full marks
            assert t["score"] == t["max_score"], f"{gid}: {t['error']}"
