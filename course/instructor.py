"""The instructor's pipeline on nbgrader: collect, autograde a class, feedback, grades.

The course root is nbgrader's course directory (``nbgrader_config.py``):
submissions live in ``submitted/<student>/<unit>/<notebook>.ipynb``, the
gradebook is ``gradebook.db`` (or any SQLAlchemy URL given as ``db_url``,
e.g. ``postgresql://user@host/course``), autograded notebooks go to
``autograded/`` and feedback to ``feedback/``, exactly where nbgrader's own
commands and formgrader expect them.

Grading goes through ``course.grading.grade_notebooks``, the same path as
``course grade``, so every protection (limits, sandbox, verifier) holds; the
results are then written into the gradebook, one student at a time, touching
only that student's rows.
"""

import csv
import io
import re
import shutil
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

from course import units as course_units
from course.grading import grade_notebooks
from course.grading.nbgrader import api as nbgrader_api
from course.grading.nbgrader import generate_assignment, prepare_env

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MAX_ZIP_BYTES = 2 * 2**30


def _root(root):
    return Path(root) if root else course_units.course_root()


def default_db(root):
    return f"sqlite:///{Path(root) / 'gradebook.db'}"


# ------------------------------------------------------------ collect
def _safe_extract(zip_path, dest):
    """Extract a zip of submissions, refusing absolute paths, '..' and zip bombs."""
    with zipfile.ZipFile(zip_path) as z:
        total = sum(i.file_size for i in z.infolist())
        if total > MAX_ZIP_BYTES:
            raise ValueError(f"{zip_path}: {total / 2**30:.1f} GiB uncompressed, over the limit")
        for info in z.infolist():
            name = Path(info.filename)
            if name.is_absolute() or ".." in name.parts:
                raise ValueError(f"{zip_path}: unsafe path {info.filename!r} in the archive")
        z.extractall(dest)


def collect(source, unit, root=None):
    """Import submissions of ``unit`` into submitted/<student>/<unit>/.

    source: a folder or a .zip holding either one folder per student (the
    folder's name is the student id; its first notebook is the submission)
    or notebooks named ``<student>.ipynb``. Returns (imported ids, skipped
    [(name, reason)]).
    """
    root = _root(root)
    u = course_units.get(unit, root)
    target_name = u.source_notebooks[0].name
    imported, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="course-collect-") as tmp:
        folder = Path(source)
        if folder.suffix == ".zip":
            _safe_extract(folder, tmp)
            folder = Path(tmp)
        candidates = []
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and entry.name != "__MACOSX":
                notebooks = sorted(p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
                if notebooks:
                    candidates.append((entry.name, notebooks[0]))
                else:
                    skipped.append((entry.name, "no notebook in the folder"))
            elif entry.suffix == ".ipynb":
                candidates.append((entry.stem, entry))
        for student, path in candidates:
            if not STUDENT_ID.match(student):
                skipped.append((student, "not a valid student id (letters, digits, _ . @ - only)"))
                continue
            dest = root / "submitted" / student / unit
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / target_name)
            (dest / "timestamp.txt").write_text(datetime.now().isoformat(sep=" "))
            imported.append(student)
    return imported, skipped


