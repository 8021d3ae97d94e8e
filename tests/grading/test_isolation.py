"""Isolation of student code: what a sandboxed process can see, do and reach (as root and not).

Each probe runs as the verifier's student process, forked by a real fork server into a real
sandbox, under every backend this machine offers; the batch tests grade real notebooks.
"""

import ctypes
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from course import units as course_units
from course.grading import grade_notebooks, namespaces, processes, sandbox, view
from course.grading.forkserver import ForkServer
from course.grading.submission import solved_answers
from course.grading.verify import StudentProcess

from helpers import ROOT

SECRET_NAME = "COURSE_FAKE_SECRET"
SECRET = secrets.token_hex(16)
BACKENDS = [b for b in ("userns", "bwrap") if sandbox.backend() != "none"]
if sandbox.backend() == "none":
    pytest.skip("this machine cannot isolate (no user namespaces)", allow_module_level=True)
if not sandbox._bwrap_works():
    BACKENDS.remove("bwrap")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    """A fork server started while the grader's environment holds a secret."""
    base = tmp_path_factory.mktemp(f"isolation-{request.param}")
    os.environ[SECRET_NAME] = SECRET
    try:
        fs = ForkServer(base / "server", shared=[base], backend=request.param)
        (base / "server").mkdir()
        assert fs.ensure(), "the fork server did not start"
    finally:
        del os.environ[SECRET_NAME]
    fs.base = base
    yield fs
    fs.stop()


def run_in_sandbox(server, source, *args):
    """Define ``probe`` with ``source`` in a sandboxed student process; return ``probe(*args)``."""
    workdir = Path(tempfile.mkdtemp(dir=server.base))
    student = StudentProcess(["import os"], [source], 30, sandbox.Limits(), str(workdir / "work"), forkserver=server)
    try:
        return student.function("probe")(*args)
    finally:
        student.close()


def test_student_code_has_no_capabilities_and_an_unprivileged_uid(server):
    status, uid_map = run_in_sandbox(
        server, "def probe():\n    return open('/proc/self/status').read(), open('/proc/self/uid_map').read()"
    )
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(fields[cap], 16) == 0, f"{cap} is {fields[cap].strip()}"
    assert fields["NoNewPrivs"].strip() == "1"
    uid = int(fields["Uid"].split()[0])
    assert uid != 0
    outside = {int(a): int(b) for a, b, _ in (line.split() for line in uid_map.splitlines())}[uid]
    if sandbox.is_root() and server.backend == "userns":
        assert outside >= sandbox.UID_BASE, f"the student's uid is {outside} outside the sandbox"


UNDO = """
import ctypes, os
def probe():
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}
    for target in (b"/usr", b"/", b"/proc", b"/tmp"):
        out["umount " + target.decode()] = libc.umount2(target, 2)  # MNT_DETACH
    out["remount /usr rw"] = libc.mount(None, b"/usr", None, 32 | 4096, None)
    out["new user namespace"] = libc.unshare(0x10000000 | 0x00020000)
    try:
        open("/usr/course-was-here", "w")
        out["write /usr"] = 0
    except OSError:
        out["write /usr"] = -1
    return out
"""


def test_the_view_cannot_be_unmounted_remounted_or_written(server):
    results = run_in_sandbox(server, UNDO)
    assert all(code != 0 for code in results.values()), f"these succeeded: {results}"


CONNECT = """
import socket
def probe(port, abstract):
    out = {}
    for name, family, address in (("tcp", socket.AF_INET, ("127.0.0.1", port)),
                                  ("abstract unix socket", socket.AF_UNIX, abstract)):
        s = socket.socket(family)
        s.settimeout(2)
        try:
            s.connect(address)
            out[name] = "connected"
        except OSError as e:
            out[name] = type(e).__name__
    return out
"""


def test_no_network_not_even_a_classmates_kernel_on_localhost(server):
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    abstract = socket.socket(socket.AF_UNIX)
    name = "\0course-test-" + secrets.token_hex(4)
    abstract.bind(name)
    abstract.listen()
    try:
        results = run_in_sandbox(server, CONNECT, tcp.getsockname()[1], name)
    finally:
        tcp.close()
        abstract.close()
    assert "connected" not in results.values(), results


