"""Grading student notebooks: the one grading path of the course.

``course grade`` (any notebooks, any units) and ``course autograde`` (a whole
class into the gradebook) both call :func:`grade_notebooks`:

1. **Read and identify** (this process; no student code runs here). Each
   file is read and validated, and its unit found from the nbgrader
   grade_ids of its cells; an unreadable or foreign file gets an error
   result and the batch goes on.
2. **One worker process per notebook** (``python -m course.grading --worker``,
   up to ``workers`` at a time, each with a wall-clock limit). The worker
   builds a throw-away nbgrader course: the unit's gradebook (made once per
   unit by ``generate_assignment`` from the instructor source) is copied into
   a private folder beside, not inside, the course folder.
3. **nbgrader's autograde** runs the notebook in a kernel started through
   ``course.sandbox`` (own process group, memory / CPU / file-size / process
   limits; as root, an unprivileged uid and the solutions, gradebook and
   other students' folders hidden) with a per-cell timeout. Locked and test
   cells are restored from the gradebook, hidden tests run.
4. **The verifier** (``course.verify``) runs the instructor's test cells again
   in the worker, calling the student's functions in a separate sandboxed
   process, so no student code can touch the comparisons.
5. **The grade of a test is the minimum** of nbgrader's score and the
   verifier's verdict. The worker writes the result (and the autograded
   notebook, kept for feedback) and exits; the parent kills whatever the
   submission left running.

A result is a dict, as ../shared/CURRICULUM.md specifies: ``{"notebook",
"assignment", "score", "max_score", "tests": [{"grade_id", "score",
"max_score", "error"}]}`` plus ``"error"`` when it could not be graded.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import nbformat

from course import sandbox
from course import units as course_units

STUDENT = "student"
MAX_ERROR_CHARS = 500
MAX_SUBMISSION_BYTES = 50 * 2**20


class NotGradable(Exception):
    """A submission that cannot be graded; its message goes to the student."""


# ------------------------------------------------------------ reading and identifying
def _all_ids(nb):
    ids = set()
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            ids.add(meta["grade_id"])
    return ids


def read_submission(path):
    """The submission at ``path`` as an nbformat v4 notebook, or NotGradable."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_SUBMISSION_BYTES:
            raise NotGradable(
                f"the file is {size / 2**20:.0f} MiB, over the limit of "
                f"{MAX_SUBMISSION_BYTES // 2**20} MiB (clear the outputs before submitting)"
            )
        raw = Path(path).read_bytes()
    except OSError as e:
        raise NotGradable(f"cannot read the file: {e.strerror}") from None
    if not raw.strip():
        raise NotGradable("the file is empty, not a Jupyter notebook")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotGradable("the file is not UTF-8 text, so not a Jupyter notebook") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise NotGradable(f"the file is not JSON, so not a Jupyter notebook ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise NotGradable("the file is not a Jupyter notebook (JSON nested too deeply)") from None
    if not isinstance(data, dict) or "cells" not in data:
        raise NotGradable("the file is JSON but not a Jupyter notebook (no cells)")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # nbformat raises several types for invalid notebooks
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NotGradable(f"the file is not a valid Jupyter notebook: {first[:200]}") from None
    return nb


class Source:
    """An instructor notebook of a unit."""

    def __init__(self, unit, path):
        self.unit, self.path = unit, Path(path)
        self.name = self.path.stem
        self.nb = json.loads(self.path.read_text(encoding="utf-8"))
        self.ids = _all_ids(self.nb)
        self.tests = [
            c["metadata"]["nbgrader"]["grade_id"]
            for c in self.nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("grade")
        ]
        # Units whose graded functions take and return torch objects cannot be
        # re-run across processes; their notebooks say so in their metadata.
        self.verify = self.nb.get("metadata", {}).get("course", {}).get("verify", True)

    def make_gradebook(self, folder):
        """Run nbgrader's generate_assignment for this unit into ``folder``/gradebook.db."""
        folder = Path(folder)
        (folder / "source" / self.unit).mkdir(parents=True, exist_ok=True)
        shutil.copy(self.path, folder / "source" / self.unit / self.path.name)
        result = _api(folder, folder / "gradebook.db", source=folder / "source").generate_assignment(self.unit)
        if not result.get("success"):
            raise RuntimeError(f"nbgrader generate_assignment failed for {self.unit}:\n{result.get('error')}")
        return folder / "gradebook.db"


def sources(root=None):
    """Every instructor notebook of the course, as Source objects."""
    return [Source(u.id, p) for u in course_units.units(root) for p in u.source_notebooks]


def restore_metadata(nb, src):
    """Give each cell the nbgrader metadata its grade_id has in the source; drop unknown ids.

    nbgrader restores the contents of locked and test cells itself; this also
    undoes forged flags and points (an answer cell turned into a graded one),
    which would otherwise make nbgrader reject the whole notebook.
    """
    source_meta = {
        c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]
        for c in src.nb["cells"]
        if "nbgrader" in c.get("metadata", {})
    }
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if gid in source_meta:
            cell.metadata["nbgrader"] = dict(source_meta[gid])
        else:
            del cell.metadata["nbgrader"]
    return nb