# ------------------------------------------------------------ autograde
def _ensure_assignment(root, db_url, unit):
    """Record the unit's cells in the gradebook (nbgrader's generate_assignment, release to a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="course-assign-") as tmp:
        generate_assignment(root, db_url, unit, source=root / "solutions", release=tmp)


def _store(gb, unit, nb_name, student, result, autograded, root):
    """Write one student's result into the gradebook (only that student's rows)."""
    gb.update_or_create_student(student)
    sub = gb.update_or_create_submission(unit, student)
    scores = {t["grade_id"]: t["score"] for t in result["tests"]}
    for grade in gb.find_submission_notebook(nb_name, unit, student).grades:
        grade.auto_score = float(scores.get(grade.name, 0.0))
        grade.manual_score = None
        grade.needs_manual_grade = False
    gb.db.commit()
    dest = root / "autograded" / student / unit
    if dest.exists():
        shutil.rmtree(dest)
    if autograded is not None and autograded.exists():
        dest.mkdir(parents=True)
        shutil.copyfile(autograded, dest / f"{nb_name}.ipynb")
    return sub


def autograde(unit, root=None, workers=1, timeout=60, db_url=None, students=None, progress=None, limits=None):
    """Grade every submission of ``unit`` (or only ``students``) into the gradebook.

    Returns a list of (student, result dict). Failed submissions get zeros and
    are listed, with the reason, in ``autograde-logs/<unit>.log``.
    """
    prepare_env()
    from nbgrader.api import Gradebook

    root = _root(root)
    db_url = db_url or default_db(root)
    u = course_units.get(unit, root)
    nb_name = u.source_notebooks[0].stem
    subs = sorted(p for p in (root / "submitted").glob(f"*/{unit}/*.ipynb") if p.parent.parent.name != ".")
    if students:
        subs = [p for p in subs if p.parent.parent.name in set(students)]
    _ensure_assignment(root, db_url, unit)
    kwargs = {"limits": limits} if limits else {}
    with tempfile.TemporaryDirectory(prefix="course-autograde-") as keep:
        results = grade_notebooks(
            [str(p) for p in subs],
            timeout=timeout,
            unit=unit,
            root=root,
            workers=workers,
            progress=progress,
            keep=keep,
            **kwargs,
        )
        out = []
        with Gradebook(db_url) as gb:
            for i, (path, res) in enumerate(zip(subs, results)):
                student = path.parent.parent.name
                if res.get("error") and not res["tests"]:
                    res["tests"] = []
                _store(gb, unit, nb_name, student, res, Path(keep) / f"{i}.ipynb", root)
                out.append((student, res))
    log = root / "autograde-logs" / f"{unit}.log"
    log.parent.mkdir(exist_ok=True)
    with open(log, "w") as f:
        f.write(f"# autograde {unit} at {datetime.now().isoformat(sep=' ', timespec='seconds')}\n")
        for student, res in out:
            if res.get("error"):
                f.write(f"{student}\tFAILED\t{res['error']}\n")
            for t in res["tests"]:
                if t["error"]:
                    f.write(f"{student}\t{t['grade_id']}\t{t['score']:g}/{t['max_score']:g}\t{t['error']}\n")
    return out


def summary(results):
    """A short text table of an autograde run: counts and the failed submissions."""
    n = len(results)
    full = sum(1 for _, r in results if r["max_score"] and r["score"] == r["max_score"] and not r.get("error"))
    failed = [(s, r["error"]) for s, r in results if r.get("error")]
    mean = sum(r["score"] for _, r in results) / n if n else 0.0
    lines = [
        f"submissions: {n}   full marks: {full}   partial or zero: {n - full - len(failed)}   "
        f"could not be graded: {len(failed)}   mean score: {mean:.2f}"
    ]
    for student, why in failed:
        lines.append(f"  {student}: {why}")
    return "\n".join(lines)


# ------------------------------------------------------------ feedback and grades
def feedback(unit, root=None, db_url=None):
    """nbgrader's HTML feedback for every autograded submission of ``unit``; returns the files."""
    prepare_env()
    root = _root(root)
    api = nbgrader_api(root, db_url or default_db(root), source=root / "solutions")
    written = []
    for student_dir in sorted((root / "autograded").glob(f"*/{unit}")):
        student = student_dir.parent.name
        result = api.generate_feedback(unit, student)
        if not result.get("success"):
            raise RuntimeError(f"nbgrader generate_feedback failed for {student}:\n{result.get('error')}")
        written += sorted((root / "feedback" / student / unit).glob("*.html"))
    return written


def grades(root=None, db_url=None, units=None):
    """Rows of (student, unit, per-test scores..., total, max) from the gradebook, as dicts."""
    from nbgrader.api import Gradebook, MissingEntry

    root = _root(root)
    rows = []
    with Gradebook(db_url or default_db(root)) as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            if units and assignment.name not in units:
                continue
            for student in sorted(gb.students, key=lambda s: s.id):
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    continue
                row = {"student": student.id, "unit": assignment.name}
                for nb in sub.notebooks:
                    for g in sorted(nb.grades, key=lambda g: g.name):
                        row[g.name] = g.score
                row["total"] = sub.score
                row["max_score"] = sub.max_score
                rows.append(row)
    return rows


def grades_csv(rows):
    """CSV text of ``grades()`` rows (columns: student, unit, every test, total, max_score)."""
    tests = sorted({k for r in rows for k in r} - {"student", "unit", "total", "max_score"})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["student", "unit", *tests, "total", "max_score"], restval="")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()