LOOK = """
import os
def probe(paths):
    return {p: os.path.exists(p) for p in paths}
"""


def _secret_files(tmp_path):
    """A world-readable copy of what must stay hidden: solutions, a gradebook, a classmate."""
    course = tmp_path / "course"
    for rel in ("solutions/01_perceptron/perceptron.ipynb", "gradebook.db", "submitted/bob/01/nb.ipynb"):
        (course / rel).parent.mkdir(parents=True, exist_ok=True)
        (course / rel).write_text("secret")
    for path in [tmp_path, *course.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return [str(p) for p in course.rglob("*") if p.is_file()]


def test_solutions_gradebook_and_classmates_do_not_exist_inside(server, tmp_path):
    paths = _secret_files(tmp_path) + [str(p) for p in sorted(ROOT.glob("solutions/*/*.ipynb"))[:2]]
    paths += [
        str(ROOT / "gradebook.db"),
        str(ROOT / "nbgrader_config.py"),
        "/etc/shadow",
        str(ROOT / "tests"),
        server.path,
    ]
    seen = run_in_sandbox(server, LOOK, paths)
    assert not any(seen.values()), f"visible inside the sandbox: {[p for p, v in seen.items() if v]}"


AS_ANOTHER_USER = """
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(sys.argv[1]))))  # the copied package
from course.grading import sandbox
paths, out = json.loads(sys.argv[3]), sys.argv[2]
def body():
    seen = {p: os.path.exists(p) for p in paths}
    with open(os.path.join(out, "seen.json"), "w") as f:
        json.dump({"seen": seen, "uid": os.getuid()}, f)
    return 0
control = {p: os.path.exists(p) for p in paths}
pid = sandbox.fork(sandbox.Limits(), out, body, mode="userns", writable=[out])
_, status = os.waitpid(pid, 0)
print(json.dumps({"control": control, "exit": os.waitstatus_to_exitcode(status)}))
"""


@pytest.mark.skipif(not sandbox.is_root(), reason="runs the sandbox as another user, which only root can become")
def test_as_an_ordinary_user_the_hidden_files_do_not_exist_inside():
    # nobody cannot run this project's Python (under /root, 0700): Debian's, standard library only
    python = shutil.which("python3.11", path="/usr/bin")
    if python is None or shutil.which("setpriv") is None:
        pytest.skip("needs /usr/bin/python3.11 and setpriv")
    folder = Path(tempfile.mkdtemp(prefix="course-test-"))  # (pytest's folder is root's alone)
    try:
        paths = _secret_files(folder)
        work = folder / "work"
        work.mkdir()
        shutil.chown(work, "nobody")
        script, copy = folder / "probe.py", folder / "package" / "course" / "grading" / "sandbox.py"
        script.write_text(AS_ANOTHER_USER)
        copy.parent.mkdir(parents=True)  # (its package folder is shown read-only: not the one above work/)
        # (the package's folder may not be readable by nobody: the sandbox and the standard-library-only
        # modules it imports are copied, with empty package files)
        copies = [script, copy.parent / "__init__.py", copy.parent.parent / "__init__.py"]
        for module in (sandbox, namespaces, processes, view):
            copies.append(copy.parent / Path(module.__file__).name)
            shutil.copy(module.__file__, copies[-1])
        for f in copies:
            f.touch()
            f.chmod(0o644)
        for d in (copy.parent, copy.parent.parent, copy.parent.parent.parent):
            d.chmod(0o755)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-S", str(script)]
        proc = subprocess.run(
            [*cmd, str(copy), str(work), json.dumps(paths)], capture_output=True, text=True, timeout=60, cwd="/"
        )
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert all(report["control"].values()), "the control: nobody reads these files outside the sandbox"
        assert report["exit"] == 0
        inside = json.loads((work / "seen.json").read_text())
    finally:
        shutil.rmtree(folder)
    assert inside["uid"] != 0
    assert not any(inside["seen"].values()), f"visible inside: {inside}"


TEMP = """
import os
def probe():
    out = {d: sorted(os.listdir(d)) for d in ("/tmp", "/var/tmp", "/dev/shm")}
    for d in out:
        open(os.path.join(d, "left-by-student"), "w").close()
    return out
"""


def _first_below(path, folder):
    """The name of the entry of ``folder`` that holds ``path``, or None when ``path`` lies elsewhere."""
    rel = Path(path).resolve().relative_to(folder) if Path(path).resolve().is_relative_to(folder) else None
    return rel.parts[0] if rel is not None and rel.parts else None


def test_tmp_var_tmp_and_dev_shm_are_private_and_empty(server):
    mark = "course-test-" + secrets.token_hex(4)
    outside = [Path(d) / mark for d in ("/tmp", "/var/tmp", "/dev/shm") if os.access(d, os.W_OK)]
    for p in outside:
        p.write_text("the grader's")
    try:
        seen = run_in_sandbox(server, TEMP)
        seen_again = run_in_sandbox(server, TEMP)
    finally:
        for p in outside:
            p.unlink()
    # the checkout and the venv are bound in read-only where they lie (a clone may lie in /tmp or /var/tmp)
    temps = ("/tmp", "/var/tmp", "/dev/shm")
    bound = {d: sorted({_first_below(p, d) for p in (ROOT, sys.prefix)} - {None}) for d in temps}
    assert seen == bound, seen
    assert seen_again == seen, "a sandbox saw what the previous one left"
    assert not any((Path(d) / "left-by-student").exists() for d in ("/tmp", "/var/tmp", "/dev/shm"))


READ_ENV = """
import ctypes, os, re
def probe(name):
    found = [name in os.environ]
    for path in ("/proc/self/environ", "/proc/1/environ"):
        try:
            with open(path, "rb") as f:
                found.append(name.encode() in f.read())
        except OSError:
            pass
    pattern = re.compile(name.encode() + b"=([0-9a-f]{32})")  # the value, wherever it lies in memory
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            special = fields[-1] in ("[vvar]", "[vsyscall]", "[vvar_vclock]") or fields[-1].startswith("/dev")
            if not fields[1].startswith("r") or hi - lo > 1 << 26 or special:
                continue
            found.append(bool(pattern.search(ctypes.string_at(lo, hi - lo))))
    return found
"""


def test_a_secret_in_the_graders_environment_does_not_reach_student_code(server):
    found = run_in_sandbox(server, READ_ENV, SECRET_NAME)
    assert len(found) > 10, "the probe read too little to say"
    assert not any(found), "the grader's secret is readable by student code"


# ------------------------------------------------------------------ whole batches
UNIT = course_units.get("01_perceptron", ROOT)
SOLVED = nbformat.read(UNIT.source_notebooks[0], as_version=4)
ANSWERS = solved_answers(SOLVED)
NOISY = (
    "import sys, warnings\n"
    "_quiet_predict = perceptron_predict\n"
    "def perceptron_predict(X, w, b):\n"
    "    warnings.warn('a warning from correct code')\n"
    "    print('noise on stderr', file=sys.stderr)\n"
    "    np.exp(np.array([1000.0]))  # numpy's own RuntimeWarning: overflow\n"
    "    return _quiet_predict(X, w, b)\n"
)
STEAL = (
    "import os\n"
    "def perceptron_predict(X, w, b):\n"
    "    raise ValueError(repr(dict(os.environ)) + repr(open('/proc/self/environ', 'rb').read()))\n"
)
PLANT = (
    "import os\n"
    "for _name in ('perceptron.ipynb', 'timestamp.txt', '.ipynb_checkpoints', 'autograded'):\n"
    "    try:\n        os.symlink({canary!r}, _name)\n    except OSError:\n        pass\n"
)


def _notebook(folder, name, extra_answer="", extra_cell=None):
    nb = nbformat.read(UNIT.release_dir / UNIT.source_notebooks[0].name, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ANSWERS:
            cell.source = ANSWERS[gid] + ("\n" + extra_answer if gid == "answer_perceptron_predict" else "")
    if extra_cell:
        nb.cells.insert(2, nbformat.v4.new_code_cell(extra_cell))
    path = Path(folder) / f"{name}.ipynb"
    nbformat.write(nb, path)
    return str(path)


@pytest.fixture(scope="module")
def two_batches(tmp_path_factory):
    """Two batches graded at once in one process, with a secret in the grader's environment."""
    folder = tmp_path_factory.mktemp("batches")
    temp = folder / "temp"  # the batches' temp folder: must be empty afterwards
    temp.mkdir()
    canary = folder / "canary.txt"
    canary.write_text("untouched")
    batches = {
        "a": [
            _notebook(folder, "noisy", NOISY),
            _notebook(folder, "steal", STEAL),
        ],
        "b": [_notebook(folder, "plant", extra_cell=PLANT.format(canary=str(canary))), _notebook(folder, "plain")],
    }
    results, errors = {}, []
    libc = ctypes.CDLL(None)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: whatever a sandbox leaves behind comes back here
    saved = tempfile.tempdir
    os.environ[SECRET_NAME], os.environ["TMPDIR"], tempfile.tempdir = SECRET, str(temp), str(temp)
    try:

        def grade(key):
            try:
                results[key] = grade_notebooks(batches[key], timeout=20, root=ROOT, unit="01_perceptron")
            except Exception as e:  # noqa: BLE001  (reported by the test)
                errors.append(repr(e))

        threads = [threading.Thread(target=grade, args=(k,)) for k in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        del os.environ[SECRET_NAME]
        os.environ.pop("TMPDIR")
        tempfile.tempdir = saved
    assert not errors, errors
    by_name = {Path(r["notebook"]).stem: r for rs in results.values() for r in rs}
    return by_name, temp, canary


def _scores(result):
    return {t["grade_id"]: t["score"] for t in result["tests"]}


def test_two_concurrent_batches_grade_correctly(two_batches):
    results, _, _ = two_batches
    assert _scores(results["plain"]) == {"perceptron_predict": 2.0, "perceptron_fit": 3.0}, json.dumps(results["plain"])
    assert _scores(results["plant"]) == {"perceptron_predict": 2.0, "perceptron_fit": 3.0}, json.dumps(results["plant"])
    assert {r["isolation"] for r in results.values()} == {sandbox.backend()}


def test_warnings_and_stderr_of_correct_code_cost_nothing(two_batches):
    results, _, _ = two_batches
    assert _scores(results["noisy"]) == {"perceptron_predict": 2.0, "perceptron_fit": 3.0}, json.dumps(results["noisy"])


def test_the_secret_is_neither_readable_nor_in_the_result(two_batches):
    results, _, _ = two_batches
    steal = results["steal"].to_dict()  # (all of it, as it is stored)
    assert _scores(steal).get("perceptron_predict") == 0.0, json.dumps(steal)
    assert SECRET not in json.dumps(steal) and SECRET_NAME not in json.dumps(steal), steal


def test_a_link_planted_in_the_kernels_folder_steers_no_write(two_batches):
    _, _, canary = two_batches
    assert canary.read_text() == "untouched"


def test_a_batch_leaves_nothing_in_tmp_and_nothing_running(two_batches):
    _, temp, _ = two_batches
    assert os.listdir(temp) == [], f"left in the temp folder: {os.listdir(temp)}"
    deadline = time.monotonic() + 5  # (a killed worker's fork server and sandboxes die after it)
    while _left_running(temp) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _left_running(temp), f"still running: {_left_running(temp)}"


def _left_running(temp):
    """Processes of the batches (they name its temp folder) handed to this process, the subreaper."""
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = re.sub(r".*\) ", "", stat, flags=re.S).split()[:2]
        if int(ppid) == os.getpid():
            if state == "Z":  # ended, and handed to this process to collect
                os.waitpid(int(pid), os.WNOHANG)
            elif str(temp).encode() in cmdline:  # (not the fixtures' servers)
                left.append((pid, state, cmdline[:200]))
    return left


def test_a_deep_kernel_folder_gets_a_short_socket_path(tmp_path):
    """A Unix socket's path has at most 107 bytes: a deep TMPDIR must not stop every kernel."""
    from course.grading.worker import _short_ipc_path

    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 6)
    deep.mkdir(parents=True)
    with _short_ipc_path(deep) as ipc:
        assert len(str(ipc / "kernel-65535")) < 100
        assert ipc.resolve() == deep.resolve()
        assert not ipc.is_symlink() or str(ipc).startswith("/proc/self/fd/"), "no link for others to replace"
    assert not ipc.exists() or ipc.resolve() != deep.resolve(), "the short path must be gone after grading"
    with _short_ipc_path(tmp_path) as ipc:
        assert ipc == tmp_path, "a short folder is used as it is"
