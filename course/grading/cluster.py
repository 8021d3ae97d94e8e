"""A class graded on a Dask cluster: one task per submission, the same grading as on one machine.

``course autograde UNIT --scheduler ADDRESS`` (``tcp://host:8786``, or ``local:N`` for a
``distributed.LocalCluster`` of N worker processes on this machine) calls
:func:`grade_on_cluster` instead of ``grade_notebooks``; it returns the same Results, so the
instructor's pipeline writes the gradebook exactly as it does for a local batch -- on the
client, once per submission, after the task's result came back.

**A task** carries the submission's bytes (read here, bounded like any submission) and depends on
one task that returns the instructor's source notebooks of the unit (sent once, and run again by
the scheduler if the worker holding them dies; scattered data would be lost): a worker needs the course
*package* (the same version, the same Python; :func:`check_versions` refuses a mismatch with a
clear error) but no course folder and no shared file system. On the worker the task runs
:class:`course.grading.batch.Grader` -- sandboxed kernels, the verifier, the limits -- kept for
every task that worker runs, so nbgrader's start-up and the fork server are paid once per worker.
The settings travel in each task and the result comes back in their JSON forms
(``GradingSettings.to_dict``, ``Result.to_dict``), read back on the other side with ``from_dict``.

**Faults.** A worker that dies while grading (killed, out of memory) loses nothing: the
scheduler gives its task to another worker, and its one result is written once. The scheduler
is asked for ``allowed-failures = 1`` (:data:`ALLOWED_FAILURES`; start a separate scheduler with
the environment of :func:`config_environment`): a submission whose grading kills its
worker twice is "could not be graded", with the reason, not retried for ever. A worker's death
counts against every task it held, so a correct submission queued beside the one that killed it
could be given up too (Dask queues only large batches on the scheduler): a submission given up
in a batch is graded once more *alone*, after the others, and only one that kills workers when
nothing else runs is "could not be graded". The summary lists
what was retried (``result["retried"]``), the log which worker graded what (``result["worker"]``).
A killed worker's grading processes end with it (``course.grading.worker``); the folder it
could not remove (``course-dask-*`` in its temporary folder) is removed by a later worker
of that user (:func:`course.grading.batch.remove_folders_of_dead_processes`). Ctrl-C cancels
every task not yet done and closes the client (and a local cluster).

**Who can reach it.** Whoever can send a Dask scheduler or worker a message runs code in it (as
the instructor, on the scheduler: ``run_on_scheduler``). A ``local:N`` cluster therefore speaks
only mutual TLS with a key made for it (``Security.temporary()``: in this process's memory, given
to its worker processes by their nannies, never written to a file), listens on 127.0.0.1 only, and
has no dashboard and no HTTP pages (metrics, logs, call stacks): another account on this machine
that finds its ports cannot complete a handshake. A separate cluster is reached over ``tls://``
with Dask's own TLS settings (``distributed.comm.tls.*`` in a Dask config file or environment; the
README shows how); :func:`plain_tcp_warning` says when a plain ``tcp://`` scheduler is used on a
machine that other people log in to.
"""

import atexit
import hashlib
import os
import platform
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

from course.errors import CourseError
from course.grading import files, processes
from course.grading.results import Result
from course.grading.settings import GradingSettings
from course.grading.submission import MAX_SUBMISSION_BYTES
from course.grading.submission import sources as course_sources

#: Deaths of a worker while it graded one submission before that submission is given up.
ALLOWED_FAILURES = 1
#: What the scheduler and the workers are told (``local:N`` sets it; a separate cluster gets it
#: from the environment variables of :func:`config_environment`, as the README shows):
#: a worker holds only the submission it is grading (in a batch larger than twice the cluster's
#: threads: Dask queues smaller ones on the workers, hence the second chance alone);
#: and Dask's own bookkeeping is sampled less often -- its statistical profiler (every 10 ms in every worker)
#: and monitors cost several per cent of a few cores, which grading needs.
CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.tick.interval": "500ms",
}


#: What a cluster the course starts itself (``local:N``) is told besides: no HTTP pages on the
#: scheduler or the workers (Dask's metrics, info pages with logs and call stacks) that another
#: account could read. (Their HTTP servers still listen, on 127.0.0.1, answering 404.)
LOCAL_CONFIG = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}
#: Where :func:`plain_tcp_warning` looks for other accounts.
PASSWD = "/etc/passwd"
#: Shells that do not let anyone log in (system accounts).
NO_LOGIN_SHELLS = {"nologin", "false", "sync", "shutdown", "halt"}


