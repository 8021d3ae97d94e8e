"""``course autograde``: grade every submission of a unit into nbgrader's gradebook.

Submissions live in ``submitted/<student>/<unit>/<notebook>.ipynb`` -- where ``course collect``
(:mod:`course.instructor.intake`) puts them and where ``nbgrader collect`` puts them from the
exchange -- the gradebook is ``gradebook.db`` (or any SQLAlchemy URL given as ``db_url``, e.g.
``postgresql://user@host/course``; :mod:`course.instructor.gradebook`), autograded notebooks go to
``autograded/``, exactly where nbgrader's own commands and formgrader expect them. Here: grading a
class (:func:`autograde`), storing each result (its autograded notebook, its messages for feedback,
its gradebook rows), the log of failed tests, and the run's :func:`summary`.

Grading goes through ``course.grading``'s engine (``batch.Grader``), the same as ``course grade``'s,
so every protection (limits, sandbox, verifier) holds; each result is written into the gradebook
as soon as it is graded, one student at a time in a transaction of its own, touching only that
student's rows: a broken result, a failure while storing one, or Ctrl-C loses no other row.

Everything a submission holds is hostile data here (the trust boundary of ``course.grading``):
a submission that is a link is not graded, the autograded notebook is sanitised
(``course.grading.outputs.sanitise_notebook``) before the formgrader or feedback can render it,
and every message written to the log is escaped (``course.grading.outputs.escape_text``).
"""

import contextlib
import json
import os
import queue
import shutil
import tempfile
import threading
from datetime import datetime
from pathlib import Path

import nbformat

from course.grading.nbgrader import generate_assignment, prepare_env
from course.grading.outputs import escape_text, instructor_markdown, sanitise_notebook
from course.grading.results import Result
from course.grading.settings import GradingSettings
from course.grading.submission import NotGradable, parse_submission
from course.instructor import gradebook
from course.instructor.course_dir import require_course, require_unit
from course.instructor.feedback import RESULTS_FILE  # beside each autograded notebook: its tests' messages
from course.instructor.intake import (
    EXCHANGE_FILES,
    find_submissions,
    read_regular,
    submission_time,
    valid_student_id,
    write_file,
)


