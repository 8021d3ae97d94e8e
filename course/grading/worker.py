"""The grading worker: one process that grades submissions one after another.

``python -m course.grading.worker FOLDER SHARED`` reads the paths of job files (JSON, written
by :mod:`course.grading.batch`) on stdin and answers ``done`` for each. ``FOLDER`` is the
worker's own folder (its fork server's socket, the kernels' connection files), made and
removed by the batch, inside ``SHARED`` (the batch's folder). Per job it builds a throw-away
nbgrader course (the unit's gradebook copied into a private folder), runs nbgrader's
autograde with kernels started in the sandbox, runs the verifier for the tests nbgrader
passed, and writes ``result.json``. The student's code never runs in this process: kernels
and the verifier's student process are sandboxed children of its fork server.

The kernel works in its sandbox's own bounded space, seeded from a folder of its own
(``kernel/``, which nbgrader never writes into), and it does not see the autograded folder
nbgrader writes: a link the student's code plants cannot steer nbgrader's writes. Kernel and
nbgrader talk over ZMQ's ``ipc`` transport (socket files in ``kernel/.ipc``, read-only to the
kernel once it has bound them): the kernel has no network.

``result.json`` is written whole or not at all; the batch treats a missing or broken one as a
submission that could not be graded.

A test cell passes nbgrader's part of the grade when it raised no error: what it wrote to
stderr (a student's ``warnings.warn``, NumPy's RuntimeWarning) is noise, not a failure, although
nbgrader itself would give it 0. The verifier's verdict still applies.
"""

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from course.grading import files, processes, sandbox
from course.grading.nbgrader import api, gradebook, prepare_env
from course.grading.results import Result, TestResult
from course.grading.settings import GradingSettings
from course.grading.submission import MAX_SUBMISSION_BYTES, Source, grade_id, source_text

STUDENT = "student"
MAX_ERROR_CHARS = 500


def _cell_error(cell):
    """A one-line reason why a graded cell failed, from its outputs."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", "Error"), out.get("evalue", "")
            if ename == "NotImplementedError" and not evalue:
                evalue = "not implemented yet (replace `raise NotImplementedError()` with your code)"
            if ename == "KeyboardInterrupt":
                return "the test was stopped by the time limit per cell (an endless loop?)"
            return f"{ename}: {evalue}".strip()[:MAX_ERROR_CHARS]
    return None


def _hints(message):
    """The ids of the hints a failed test's whole message gave (:func:`course.checks.hints.identify`)."""
    from course.checks.hints import identify

    return identify(message) if message else []


def _cell_message(cell):
    """The whole message of a graded cell's error (before :func:`_cell_error` cuts it), or None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return str(out.get("evalue", ""))
    return None


def _test_score(cell):
    """nbgrader's score of an executed test cell, its stderr output (warnings) not counted as failure."""
    import nbformat
    from nbgrader.utils import determine_grade

    quiet = nbformat.from_dict(cell)
    quiet.outputs = [
        o for o in quiet.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
    ]
    score, _ = determine_grade(quiet)
    return float(score or 0.0)


@contextlib.contextmanager
def _short_ipc_path(folder, limit=90):
    """``folder``, or a short path to it while the block runs: a Unix socket's path has at most 107 bytes.

    The kernel's socket files lie in its own folder, which may be deep (a course folder, a long
    TMPDIR); nbgrader's side then reaches them through a descriptor of the folder
    (:func:`course.grading.processes.short_path`; the kernel, through its own: see the fork server).
    """
    if len(str(folder)) <= limit:
        yield folder
        return
    with processes.short_path(folder) as short:
        yield Path(short)


