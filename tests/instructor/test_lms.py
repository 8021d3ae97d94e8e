"""Grades to the LMS: the column layouts Canvas's and Moodle's gradebook imports document.

Canvas, "How do I import grades in the Gradebook?" (Canvas Instructor Guide,
https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807):
the import reads the layout of Canvas's own gradebook export -- the header ``Student, ID,
SIS User ID, [SIS Login ID,] Section`` and then one column per assignment; a second row whose first
cell is "Points Possible" and which holds each assignment's points possible; then one row per
student, found by ID, SIS User ID or SIS Login ID.

Moodle, grade import "CSV file" (https://docs.moodle.org/en/Grade_import; the importer is
moodle/moodle ``grade/import/csv/classes/load_data.php``): a header row, then one row per student;
the teacher maps one column to the user (email address, ID number, username or id) and the others
to grade items; a row whose user is not found aborts the whole import; "" or "-" is no grade;
there is no points-possible row.

The gradebook here is built with nbgrader's own API (no grading needed).
"""

import csv
import io
import shutil

import pytest

from course.instructor import lms
from course.programs import cli

from helpers import ROOT

POINTS = {"01_perceptron": 5.0, "02_backprop": 12.0}
ROWS = [  # course.instructor.grades() rows
    {"student": "alice", "unit": "01_perceptron", "total": 5.0, "max_score": 5.0},
    {"student": "alice", "unit": "02_backprop", "total": 10.5, "max_score": 12.0},
    {"student": "bob", "unit": "01_perceptron", "total": 2.0, "max_score": 5.0},
    {"student": "zed", "unit": "01_perceptron", "total": 4.0, "max_score": 5.0},  # not in the roster
]
ROSTER = """nbgrader_id,Student,Canvas ID,SIS User ID,Section,Email,ID number,First name,Last name
alice,"Liddell, Alice",101,S-001,Section A,alice@uni.edu,1001,Alice,Liddell
bob,"Builder, Bob",102,S-002,Section B,bob@uni.edu,1002,Bob,Builder
carol,"Danvers, Carol",103,S-003,Section A,carol@uni.edu,1003,Carol,Danvers
"""


def _table(text):
    return list(csv.reader(io.StringIO(text)))


def test_canvas_export_has_the_documented_columns_and_points_possible_row():
    export = lms.canvas_csv(ROWS, lms.read_roster(ROSTER), POINTS)
    header, points, *students = _table(export.text)
    assert header == ["Student", "ID", "SIS User ID", "Section", "01_perceptron", "02_backprop"]
    assert points == ["Points Possible", "", "", "", "5", "12"]
    assert students == [
        ["Liddell, Alice", "101", "S-001", "Section A", "5", "10.5"],
        ["Builder, Bob", "102", "S-002", "Section B", "2", "0"],
        ["Danvers, Carol", "103", "S-003", "Section A", "0", "0"],
    ]


def test_canvas_export_adds_sis_login_id_where_the_roster_has_it():
    roster = lms.read_roster("nbgrader_id,name,canvas_id,sis_user_id,sis_login_id,section\nalice,A,1,S1,alice01,X\n")
    header, points, row = _table(lms.canvas_csv(ROWS, roster, POINTS).text)
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert points[:5] == ["Points Possible", "", "", "", ""] and row[:5] == ["A", "1", "S1", "alice01", "X"]


def test_a_roster_student_without_a_submission_gets_zero_or_blank():
    roster = lms.read_roster(ROSTER)
    carol_zero = _table(lms.canvas_csv(ROWS, roster, POINTS).text)[4]
    carol_blank = _table(lms.canvas_csv(ROWS, roster, POINTS, missing="blank").text)[4]
    assert carol_zero[-2:] == ["0", "0"] and carol_blank[-2:] == ["", ""]
    bob_blank = _table(lms.canvas_csv(ROWS, roster, POINTS, missing="blank").text)[3]
    assert bob_blank[-2:] == ["2", ""]


def test_a_submission_without_a_roster_entry_is_reported_not_dropped_silently():
    for export in (
        lms.canvas_csv(ROWS, lms.read_roster(ROSTER), POINTS),
        lms.moodle_csv(ROWS, lms.read_roster(ROSTER), POINTS),
    ):
        assert export.unmatched == ["zed"]
        assert "zed" not in export.text


