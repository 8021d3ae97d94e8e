"""The instructor's pipeline: collect, autograde a class in parallel, feedback, grades export.

Runs on a throw-away copy of the course (unit 1 only) so that the repository's own submitted/
and gradebook stay untouched. One batch is graded for the whole module: alice (correct, in a
folder), bob (one function wrong), carol (not a notebook), mallory (hostile: HTML and script
outputs, a student markdown cell with raw HTML, widget state, an error message that forges log
lines), erin (submitted through nbgrader's own exchange: release, fetch, submit, ``nbgrader
collect``; no ``course collect``) and trudy (a submission that is a link to the solutions).
"""

import csv
import html
import io
import json
import os
import re
import shutil
import signal
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from course import instructor
from course.grading.nbgrader import generate_assignment, prepare_env
from course.instructor import lms
from course.programs import cli

from helpers import ROOT

pytestmark = pytest.mark.slow
UNIT = "01_perceptron"


FORGED = "boom\nalice\tFAILED\tforged line\r\x1b[2J"
MARK = "PWNED"


def _answered(wrong=False, hostile=False):
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
        if hostile and gid == "answer_perceptron_fit":
            cell.source = f"def perceptron_fit(X, y, lr=1.0, epochs=10):\n    raise ValueError({FORGED!r})\n"
    if hostile:
        scratch = (
            "from IPython.display import HTML, Javascript, display\n"
            f"display(HTML('<script>{MARK}()</script><img src=x onerror={MARK}()>'))\n"
            f"display(Javascript('{MARK}()'))\n"
        )
        nb.cells.insert(1, nbformat.v4.new_code_cell(scratch))
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(f"notes <img src=x onerror={MARK}()>"))
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"x": "y" * 100_000}}}
    return nbformat.writes(nb)


