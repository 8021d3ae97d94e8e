"""The instructor's pipeline: collect, autograde a class in parallel, feedback, grades export.

Runs on a throw-away copy of the course (unit 1 only) so that the repository's
own submitted/ and gradebook stay untouched.
"""

import csv
import io
import shutil
import zipfile

import nbformat
import pytest

from course import instructor

from conftest import ROOT

pytestmark = pytest.mark.slow
UNIT = "01_perceptron"


def _answered(wrong=False):
    nb = nbformat.read(ROOT / "exercises" / UNIT / "perceptron.ipynb", as_version=4)
    solved = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nbformat.read(ROOT / "solutions" / UNIT / "perceptron.ipynb", as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solved:
            cell.source = solved[gid]
        if wrong and gid == "answer_perceptron_fit":
            cell.source = "def perceptron_fit(X, y, lr=1.0, epochs=10):\n    return np.ones(X.shape[1]), 0.0\n"
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / UNIT, root / "solutions" / UNIT)
    inbox = tmp_path_factory.mktemp("inbox")
    (inbox / "alice").mkdir()
    (inbox / "alice" / "my_perceptron.ipynb").write_text(_answered())
    (inbox / "bob.ipynb").write_text(_answered(wrong=True))
    (inbox / "carol.ipynb").write_text("this is not a notebook")
    (inbox / "bad name!.ipynb").write_text(_answered())
    imported, skipped = instructor.collect(inbox, UNIT, root=root)
    assert sorted(imported) == ["alice", "bob", "carol"]
    assert [name for name, _ in skipped] == ["bad name!"]
    results = dict(instructor.autograde(UNIT, root=root, workers=2, timeout=30))
    return root, results


def _grade_rows(root):
    """Every grade row of the gradebook: (row id, test, auto score, manual score, student)."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in gb.students:
            for nb in gb.find_submission(UNIT, student.id).notebooks:
                rows += [(g.id, g.name, g.auto_score, g.manual_score, student.id) for g in nb.grades]
    return sorted(rows)


def test_collect_lays_out_nbgraders_submitted_folder(course):
    root, _ = course
    for student in ("alice", "bob", "carol"):
        assert (root / "submitted" / student / UNIT / "perceptron.ipynb").exists()


def test_collect_refuses_a_zip_that_escapes_its_folder(course, tmp_path):
    root, _ = course
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../outside.ipynb", "{}")
    with pytest.raises(ValueError, match="unsafe path"):
        instructor.collect(evil, UNIT, root=root)


def test_collect_reads_a_zip_with_one_folder_per_student(course, tmp_path):
    root, _ = course
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("dave/submission.ipynb", _answered())
    imported, _ = instructor.collect(archive, UNIT, root=root)
    assert imported == ["dave"]
    shutil.rmtree(root / "submitted" / "dave")


def test_autograde_scores_each_student(course):
    _, results = course
    assert results["alice"]["score"] == 5
    assert results["bob"]["score"] == 2
    assert results["carol"]["score"] == 0 and "not JSON" in results["carol"]["error"]


def test_autograde_writes_the_gradebook_and_a_log(course):
    root, _ = course
    rows = {(r["student"], r["unit"]): r for r in instructor.grades(root=root)}
    assert rows[("alice", UNIT)]["total"] == 5 and rows[("bob", UNIT)]["perceptron_fit"] == 0
    assert rows[("carol", UNIT)]["total"] == 0
    log = (root / "autograde-logs" / f"{UNIT}.log").read_text()
    assert "carol\tFAILED" in log and "bob\tperceptron_fit" in log


def test_regrading_is_idempotent_and_touches_only_that_student(course):
    root, _ = course
    before = _grade_rows(root)
    others_before = [r for r in before if r[4] != "bob"]
    instructor.autograde(UNIT, root=root, workers=1, timeout=30, students=["bob"])
    after = _grade_rows(root)
    assert after == before
    assert [r for r in after if r[4] != "bob"] == others_before


def test_feedback_is_nbgraders_html_per_student(course):
    root, _ = course
    files = instructor.feedback(UNIT, root=root)
    names = {f.parts[-3] for f in files}
    assert {"alice", "bob"} <= names
    assert "perceptron_fit" in (root / "feedback" / "bob" / UNIT / "perceptron.html").read_text()


def test_grades_export_has_a_column_per_test(course):
    root, _ = course
    rows = list(csv.DictReader(io.StringIO(instructor.grades_csv(instructor.grades(root=root)))))
    assert set(rows[0]) == {"student", "unit", "perceptron_predict", "perceptron_fit", "total", "max_score"}
    assert {r["student"]: float(r["total"]) for r in rows} == {"alice": 5.0, "bob": 2.0, "carol": 0.0}
