"""The instructor's pipeline on nbgrader: collect, autograde a class, feedback, grades.

**The course directory** follows nbgrader's convention: ``--course`` (``root=``) wins, then
``$COURSE_ROOT``, then the nearest folder holding ``nbgrader_config.py``, from the working
directory up; only where none is found, the course this package belongs to (:func:`find_course`).
Submissions live in ``submitted/<student>/<unit>/<notebook>.ipynb`` -- where ``course collect``
puts them and where ``nbgrader collect`` puts them from the exchange -- the gradebook is
``gradebook.db`` (or any SQLAlchemy URL given as ``db_url``, e.g. ``postgresql://user@host/course``),
autograded notebooks go to ``autograded/`` and feedback to ``feedback/``, exactly where
nbgrader's own commands and formgrader expect them.

Grading goes through ``course.grading.grade_notebooks``, the same path as ``course grade``, so
every protection (limits, sandbox, verifier) holds; the results are then written into the
gradebook, one student at a time, touching only that student's rows.

Everything a submission holds is hostile data here (the trust boundary of ``course.grading``):
collect never follows a link out of a submission (symbolic links and other non-regular files are
refused with a reason, files are opened with ``O_NOFOLLOW``; in a zip, symlink entries, absolute
paths and ``..`` are refused), student ids are whole-string matches of a plain-name pattern, the
autograded notebook is sanitised (``course.grading.outputs.sanitise_notebook``) before the
formgrader or feedback can render it, and every message written to the log is escaped
(``course.grading.outputs.escape_text``).
"""

import errno
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import nbformat

from course import units as course_units
from course.grading import grade_notebooks
from course.grading.nbgrader import api as nbgrader_api  # noqa: F401  (the adapter, for callers)
from course.grading.nbgrader import generate_assignment, prepare_env
from course.grading.outputs import escape_text, sanitise_notebook
from course.grading.submission import MAX_SUBMISSION_BYTES, NotGradable, parse_submission, source_text

#: A plain student id: ASCII letters, digits and ``_ . @ -``, starting with a letter or digit; matched
#: against the whole string (``fullmatch``), so a trailing newline or a look-alike letter is refused.
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}", re.ASCII)
MAX_ZIP_BYTES = 2 * 2**30
#: Files that nbgrader's exchange puts beside a submission and its release_feedback reads back.
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
RESULTS_FILE = "course-results.json"  # beside each autograded notebook: the messages of its tests
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class CourseError(Exception):
    """A mistake in how a command was called (wrong folder, nothing to grade); its message says what to do."""


class UnsafeArchive(CourseError, ValueError):
    """A zip of submissions that would write outside its folder, or is too big: refused whole."""


def valid_student_id(name):
    return isinstance(name, str) and STUDENT_ID.fullmatch(name) is not None


def find_course(root=None, cwd=None):
    """The course directory: ``root``, ``$COURSE_ROOT``, the nearest folder with ``nbgrader_config.py``
    from ``cwd`` (default: the working directory) up, or else the package's own course."""
    if root:
        return Path(root)
    if os.environ.get("COURSE_ROOT"):
        return Path(os.environ["COURSE_ROOT"])
    here = Path(cwd or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file():
            return folder
    return course_units.course_root()


def _root(root):
    root = find_course(root)
    if not (root / "solutions").is_dir():
        raise CourseError(
            f"{root} is not a course directory of this course: it has no solutions/ folder "
            "(run the command inside the course, or give --course DIR or COURSE_ROOT)"
        )
    return root


def default_db(root):
    return f"sqlite:///{Path(root) / 'gradebook.db'}"


# ------------------------------------------------------------ reading without following links
def _read_regular(path, limit=MAX_SUBMISSION_BYTES, dir_fd=None, single_link=False):
    """The bytes of ``path`` if it is a regular file (never through a symbolic link), else ValueError.

    single_link: refuse a file with other hard links too (another name of a file elsewhere).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:  # the last component is a symbolic link
            raise ValueError("a symbolic link (links are never followed)") from None
        raise ValueError(f"cannot be read: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if single_link and st.st_nlink > 1:
            raise ValueError("a hard link (another name of a file elsewhere); not copied")
        data = f.read(limit + 1)  # read, not the size from fstat: the file may still grow
        if st.st_size > limit or len(data) > limit:
            raise ValueError(f"{max(st.st_size, len(data)) / 2**20:.0f} MiB, over the limit of {limit / 2**20:g} MiB")
        return data


def _read_beneath(base, path):
    """``_read_regular`` of ``path`` inside folder ``base``, opening every folder on the way with
    ``O_NOFOLLOW``: a link swapped in after the walk is refused, not followed."""
    parts = Path(path).relative_to(base).parts
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in parts[:-1]:
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
            except OSError:
                raise ValueError(f"{part} is not a plain folder (links are never followed)") from None
            os.close(fd)
            fd = child
        return _read_regular(parts[-1], dir_fd=fd, single_link=True)
    finally:
        os.close(fd)


def _kind(path):
    """ "dir", "file", "link" or "other", from lstat (links are not followed)."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _notebooks(folder):
    """(notebooks, problem) under ``folder``, walking without following links.

    problem: the first link or non-regular file named ``*.ipynb`` found (a reason), else None.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in (".ipynb_checkpoints", "__MACOSX"))
        for d in dirnames:
            if _kind(Path(dirpath) / d) == "link":
                return [], f"{Path(dirpath, d).relative_to(folder)} is a symbolic link (links are never followed)"
        for name in sorted(filenames):
            if not name.endswith(".ipynb"):
                continue
            path = Path(dirpath) / name
            kind = _kind(path)
            if kind != "file":
                what = "a symbolic link (links are never followed)" if kind == "link" else "not a regular file"
                return [], f"{path.relative_to(folder)} is {what}"
            found.append(path)
    return sorted(found), None


def _write_file(dest, data):
    """Write ``data`` to ``dest`` through a new file renamed into place (an existing link there is replaced)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".collect-", delete=False) as f:
        f.write(data)
    os.replace(f.name, dest)