def config_environment():
    """:data:`CLUSTER_CONFIG` as environment variables, for ``dask scheduler`` and ``dask worker``."""
    return {"DASK_" + k.upper().replace(".", "__").replace("-", "_"): str(v) for k, v in CLUSTER_CONFIG.items()}


class ClusterError(CourseError):
    """The cluster cannot grade (unreachable, no workers, another course version); the message says why."""


class VersionMismatch(RuntimeError):
    """Raised on a worker whose course, nbgrader or Python differs from the client's."""


def versions():
    """What must be the same on the client and every worker."""
    import nbgrader

    import course

    return {"course": course.__version__, "nbgrader": nbgrader.__version__, "python": platform.python_version()}


def check_versions(expected):
    """On a worker: raise VersionMismatch, saying what differs, unless it runs ``expected``."""
    mine = versions()
    wrong = [f"{k} {mine.get(k)} (the client has {v})" for k, v in expected.items() if mine.get(k) != v]
    if wrong:
        raise VersionMismatch(f"worker {socket.gethostname()} runs " + ", ".join(wrong) + ": install the same version")
    return mine


# ------------------------------------------------------------ on a worker
_engines = {}  # (thread, sources digest, GradingSettings) -> (folder holding the sources, Grader)
_engines_lock = threading.Lock()
#: A worker's folder (the instructor's sources, its Grader's folder; see batch.owned_folder).
FOLDER_PREFIX = "course-dask-"


def _engine(payload, settings):
    """This worker thread's Grader for these instructor sources and settings (made on first use)."""
    from course.grading.batch import Grader, owned_folder, remove_folders_of_dead_processes

    key = (threading.get_ident(), payload["digest"], settings)
    with _engines_lock:
        if key not in _engines:
            if not _engines:
                remove_folders_of_dead_processes(FOLDER_PREFIX)
            # one folder of this worker: the sources (private) and its Grader's folder (which sandboxes pass through)
            folder = owned_folder(FOLDER_PREFIX)
            os.chmod(folder.name, 0o711)
            (Path(folder.name) / "solutions").mkdir(mode=0o700)
            for rel, data in payload["sources"].items():
                path = Path(folder.name, "solutions", rel)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            _engines[key] = (folder, Grader(root=folder.name, folder=folder.name, settings=settings))
            if len(_engines) == 1:
                atexit.register(_close_engines)  # a worker that shuts down stops its grading processes
        return _engines[key][1]


def _close_engines():
    with _engines_lock:
        for folder, grader in _engines.values():
            grader.close()
            folder.cleanup()
        _engines.clear()


def grade_submission(data, payload, settings, expected):
    """The task: grade one submission (bytes) on this worker, under ``settings`` (their JSON form);
    returns its result (its JSON form), its graded notebook, and where and how long it ran."""
    check_versions(expected)
    grader = _engine(payload, GradingSettings.from_dict(settings))
    folder = Path(tempfile.mkdtemp(prefix="task-", dir=grader.tmp))
    try:
        path = folder / "submission.ipynb"
        path.write_bytes(data)
        start = time.monotonic()
        [result] = grader.grade([str(path)], unit=payload["unit"], keep=folder / "keep")
        autograded = folder / "keep" / "0.ipynb"
        text = autograded.read_text(encoding="utf-8") if autograded.exists() else None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    try:
        from distributed import get_worker

        address = get_worker().address
    except ValueError:  # (called outside a worker, e.g. in a test)
        address = "no worker"
    return {
        "result": result.to_dict(),
        "autograded": text,
        "worker": f"{address} ({socket.gethostname()}, pid {os.getpid()})",
        "seconds": time.monotonic() - start,
    }


def _same(payload):
    """The task that holds the unit's sources on the cluster (made again if its worker dies)."""
    return payload


def _deaths(dask_scheduler=None, keys=()):
    """On the scheduler: how many workers died while running each task (``TaskState.suspicious``)."""
    return {k: dask_scheduler.tasks[k].suspicious for k in keys if k in dask_scheduler.tasks}


# ------------------------------------------------------------ on the client
def other_accounts(passwd=None, logged_in=None):
    """Sorted names of the people besides this user (and root) who can use this machine.

    An account with a login shell in ``passwd`` (default :data:`PASSWD`), or a user logged in now
    (``logged_in``: names; default ``psutil.users()``).
    """
    import psutil

    me, names = os.getuid(), set()
    try:
        lines = Path(passwd or PASSWD).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        f = line.split(":")
        if len(f) == 7 and f[2].isdigit() and int(f[2]) not in (0, me):
            if Path(f[6].strip() or "/bin/sh").name not in NO_LOGIN_SHELLS:
                names.add(f[0])
    try:
        import pwd

        myname = pwd.getpwuid(me).pw_name
    except KeyError:
        myname = None
    users = logged_in if logged_in is not None else [u.name for u in psutil.users()]
    names |= {u for u in users if u not in (myname, "root")}
    return sorted(names)