def test_moodle_export_has_one_identified_row_per_roster_student_and_no_points_row():
    header, *students = _table(lms.moodle_csv(ROWS, lms.read_roster(ROSTER), POINTS, missing="blank").text)
    assert header == [
        "First name",
        "Last name",
        "ID number",
        "Email address",
        "Username",
        "01_perceptron",
        "02_backprop",
    ]
    assert students == [
        ["Alice", "Liddell", "1001", "alice@uni.edu", "", "5", "10.5"],
        ["Bob", "Builder", "1002", "bob@uni.edu", "", "2", ""],
        ["Carol", "Danvers", "1003", "carol@uni.edu", "", "", ""],
    ]


def test_moodle_export_refuses_a_roster_student_it_could_not_identify():
    roster = lms.read_roster("nbgrader_id,name\nalice,Alice Liddell\n")
    with pytest.raises(lms.RosterError, match="alice.*whole import"):
        lms.moodle_csv(ROWS, roster, POINTS)


def test_canvas_export_refuses_a_roster_student_canvas_could_not_find():
    roster = lms.read_roster("nbgrader_id,name,section\nalice,Alice Liddell,A\n")
    with pytest.raises(lms.RosterError, match="alice.*canvas_id, sis_user_id or sis_login_id"):
        lms.canvas_csv(ROWS, roster, POINTS)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("Student,ID,email\nLiddell,101,a@x\n", "no 'nbgrader_id' column"),  # Canvas's "Student" is a name
        ("nbgrader_id,email\nalice,a@x\nalice,b@x\n", "repeats student 'alice'"),
        ("nbgrader_id,email\n,a@x\n", "row 2 of the roster has no student id"),
    ],
)
def test_a_roster_that_cannot_be_used_says_why(text, message):
    with pytest.raises(lms.RosterError, match=message):
        lms.read_roster(text)


def test_roster_headers_are_matched_loosely():
    (entry,) = lms.read_roster("\ufeffNBGRADER ID,E-mail Address,SIS-User-ID\nalice,a@x,S1\n")
    assert (entry["student"], entry["email"], entry["sis_user_id"]) == ("alice", "a@x", "S1")


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A course directory whose gradebook holds unit 1 for alice (5/5) and zed (1/5), made with nbgrader's API."""
    from course.instructor.gradebook import open_gradebook

    tmp_path = tmp_path_factory.mktemp("lms")
    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    with open_gradebook(root / "gradebook.db") as gb:
        gb.add_assignment("01_perceptron")
        gb.add_notebook("perceptron", "01_perceptron")
        gb.add_grade_cell("perceptron_predict", "perceptron", "01_perceptron", max_score=2, cell_type="code")
        gb.add_grade_cell("perceptron_fit", "perceptron", "01_perceptron", max_score=3, cell_type="code")
        for student, scores in (("alice", (2, 3)), ("zed", (1, 0))):
            gb.add_student(student)
            gb.add_submission("01_perceptron", student)
            nb = gb.find_submission_notebook("perceptron", "01_perceptron", student)
            for grade in nb.grades:
                grade.auto_score = scores[0] if grade.name == "perceptron_predict" else scores[1]
        gb.db.commit()
    (tmp_path / "roster.csv").write_text(ROSTER)
    return root


def test_course_grades_canvas_writes_the_file_and_reports_students_missing_from_the_roster(graded_course, capsys):
    out = graded_course.parent / "canvas.csv"
    roster = graded_course.parent / "roster.csv"
    status = cli.main(["grades", "--canvas", str(out), "--roster", str(roster), "--course", str(graded_course)])
    err = capsys.readouterr().err
    assert status == 1, err  # written, but a graded student is not in the roster
    assert "zed" in err and "not in the roster" in err
    header, points, alice, bob, carol = _table(out.read_text())
    assert header == ["Student", "ID", "SIS User ID", "Section", "01_perceptron"]
    assert points[-1] == "5" and alice[-1] == "5" and bob[-1] == "0" and carol[-1] == "0"


