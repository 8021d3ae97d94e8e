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

A result is a :class:`course.grading.results.Result` (its JSON form as ../shared/CURRICULUM.md
specifies), with ``error`` when it could not be graded, ``notes`` (what the grader changed in the
notebook, one line each for the student: a copied cell), and ``isolation``: the sandbox's backend
(``"bwrap"``, ``"userns"`` or ``"none"``, see :mod:`course.grading.sandbox`).

The batch owns everything it makes: one temporary folder holds the jobs, every worker's
folder (its fork server's socket, the kernels' connection files) and every sandbox's working
folder, and is removed when the batch ends, even after a worker had to be killed. A worker's
sandboxes die with its fork server, which dies with the worker: stopping a worker ends every
process its submissions started, and nothing of another batch.

Time and resource limits: one :class:`course.grading.settings.GradingSettings` (``timeout`` per
cell, ``wall_timeout`` per notebook, the sandbox's limits), whose docstring follows them down.
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from course import units as course_units
from course.grading import processes, sandbox
from course.grading.nbgrader import generate_assignment, prepare_env
from course.grading.results import Result
from course.grading.settings import GradingSettings
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
        self.proc = processes.start_session(
            self.command(),
            # kernels' connection files in its folder; the backend this batch probed, not probed again
            env=dict(os.environ, TMPDIR=str(self.folder / "tmp"), COURSE_SANDBOX=sandbox.backend()),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:  # (read from the descriptor: nothing is left in the text pipe's buffer)
            answer = processes.read_line(self.proc.stdout, time.monotonic() + processes.WORKER_READY_TIMEOUT_S)
        except TimeoutError:
            answer = f"not ready after {processes.WORKER_READY_TIMEOUT_S} s"
        except OSError:
            answer = "it ended"
        if answer != "ready":
            self.stop()
            return f"grading failed: the grading process did not start ({answer})"
        return None

    def command(self):
        return [sys.executable, "-P", "-m", "course.grading.worker", str(self.folder), self.shared]  # -P: not the cwd

    def grade(self, job_file, wall_timeout):
        """Send a job; returns None when done, or a reason when the worker had to be stopped."""
        if self.proc is None or self.proc.poll() is not None:
            failed = self.start()
            if failed:
                return failed
        self.proc.stdin.write(f"{job_file}\n")
        self.proc.stdin.flush()
        try:
            if processes.read_line(self.proc.stdout, time.monotonic() + wall_timeout) == "done":
                return None
            reason = "grading failed: the grading process died"  # (or said something else: stopped all the same)
        except TimeoutError:
            reason = f"stopped: grading took longer than the limit of {wall_timeout} s per notebook"
        except OSError:
            reason = "grading failed: the grading process died"
        self.stop()
        return reason

    def stop(self):
        """Kills the worker (its session): its fork server, and every sandbox of it, die with it."""
        if self.proc is not None:
            processes.kill_session(self.proc)
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

    def __init__(self, root=None, workers=1, settings=None, folder=None, **changes):
        prepare_env()
        self.settings = GradingSettings.of(settings, **changes)
        self.isolation = sandbox.backend()
        if self.isolation == "none" and not self.settings.no_isolation:
            raise sandbox.SandboxError(sandbox.unavailable_reason())
        self.root = Path(root) if root else course_units.course_root()
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
        """Grade each notebook in ``paths``; one Result per notebook, in order (see grade_notebooks)."""
        if unit is not None and unit not in {s.unit for s in self.srcs}:
            raise ValueError(f"unknown unit {unit!r}; units: {', '.join(sorted({s.unit for s in self.srcs}))}")
        tmp, gradebooks, iso = self.tmp, self.gradebooks, self.isolation
        results = [Result(notebook=str(p), assignment=None, isolation=iso) for p in paths]
        jobs = []
        for i, path in enumerate(paths):
            try:
                nb = read_submission(path, for_grading=True)
                src = identify(nb, self.srcs, unit)
            except NotGradable as e:
                results[i].error = str(e)
                continue
            results[i].assignment = src.unit
            results[i].notes = prepare_for_grading(nb, src)
            job_dir = tmp / f"job-{self.jobs_made}"
            self.jobs_made += 1
            try:  # (a full disk: this submission is not graded, the others are)
                if src.path not in gradebooks:
                    gradebooks[src.path] = make_gradebook(src, tmp / f"gradebook-{len(gradebooks)}")
                (job_dir / "out").mkdir(parents=True)
                nbformat.write(nb, str(job_dir / "submission.ipynb"))
            except (OSError, RuntimeError) as e:
                results[i].error = f"could not be graded: the grader could not prepare it ({_reason(e)})"
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
                        "workdir": str(job_dir / "work"),
                        "out": str(job_dir / "out"),
                        "settings": self.settings.to_dict(),
                    },
                )
            )

        def run(indexed_job, slot):
            i, job = indexed_job
            out = Path(job["out"])
            try:  # whatever fails here (a full disk, a broken result) fails this submission only
                job_file = out.parent / "job.json"
                job_file.write_text(json.dumps(job))
                stopped = self.workers[slot].grade(job_file, self.settings.wall_timeout)
                res = Result(None, None, error=stopped) if stopped else read_result(out / "result.json")
                if keep and (out / "autograded.ipynb").exists():
                    Path(keep).mkdir(parents=True, exist_ok=True)
                    shutil.copy(out / "autograded.ipynb", Path(keep) / f"{i}.ipynb")
            except OSError as e:
                res = Result(None, None, error=f"could not be graded: {_reason(e)}")
            finally:
                shutil.rmtree(out.parent, ignore_errors=True)  # a long-lived Grader keeps no old jobs
            r = results[i]
            r.tests, r.max_score = res.tests, res.max_score
            r.score = float(sum(t.score for t in r.tests))
            r.stages = res.stages  # where the time went (bench/grading_speed.py)
            if res.error:
                r.failed(res.error)
            for t in r.tests:  # a failed test says what the grader changed in the notebook, if anything
                if t.error and r.notes:
                    t.error = f"{t.error} (note: {'; '.join(r.notes)})"
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
                done = Counted(pool.map(with_slot, jobs), len(jobs))  # a total for progress bars (tqdm)
                for _ in progress(done) if progress else done:
                    pass
            except BaseException:
                for w in self.workers.values():  # (Ctrl-C: nothing of this batch keeps running)
                    w.stop()
                raise
        return results