def _through_nbgraders_exchange(root, tmp, student, text):
    """Release unit 1, fetch it as ``student``, answer it with ``text``, submit, and ``nbgrader collect``."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import (
        ExchangeCollect,
        ExchangeFetchAssignment,
        ExchangeReleaseAssignment,
        ExchangeSubmit,
    )
    from traitlets.config import Config

    prepare_env()
    generate_assignment(root, root / "gradebook.db", UNIT, source=root / "solutions", release=tmp / "release")
    (tmp / "exchange").mkdir(mode=0o777)
    home = tmp / "home"

    def run(app_class, student_id=None):
        cfg = Config()
        cfg.CourseDirectory.root = str(root)
        cfg.CourseDirectory.course_id = "rnn-course"
        cfg.CourseDirectory.release_directory = str(tmp / "release")
        cfg.CourseDirectory.assignment_id = UNIT
        if student_id:
            cfg.CourseDirectory.student_id = student_id
        cfg.Exchange.root = str(tmp / "exchange")
        cfg.Exchange.assignment_dir = str(home)
        cfg.Exchange.cache = str(tmp / "cache")
        coursedir = CourseDirectory(config=cfg)
        app_class(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg).start()

    run(ExchangeReleaseAssignment)
    run(ExchangeFetchAssignment, student)
    (home / UNIT / "perceptron.ipynb").write_text(text)
    run(ExchangeSubmit, student)
    run(ExchangeCollect)


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
    (inbox / "mallory.ipynb").write_text(_answered(hostile=True))
    imported, skipped = instructor.collect(inbox, UNIT, root=root)
    assert sorted(imported) == ["alice", "bob", "mallory"]
    assert [name for name, _ in skipped] == ["bad name!", "carol"]  # carol's is not a notebook: not imported
    (root / "submitted" / "carol" / UNIT).mkdir(parents=True)  # ... but placed there another way, it is graded
    shutil.copy(inbox / "carol.ipynb", root / "submitted" / "carol" / UNIT / "perceptron.ipynb")
    _through_nbgraders_exchange(root, tmp_path_factory.mktemp("exchange"), "erin", _answered())
    trudy = root / "submitted" / "trudy" / UNIT
    trudy.mkdir(parents=True)
    (trudy / "perceptron.ipynb").symlink_to(root / "solutions" / UNIT / "perceptron.ipynb")
    results = dict(instructor.autograde(UNIT, root=root, workers=2, timeout=30))
    return root, results


def _grade_rows(root):
    """Every grade row of the gradebook: (row id, test, auto score, manual score, student)."""
    from course.instructor.gradebook import open_gradebook

    rows = []
    with open_gradebook(root / "gradebook.db") as gb:
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
    assert results["mallory"]["score"] == 2  # perceptron_predict is right; the hostile outputs change nothing


def test_autograde_records_the_hints_a_failed_test_gave_and_keeps_them_for_the_report(course):
    root, results = course
    expected = {"perceptron_predict": None, "perceptron_fit": ["perceptron.fit_b_not_updated"]}  # (b stays 0)
    assert {t["grade_id"]: t.get("hints") for t in results["bob"]["tests"]} == expected, results["bob"].to_dict()
    kept = json.loads((root / "autograded" / "bob" / UNIT / "course-results.json").read_text())
    assert {t["grade_id"]: t.get("hints") for t in kept["tests"]} == expected, kept


def test_submissions_placed_by_nbgrader_collect_are_graded(course):
    root, results = course
    assert (root / "submitted" / "erin" / UNIT / "submission_secret.txt").exists()  # nbgrader's own layout
    assert results["erin"]["score"] == 5


def test_the_gradebook_records_when_each_submission_was_made(course):
    from nbgrader.utils import parse_utc

    from course.instructor.gradebook import open_gradebook

    root, _ = course
    stamp = parse_utc((root / "submitted" / "erin" / UNIT / "timestamp.txt").read_text().strip())
    with open_gradebook(root / "gradebook.db") as gb:
        assert gb.find_submission(UNIT, "erin").timestamp == stamp.replace(tzinfo=None)


def test_a_submission_that_is_a_link_is_refused_not_followed(course):
    root, results = course
    assert results["trudy"]["score"] == 0 and "symbolic link" in results["trudy"]["error"]
    assert not (root / "autograded" / "trudy" / UNIT / "perceptron.ipynb").exists()


def test_the_autograded_notebook_is_sanitised_before_the_formgrader_sees_it(course):
    root, _ = course
    stored = json.loads((root / "autograded" / "mallory" / UNIT / "perceptron.ipynb").read_text())
    outputs = [o for c in stored["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert any("removed by the grader" in "".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert all(set(o.get("data", {})) <= {"text/plain", "image/png"} for o in outputs)
    assert MARK not in json.dumps([o.get("data", {}) for o in outputs])
    assert "widgets" not in stored["metadata"]
    notes = [c["source"] for c in stored["cells"] if c["cell_type"] == "markdown" and MARK in "".join(c["source"])]
    assert len(notes) == 1 and "".join(notes[0]).startswith("*(a cell added or edited by the student, shown as text)*")
    nbformat.validate(nbformat.reads(json.dumps(stored), as_version=4))


def test_a_forged_error_message_cannot_add_lines_to_the_log(course):
    root, _ = course
    lines = (root / "autograde-logs" / f"{UNIT}.log").read_text().split("\n")
    assert lines[0].startswith("# autograde") and lines[-1] == ""
    assert {ln.split("\t")[0] for ln in lines[1:-1]} <= {"bob", "carol", "mallory", "trudy"}
    (forged,) = [ln for ln in lines if ln.startswith("mallory\tperceptron_fit")]
    assert "boom\\nalice\\tFAILED\\tforged line\\r\\x1b[2J" in forged


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


def _text_of(page):
    """The text a browser shows of an HTML page (tags removed, entities decoded: highlighted code reads as code)."""
    return html.unescape(re.sub(r"<[^>]*>", "", page))


def _hidden_test_lines():
    """The source lines of unit 1's hidden tests (between nbgrader's markers), from the solutions."""
    lines, hidden = [], False
    for cell in nbformat.read(ROOT / "solutions" / UNIT / "perceptron.ipynb", as_version=4).cells:
        for line in cell.source.splitlines():
            hidden = (hidden or "### BEGIN HIDDEN TESTS" in line) and "### END HIDDEN TESTS" not in line
            if hidden and "###" not in line and line.strip():
                lines.append(line.strip())
    assert len(lines) >= 4
    return lines


@pytest.fixture(scope="module")
def feedback(course):
    root, _ = course
    return root, instructor.write_feedback(UNIT, root=root)


def test_feedback_is_a_page_per_student_where_nbgrader_releases_it(feedback):
    root, files = feedback
    assert {f.parts[-3] for f in files} == {"alice", "bob", "carol", "mallory", "erin", "trudy"}
    assert all(f.name == "perceptron.html" for f in files)
    erin = root / "feedback" / "erin" / UNIT  # what nbgrader's release_feedback reads beside the page
    assert (erin / "timestamp.txt").exists() and (erin / "submission_secret.txt").exists()


def test_feedback_says_which_tests_failed_and_why(feedback):
    root, _ = feedback
    page = (root / "feedback" / "bob" / UNIT / "perceptron.html").read_text()
    assert re.search(r"perceptron_fit</code></td><td>0 / 3</td><td class=\"failed\">failed", page)
    assert re.search(r"perceptron_predict</code></td><td>2 / 2</td><td class=\"passed\">passed", page)
    assert "Score: <b>2 / 5</b>" in page
    assert "perceptron_fit" in page and "AssertionError" in page


def test_feedback_does_not_give_away_the_hidden_tests(feedback):
    root, files = feedback
    hidden = _hidden_test_lines()
    for f in files:
        page = _text_of(f.read_text())
        assert not [line for line in hidden if line in page], f
        assert "BEGIN HIDDEN TESTS" not in page and "Traceback" not in page


def test_feedback_is_inert_text(feedback):
    root, files = feedback
    for f in files:
        page = f.read_text()
        assert "<script" not in page.lower() and "default-src 'none'" in page
    mallory = (root / "feedback" / "mallory" / UNIT / "perceptron.html").read_text()
    assert "alice\tFAILED" not in mallory and "\x1b" not in mallory
    assert MARK not in mallory


def test_grades_export_has_a_column_per_test(course):
    root, _ = course
    rows = list(csv.DictReader(io.StringIO(lms.per_test_csv(instructor.grades(root=root)))))
    assert set(rows[0]) == {"student", "unit", "perceptron_predict", "perceptron_fit", "total", "max_score"}
    totals = {r["student"]: float(r["total"]) for r in rows}
    assert totals == {"alice": 5.0, "bob": 2.0, "carol": 0.0, "mallory": 2.0, "erin": 5.0, "trudy": 0.0}


def _nbgrader_feedback(root, student, preprocessors=None):
    """nbgrader's own generate_feedback (the formgrader's button) into nbgrader-feedback/; the page's text."""
    from course.grading.nbgrader import api

    nb_api = api(root, root / "gradebook.db", source=root / "solutions")
    nb_api.coursedir.feedback_directory = "nbgrader-feedback"
    if preprocessors:
        nb_api.config.GenerateFeedback.preprocessors = preprocessors
    result = nb_api.generate_feedback(UNIT, student)
    assert result["success"], result.get("error")
    return (root / "nbgrader-feedback" / student / UNIT / "perceptron.html").read_text()


