"""A batch: many submissions graded in parallel by worker processes; the one grading path.

``course grade`` (any notebooks, any units) and ``course autograde`` (a whole class into the
gradebook) both call :func:`grade_notebooks`:

1. **Read and identify** (this process; no student code runs here): each file is read
   (:mod:`course.grading.submission`) without what grading never reads (outputs, blank
   cells: the trusted side's work follows the unit, not the file), its unit found, its nbgrader
   metadata replaced by the instructor's, one cell per grade_id (the result's ``"notes"`` say
   what the grader changed), the code cells after its last test marked not to run (they cannot
   change a grade); an unreadable or foreign file gets an error result and the batch goes on.
2. **One job per notebook**, handed to one of ``workers`` worker processes
   (:mod:`course.grading.worker`), each with a wall-clock limit per notebook.
3. **The grade of a test is the minimum** of nbgrader's score and the verifier's verdict;
   a worker that dies or overruns is replaced, and its notebook gets an error result; so does
   one whose result is missing, empty or broken (:func:`read_result`): never the batch.

A result is a dict, as ../shared/CURRICULUM.md specifies: ``{"notebook", "assignment",
"score", "max_score", "tests": [{"grade_id", "score", "max_score", "error"}]}`` plus
``"error"`` when it could not be graded, ``"notes"`` (what the grader changed in the notebook,
one line each for the student: a copied cell), and ``"isolation"``: the sandbox's backend
(``"bwrap"``, ``"userns"`` or ``"none"``, see :mod:`course.grading.sandbox`).

The batch owns everything it makes: one temporary folder holds the jobs, every worker's
folder (its fork server's socket, the kernels' connection files) and every sandbox's working
folder, and is removed when the batch ends, even after a worker had to be killed. A worker's
sandboxes die with its fork server, which dies with the worker: stopping a worker ends every
process its submissions started, and nothing of another batch.

Time limits: ``timeout`` is per cell (nbgrader's execution limit, and per test in the
verifier); ``wall_timeout`` is per notebook (the whole of nbgrader's run and the verifier's).
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import nbformat

from course import units as course_units
from course.grading import sandbox
from course.grading.nbgrader import generate_assignment, prepare_env
from course.grading.submission import NotGradable, identify, prepare_for_grading, read_submission, sources


def make_gradebook(src, folder):
    """nbgrader's generate_assignment for the unit of Source ``src`` into ``folder``/gradebook.db."""
    folder = Path(folder)
    (folder / "source" / src.unit).mkdir(parents=True, exist_ok=True)
    shutil.copy(src.path, folder / "source" / src.unit / src.path.name)
    generate_assignment(folder, folder / "gradebook.db", src.unit, source=folder / "source")
    return folder / "gradebook.db"