def plain_tcp_warning(scheduler, passwd=None, logged_in=None):
    """One line to print (or None) when ``scheduler`` is reached over plain TCP from a machine other
    people use: whoever reaches that port runs code as the grader."""
    if not scheduler:
        return None
    plain = scheduler.startswith(("tcp://", "ws://")) or "://" not in scheduler and not scheduler.startswith("local")
    if not plain:
        return None
    others = other_accounts(passwd, logged_in)
    if not others:
        return None
    named = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return (
        f"warning: {scheduler} is plain TCP and this machine has other accounts ({named}): anyone who reaches "
        "the scheduler runs code as you; use tls:// (README, 'A class of 1,000') or local:N"
    )


def start_local_cluster(n):
    """A ``distributed.LocalCluster`` of ``n`` worker processes that only this process can reach.

    Mutual TLS with a fresh key (its workers get it from their nannies, over a pipe), 127.0.0.1
    only, no dashboard and no HTTP pages (:data:`LOCAL_CONFIG`).
    """
    import dask
    from distributed import LocalCluster
    from distributed.security import Security

    with dask.config.set({**CLUSTER_CONFIG, **LOCAL_CONFIG}):
        return LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            security=Security.temporary(),
            dashboard_address=None,
            # (dashboard_address=None alone would still try the scheduler's HTTP server on port 8787)
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        )


def connect(scheduler, wait_s=None):
    """(client, cluster or None) for ``scheduler``: ``local:N`` or a scheduler's address; ``wait_s``: for
    its first worker (:data:`~course.grading.processes.SCHEDULER_WORKERS_TIMEOUT_S` by default).

    ``tls://`` uses Dask's TLS settings (``distributed.comm.tls.*``, from its config files or
    ``DASK_DISTRIBUTED__COMM__TLS__...`` variables).
    """
    from distributed import Client
    from distributed.security import Security

    cluster = None
    wait_s = processes.SCHEDULER_WORKERS_TIMEOUT_S if wait_s is None else wait_s
    try:
        if scheduler == "local" or scheduler.startswith("local:"):
            n = int(scheduler.partition(":")[2] or os.cpu_count() or 1)
            if n < 1:
                raise ValueError
            cluster = start_local_cluster(n)
            client = Client(cluster)
        else:
            if scheduler.startswith("tls://") and Security().get_connection_args("client")["ssl_context"] is None:
                raise ClusterError(
                    f"{scheduler} needs Dask's TLS settings: distributed.comm.tls.ca-file, .client.cert and "
                    ".client.key in a Dask config file (README, 'A class of 1,000')"
                )
            client = Client(scheduler, timeout=f"{processes.SCHEDULER_CONNECT_TIMEOUT_S}s")
    except ValueError:
        raise ClusterError(
            f"--scheduler {scheduler!r}: give local:N (N worker processes), tls://host:port or tcp://host:port"
        ) from None
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    try:
        client.wait_for_workers(1, timeout=wait_s)
    except (TimeoutError, OSError):
        client.close()
        raise ClusterError(f"no Dask worker joined the scheduler at {scheduler} within {wait_s} s") from None
    return client, cluster


def _payload(root, unit):
    """The instructor's source notebooks the workers need ({"unit", "sources", "digest"})."""
    srcs = [s for s in course_sources(root) if unit is None or s.unit == unit]
    files = {f"{s.unit}/{s.path.name}": s.path.read_bytes() for s in srcs}
    digest = hashlib.sha256(b"".join(k.encode() + b"\0" + v for k, v in sorted(files.items()))).hexdigest()
    return {"unit": unit, "sources": files, "digest": digest}


def _read_bounded(path):
    """A submission's bytes, at most one byte over the limit (the worker then refuses it as too big);
    b"" for one that cannot be read, a link included (the worker's reader says "empty")."""
    return files.read_head(path, MAX_SUBMISSION_BYTES)