def identify(nb, srcs, unit=None):
    """The Source that notebook ``nb`` is a student copy of (NotGradable if none)."""
    ids = _all_ids(nb)
    scored = sorted(((len(ids & s.ids), s) for s in srcs), key=lambda t: -t[0])
    if not scored or scored[0][0] == 0:
        raise NotGradable(
            "not a notebook of this course: none of its cells carries the nbgrader "
            "metadata of a course exercise (was it created from exercises/?)"
        )
    best = scored[0][1]
    if unit is not None and best.unit != unit:
        raise NotGradable(f"this notebook is the exercise of unit {best.unit}, not of unit {unit}")
    return best


# ------------------------------------------------------------ nbgrader
def _api(root, db, source=None, timeout=None, kernel=None):
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    cfg = Config()
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = db if str(db).startswith(("sqlite:", "postgresql")) else f"sqlite:///{db}"
    cfg.CourseDirectory.include = ["*.ipynb"]
    if source is not None:
        cfg.CourseDirectory.source_directory = str(source)
    (Path(root) / "exchange").mkdir(parents=True, exist_ok=True)  # unused, but nbgrader checks it
    cfg.Exchange.root = str(Path(root) / "exchange")
    if timeout is not None:
        cfg.Execute.timeout = int(timeout)
    if kernel is not None:
        cfg.Execute.kernel_name = kernel
    cfg.NbGraderAPI.log_level = logging.ERROR
    return NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


def _env_for_nbgrader():
    # nbgrader runs the `alembic` executable from PATH when it makes a gradebook
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy chatter inside the gradebook


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
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = "".join(out.get("text", "")).strip().splitlines()
            return ("the test wrote to stderr (a warning?): " + (text[-1] if text else ""))[:MAX_ERROR_CHARS]
    return None


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


# ------------------------------------------------------------ the worker (one submission)
def _needed_paths():
    """What student code must still see when /tmp is covered: this package and the environment."""
    return [str(Path(__file__).resolve().parent), sys.prefix]


#: The worker's fork server (course.forkserver), when it runs one.
_FORKSERVER = None


def _kernelspec(folder, limits, workdir, hide, expose):
    """A kernel that starts ipykernel in the sandbox (forked by the fork server when there is one)."""
    from course.forkserver import CLIENT

    spec = Path(folder) / "kernels" / "course-sandbox"
    spec.mkdir(parents=True, exist_ok=True)
    args = sandbox.command_args(limits, workdir, hide, expose)
    kernel = ["--", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    server = _FORKSERVER.ensure() if _FORKSERVER is not None else None
    if server:
        argv = [sys.executable, "-S", CLIENT, server, *args, *kernel]
    else:
        argv = [sys.executable, "-m", "course.sandbox", *args, *kernel]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "sandboxed Python", "language": "python"})
    )
    os.environ["JUPYTER_PATH"] = str(folder)
    return "course-sandbox"