class _Worker:
    """The parent's handle on one worker process (restarted after a failure).

    ``folder``: made for it (and removed) by the batch, inside ``shared``, the batch's folder.
    """

    def __init__(self, folder, shared):
        self.folder, self.shared, self.proc = Path(folder), str(shared), None

    def start(self):
        shutil.rmtree(self.folder, ignore_errors=True)  # what a killed predecessor left
        for sub in ("runtime", "tmp"):
            (self.folder / sub).mkdir(parents=True)
        os.chmod(self.folder, 0o700)
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "course.grading.worker", str(self.folder), self.shared],  # -P: not the cwd
            # kernels' connection files in its folder; the backend this batch probed, not probed again
            env=dict(os.environ, TMPDIR=str(self.folder / "tmp"), COURSE_SANDBOX=sandbox.backend()),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.proc.stdout.readline()  # "ready"

    def grade(self, job_file, wall_timeout):
        """Send a job; returns None when done, or a reason when the worker had to be stopped."""
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
        """Kills the worker: its fork server, and every sandbox of it, die with it."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)  # (its session: a worker has no other processes)
            except OSError:
                pass
            self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:  # a broken pipe: the worker is gone anyway
                    pass
            self.proc = None


# ------------------------------------------------------------ the parent (a batch)
#: A Grader's folder: ``course-grade-*``, holding OWNER_FILE, the pid of the process that made it.
FOLDER_PREFIX = "course-grade-"
OWNER_FILE = ".owner-pid"


def owned_folder(prefix, dir=None):
    """A TemporaryDirectory ``PREFIX*`` that records this process as its owner (OWNER_FILE).

    (Not the pid in the name: the folder's path must stay short, a Unix socket lies deep inside.)"""
    folder = tempfile.TemporaryDirectory(prefix=prefix, dir=dir)
    Path(folder.name, OWNER_FILE).write_text(str(os.getpid()))
    return folder


def remove_folders_of_dead_processes(prefix, tmp=None, min_age_s=600):
    """Remove what killed graders of this user left in the temporary folder ``tmp``: the folders
    ``PREFIX*`` of :func:`owned_folder` whose owner is gone and that nothing changed for
    ``min_age_s`` (a grader killed with SIGKILL cannot remove its own; the next one does)."""
    for path in Path(tmp or tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            info = path.lstat()
            if path.is_symlink() or info.st_uid != os.getuid() or time.time() - info.st_mtime < min_age_s:
                continue
            owner = path / OWNER_FILE
            if owner.is_symlink() or owner.stat().st_size > 32:
                continue
            os.kill(int(owner.read_text()), 0)  # raises when no such process
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, OSError):
            continue


class Grader:
    """A grading engine that outlives one batch: its private folder, ``workers`` grading processes
    (each with its fork server), one gradebook per unit source made on first use.

    :func:`grade_notebooks` is one Grader used once; a Dask worker keeps one for every task it
    runs (:mod:`course.grading.cluster`), so nbgrader's start-up and the fork server are paid once
    per worker, not once per submission. ``close()`` (or leaving the ``with`` block) stops the
    grading processes, and every sandbox of theirs, and removes the folder.
    Arguments as :func:`grade_notebooks`', and ``folder``: where its private folder is made
    (the system's temporary folder by default).
    """

    def __init__(
        self, root=None, timeout=60, workers=1, limits=None, wall_timeout=900, no_isolation=False, folder=None
    ):
        prepare_env()
        self.isolation = sandbox.backend()
        if self.isolation == "none" and not no_isolation:
            raise sandbox.SandboxError(sandbox.unavailable_reason())
        self.root = Path(root) if root else course_units.course_root()
        self.timeout, self.wall_timeout = timeout, wall_timeout
        self.limits = limits or sandbox.Limits()
        self.srcs = sources(self.root)
        remove_folders_of_dead_processes(FOLDER_PREFIX, folder)
        self._tmpdir = owned_folder(FOLDER_PREFIX, folder)
        self.tmp = Path(self._tmpdir.name)
        os.chmod(self.tmp, 0o711)
        self.gradebooks, self.jobs_made = {}, 0
        self.workers = {slot: _Worker(self.tmp / f"worker-{slot}", self.tmp) for slot in range(max(1, workers))}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for w in self.workers.values():
            w.stop()
        self._tmpdir.cleanup()

    def grade(self, paths, unit=None, progress=None, keep=None):
        """Grade each notebook in ``paths``; one result dict per notebook, in order (see grade_notebooks)."""
        if unit is not None and unit not in {s.unit for s in self.srcs}:
            raise ValueError(f"unknown unit {unit!r}; units: {', '.join(sorted({s.unit for s in self.srcs}))}")
        tmp, gradebooks, iso = self.tmp, self.gradebooks, self.isolation
        results = [
            {"notebook": str(p), "assignment": None, "score": 0.0, "max_score": 0.0, "tests": [], "isolation": iso}
            for p in paths
        ]
        jobs = []
        for i, path in enumerate(paths):
            try:
                nb = read_submission(path, for_grading=True)
                src = identify(nb, self.srcs, unit)
            except NotGradable as e:
                results[i]["error"] = str(e)
                continue
            results[i]["assignment"] = src.unit
            results[i]["notes"] = prepare_for_grading(nb, src)
            job_dir = tmp / f"job-{self.jobs_made}"
            self.jobs_made += 1
            try:  # (a full disk: this submission is not graded, the others are)
                if src.path not in gradebooks:
                    gradebooks[src.path] = make_gradebook(src, tmp / f"gradebook-{len(gradebooks)}")
                (job_dir / "out").mkdir(parents=True)
                nbformat.write(nb, str(job_dir / "submission.ipynb"))
            except (OSError, RuntimeError) as e:
                results[i]["error"] = f"could not be graded: the grader could not prepare it ({_reason(e)})"
                shutil.rmtree(job_dir, ignore_errors=True)
                continue
            jobs.append(
                (
                    i,
                    {
                        "unit": src.unit,
                        "source": str(src.path),
                        "gradebook": str(gradebooks[src.path]),
                        "submission": str(job_dir / "submission.ipynb"),
                        "timeout": self.timeout,
                        "workdir": str(job_dir / "work"),
                        "out": str(job_dir / "out"),
                        "limits": asdict(self.limits),
                    },
                )
            )

        def run(indexed_job, slot):
            i, job = indexed_job
            out = Path(job["out"])
            try:  # whatever fails here (a full disk, a broken result) fails this submission only
                job_file = out.parent / "job.json"
                job_file.write_text(json.dumps(job))
                stopped = self.workers[slot].grade(job_file, self.wall_timeout)
                res = {"error": stopped} if stopped else read_result(out / "result.json")
                if keep and (out / "autograded.ipynb").exists():
                    Path(keep).mkdir(parents=True, exist_ok=True)
                    shutil.copy(out / "autograded.ipynb", Path(keep) / f"{i}.ipynb")
            except OSError as e:
                res = {"error": f"could not be graded: {_reason(e)}"}
            finally:
                shutil.rmtree(out.parent, ignore_errors=True)  # a long-lived Grader keeps no old jobs
            r = results[i]
            r["tests"] = res.get("tests", [])
            r["max_score"] = res.get("max_score", 0.0)
            r["score"] = float(sum(t["score"] for t in r["tests"]))
            r["stages"] = res.get("stages", {})  # where the time went (bench/grading_speed.py)
            if res.get("error"):
                r["error"] = res["error"]
                r["score"] = 0.0
                for t in r["tests"]:
                    t["score"] = 0.0
            for t in r["tests"]:  # a failed test says what the grader changed in the notebook, if anything
                if t["error"] and r.get("notes"):
                    t["error"] = f"{t['error']} (note: {'; '.join(r['notes'])})"
            return i

        slots = list(self.workers)
        with ThreadPoolExecutor(max_workers=len(slots)) as pool:
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
                done = _Counted(pool.map(with_slot, jobs), len(jobs))  # a total for progress bars (tqdm)
                for _ in progress(done) if progress else done:
                    pass
            except BaseException:
                for w in self.workers.values():  # (Ctrl-C: nothing of this batch keeps running)
                    w.stop()
                raise
        return results


class _Counted:
    """An iterator that knows its length, so that a progress bar shows total, percentage and ETA."""

    def __init__(self, iterator, n):
        self.iterator, self.n = iterator, n

    def __iter__(self):
        return iter(self.iterator)

    def __len__(self):
        return self.n


def _reason(error):
    return f"{error.strerror or error}" if isinstance(error, OSError) else str(error)[:200]


#: What a worker's result.json must hold (anything else: the submission could not be graded).
_TEST_FIELDS = {"grade_id": str, "score": float | int, "max_score": float | int, "error": str | type(None)}


def read_result(path):
    """The worker's result at ``path`` (see :func:`course.grading.worker._graded`), checked; a missing,
    empty or broken one is ``{"error": "could not be graded: ..."}``, never an exception."""
    broken = {"error": "could not be graded: the grading process left no readable result (a full disk?)"}
    try:
        with open(path, "rb") as f:
            res = json.loads(f.read(2**22))
    except (OSError, ValueError):
        return broken
    if not isinstance(res, dict) or not isinstance(res.get("tests", []), list):
        return broken
    tests = res.get("tests", [])
    if not all(isinstance(t, dict) and all(isinstance(t.get(k), v) for k, v in _TEST_FIELDS.items()) for t in tests):
        return broken
    if not isinstance(res.get("max_score", 0.0), float | int) or not isinstance(res.get("error") or "", str):
        return broken
    if not isinstance(res.get("stages", {}), dict):
        res["stages"] = {}
    return res


def grade_notebooks(
    paths,
    timeout=60,
    unit=None,
    root=None,
    progress=None,
    workers=1,
    limits=None,
    wall_timeout=900,
    keep=None,
    no_isolation=False,
):
    """Grade each notebook in ``paths``; returns one result dict per notebook, in order.

    unit: e.g. "06_lstm": notebooks of other units get an error result.
    timeout: execution limit per cell (seconds); wall_timeout: per notebook, all included.
    no_isolation: grade even where student code cannot be isolated (else that raises
    :class:`course.grading.sandbox.SandboxError`, saying what would be exposed).
    workers: notebooks graded at once, each in its own process.
    limits: ``course.grading.sandbox.Limits`` for the student's code.
    keep: a folder to which each graded notebook is copied as ``<index>.ipynb``.
    progress: wraps an iterable of completed notebooks (e.g. tqdm).
    Never raises for a bad notebook: its result carries an error.
    """
    options = dict(timeout=timeout, workers=workers, limits=limits, wall_timeout=wall_timeout)
    with Grader(root, no_isolation=no_isolation, **options) as grader:
        return grader.grade(paths, unit=unit, progress=progress, keep=keep)