def test_nbgraders_own_feedback_shows_the_hidden_tests(course):
    """Why `course feedback` writes its own pages: nbgrader's shows the whole notebook."""
    root, _ = course
    page = _text_of(_nbgrader_feedback(root, "bob"))
    assert [line for line in _hidden_test_lines() if line in page]


def test_with_the_course_preprocessor_nbgraders_feedback_hides_them(course):
    root, _ = course
    preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "course.instructor.feedback.HideHiddenTests",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    page = _text_of(_nbgrader_feedback(root, "bob", preprocessors))
    assert not [line for line in _hidden_test_lines() if line in page]
    assert "hidden tests ran here; their code is not shown" in page and "AssertionError" in page


@pytest.mark.parametrize(
    "source, shown",
    [
        ("check(f)\n### BEGIN HIDDEN TESTS\ncheck(f, N=1)\n### END HIDDEN TESTS\n", "check(f)\n# (hidden"),
        ("check(f)\n    ### BEGIN HIDDEN TESTS\n    check(f, N=1)\n", "check(f)\n# (hidden"),  # never closed
        ("check(f)\n", "check(f)\n"),
    ],
)
def test_hidden_test_regions_are_removed_from_a_test_cell(source, shown):
    from course.instructor.feedback import without_hidden_tests

    assert without_hidden_tests(source).startswith(shown) and "N=1" not in without_hidden_tests(source)