# ------------------------------------------------------------ collect
def _safe_extract(zip_path, dest):
    """Extract a zip of submissions; returns {top-level name: reason} for entries refused.

    Absolute paths, '..' and zip bombs refuse the whole archive (ValueError); an entry that is a
    symbolic link (or a device, a FIFO) refuses the student it belongs to.
    """
    refused = {}
    with zipfile.ZipFile(zip_path) as z:
        infos = z.infolist()
        total = sum(i.file_size for i in infos)
        if total > MAX_ZIP_BYTES:
            raise UnsafeArchive(f"{zip_path}: {total / 2**30:.1f} GiB uncompressed, over the limit")
        for info in infos:
            name = Path(info.filename)
            if name.is_absolute() or ".." in name.parts or info.filename.startswith(("/", "\\")):
                raise UnsafeArchive(f"{zip_path}: unsafe path {info.filename!r} in the archive")
        for info in infos:
            mode = info.external_attr >> 16
            top = Path(info.filename).parts[0] if Path(info.filename).parts else info.filename
            top = top[: -len(".ipynb")] if top.endswith(".ipynb") else top
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                what = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                refused.setdefault(top, f"archive entry {info.filename!r} is {what} (refused)")
                continue
            if info.is_dir():
                continue
            target = Path(dest, info.filename)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "xb") as out:
                    shutil.copyfileobj(src, out)
            except OSError as e:  # a repeated entry, a file where a folder should be
                raise UnsafeArchive(f"{zip_path}: cannot extract {info.filename!r} ({e.strerror})") from None
    return refused


def collect(source, unit, root=None):
    """Import submissions of ``unit`` into submitted/<student>/<unit>/.

    source: a folder or a .zip holding either one folder per student (the folder's name is the
    student id; its first notebook is the submission) or notebooks named ``<student>.ipynb``.
    Symbolic links and other non-regular files are never followed nor copied: their student is
    skipped with the reason. Returns (imported ids, skipped [(name, reason)]).
    """
    root = _root(root)
    u = course_units.get(unit, root)
    target_name = u.source_notebooks[0].name
    imported, skipped = [], []
    if not Path(source).exists():
        raise CourseError(f"{source}: no such folder or .zip of submissions")
    with tempfile.TemporaryDirectory(prefix="course-collect-") as tmp:
        folder = Path(source)
        refused = {}
        if folder.suffix == ".zip":
            refused = _safe_extract(folder, tmp)
            folder = Path(tmp)
        candidates = []
        for entry in sorted(folder.iterdir()):
            if entry.name == "__MACOSX":
                continue
            name = entry.stem if entry.suffix == ".ipynb" else entry.name
            kind = _kind(entry)
            if name in refused:
                skipped.append((name, refused.pop(name)))
            elif kind == "link":
                skipped.append((name, f"{entry.name} is a symbolic link (links are never followed)"))
            elif kind == "dir":
                notebooks, problem = _notebooks(entry)
                if problem:
                    skipped.append((name, problem))
                elif notebooks:
                    candidates.append((name, notebooks[0]))
                else:
                    skipped.append((name, "no notebook in the folder"))
            elif entry.suffix == ".ipynb":
                if kind == "file":
                    candidates.append((name, entry))
                else:
                    skipped.append((name, f"{entry.name} is not a regular file"))
        skipped += sorted(refused.items())
        for student, path in candidates:
            if not valid_student_id(student):
                skipped.append((student, "not a valid student id (letters, digits, _ . @ - only)"))
                continue
            try:
                data = _read_beneath(folder, path)
            except ValueError as e:
                skipped.append((student, f"{path.name}: {e}"))
                continue
            dest = root / "submitted" / student / unit
            _write_file(dest / target_name, data)
            _write_file(dest / "timestamp.txt", datetime.now().isoformat(sep=" ").encode())
            imported.append(student)
    return imported, skipped