def test_course_grades_moodle_with_blank_for_missing(graded_course, capsys):
    out = graded_course.parent / "moodle.csv"
    roster = graded_course.parent / "roster.csv"
    argv = [
        "grades",
        "--moodle",
        str(out),
        "--roster",
        str(roster),
        "--missing",
        "blank",
        "--course",
        str(graded_course),
    ]
    assert cli.main(argv) == 1
    header, alice, bob, carol = _table(out.read_text())
    assert header[-1] == "01_perceptron" and (alice[-1], bob[-1], carol[-1]) == ("5", "", "")


def test_course_grades_lms_export_needs_a_roster(capsys):
    assert cli.main(["grades", "--moodle", "x.csv"]) == 2
    assert "--roster" in capsys.readouterr().err


# -- CSV injection (OWASP, "CSV Injection"): text from a roster or a student never becomes a formula
FORMULAS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", '=HYPERLINK("http://evil","x")']


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_cell_beginning_with_a_formula_character_is_neutralised(formula):
    assert lms.spreadsheet_safe(formula) == "'" + formula


@pytest.mark.parametrize("value", ["Alice", "5", "10.5", "-1", "0", "", "Liddell, Alice", "a=b"])
def test_plain_text_and_numbers_are_written_as_they_are(value):
    assert lms.spreadsheet_safe(value) == value


def _hostile_roster():
    rows = ["nbgrader_id,name,first_name,last_name,canvas_id,sis_user_id,section,email,id_number,username"]
    for n, f in enumerate(FORMULAS):
        cell = '"' + f.replace('"', '""') + '"'
        rows.append(f"s{n},{cell},{cell},{cell},{n},{cell},{cell},{cell},{cell},{cell}")
    return lms.read_roster("\n".join(rows) + "\n")


@pytest.mark.parametrize("export", ["canvas", "moodle"])
def test_lms_exports_read_back_with_no_cell_a_spreadsheet_would_evaluate(export):
    roster = _hostile_roster()
    rows = [{"student": "s0", "unit": "01_perceptron", "total": 5.0, "max_score": 5.0}]
    if export == "canvas":
        text = lms.canvas_csv(rows, roster, POINTS).text
    else:
        text = lms.moodle_csv(rows, roster, POINTS).text
    cells = [cell for row in _table(text) for cell in row]
    live = [c for c in cells if c.startswith(lms.FORMULA_START) and not lms._NUMBER.fullmatch(c)]
    assert not live, f"cells a spreadsheet would run as formulas: {live}"
    assert "'=1+1" in cells  # the value is kept, shown as text


def test_the_class_table_has_a_row_per_student_and_a_column_per_unit():
    header, *students = _table(lms.class_table_csv(ROWS, POINTS))
    assert header == ["student", "01_perceptron", "02_backprop", "total", "max"]
    assert students == [
        ["alice", "5", "10.5", "15.5", "17"],
        ["bob", "2", "", "2", "17"],
        ["zed", "4", "", "4", "17"],
    ]


def test_course_grades_csv_writes_the_class_table_and_long_the_per_test_rows(graded_course, tmp_path):
    table, long = tmp_path / "table.csv", tmp_path / "long.csv"
    assert cli.main(["grades", "--csv", str(table), "--course", str(graded_course)]) == 0
    assert _table(table.read_text()) == [
        ["student", "01_perceptron", "total", "max"],
        ["alice", "5", "5", "5"],
        ["zed", "1", "1", "5"],
    ]
    assert cli.main(["grades", "--long", "--csv", str(long), "--course", str(graded_course)]) == 0
    header, alice, zed = _table(long.read_text())
    assert header == ["student", "unit", "perceptron_fit", "perceptron_predict", "total", "max_score"]
    assert alice[:2] == ["alice", "01_perceptron"] and zed[2:4] == ["0.0", "1.0"]


def test_course_grades_help_lists_every_roster_column(capsys):
    with pytest.raises(SystemExit):
        cli.main(["grades", "--help"])
    out = capsys.readouterr().out
    for aliases in lms.COLUMNS.values():
        assert aliases[0] in out, f"`course grades --help` does not document the roster column {aliases[0]}"
