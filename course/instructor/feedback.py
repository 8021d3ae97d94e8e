"""Feedback for students that says where they stand without giving away the hidden tests.

nbgrader's own feedback (``generate_feedback``) is the whole autograded notebook as HTML, hidden
tests included: a student who reads it learns every hidden input and threshold. ``course
feedback UNIT`` writes instead, for each autograded submission, one page at
``feedback/<student>/<unit>/<notebook>.html`` (where nbgrader's ``release_feedback`` looks for it,
with the ``timestamp.txt`` and ``submission_secret.txt`` it needs) that shows:

* the unit, the student id, the total score and the maximum (from the gradebook, so manual
  grades and the instructor's corrections count);
* one row per graded test, in the notebook's order: its name (grade_id), its points and
  maximum, whether it passed, and, for a test that did not pass, the message the grader
  recorded: the check's own message (which names the function and what is wrong), an
  exception's type and message, a time limit, or the verifier's verdict;
* the instructor's comments from the formgrader, if any.

It never shows the source of a test cell, visible or hidden, nor a traceback (whose lines would
quote the hidden tests), nor any output of the student's code. Every value is escaped text; the
page has no script, loads nothing, and forbids both with a Content-Security-Policy.

Messages come from ``course-results.json``, which ``course autograde`` writes beside each
autograded notebook; for a notebook autograded by nbgrader itself, from the test cells' errors
(type and message only).

nbgrader's own feedback (the formgrader's "Generate Feedback" button, ``nbgrader
generate_feedback``) can be made safe too with :class:`HideHiddenTests`, a preprocessor that
removes the hidden tests' source from every test cell and keeps of each error only its type and
message, in ``nbgrader_config.py``::

    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "course.instructor.feedback.HideHiddenTests",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
"""

import json
import os
import re
import stat

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from course.grading import files
from course.grading.outputs import escape_text
from course.grading.submission import Source, grade_id, role
from course.instructor import gradebook, html_page
from course.instructor.course_dir import require_course, require_unit
from course.instructor.intake import EXCHANGE_FILES

RESULTS_FILE = "course-results.json"  # beside each autograded notebook (course.instructor.autograding writes it)

