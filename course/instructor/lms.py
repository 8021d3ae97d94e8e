"""The class's grades: read from the gradebook (:func:`grades`), and the CSV files made of them,
the course's own and those that Canvas's and Moodle's gradebook imports accept.

nbgrader knows students by their nbgrader id (the exchange's user name, or the name ``course
collect`` was given); an LMS knows them by its own ids. A **roster** (``--roster roster.csv``)
maps one to the other, one row per student of the class. Its header names the columns (any
order, case and ``_``/space/``-`` do not matter); only ``nbgrader_id`` is required, so Canvas's
own gradebook export with an ``nbgrader_id`` column added is a roster. The columns and what each
holds are :data:`ROSTER_COLUMNS`, their other accepted names :data:`COLUMNS` (``course grades
--help`` lists both).

**Canvas** ("How do I import grades in the Gradebook?", Canvas Instructor Guide,
https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807):
the layout of Canvas's own gradebook export, which its import reads back: a header row
``Student, ID, SIS User ID, [SIS Login ID,] Section`` followed by one column per assignment, then
a second row whose first cell is ``Points Possible`` and which holds each assignment's points
possible, then one row per student. Canvas finds the student by ID, SIS User ID or SIS Login ID
(so each roster student needs one of them); an assignment column it does not know becomes a new
assignment with those points possible.

**Moodle** (grade import, "CSV file", https://docs.moodle.org/en/Grade_import; the importer is
``grade/import/csv/classes/load_data.php``): a header row, then one row per student; the teacher
maps one column to the user ("Identify user by": email address, ID number, username or user id)
and each other column to a grade item (or a new one). A row whose user cannot be found aborts the
whole import, a value ``""`` or ``-`` means "no grade", and there is no points-possible row (it
would be read as a student). So the file holds only roster students, each with an identifier.

A student of the roster without a submission gets 0 (``missing="zero"``, the default) or no
grade (``missing="blank"``). A graded submission whose student is not in the roster is never
dropped silently: it is returned in ``unmatched`` and ``course grades`` reports it.

**Every file written here is opened by a spreadsheet**, and its text comes from people who are not
the instructor (students edit their names in Moodle; a roster comes from the LMS): a cell that
begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be read as a formula. Each
such cell is neutralised as OWASP's "CSV Injection" guidance says (a leading ``'``, the field
quoted by the csv module, quotes doubled) by :func:`write_csv`, the one writer of the course's
CSV files; numbers the course formats itself are left as numbers.

``course grades --csv`` writes the class table (:func:`class_table_csv`: one row per student, one
column per unit, total and max); ``--long`` the per-test rows (:func:`per_test_csv`).
"""

import csv
import io
import re
from dataclasses import dataclass, field

from course.instructor import gradebook
from course.instructor.course_dir import require_course

COLUMNS = {
    "student": ("nbgrader_id", "nbgrader", "nbgrader_student_id"),
    "name": ("name", "student", "student_name", "full_name"),
    "first_name": ("first_name", "firstname"),
    "last_name": ("last_name", "lastname", "surname"),
    "canvas_id": ("canvas_id", "id", "canvas_user_id"),
    "sis_user_id": ("sis_user_id",),
    "sis_login_id": ("sis_login_id",),
    "section": ("section",),
    "email": ("email", "email_address", "e_mail", "e_mail_address"),
    "id_number": ("id_number", "idnumber"),
    "username": ("username",),
}
#: What each roster column is (``course grades --help`` prints it).
ROSTER_COLUMNS = {
    "student": "the nbgrader student id (required)",
    "name": 'display name, Canvas\'s "Last, First" (else built from first and last name)',
    "first_name": 'Moodle\'s "First name"',
    "last_name": 'Moodle\'s "Last name"',
    "canvas_id": 'Canvas\'s "ID" (the Canvas user id)',
    "sis_user_id": 'Canvas\'s "SIS User ID"',
    "sis_login_id": 'Canvas\'s "SIS Login ID"',
    "section": 'Canvas\'s "Section"',
    "email": 'Moodle\'s "Email address"',
    "id_number": 'Moodle\'s "ID number"',
    "username": 'Moodle\'s "Username"',
}
MISSING = ("zero", "blank")
#: The first characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