# ------------------------------------------------------------ autograde
def _ensure_assignment(root, db_url, unit):
    """Record the unit's cells in the gradebook (nbgrader's generate_assignment, release to a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="course-assign-") as tmp:
        generate_assignment(root, db_url, unit, source=root / "solutions", release=tmp)


def _safe_autograded(autograded, submitted, trusted):
    """The notebook to store for the formgrader: the autograded one, sanitised.

    Where the autograded notebook is missing or unreadable, the submission itself with its
    outputs cleared (the instructor still sees the student's code).
    """
    for path, keep_outputs in ((autograded, True), (submitted, False)):
        try:
            nb = parse_submission(read_regular(path))
        except (ValueError, NotGradable, TypeError):
            continue
        if not keep_outputs:
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
        return sanitise_notebook(nb, trusted)
    return None


#: What is kept of a result beside its autograded notebook, for feedback and the report (its JSON form, bounded).
KEPT = ("score", "max_score", "error", "isolation", "notes", "tests")


def _kept_result(result):
    """The part of a checked :class:`Result` (messages bounded by its reader) kept in RESULTS_FILE."""
    return {k: v for k, v in result.to_dict().items() if k in KEPT}


def _notes(result):
    """What the grader changed in the notebook (a copied cell graded once, ...): at most 20 strings."""
    notes = result.get("notes")
    return [n for n in notes[:20] if isinstance(n, str)] if isinstance(notes, list) else []


def _checked(result, unit):
    """A grader's result (a :class:`Result`, or its JSON form) as autograde stores it: a missing, empty or
    malformed one (a result file cut short by a full disk, say) becomes that submission's "could not be
    graded", with the reason (:meth:`Result.from_dict` checks every field)."""
    if not result:
        return Result(None, unit, error="could not be graded: no result came back from grading")
    try:
        return Result.from_dict(result)
    except ValueError as e:
        return Result(None, unit, error=f"could not be graded: the grader's result is malformed ({e})")


def _store(gb, unit, nb_name, student, result, autograded, root, submitted=None, trusted=()):
    """Write one student's result: their autograded/ folder, then their gradebook rows, committed
    once (their transaction; only their rows). A failure leaves the gradebook as it was for them.

    The autograded notebook is sanitised before it lands under autograded/ (the formgrader and
    feedback render it); beside it, the result's messages (for feedback) and nbgrader's exchange files.
    The folder is written beside the old one and swapped in: a full disk leaves the old one whole.
    The submission's time is read from its ``timestamp.txt``, as nbgrader's autograde does (late
    submissions show as late in the formgrader).
    """
    dest = root / "autograded" / student / unit
    dest.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{unit}-", dir=dest.parent))
    try:
        nb = _safe_autograded(autograded, submitted, trusted) if autograded is not None or submitted else None
        if nb is not None:
            nbformat.write(nb, str(new / f"{nb_name}.ipynb"))
        (new / RESULTS_FILE).write_text(json.dumps(_kept_result(result)))
        for name in EXCHANGE_FILES if submitted is not None else ():
            try:
                (new / name).write_bytes(read_regular(Path(submitted).parent / name, limit=4096))
            except ValueError:  # absent (course collect writes no secret) or not a plain file
                pass
        os.chmod(new, 0o755)
        gb.update_or_create_student(student)
        stamp = submission_time(Path(submitted).parent) if submitted is not None else None
        sub = gb.update_or_create_submission(unit, student, **({"timestamp": stamp} if stamp else {}))
        scores = {t.grade_id: t.score for t in result.tests}
        for grade in gb.find_submission_notebook(nb_name, unit, student).grades:
            grade.auto_score = float(scores.get(grade.name, 0.0))
            grade.manual_score = None
            grade.needs_manual_grade = False
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        elif dest.exists():
            shutil.rmtree(dest)
        os.rename(new, dest)
        gb.db.commit()
    except BaseException:
        gb.db.rollback()
        shutil.rmtree(new, ignore_errors=True)
        raise
    return sub


def write_log(log, unit, out, keep_others=False):
    """autograde-logs/<unit>.log: one line per failed submission or test, every field escaped.

    keep_others: a run over some students only (``--student``, or cut short by Ctrl-C) keeps the
    lines of every other student from the log of earlier runs, and rewrites only its students'.
    """
    lines = []
    if keep_others:
        mine = {escape_text(student, 64) for student, _ in out}
        try:
            earlier = read_regular(log, limit=64 * 2**20).decode("utf-8", "replace").split("\n")
        except ValueError:  # no earlier log
            earlier = []
        lines = [ln + "\n" for ln in earlier if ln and not ln.startswith("#") and ln.split("\t", 1)[0] not in mine]
    for student, res in out:
        who = escape_text(student, 64)
        if res.get("worker"):  # (a Dask cluster graded it)
            retried = f"\tafter {res['retried']} worker death(s)" if res.get("retried") else ""
            lines.append(f"{who}\tGRADED BY\t{escape_text(res['worker'], 200)}{retried}\n")
        if res.get("error"):
            lines.append(f"{who}\tFAILED\t{escape_text(res['error'])}\n")
        lines += [f"{who}\tNOTE\t{escape_text(note)}\n" for note in _notes(res)]
        for t in res["tests"]:
            if t["error"]:
                score = f"{t['score']:g}/{t['max_score']:g}"
                lines.append(f"{who}\t{escape_text(t['grade_id'], 100)}\t{score}\t{escape_text(t['error'])}\n")
    header = f"# autograde {unit} at {datetime.now().isoformat(sep=' ', timespec='seconds')}"
    header += " (some students; the other lines are from earlier runs)\n" if keep_others else "\n"
    log.parent.mkdir(exist_ok=True)
    write_file(log, (header + "".join(lines)).encode("utf-8"))


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during ``autograde``: ``results`` holds what was graded (and stored) before it, of ``total``."""

    def __init__(self, results, total):
        super().__init__(f"{len(results)} of {total} submission(s) graded and stored")
        self.results, self.total = results, total


def _grade_each(paths, done, unit, root, keep, settings, workers=1, progress=None, scheduler=None):
    """Grade ``paths``, calling ``done(i, result, autograded notebook)`` in this thread as each is
    graded, so that what was graded is stored even when the batch is cut short (Ctrl-C).

    Here: ``workers`` threads, each with a one-process :class:`course.grading.batch.Grader`, take the
    next submission when they finish one; a grader that raises for a submission (a result file it
    cannot read, say) fails that submission only. On a Dask cluster (``scheduler``), each result as
    the cluster sends it back (``grade_on_cluster``'s ``on_result``). ``progress`` wraps an iterable of
    graded submissions whose ``len()`` is their number (tqdm). ``settings``: the GradingSettings.
    """
    from course.grading import batch

    if not paths:
        return
    counted = (lambda it: progress(batch.Counted(it, len(paths)))) if progress else (lambda it: it)  # noqa: E731
    if scheduler is not None:  # stored as each comes back, as below
        from course.grading.cluster import grade_on_cluster

        on_result = lambda i, res: done(i, res, Path(keep, f"{i}.ipynb"))  # noqa: E731
        grade_on_cluster(
            paths, scheduler, unit=unit, root=root, progress=counted, keep=keep, on_result=on_result, settings=settings
        )
        return
    pending, finished, stop = queue.Queue(), queue.Queue(), threading.Event()
    for item in enumerate(paths):
        pending.put(item)

    def serve(grader):
        while not stop.is_set():
            try:
                i, path = pending.get_nowait()
            except queue.Empty:
                return
            try:
                (res,) = grader.grade([path], unit=unit, keep=Path(keep, str(i)))
            except BaseException as e:  # noqa: BLE001  (this submission fails, not the batch)
                res = Result(None, unit, error=f"could not be graded: the grader failed: {type(e).__name__}: {e}")
            finished.put((i, res, Path(keep, str(i), "0.ipynb")))

    graders = [batch.Grader(root=root, settings=settings) for _ in range(max(1, min(workers, len(paths))))]
    threads = [threading.Thread(target=serve, args=(g,), daemon=True) for g in graders]
    for t in threads:
        t.start()
    try:
        for i, res, nb in counted(finished.get() for _ in paths):
            done(i, res, nb)
    finally:
        stop.set()
        for _ in range(2):  # stop the workers (Ctrl-C: mid-notebook), then remove what their threads left
            for g in graders:
                with contextlib.suppress(OSError):
                    g.close()
            for t in threads:
                t.join(timeout=30)


def autograde(
    unit,
    root=None,
    workers=1,
    db_url=None,
    students=None,
    progress=None,
    scheduler=None,
    settings=None,
    **changes,
):
    """Grade every submission of ``unit`` (or only ``students``) into the gradebook.

    Returns a list of (student, Result), by student. Each result is stored as soon as it is
    graded, in a transaction of its student's own: a submission that could not be graded (no
    result, a broken one, a failure while storing it) gets zeros and its reason, and no other
    student's row is lost. The reasons, and every failed test, are in ``autograde-logs/<unit>.log``
    (a run over some students rewrites only their lines). Ctrl-C raises :class:`Interrupted`,
    holding what was graded and stored. Raises CourseError when there is nothing to grade (the
    message names the folder searched), the unit is unknown, or the gradebook or the cluster cannot
    be reached.
    ``settings``: the :class:`~course.grading.settings.GradingSettings` every submission is graded under
    (its defaults when None), with ``changes`` to its fields (``timeout=30``). ``scheduler``: grade on a Dask
    cluster (``tcp://host:port`` or ``local:N``, see ``course.grading.cluster``); the gradebook is
    still written here, once per submission. ``progress``: wraps an iterable of graded
    submissions, whose ``len()`` is their number (e.g. tqdm).
    """
    prepare_env()
    root = require_course(root)
    u = require_unit(unit, root)
    db_url = gradebook.prepare(db_url or gradebook.default_db(root))  # the schema, once, before anything writes
    nb_name = u.source_notebooks[0].stem
    found = find_submissions(root, unit, nb_name, students)
    subs = [(s, p) for s, p, problem in found if problem is None]
    _ensure_assignment(root, db_url, unit)
    settings = GradingSettings.of(settings, **changes)
    trusted = instructor_markdown(unit, root)
    graded = {}  # student -> result, as they come
    in_order = lambda: [(s, graded[s]) for s, _, _ in found if s in graded]  # noqa: E731  (submitted/'s order)
    with gradebook.open_gradebook(db_url) as gb:

        def record(student, res, autograded=None, submitted=None):
            res = _checked(res, unit)
            try:
                _store(gb, unit, nb_name, student, res, autograded, root, submitted=submitted, trusted=trusted)
            except Exception as e:  # noqa: BLE001  (a full disk, a lost connection: this student only)
                res.error = f"could not be stored: {type(e).__name__}: {escape_text(str(e), 300)}"
            graded[student] = res

        for student, _, problem in found:
            if problem is not None:
                res = Result(None, unit, error=problem)
                if valid_student_id(student):
                    record(student, res)
                else:
                    graded[student] = res
        with tempfile.TemporaryDirectory(prefix="course-autograde-") as keep:
            try:
                _grade_each(
                    [str(p) for _, p in subs],
                    lambda i, res, nb: record(subs[i][0], res, nb, submitted=subs[i][1]),
                    unit,
                    root,
                    keep,
                    settings,
                    workers=workers,
                    progress=progress,
                    scheduler=scheduler,
                )
            except KeyboardInterrupt:
                write_log(root / "autograde-logs" / f"{unit}.log", unit, in_order(), keep_others=True)
                raise Interrupted(in_order(), len(found)) from None
    write_log(root / "autograde-logs" / f"{unit}.log", unit, in_order(), keep_others=bool(students))
    return in_order()


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