MAX_MESSAGE_CHARS = 1000
STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .4em .6em; text-align: left; vertical-align: top; }
td.msg { white-space: pre-wrap; font-family: monospace; }
.passed { color: #1a7f37; } .failed, .not-graded { color: #cf222e; } .partly { color: #9a6700; }
"""
BODY = """<h1>Feedback: {unit}</h1>
<p>Student: <b>{student}</b> &mdash; notebook <code>{notebook}.ipynb</code></p>
<p>Score: <b>{score} / {max_score}</b></p>
{error}{notes}<table>
<tr><th>test</th><th>points</th><th>result</th><th>what went wrong</th></tr>
{rows}
</table>
{comments}<p>{closing}</p>
"""
GRADED = (
    "The hidden tests ran too; their code is not shown. Read each message, fix your function, and run the "
    "visible tests of your notebook again (or <code>course grade your_notebook.ipynb</code>)."
)
NOT_GRADED = (
    "Your notebook could not be graded, so its tests did not run to the end and none of them counts: the "
    "reason is above. Fix what it names (run your notebook from the top with Restart &amp; Run All: it must "
    "finish without an error and within the time limits), then submit again."
)


HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)
HIDDEN_NOTE = "# (hidden tests ran here; their code is not shown)\n"


def without_hidden_tests(source):
    """A test cell's source with nbgrader's hidden-test regions replaced by a one-line note.

    An unterminated region hides everything after its BEGIN marker.
    """
    source = HIDDEN.sub(HIDDEN_NOTE, source)
    begin = re.search(r"^[ \t]*### BEGIN HIDDEN TESTS", source, re.M)
    return source[: begin.start()] + HIDDEN_NOTE if begin else source


class HideHiddenTests(Preprocessor):
    """nbconvert/nbgrader preprocessor: test cells without their hidden tests, errors without tracebacks."""

    enabled = Bool(True).tag(config=True)  # nbconvert's preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and role(cell) == "test":
            cell.source = without_hidden_tests(cell.source)
            for out in cell.outputs:
                if out.output_type == "error":  # a traceback quotes the failing line: maybe a hidden one
                    out.traceback = [escape_text(f"{out.ename}: {out.evalue}", MAX_MESSAGE_CHARS)]
        return cell, resources


def _text(value, limit=MAX_MESSAGE_CHARS, lines=False):
    return html_page.text(value, limit, lines)


def _is_dir(path):
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def read_json_object(path, limit=2**20):
    """A JSON file that is a regular file (no link followed) under ``limit`` bytes, else {}."""
    raw = files.read_or_none(path, limit)
    try:
        data = json.loads(raw) if raw is not None else {}
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _messages_from_notebook(path):
    """grade_id -> "Type: message" of each test cell that raised, read from an autograded notebook."""
    messages = {}
    for cell in read_json_object(path, limit=64 * 2**20).get("cells", []):
        if not isinstance(cell, dict) or role(cell) != "test":
            continue
        for out in cell.get("outputs", []) if isinstance(cell.get("outputs"), list) else []:
            if isinstance(out, dict) and out.get("output_type") == "error":
                messages[grade_id(cell)] = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip(": ")
                break
    return messages


def _status(score, max_score):
    if max_score and score >= max_score:
        return "passed"
    return "partly" if score > 0 else "failed"


def page(unit, student, notebook, tests, score, max_score, error=None, comments=(), notes=()):
    """The HTML of one student's feedback.

    tests: [(grade_id, score, max_score, message or None)]; comments: [(cell name, text)];
    notes: what the grader changed in the notebook (a copied cell graded once), in the student's words.
    """
    rows = []
    for gid, s, m, message in tests:
        status = "not graded" if error else _status(s, m)
        if error:  # the reason is said once, above the table: no test ran to the end
            shown = "not run: the notebook could not be graded"
        else:
            shown = "" if status == "passed" else _text(message or "the test did not pass", lines=True)
        rows.append(
            f"<tr><td><code>{_text(gid, 100)}</code></td><td>{s:g} / {m:g}</td>"
            f'<td class="{status.replace(" ", "-")}">{status}</td><td class="msg">{shown}</td></tr>'
        )
    remarks = [f"<li><code>{_text(name, 100)}</code>: {_text(text)}</li>" for name, text in comments if text]
    body = BODY.format(
        unit=_text(unit, 100),
        student=_text(student, 100),
        notebook=_text(notebook, 100),
        score=f"{score:g}",
        max_score=f"{max_score:g}",
        error=f'<p class="failed">Could not be graded: {_text(error)}</p>\n' if error else "",
        notes="".join(f'<p class="partly">Note: {_text(n)}</p>\n' for n in notes[:20] if isinstance(n, str)),
        rows="\n".join(rows),
        comments=f"<h2>Comments</h2>\n<ul>{''.join(remarks)}</ul>\n" if remarks else "",
        closing=NOT_GRADED if error else GRADED,
    )
    return html_page.page(f"Feedback: {unit}", STYLE, body)


def write_feedback(unit, root=None, db_url=None):
    """Write the feedback page of every autograded submission of ``unit``; returns the files written.

    ``root``: the course directory (:func:`course.instructor.course_dir.find_course`); ``db_url``: the
    gradebook (default: the course's ``gradebook.db``). CourseError when either is not one.
    """
    from nbgrader.api import MissingEntry

    root = require_course(root)
    src = Source(unit, require_unit(unit, root).source_notebooks[0])
    written = []
    with gradebook.open_gradebook(db_url or gradebook.default_db(root)) as gb:
        for student_dir in sorted((root / "autograded").glob(f"*/{unit}")):
            student = student_dir.parent.name
            if not (_is_dir(student_dir.parent) and _is_dir(student_dir)):
                continue  # a link planted in autograded/: never followed
            try:
                nb = gb.find_submission_notebook(src.name, unit, student)
            except MissingEntry:
                continue
            grades = {g.name: g for g in nb.grades}
            results = read_json_object(student_dir / RESULTS_FILE)
            messages = {
                t.get("grade_id"): t.get("error") for t in results.get("tests", []) if isinstance(t, dict)
            } or _messages_from_notebook(student_dir / f"{src.name}.ipynb")
            tests = [
                (gid, float(grades[gid].score or 0.0), float(grades[gid].max_score or 0.0), messages.get(gid))
                for gid in src.tests
                if gid in grades
            ]
            comments = [(c.name, c.comment) for c in nb.comments]
            sub = gb.find_submission(unit, student)
            text = page(
                unit,
                student,
                src.name,
                tests,
                float(sub.score or 0.0),
                float(sub.max_score or 0.0),
                error=results.get("error"),
                comments=comments,
                notes=results.get("notes") if isinstance(results.get("notes"), list) else (),
            )
            out_dir = root / "feedback" / student / unit
            out_dir.mkdir(parents=True, exist_ok=True)
            out = out_dir / f"{src.name}.html"
            out.unlink(missing_ok=True)  # a link there is replaced, never written through
            out.write_text(text, encoding="utf-8")
            for name in EXCHANGE_FILES:
                copy = student_dir / name
                if copy.is_file() and not copy.is_symlink():
                    (out_dir / name).unlink(missing_ok=True)
                    (out_dir / name).write_bytes(copy.read_bytes()[:4096])
            written.append(out)
    return written