class RosterError(ValueError):
    """A roster that cannot be used; the message says which row or column."""


@dataclass
class Export:
    """An LMS file's text, and the graded students it could not place (not in the roster)."""

    text: str
    unmatched: list = field(default_factory=list)


def spreadsheet_safe(value):
    """A cell as a spreadsheet may show it: text beginning with a formula character gets a leading ``'``.

    >>> spreadsheet_safe("=HYPERLINK(\"http://x\")"), spreadsheet_safe("-1"), spreadsheet_safe("Alice")
    ('\'=HYPERLINK("http://x")', '-1', 'Alice')
    """
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(rows):
    """CSV text (CRLF lines, as Excel, Canvas and Moodle write it) of rows of cells, every cell made safe."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        w.writerow([spreadsheet_safe(cell) for cell in row])
    return buf.getvalue()


def _key(header):
    return "_".join(header.strip().lower().replace("-", " ").split())


def read_roster(text):
    """Roster CSV text -> list of dicts with the keys of ``COLUMNS`` (missing ones are "")."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise RosterError("the roster is empty (it needs a header row with an 'nbgrader_id' column)")
    aliases = {alias: name for name, names in COLUMNS.items() for alias in names}
    header = [aliases.get(_key(h)) for h in rows[0]]
    if "student" not in header:
        raise RosterError(f"the roster has no 'nbgrader_id' column; its columns: {', '.join(rows[0])}")
    roster, seen = [], set()
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        entry = dict.fromkeys(COLUMNS, "")
        for name, cell in zip(header, row):
            if name:
                entry[name] = cell.strip()
        if not entry["student"]:
            raise RosterError(f"row {n} of the roster has no student id")
        if entry["student"] in seen:
            raise RosterError(f"row {n} of the roster repeats student {entry['student']!r}")
        seen.add(entry["student"])
        roster.append(entry)
    return roster


def _scores(rows):
    """{(student, unit): total} from ``grades`` rows."""
    return {(r["student"], r["unit"]): float(r["total"] or 0.0) for r in rows}


def _number(x):
    return f"{x:.6g}"


def _cell(scores, student, unit, missing):
    if (student, unit) in scores:
        return _number(scores[(student, unit)])
    return "0" if missing == "zero" else ""


def _check(missing):
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, not {missing!r}")


def _unmatched(rows, roster):
    known = {e["student"] for e in roster}
    return sorted({r["student"] for r in rows} - known)


def canvas_csv(rows, roster, points, missing="zero"):
    """Canvas gradebook import CSV. ``rows``: ``grades()`` rows; ``points``: {unit: points possible}."""
    _check(missing)
    units = sorted(points)
    scores = _scores(rows)
    for e in roster:
        if not (e["canvas_id"] or e["sis_user_id"] or e["sis_login_id"]):
            raise RosterError(
                f"roster student {e['student']!r} has no canvas_id, sis_user_id or sis_login_id: Canvas finds "
                "students by these (copy them from Canvas's gradebook export)"
            )
    login = any(e["sis_login_id"] for e in roster)
    ids = ["Student", "ID", "SIS User ID", *(["SIS Login ID"] if login else []), "Section"]
    table = [[*ids, *units], ["Points Possible", *[""] * (len(ids) - 1), *(_number(points[u]) for u in units)]]
    for e in roster:
        name = e["name"] or ", ".join(x for x in (e["last_name"], e["first_name"]) if x) or e["student"]
        who = [name, e["canvas_id"], e["sis_user_id"], *([e["sis_login_id"]] if login else []), e["section"]]
        table.append([*who, *(_cell(scores, e["student"], u, missing) for u in units)])
    return Export(write_csv(table), _unmatched(rows, roster))