def test_generating_assignments_from_several_threads_leaves_the_working_directory_alone(tmp_path):
    """nbgrader's converters chdir() into their course; two batches graded at once in one process
    must not leave this process in the other's temporary course (it is deleted afterwards)."""
    import os
    import threading

    here = os.getcwd()
    errors = []

    def generate(k):
        root = tmp_path / f"course{k}"
        (root / "source" / UNIT).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / UNIT / f"{UNIT.split('_', 1)[1]}.ipynb", root / "source" / UNIT)
        try:
            for _ in range(3):
                generate_assignment(root, root / "gradebook.db", UNIT, source=root / "source")
        except Exception as e:  # noqa: BLE001  (reported by the test)
            errors.append(repr(e))

    threads = [threading.Thread(target=generate, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert os.getcwd() == here, "a thread's generate_assignment left the process in another course's folder"


# ------------------------------------------------------------ a batch cut short: every graded row is kept
# (nbgrader's generate_assignment runs; the grading is a stand-in, so that each case takes seconds)
FULL = [("perceptron_predict", 2.0, 2.0, None), ("perceptron_fit", 3.0, 3.0, None)]
WRONG = [("perceptron_predict", 2.0, 2.0, None), ("perceptron_fit", 0.0, 3.0, "AssertionError: w differs")]


COPIED_NOTE = "answer_perceptron_fit appears twice: the last copy was graded, the first ran as plain code"


class StandInGrader:
    """``course.grading.batch.Grader`` with no grading: a submission's text says what its grading gives.

    "full"/"wrong": that result; "copied cell": full marks, with the grader's note on a copied cell;
    "broken": the grader raises as on a result file a full disk cut short (JSONDecodeError);
    "empty": an empty result; "ctrl-c": Ctrl-C arrives while it is graded.
    """

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        pass

    def grade(self, paths, unit=None, progress=None, keep=None):
        results = [self._one(p) for p in paths]
        for _ in progress(i for i in range(len(paths))) if progress else ():  # (a generator, as the batch's)
            pass
        return results

    @staticmethod
    def _one(path):
        what = Path(path).read_text()
        if what == "broken":
            raise json.JSONDecodeError("Expecting value", "", 0)
        if what == "ctrl-c":
            time.sleep(1.5)  # (the submissions before it are stored by then)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        if what not in ("full", "wrong", "copied cell"):
            return {}
        tests = [
            dict(zip(("grade_id", "score", "max_score", "error"), t)) for t in (WRONG if what == "wrong" else FULL)
        ]
        notes = [COPIED_NOTE] if what == "copied cell" else []
        return {"notebook": path, "assignment": UNIT, "score": sum(t["score"] for t in tests), "max_score": 5.0,
                "tests": tests, "isolation": "bwrap", "notes": notes}  # fmt: skip


@pytest.fixture
def small_course(tmp_path, monkeypatch):
    """hand_in(student=what): a submission graded as ``what`` says (see StandInGrader); returns the root."""
    monkeypatch.setattr("course.grading.batch.Grader", StandInGrader)
    root = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / UNIT, root / "solutions" / UNIT)
    shutil.copy(ROOT / "nbgrader_config.py", root)

    def hand_in(**students):
        for student, what in students.items():
            (root / "submitted" / student / UNIT).mkdir(parents=True, exist_ok=True)
            (root / "submitted" / student / UNIT / "perceptron.ipynb").write_text(what)
        return root

    return hand_in


def _totals(root):
    return {r["student"]: r["total"] for r in instructor.grades(root=root)}


def test_a_broken_or_missing_result_fails_that_student_only(small_course):
    root = small_course(alice="full", bob="broken", carol="empty", dave="wrong")
    out = instructor.autograde(UNIT, root=root, workers=2)
    assert [s for s, _ in out] == ["alice", "bob", "carol", "dave"], "results in submitted/'s order"
    results = dict(out)
    assert "could not be graded" in results["bob"]["error"] and "JSONDecodeError" in results["bob"]["error"]
    assert "could not be graded" in results["carol"]["error"]
    assert _totals(root) == {"alice": 5.0, "bob": 0.0, "carol": 0.0, "dave": 2.0}, "every student keeps a row"


def test_a_failure_while_storing_one_student_loses_no_other_row(small_course):
    root = small_course(alice="full", bob="full", carol="wrong")
    (root / "autograded").mkdir()
    (root / "autograded" / "bob").write_text("in the way")  # bob's results cannot be written
    results = dict(instructor.autograde(UNIT, root=root, workers=1))
    assert "could not be stored" in results["bob"]["error"]
    assert _totals(root) == {"alice": 5.0, "carol": 2.0}


def test_course_autograde_shows_the_total_done_and_rate(small_course, capsys):
    root = small_course(alice="full", bob="wrong", carol="full")
    assert cli.main(["autograde", UNIT, "--course", str(root), "--workers", "1"]) == 0
    err = capsys.readouterr().err
    assert "3/3" in err and "100%" in err, f"the progress bar should show done/total: {err}"


def test_ctrl_c_in_course_autograde_exits_130_with_what_was_graded_and_stored(small_course, capsys):
    root = small_course(alice="full", bob="wrong", carol="ctrl-c", dave="full")
    try:
        status = cli.main(["autograde", UNIT, "--course", str(root), "--workers", "1"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped course autograde (a traceback)")
    out, err = capsys.readouterr()
    assert status == 130
    assert [ln for ln in err.splitlines() if "course autograde" in ln and "interrupted" in ln], err
    assert "Traceback" not in err and "submissions: 2" in out, "the summary of what was graded"
    assert _totals(root) == {"alice": 5.0, "bob": 2.0}, "what was graded before Ctrl-C is stored"


def test_regrading_one_student_rewrites_only_their_lines_of_the_log(small_course):
    root = small_course(alice="wrong", bob="wrong")
    instructor.autograde(UNIT, root=root)
    small_course(bob="full")  # bob's corrected submission
    instructor.autograde(UNIT, root=root, students=["bob"])
    lines = (root / "autograde-logs" / f"{UNIT}.log").read_text().splitlines()
    assert [ln.split("\t")[:2] for ln in lines[1:]] == [["alice", "perceptron_fit"]], "alice's failure was lost"


def test_what_the_grader_changed_in_a_notebook_reaches_the_log_and_the_students_feedback(small_course):
    root = small_course(alice="copied cell", bob="full")
    instructor.autograde(UNIT, root=root, workers=1)
    log = (root / "autograde-logs" / f"{UNIT}.log").read_text()
    assert f"alice\tNOTE\t{COPIED_NOTE}" in log and "bob\tNOTE" not in log
    instructor.write_feedback(UNIT, root=root)
    page = (root / "feedback" / "alice" / UNIT / "perceptron.html").read_text()
    assert "Note: " + COPIED_NOTE in page