def grade_on_cluster(
    paths,
    scheduler,
    unit=None,
    root=None,
    progress=None,
    keep=None,
    workers=None,
    on_result=None,
    settings=None,
    **changes,
):
    """``grade_notebooks`` on a Dask cluster: one Result per path, in order, with ``worker``
    (which one graded it), ``seconds`` (its time on that worker) and ``retried`` (how many workers
    died grading it, when any did). ``settings`` and ``changes``: as ``grade_notebooks``'.

    ``on_result(i, result)`` is called here as each submission's result comes back (its graded
    notebook already in ``keep``), so that a caller stores it at once: Ctrl-C, or a cluster lost
    in the middle, then loses none of what was graded before.
    ``workers`` is ignored (the cluster's workers grade; one submission at a time per thread).
    Raises ClusterError when the cluster cannot grade at all.
    """
    from distributed import as_completed, wait
    from distributed.scheduler import KilledWorker

    from course import units as course_units
    from course.grading.sandbox import SandboxError

    root = Path(root) if root else course_units.course_root()
    payload = _payload(root, unit)
    if unit is not None and not payload["sources"]:
        raise ValueError(f"unknown unit {unit!r}")
    settings = GradingSettings.of(settings, **changes).to_dict()  # (its JSON form, in every task)
    expected = versions()
    results = [Result(notebook=str(p), assignment=unit) for p in paths]
    client, cluster = connect(scheduler)
    futures = {}
    try:
        try:
            wrong = {w: v for w, v in client.run(versions).items() if v != expected}
        except Exception as e:  # (a worker without the course package, say)
            raise ClusterError(f"a Dask worker cannot run the course's code: {type(e).__name__}: {e}") from None
        if wrong:
            w, v = next(iter(wrong.items()))
            raise ClusterError(f"Dask worker {w} runs {v}, this machine {expected}: install the same versions")
        token = uuid.uuid4().hex[:8]
        # a task, not client.scatter: scattered data that Dask kept on one worker only (its memory manager
        # drops extra replicas) is lost with that worker, and every submission with it
        payload_future = client.submit(_same, payload, key=f"sources-{token}")
        for i, p in enumerate(paths):
            fut = client.submit(
                grade_submission, _read_bounded(p), payload_future, settings, expected, key=f"grade-{token}-{i}"
            )
            futures[fut] = i

        def take(fut, i, shared):
            """Store the result of ``fut`` (submission ``i``); False when it should be graded again, alone."""
            if fut.status == "finished":
                out = fut.result()
                try:
                    res = Result.from_dict(out["result"])
                except ValueError as e:  # (a worker of this very version: not expected)
                    res = Result(None, unit, error=f"could not be graded: a broken result came back ({e})")
                res.notebook, res.retried = str(paths[i]), results[i].retried
                res.worker, res.seconds = out["worker"], out["seconds"]
                results[i] = res
                if keep and out["autograded"] is not None:
                    Path(keep).mkdir(parents=True, exist_ok=True)
                    Path(keep, f"{i}.ipynb").write_text(out["autograded"], encoding="utf-8")
            else:
                error = fut.exception()
                if isinstance(error, (VersionMismatch, SandboxError)):
                    raise ClusterError(f"a Dask worker cannot grade: {error}")
                if isinstance(error, KilledWorker):
                    if shared:  # the workers that died may have been killed by another submission they held
                        return False
                    why = (
                        f"could not be graded: grading it{'' if len(paths) == 1 else ' alone'} killed a Dask worker "
                        f"{ALLOWED_FAILURES + 1} times "
                        "(the machine's memory? a crash?); not retried again"
                    )
                else:
                    why = f"grading failed on a Dask worker: {type(error).__name__}: {str(error)[:300]}"
                results[i].error = why
            try:
                deaths = client.run_on_scheduler(_deaths, keys=[fut.key])
            except Exception:  # (a scheduler that forbids run_on_scheduler: the log simply says less)
                deaths = {}
            results[i].retried += deaths.get(fut.key, 0)
            if on_result is not None:
                on_result(i, results[i])
            return True

        alone = []
        done = as_completed(futures)
        for fut in progress(done) if progress else done:
            i = futures[fut]
            if not take(fut, i, shared=len(paths) > 1):
                results[i].retried = ALLOWED_FAILURES + 1
                alone.append(i)
        for i in alone:  # one at a time, each with the cluster to itself
            fut = client.submit(
                grade_submission, _read_bounded(paths[i]), payload_future, settings, expected, key=f"alone-{token}-{i}"
            )
            futures[fut] = i
            wait([fut])
            take(fut, i, shared=False)
    except BaseException:  # Ctrl-C included: nothing of this run keeps running on the cluster
        client.cancel(list(futures), force=True)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results