def moodle_csv(rows, roster, units, missing="zero"):
    """Moodle grade import CSV (one row per roster student, identified by email, ID number or username)."""
    _check(missing)
    units = sorted(units)
    scores = _scores(rows)
    for e in roster:
        if not (e["email"] or e["id_number"] or e["username"]):
            raise RosterError(
                f"roster student {e['student']!r} has no email, id_number or username: Moodle could not "
                "identify them and would refuse the whole import"
            )
    table = [["First name", "Last name", "ID number", "Email address", "Username", *units]]
    for e in roster:
        first, last = e["first_name"], e["last_name"]
        if not (first or last) and e["name"]:
            last, _, first = (p.strip() for p in e["name"].partition(","))
        who = [first, last, e["id_number"], e["email"], e["username"]]
        table.append([*who, *(_cell(scores, e["student"], u, missing) for u in units)])
    return Export(write_csv(table), _unmatched(rows, roster))


def class_table_csv(rows, points):
    """The class as instructors read it: one row per student, one column per unit, then total and max.

    ``rows``: ``grades()`` rows; ``points``: {unit: points possible} (every unit of
    the table, graded or not). A unit a student has no submission for is blank; ``max`` is the sum
    of the units' points, so that total / max is the student's share of the whole table.
    """
    units = sorted(points)
    scores = _scores(rows)
    table = [["student", *units, "total", "max"]]
    for student in sorted({r["student"] for r in rows}):
        cells = [_number(scores[(student, u)]) if (student, u) in scores else "" for u in units]
        total = sum(scores.get((student, u), 0.0) for u in units)
        table.append([student, *cells, _number(total), _number(sum(points[u] for u in units))])
    return write_csv(table)


def per_test_csv(rows):
    """One row per student and unit, one column per test of any unit (blank where a unit has no such test)."""
    fixed = ("student", "unit", "total", "max_score")
    tests = sorted({k for r in rows for k in r} - set(fixed))
    columns = ["student", "unit", *tests, "total", "max_score"]
    return write_csv([columns, *([r.get(c, "") for c in columns] for r in rows)])


def grades(root=None, db_url=None, units=None):
    """Rows of (student, unit, per-test scores..., total, max) from the gradebook, as dicts, sorted by
    unit then student. Two queries whatever the class's size (a report over 1,000 students reads
    its gradebook in well under a second): the submissions with their totals, then every grade."""
    from nbgrader.api import Assignment, BaseCell, Grade, Student, SubmittedAssignment, SubmittedNotebook

    root = require_course(root)
    with gradebook.open_gradebook(db_url or gradebook.default_db(root)) as gb:
        subs = gb.db.query(Student.id, Assignment.name, SubmittedAssignment.score, SubmittedAssignment.max_score)
        subs = subs.join(SubmittedAssignment.student).join(SubmittedAssignment.assignment)
        cells = gb.db.query(Student.id, Assignment.name, BaseCell.name, Grade.score)
        cells = cells.select_from(Grade).join(Grade.cell).join(Grade.notebook)
        cells = cells.join(SubmittedNotebook.assignment).join(SubmittedAssignment.student)
        cells = cells.join(SubmittedAssignment.assignment)
        if units:
            subs, cells = (q.filter(Assignment.name.in_(list(units))) for q in (subs, cells))
        scores = {}
        for student, unit, test, score in cells.all():
            scores.setdefault((student, unit), {})[test] = score
        rows = []
        for student, unit, total, max_score in sorted(subs.all(), key=lambda r: (r[1], r[0])):
            tests = dict(sorted(scores.get((student, unit), {}).items()))
            rows.append({"student": student, "unit": unit, **tests, "total": total, "max_score": max_score})
    return rows


def points_possible(db_url, units=None):
    """{unit: max score} of the gradebook's assignments (only ``units`` if given)."""
    with gradebook.open_gradebook(db_url) as gb:
        return {a.name: float(a.max_score) for a in gb.assignments if not units or a.name in units}