def _run_worker(job):
    """Grade one submission as described by ``job`` (a dict); returns the result's tests and error."""
    from nbgrader.api import Gradebook

    from course.verify import verify

    _env_for_nbgrader()
    src = Source(job["unit"], job["source"])
    limits = sandbox.Limits(**job["limits"])
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
    # the student's code sees its own course folder; the batch's folder (other
    # submissions, every gradebook) and the course's solutions are covered
    hide = job["hide"] + [str(private)]

    kernel = _kernelspec(private, limits, graded_dir, hide, [str(course), *_needed_paths()])
    api = _api(course, db, source=private / "source", timeout=job["timeout"], kernel=kernel)
    result = api.autograde(src.unit, STUDENT)
    sandbox.kill_tree(limits=limits)  # whatever the notebook left running
    error = None if result.get("success") else _short((result.get("log") or "") + "\n" + (result.get("error") or ""))

    cells = {}
    graded_path = graded_dir / f"{src.name}.ipynb"
    if graded_path.exists():
        shutil.copy(graded_path, Path(job["out"]) / "autograded.ipynb")
        for cell in json.loads(graded_path.read_text(encoding="utf-8")).get("cells", []):
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid:
                cells[gid] = cell

    with Gradebook(f"sqlite:///{db}") as gb:
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
    passed = {gid for gid in src.tests if grades.get(gid, 0.0) > 0 and gid in cells}
    if src.verify and error is None and passed:
        submission = json.loads(Path(job["submission"]).read_text(encoding="utf-8"))
        verdicts = verify(
            src.nb,
            submission,
            job["timeout"],
            limits,
            str(base / "verify"),
            hide,
            _needed_paths(),
            only=passed,
            forkserver=_FORKSERVER,
        )
        sandbox.kill_tree(limits=limits)

    tests = []
    for gid in src.tests:
        score = grades.get(gid, 0.0) if error is None else 0.0
        why = None
        if error:
            why, score = error, 0.0
        elif gid not in cells:
            why = "this test cell is missing from the submission (was it deleted?)"
            score = 0.0
        elif score < maxes[gid]:
            why = _cell_error(cells[gid]) or error or "the test did not pass"
        if verdicts.get(gid):
            if score > 0:  # nbgrader passed it, the out-of-process check did not
                why = f"the test failed when re-run outside the notebook: {verdicts[gid]}"
            score = 0.0
        tests.append({"grade_id": gid, "score": score, "max_score": float(maxes[gid]), "error": why})
    return {"tests": tests, "error": error, "max_score": float(sum(maxes[g] for g in src.tests))}


def _grade_job(job_path):
    job = json.loads(Path(job_path).read_text())
    try:
        res = _run_worker(job)
    except Exception as e:
        res = {"error": f"grading failed: {type(e).__name__}: {str(e).strip()[:MAX_ERROR_CHARS]}"}
    Path(job["out"], "result.json").write_text(json.dumps(res))


def _worker_loop():
    """A grading worker: grades the job files named on stdin, one per line, answering each with a line.

    One worker grades many submissions in turn, so nbgrader and torch are
    imported once per worker, not once per submission; the student's code
    never runs in it (kernels and verifier processes are sandboxed children).
    """
    import nbgrader.apps.api  # noqa: F401

    import course.checks  # noqa: F401  (warm the imports the verifier needs)
    from course.forkserver import ForkServer

    global _FORKSERVER
    # stdout answers the parent; kernels inherit file descriptor 1, so it must point elsewhere
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    sys.stdout = sys.stderr
    _env_for_nbgrader()
    # in the temp folder, which the sandbox covers: student code cannot ask it for anything
    folder = tempfile.mkdtemp(prefix="course-forkserver-")
    _FORKSERVER = ForkServer(folder)
    _FORKSERVER.ensure()
    try:
        print("ready", file=answer, flush=True)
        for line in sys.stdin:
            _grade_job(line.strip())
            print("done", file=answer, flush=True)
    finally:
        _FORKSERVER.stop()
        shutil.rmtree(folder, ignore_errors=True)


class _Worker:
    """The parent's handle on one worker process (restarted after a failure)."""

    def __init__(self):
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "course.grading", "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.proc.stdout.readline()  # "ready"

    def grade(self, job_file, wall_timeout):
        """Send a job; returns None when done, or a reason when the worker had to be stopped."""
        import threading

        if self.proc is None or self.proc.poll() is not None:
            self.start()
        answer = []
        reader = threading.Thread(target=lambda: answer.append(self.proc.stdout.readline()), daemon=True)
        self.proc.stdin.write(f"{job_file}\n")
        self.proc.stdin.flush()
        reader.start()
        reader.join(wall_timeout)
        if answer and answer[0].strip() == "done":
            return None
        reason = (
            f"stopped: grading took longer than the limit of {wall_timeout} s per notebook"
            if reader.is_alive()
            else "grading failed: the grading process died"
        )
        self.stop()
        return reason

    def stop(self):
        if self.proc is not None:
            sandbox.kill_tree(self.proc.pid)
            self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:  # a broken pipe: the worker is gone anyway
                    pass
            self.proc = None


