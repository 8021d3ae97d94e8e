"""``course report UNIT``: the class's scores, pass rates and the mistakes the checks named, for the instructor.

The gradebook is made with nbgrader's own API and the kept messages written as ``course autograde``
writes them (no grading needed); one student's messages are hostile (markup, a formula, control
characters).
"""

import json
import re
import shutil
import stat

import pytest

from course.instructor import report
from course.programs import cli

from helpers import ROOT

UNIT = "01_perceptron"
HINT = "perceptron_predict: predictions do not match the reference; it looks like you used >= 0 instead of > 0"
STUDENTS = {  # student: (predict score, fit score, message of the failed test, could-not-be-graded reason)
    "alice": (2, 3, None, None),
    "bob": (0, 3, HINT, None),
    "carol": (0, 3, HINT.replace("reference", "reference (3 of 8 wrong)"), None),
    "dave": (0, 0, None, "the kernel died while running cell answer_perceptron_fit (memory limit)"),
    "mallory": (0, 3, "x; it looks like <script>alert(1)</script>=HYPERLINK()\x1b[31m", None),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from course.instructor.gradebook import open_gradebook

    root = tmp_path_factory.mktemp("report") / "course"
    (root / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    with open_gradebook(root / "gradebook.db") as gb:
        gb.add_assignment(UNIT)
        gb.add_notebook("perceptron", UNIT)
        gb.add_grade_cell("perceptron_predict", "perceptron", UNIT, max_score=2, cell_type="code")
        gb.add_grade_cell("perceptron_fit", "perceptron", UNIT, max_score=3, cell_type="code")
        for student, (predict, fit, message, error) in STUDENTS.items():
            gb.add_student(student)
            gb.add_submission(UNIT, student)
            for grade in gb.find_submission_notebook("perceptron", UNIT, student).grades:
                grade.auto_score = predict if grade.name == "perceptron_predict" else fit
            tests = [
                {"grade_id": "perceptron_predict", "score": predict, "max_score": 2, "error": message},
                {"grade_id": "perceptron_fit", "score": fit, "max_score": 3, "error": None},
            ]
            folder = root / "autograded" / student / UNIT
            folder.mkdir(parents=True)
            (folder / "course-results.json").write_text(json.dumps({"tests": tests, "error": error}))
        gb.db.commit()
    return root


def test_the_named_mistake_is_what_the_check_said_after_it_looks_like_with_numbers_masked():
    assert report.named_mistake(HINT) == "you used >= # instead of > #"
    assert report.named_mistake("dx does not match\n  hint: dz has the wrong sign") == "dz has the wrong sign"
    assert report.named_mistake("dx does not match torch autograd") is None


def test_a_mistake_a_backward_found_in_its_forward_is_named_as_the_forwards():
    message = (
        "lstm_backward: your lstm_forward is wrong (lstm_forward: h does not match; it looks like the gates "
        "are read in the order i, f, o, g (blocks)); fix it first: lstm_backward is tested with its cache"
    )
    named = report.named_mistake(message)
    assert named == "the gates are read in the order i, f, o, g (blocks) (in the forward, found by this test)"


def test_the_report_counts_each_named_mistake_with_the_students_who_made_it(graded):
    data = json.loads(_cli_json(graded))
    top = data["mistakes"][0]
    assert (top["count"], top["students"], top["test"]) == (2, ["bob", "carol"], "perceptron_predict")
    assert data["not_graded"] == [{"student": "dave", "reason": STUDENTS["dave"][3]}]
    rates = {t["grade_id"]: t["pass_rate"] for t in data["tests"]}
    assert rates == {"perceptron_fit": 0.8, "perceptron_predict": 0.2}
    assert data["scores"]["alice"] == 5 and data["max_score"] == 5


def _cli_json(root):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["report", UNIT, "--json", "--course", str(root)]) == 0
    return out.getvalue()


def test_the_page_is_for_the_instructor_only_inert_and_escapes_what_students_wrote(graded):
    assert cli.main(["report", UNIT, "--course", str(graded)]) == 0
    page = graded / "reports" / f"report-{UNIT}.html"
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    text = page.read_text()
    assert "<script" not in text and "&lt;script&gt;" in text
    assert "\x1b" not in text
    assert re.search(r"<td class=num>2</td><td><code>perceptron_predict</code></td>", text)
    assert text.count('src="data:image/png;base64,') >= 2, "the figures are embedded, nothing is loaded"
    assert "default-src 'none'" in text


def test_a_unit_nobody_was_graded_in_is_one_line_and_status_2(graded, capsys):
    assert cli.main(["report", "06_lstm", "--course", str(graded)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "course autograde" in err


def test_mistakes_are_counted_by_the_hint_ids_the_grader_recorded_and_older_results_by_their_text(tmp_path):
    """ben's message was cut before its hint (messages are bounded), but the grader recorded the hint's id."""
    from course.checks.hints import all_hints

    bias = "perceptron.bias_missing"
    kept = {  # student: the failed perceptron_predict test as course autograde keeps it
        "ann": {"error": f"perceptron_predict: wrong prediction; it looks like {all_hints()[bias]}", "hints": [bias]},
        "ben": {
            "error": "perceptron_predict: with w=[1.0, 1.0], b=-1.5 (the AND gate) got [0, 1, 1, 1]",
            "hints": [bias],
        },
        "cy": {"error": HINT},  # kept before hints had ids
    }
    rows = []
    for student, test in kept.items():
        folder = tmp_path / "autograded" / student / UNIT
        folder.mkdir(parents=True)
        tests = [dict(test, grade_id="perceptron_predict", score=0, max_score=2)]
        (folder / "course-results.json").write_text(json.dumps({"tests": tests}))
        rows.append({"student": student, "unit": UNIT, "perceptron_predict": 0, "total": 0, "max_score": 2})
    mistakes = report.class_report(tmp_path, UNIT, rows)["mistakes"]
    named = [(m["hint"], m["mistake"], m["students"]) for m in mistakes]
    assert named == [(bias, all_hints()[bias], ["ann", "ben"]), (None, "you used >= # instead of > #", ["cy"])]


def test_a_backward_that_found_its_forward_wrong_names_the_forwards_mistake_once():
    named = report.mistakes_of({"error": "...", "hints": ["common.gate_order", "common.forward_wrong"]})
    assert [hint for _, hint in named] == ["common.gate_order"]
    assert named[0][0].endswith("(in the forward, found by this test)"), named


def test_a_template_hints_label_shows_what_differs_between_students_as_an_ellipsis():
    label = report.hint_label("common.gate_order")
    assert "{" not in label and "…" in label, f"the instructor reads the template's placeholders: {label}"