def _short(error_text):
    lines = [ln for ln in (error_text or "").strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "DeadKernel" in ln or "died" in ln:
            return "the kernel died while running the notebook (os._exit, a crash, or the memory limit)"
        if "Timeout" in ln:
            return "a cell ran longer than the time limit per cell"
    for ln in reversed(lines):
        if "Error" in ln or "Exception" in ln:
            return ln.strip()[:MAX_ERROR_CHARS]
    return (lines[-1].strip() if lines else "nbgrader could not grade the notebook")[:MAX_ERROR_CHARS]


#: The worker's fork server (course.grading.forkserver).
_FORKSERVER = None


@contextlib.contextmanager
def _timed(seconds, stage):
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start


def _run_worker(job):
    """Grade one submission as described by ``job`` (a dict); returns its Result (tests, error, ...).

    Its ``"stages"``: wall seconds of ``"nbgrader"`` (kernel start, the notebook run, nbgrader's
    gradebook), ``"verify"`` (the out-of-process checks), ``"total"`` (all of this job).
    """
    seconds = {}
    with _timed(seconds, "total"):
        res = _graded(job, seconds)
    res.stages = {k: round(v, 4) for k, v in seconds.items()}
    return res


def _graded(job, seconds):
    from course.grading import provisioner
    from course.grading.verify import verify

    prepare_env()
    src = Source(job["unit"], job["source"])
    settings = GradingSettings.from_dict(job["settings"])
    limits = settings.limits
    base = Path(job["workdir"])
    private, course = base / "private", base / "course"
    (private / "source" / src.unit).mkdir(parents=True)
    os.chmod(private, 0o700)
    for d in (base, course):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o711)  # the sandbox uid may pass through to its working folder, not list it
    db = private / "gradebook.db"
    shutil.copy(job["gradebook"], db)
    submitted = course / "submitted" / STUDENT / src.unit
    submitted.mkdir(parents=True)
    shutil.copy(job["submission"], submitted / f"{src.name}.ipynb")
    graded_dir = course / "autograded" / STUDENT / src.unit
    # the kernel's own folder: nbgrader never writes there, and the kernel sees nothing else of base
    kernel_dir = base / "kernel"
    (kernel_dir / sandbox.IPC_FOLDER).mkdir(parents=True)

    server = _FORKSERVER.ensure()
    if server is None:
        raise RuntimeError("the fork server that starts sandboxed kernels did not start")
    nb_api = api(course, db, source=private / "source", timeout=settings.timeout)
    provisioner.configure(nb_api.config, server, sandbox.command_args(limits, kernel_dir))
    running = {}  # the cell nbgrader's executor started last: named when the kernel dies in it

    def note_cell(cell, cell_index, **_):  # (the student's text: bounded here, escaped where it is shown)
        first = next((ln.strip() for ln in source_text(cell).splitlines() if ln.strip()), "")[:60]
        running["cell"] = grade_id(cell) or f"the cell that begins {first!r}"

    nb_api.config.Execute.on_cell_execute = note_cell
    nb_api.config.KernelManager.transport = "ipc"  # no network in the sandbox: Unix socket files
    with _short_ipc_path(kernel_dir / sandbox.IPC_FOLDER) as ipc, _timed(seconds, "nbgrader"):
        nb_api.config.KernelManager.ip = str(ipc / "kernel")
        result = nb_api.autograde(src.unit, STUDENT)
    error = None if result.get("success") else _short((result.get("log") or "") + "\n" + (result.get("error") or ""))
    if error and running.get("cell"):
        error = f"{error}, in {running['cell']}"

    cells = {}
    graded = files.read_or_none(graded_dir / f"{src.name}.ipynb", 4 * MAX_SUBMISSION_BYTES)
    if graded is not None:
        try:
            graded_cells = json.loads(graded).get("cells", [])
            cells = {gid: cell for cell in graded_cells if isinstance(cell, dict) and (gid := grade_id(cell))}
        except (ValueError, AttributeError, TypeError):  # (a full disk cut it short: nothing of it is trusted)
            error = error or "could not be graded: nbgrader's executed notebook is unreadable"
            cells, graded = {}, None
    if graded is not None:
        (Path(job["out"]) / "autograded.ipynb").write_bytes(graded)

    with gradebook(db) as gb:
        grades = {}
        try:
            grades = {
                g.name: float(g.auto_score or 0.0)
                for g in gb.find_submission_notebook(src.name, src.unit, STUDENT).grades
            }
        except Exception:  # no submission recorded: autograde failed before it
            pass
        maxes = {c.name: c.max_score for c in gb.find_notebook(src.name, src.unit).grade_cells}

    # the second opinion, for the tests nbgrader passed (the grade is the minimum of both)
    verdicts = {}
    for gid in src.tests:  # stderr is noise: only an error fails a test cell (see the docstring)
        if gid in cells:
            grades[gid] = _test_score(cells[gid])
    passed = {gid for gid in src.tests if grades.get(gid, 0.0) > 0 and gid in cells}
    if error is None and passed:
        submission = json.loads(Path(job["submission"]).read_text(encoding="utf-8"))
        with _timed(seconds, "verify"):
            verdicts = verify(
                src.nb,
                submission,
                settings.timeout,
                limits,
                str(base / "verify"),
                only=passed,
                forkserver=_FORKSERVER,
            )

    tests = []
    for gid in src.tests:
        score = grades.get(gid, 0.0) if error is None else 0.0
        why, hints = None, []
        if error:
            why, score = error, 0.0
        elif gid not in cells:
            why = "this test cell is missing from the submission (was it deleted?)"
            score = 0.0
        elif score < maxes[gid]:
            why = _cell_error(cells[gid]) or error or "the test did not pass"
            hints = _hints(_cell_message(cells[gid]))  # the mistakes the check named (issue 24)
        if verdicts.get(gid):
            if score > 0:  # nbgrader passed it, the out-of-process check did not
                why = f"the test failed when re-run outside the notebook: {verdicts[gid]}"
                hints = _hints(verdicts[gid])
            score = 0.0
        tests.append(TestResult(gid, score, float(maxes[gid]), why, hints))
    return Result(
        notebook=None,
        assignment=src.unit,
        score=float(sum(t.score for t in tests)),
        max_score=float(sum(maxes[g] for g in src.tests)),
        tests=tests,
        error=error,
        isolation=_FORKSERVER.backend,
    )