# ------------------------------------------------------------ the parent (a batch)
def grade_notebooks(
    paths, timeout=60, unit=None, root=None, progress=None, workers=1, limits=None, wall_timeout=900, keep=None
):
    """Grade each notebook in ``paths``; returns one result dict per notebook, in order.

    unit: e.g. "06_lstm": notebooks of other units get an error result.
    timeout: execution limit per cell (seconds); wall_timeout: per notebook.
    workers: notebooks graded at once, each in its own process.
    limits: ``course.sandbox.Limits`` for the student's code.
    keep: a folder to which each graded notebook is copied as ``<index>.ipynb``.
    progress: wraps an iterable of completed notebooks (e.g. tqdm).
    Never raises for a bad notebook: its result carries an error.
    """
    _env_for_nbgrader()
    root = Path(root) if root else course_units.course_root()
    limits = limits or sandbox.Limits()
    srcs = sources(root)
    if unit is not None and unit not in {s.unit for s in srcs}:
        raise ValueError(f"unknown unit {unit!r}; units: {', '.join(sorted({s.unit for s in srcs}))}")
    hide = [
        str(root / d)
        for d in (
            "solutions",
            "submitted",
            "autograded",
            "feedback",
            "nbgrader_exchange",
            "autograde-logs",
            "gradebook.db",
        )
    ]
    results = [{"notebook": str(p), "assignment": None, "score": 0.0, "max_score": 0.0, "tests": []} for p in paths]

    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o711)
        # the batch's folder, and the whole temp folder where other copies of solutions may lie
        hide = hide + [str(tmp), tempfile.gettempdir()]
        jobs, gradebooks = [], {}
        for i, path in enumerate(paths):
            try:
                nb = read_submission(path)
                src = identify(nb, srcs, unit)
            except NotGradable as e:
                results[i]["error"] = str(e)
                continue
            results[i]["assignment"] = src.unit
            restore_metadata(nb, src)
            if src.path not in gradebooks:
                gradebooks[src.path] = src.make_gradebook(tmp / f"gradebook-{len(gradebooks)}")
            job_dir = tmp / f"job-{i}"
            (job_dir / "out").mkdir(parents=True)
            nbformat.write(nb, str(job_dir / "submission.ipynb"))
            jobs.append(
                (
                    i,
                    {
                        "unit": src.unit,
                        "source": str(src.path),
                        "gradebook": str(gradebooks[src.path]),
                        "submission": str(job_dir / "submission.ipynb"),
                        "timeout": timeout,
                        "workdir": str(job_dir / "work"),
                        "out": str(job_dir / "out"),
                        "hide": hide,
                        "limits": asdict(limits),
                    },
                )
            )

        workers_by_slot = {slot: _Worker() for slot in range(max(1, workers))}

        def run(indexed_job, slot):
            i, job = indexed_job
            # a uid and a cgroup per slot: a fork bomb starves only itself, and batches never meet
            job["limits"].update(uid=limits.uid + slot, tag=f"{os.getpid()}-{slot}")
            job_file = Path(job["out"]).parent / "job.json"
            job_file.write_text(json.dumps(job))
            stopped = workers_by_slot[slot].grade(job_file, wall_timeout)
            sandbox.kill_tree(limits=sandbox.Limits(**job["limits"]))  # whatever the submission left running
            out = Path(job["out"])
            res = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else {}
            if stopped or not res:
                res = {"error": stopped or "grading failed: no result"}
            if keep and (out / "autograded.ipynb").exists():
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(out / "autograded.ipynb", Path(keep) / f"{i}.ipynb")
            r = results[i]
            r["tests"] = res.get("tests", [])
            r["max_score"] = res.get("max_score", 0.0)
            r["score"] = float(sum(t["score"] for t in r["tests"]))
            if res.get("error"):
                r["error"] = res["error"]
                r["score"] = 0.0
                for t in r["tests"]:
                    t["score"] = 0.0
            return i

        slots = list(workers_by_slot)
        with ThreadPoolExecutor(max_workers=len(slots)) as pool:
            import queue

            free = queue.Queue()
            for s in slots:
                free.put(s)

            def with_slot(job):
                slot = free.get()
                try:
                    return run(job, slot)
                finally:
                    free.put(slot)

            try:
                done = pool.map(with_slot, jobs)
                for _ in progress(done) if progress else done:
                    pass
            finally:
                for w in workers_by_slot.values():
                    w.stop()
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker_loop()