class Counted:
    """An iterator that knows its length, so that a progress bar shows total, percentage and ETA."""

    def __init__(self, iterator, n):
        self.iterator, self.n = iterator, n

    def __iter__(self):
        return iter(self.iterator)

    def __len__(self):
        return self.n


def _reason(error):
    return f"{error.strerror or error}" if isinstance(error, OSError) else str(error)[:200]


def read_result(path):
    """The worker's Result at ``path`` (see :func:`course.grading.worker._graded`), checked; a missing,
    empty or broken one is a Result whose error is "could not be graded: ...", never an exception."""
    try:
        with open(path, "rb") as f:
            return Result.from_dict(json.loads(f.read(2**22)))
    except (OSError, ValueError):
        why = "could not be graded: the grading process left no readable result (a full disk?)"
        return Result(None, None, error=why)


def grade_notebooks(paths, unit=None, root=None, progress=None, workers=1, keep=None, settings=None, **changes):
    """Grade each notebook in ``paths``; returns one :class:`~course.grading.results.Result` per notebook, in order.

    unit: e.g. "06_lstm": notebooks of other units get an error result.
    settings: a :class:`~course.grading.settings.GradingSettings` (its defaults when None), with
    ``changes`` to its fields (``timeout=30``, ``wall_timeout=240``, ``limits=...``,
    ``no_isolation=True``). Where student code cannot be isolated and ``no_isolation`` is not set,
    raises :class:`course.grading.sandbox.SandboxError`, saying what would be exposed.
    workers: notebooks graded at once, each in its own process.
    keep: a folder to which each graded notebook is copied as ``<index>.ipynb``.
    progress: wraps an iterable of completed notebooks (e.g. tqdm).
    Never raises for a bad notebook: its result carries an error.
    """
    with Grader(root, workers=workers, settings=settings, **changes) as grader:
        return grader.grade(paths, unit=unit, progress=progress, keep=keep)