def _grade_job(job_path):
    """Grade the job at ``job_path``; its result.json is whole or absent (the batch then reports
    the submission as not graded), never half-written, whatever fails (a full disk included)."""
    try:
        job = json.loads(Path(job_path).read_text())
        out = Path(job["out"])
    except (OSError, ValueError, TypeError, KeyError):
        return
    try:
        res = _run_worker(job)
    except Exception as e:
        res = Result(None, None, error=f"grading failed: {type(e).__name__}: {str(e).strip()[:MAX_ERROR_CHARS]}")
    try:
        (out / "result.json.part").write_text(json.dumps(res.to_dict()))
        os.replace(out / "result.json.part", out / "result.json")
    except OSError:
        pass


def _die_with_parent():
    """End this worker as soon as its parent is gone -- a Dask worker or ``course autograde``
    killed -- instead of finishing a job whose result nobody will read: its fork server and so
    every sandbox end with it (they die with their parent). The batch's folder, which the killed
    parent could not remove, is removed by a later batch
    (:func:`course.grading.batch.remove_folders_of_dead_processes`). (PR_SET_PDEATHSIG would
    follow the parent's *thread*, and a batch starts workers from threads that end before the
    worker should: :func:`course.grading.processes.watch_parent`.)"""

    def gone():
        server = _FORKSERVER.proc if _FORKSERVER is not None else None
        if server is not None:
            processes.kill_session(server)
        os._exit(1)

    processes.watch_parent(gone)


def _worker_loop(folder, shared):
    """A grading worker: grades the job files named on stdin, one per line, answering each with a line.

    One worker grades many submissions in turn, so nbgrader and torch are
    imported once per worker, not once per submission; the student's code
    never runs in it (kernels and verifier processes are sandboxed children).
    """
    import matplotlib
    import nbgrader.apps.api  # noqa: F401

    import course.checks  # noqa: F401  (warm the imports the verifier needs)

    matplotlib.use("Agg")  # the units' setup cells import pyplot: not on the clock of a test
    import matplotlib.pyplot  # noqa: F401

    from course.grading.forkserver import ForkServer

    global _FORKSERVER
    _die_with_parent()
    # stdout answers the parent; kernels inherit file descriptor 1, so it must point elsewhere
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    sys.stdout = sys.stderr
    prepare_env()
    # the kernels' connection files: in the batch's folder, never in the user's home
    os.environ["JUPYTER_RUNTIME_DIR"] = str(Path(folder) / "runtime")
    _FORKSERVER = ForkServer(folder, shared=[shared])
    _FORKSERVER.ensure()
    try:
        print("ready", file=answer, flush=True)
        for line in sys.stdin:
            _grade_job(line.strip())
            print("done", file=answer, flush=True)
    finally:
        _FORKSERVER.stop()


if __name__ == "__main__":
    _worker_loop(sys.argv[1], sys.argv[2])