# ------------------------------------------------------------ autograde
def _ensure_assignment(root, db_url, unit):
    """Record the unit's cells in the gradebook (nbgrader's generate_assignment, release to a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="course-assign-") as tmp:
        generate_assignment(root, db_url, unit, source=root / "solutions", release=tmp)


def find_submissions(root, unit, nb_name, students=None):
    """The submissions of ``unit`` in ``root``/submitted: [(student, path, problem)].

    One per student: ``<nb_name>.ipynb`` if there, else the student's first notebook of the unit.
    ``problem`` is a reason not to grade it (a symbolic link, an invalid id), else None. Raises
    CourseError, naming the folder searched, when there is nothing to grade.
    """
    base = Path(root) / "submitted"
    wanted = set(students) if students else None
    found, others = [], {}
    entries = sorted(base.iterdir()) if base.is_dir() else []
    for student_dir in entries:
        student = student_dir.name
        if wanted is not None and student not in wanted:
            continue
        kind = _kind(student_dir)
        unit_dir = student_dir / unit
        if kind == "dir" and not unit_dir.exists() and not unit_dir.is_symlink():
            for other in student_dir.iterdir():
                if other.is_dir() and not other.is_symlink() and any(other.glob("*.ipynb")):
                    others[other.name] = others.get(other.name, 0) + 1
            continue
        if kind not in ("dir", "link") or not os.path.lexists(unit_dir):
            continue
        problem = None
        if not valid_student_id(student):
            problem = "not a valid student id (letters, digits, _ . @ - only); not graded"
        elif kind == "link" or _kind(unit_dir) == "link":
            problem = "the submission folder is a symbolic link (links are never followed); not graded"
        if problem:
            found.append((student, None, problem))
            continue
        notebooks = sorted(unit_dir.glob("*.ipynb"))
        if not notebooks:
            continue
        path = unit_dir / f"{nb_name}.ipynb"
        path = path if path in notebooks else notebooks[0]
        kind = _kind(path)
        if kind != "file":
            what = "a symbolic link (links are never followed)" if kind == "link" else "not a regular file"
            found.append((student, None, f"{path.name} is {what}; not graded"))
            continue
        found.append((student, path, None))
    if not found:
        where = f"{base}/<student>/{unit}/*.ipynb"
        if wanted:
            why = f"no submission of {unit} for {', '.join(sorted(wanted))} in {where}"
        elif others:
            units_seen = ", ".join(f"{u} ({n})" for u, n in sorted(others.items()))
            why = f"no submission of {unit} in {where}; that folder holds submissions of {units_seen}"
        else:
            why = f"no submission of {unit} in {where} (nothing collected yet? course collect, or nbgrader collect)"
        raise CourseError(why + f"; course directory: {root}")
    return found


def _trusted_markdown(unit_obj):
    """Sources of the markdown cells the instructor wrote for ``unit`` (source and release)."""
    trusted = set()
    for folder in (unit_obj.source_dir, unit_obj.release_dir):
        for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
            nb = json.loads(path.read_text(encoding="utf-8"))
            trusted |= {source_text(c) for c in nb.get("cells", []) if c.get("cell_type") == "markdown"}
    return trusted


def _safe_autograded(autograded, submitted, trusted):
    """The notebook to store for the formgrader: the autograded one, sanitised.

    Where the autograded notebook is missing or unreadable, the submission itself with its
    outputs cleared (the instructor still sees the student's code).
    """
    for path, keep_outputs in ((autograded, True), (submitted, False)):
        try:
            nb = parse_submission(_read_regular(path))
        except (ValueError, NotGradable, TypeError):
            continue
        if not keep_outputs:
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
        return sanitise_notebook(nb, trusted)
    return None


def _bounded_result(result):
    """What is kept of a result for feedback: scores, and messages cut to 2,000 characters."""
    cut = lambda s: s[:2000] if isinstance(s, str) else None  # noqa: E731
    return {
        "score": float(result.get("score", 0.0)),
        "max_score": float(result.get("max_score", 0.0)),
        "error": cut(result.get("error")),
        "isolation": cut(result.get("isolation")),
        "tests": [
            {
                "grade_id": cut(t.get("grade_id")),
                "score": float(t.get("score", 0.0)),
                "max_score": float(t.get("max_score", 0.0)),
                "error": cut(t.get("error")),
            }
            for t in result.get("tests", [])
        ],
    }


def _timestamp(folder):
    """The time in ``folder``/timestamp.txt (nbgrader's format), or None when absent or unreadable."""
    from nbgrader.utils import parse_utc

    try:
        text = _read_regular(folder / "timestamp.txt", limit=200).decode("utf-8").strip()
        return parse_utc(text) if text else None
    except (ValueError, OverflowError, TypeError, UnicodeDecodeError):  # a forged or garbled time: none
        return None


def _store(gb, unit, nb_name, student, result, autograded, root, submitted=None, trusted=()):
    """Write one student's result into the gradebook (only that student's rows).

    The autograded notebook is sanitised before it lands under autograded/ (the formgrader and
    feedback render it); beside it, the result's messages (for feedback) and nbgrader's exchange files.
    The submission's time is read from its ``timestamp.txt``, as nbgrader's autograde does (late
    submissions show as late in the formgrader).
    """
    gb.update_or_create_student(student)
    stamp = _timestamp(Path(submitted).parent) if submitted is not None else None
    sub = gb.update_or_create_submission(unit, student, **({"timestamp": stamp} if stamp else {}))
    scores = {t["grade_id"]: t["score"] for t in result["tests"]}
    for grade in gb.find_submission_notebook(nb_name, unit, student).grades:
        grade.auto_score = float(scores.get(grade.name, 0.0))
        grade.manual_score = None
        grade.needs_manual_grade = False
    gb.db.commit()
    dest = root / "autograded" / student / unit
    if dest.is_symlink():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    nb = _safe_autograded(autograded, submitted, trusted) if autograded is not None or submitted else None
    if nb is not None:
        nbformat.write(nb, str(dest / f"{nb_name}.ipynb"))
    (dest / RESULTS_FILE).write_text(json.dumps(_bounded_result(result)))
    for name in EXCHANGE_FILES if submitted is not None else ():
        try:
            (dest / name).write_bytes(_read_regular(Path(submitted).parent / name, limit=4096))
        except ValueError:  # absent (course collect writes no secret) or not a plain file
            pass
    return sub


def _write_log(log, unit, out):
    """autograde-logs/<unit>.log: one line per failed submission or test, every field escaped."""
    log.parent.mkdir(exist_ok=True)
    with open(log, "w", encoding="utf-8") as f:
        f.write(f"# autograde {unit} at {datetime.now().isoformat(sep=' ', timespec='seconds')}\n")
        for student, res in out:
            who = escape_text(student, 64)
            if res.get("worker"):  # (a Dask cluster graded it)
                retried = f"\tafter {res['retried']} worker death(s)" if res.get("retried") else ""
                f.write(f"{who}\tGRADED BY\t{escape_text(res['worker'], 200)}{retried}\n")
            if res.get("error"):
                f.write(f"{who}\tFAILED\t{escape_text(res['error'])}\n")
            for t in res["tests"]:
                if t["error"]:
                    score = f"{t['score']:g}/{t['max_score']:g}"
                    f.write(f"{who}\t{escape_text(t['grade_id'], 100)}\t{score}\t{escape_text(t['error'])}\n")


def autograde(
    unit,
    root=None,
    workers=1,
    timeout=60,
    db_url=None,
    students=None,
    progress=None,
    limits=None,
    scheduler=None,
    **options,
):
    """Grade every submission of ``unit`` (or only ``students``) into the gradebook.

    Returns a list of (student, result dict). Failed submissions get zeros and are listed, with
    the reason, in ``autograde-logs/<unit>.log``. Raises CourseError when there is nothing to
    grade (the message names the folder searched), or the gradebook or the cluster cannot be
    reached. ``options`` go to ``grade_notebooks``. ``scheduler``: grade on a Dask cluster
    (``tcp://host:port`` or ``local:N``, see ``course.grading.cluster``); the gradebook is still
    written here, once per submission.
    """
    prepare_env()
    from nbgrader.api import Gradebook

    from course import gradebook

    root = _root(root)
    db_url = gradebook.prepare(db_url or default_db(root))  # the schema, once, before anything writes
    u = course_units.get(unit, root)
    nb_name = u.source_notebooks[0].stem
    found = find_submissions(root, unit, nb_name, students)
    subs = [(s, p) for s, p, problem in found if problem is None]
    _ensure_assignment(root, db_url, unit)
    kwargs = dict(options, limits=limits) if limits else dict(options)
    trusted = _trusted_markdown(u)
    grade = grade_notebooks
    if scheduler is not None:
        from functools import partial

        from course.grading.cluster import grade_on_cluster

        grade = partial(grade_on_cluster, scheduler=scheduler)
    with tempfile.TemporaryDirectory(prefix="course-autograde-") as keep:
        results = grade(
            [str(p) for _, p in subs],
            timeout=timeout,
            unit=unit,
            root=root,
            workers=workers,
            progress=progress,
            keep=keep,
            **kwargs,
        )
        graded = {s: (p, i, res) for i, ((s, p), res) in enumerate(zip(subs, results))}
        out = []
        with Gradebook(db_url) as gb:
            for student, path, problem in found:
                if problem is not None:
                    res = {"notebook": None, "assignment": unit, "score": 0.0, "max_score": 0.0, "tests": []}
                    res["error"] = problem
                    if valid_student_id(student):
                        _store(gb, unit, nb_name, student, res, None, root)
                    out.append((student, res))
                    continue
                path, i, res = graded[student]
                _store(
                    gb, unit, nb_name, student, res, Path(keep) / f"{i}.ipynb", root, submitted=path, trusted=trusted
                )
                out.append((student, res))
    _write_log(root / "autograde-logs" / f"{unit}.log", unit, out)
    return out


def summary(results):
    """A short text table of an autograde run: counts, the isolation used, the failed submissions."""
    n = len(results)
    full = sum(1 for _, r in results if r["max_score"] and r["score"] == r["max_score"] and not r.get("error"))
    failed = [(s, r["error"]) for s, r in results if r.get("error")]
    mean = sum(r["score"] for _, r in results) / n if n else 0.0
    lines = [
        f"submissions: {n}   full marks: {full}   partial or zero: {n - full - len(failed)}   "
        f"could not be graded: {len(failed)}   mean score: {mean:.2f}"
    ]
    isolation = {}
    for _, r in results:
        if r.get("notebook") is not None or "isolation" in r:
            kind = escape_text(r.get("isolation") or "not reported", 20)
            isolation[kind] = isolation.get(kind, 0) + 1
    if isolation:
        lines.append("isolation: " + ", ".join(f"{k} ({v})" for k, v in sorted(isolation.items())))
        if "none" in isolation:
            lines.append(
                f"  WARNING: {isolation['none']} submission(s) ran WITHOUT isolation: their code could read "
                "and change everything this account can"
            )
    for student, why in failed:
        lines.append(f"  {escape_text(student, 64)}: {escape_text(why)}")
    retried = [(s, r["retried"]) for s, r in results if r.get("retried")]
    if retried:
        lines.append(f"retried on another Dask worker (a worker died while grading them): {len(retried)}")
        lines.extend(f"  {escape_text(s, 64)}: {n} worker death(s)" for s, n in retried)
    return "\n".join(lines)


# ------------------------------------------------------------ feedback and grades
def feedback(unit, root=None, db_url=None):
    """Feedback for every autograded submission of ``unit`` (see ``course.feedback``); returns the files."""
    from course import gradebook
    from course.feedback import write_feedback

    root = _root(root)
    return write_feedback(unit, root, gradebook.prepare(db_url or default_db(root)))


def grades(root=None, db_url=None, units=None):
    """Rows of (student, unit, per-test scores..., total, max) from the gradebook, as dicts."""
    from nbgrader.api import Gradebook, MissingEntry

    from course import gradebook

    root = _root(root)
    rows = []
    with Gradebook(gradebook.prepare(db_url or default_db(root))) as gb:
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
    """CSV text of ``grades()`` rows, one per student and unit, a column per test (``course grades --long``)."""
    from course.lms import per_test_csv

    return per_test_csv(rows)
