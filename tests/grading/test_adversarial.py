"""An adversarial corpus: broken and hostile submissions, each with its exact expected outcome.

All submissions are variations of the released unit-1 exercise (answered
correctly unless a case says otherwise) and are graded together in ONE batch
with two workers, as an instructor's class would be: every case must get its
own outcome, and none may change another's grade or stop the batch.
"""

import ctypes
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

import nbformat
import pytest

from course.grading import grade_notebooks, sandbox

from corpus import CASES, CELL_TIMEOUT, FULL, cell_of_test, student
from helpers import ROOT, dump

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    paths = []
    for name, (content, _) in CASES.items():
        path = folder / f"{name}.ipynb"
        path.write_bytes(content)
        paths.append(str(path))
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of the batch come back here
    start = time.monotonic()
    results = grade_notebooks(paths, timeout=CELL_TIMEOUT, unit="01_perceptron", root=ROOT, workers=2, wall_timeout=240)
    elapsed = time.monotonic() - start
    return {name: r for name, r in zip(CASES, results)}, elapsed


def test_the_corpus_has_at_least_20_submissions():
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", list(CASES))
def test_each_submission_gets_its_exact_outcome(graded, name):
    results, _ = graded
    res = results[name]
    expected = CASES[name][1]
    if isinstance(expected, str):
        assert res["score"] == 0 and expected in (res.get("error") or ""), dump(res)
    else:
        scores = {t["grade_id"]: t["score"] for t in res["tests"]}
        assert scores == expected, dump(res)
        assert res["max_score"] == 5.0
        for t in res["tests"]:
            assert (t["error"] is None) == (t["score"] == t["max_score"]), "a failed test must say why"


def test_a_notebook_whose_kernel_died_names_the_cell_that_was_running(graded):
    results, _ = graded
    assert "in the cell that begins 'import os'" in results["os_exit"]["error"], results["os_exit"]["error"]


def test_a_stopped_test_says_which_limit_stopped_it(graded):
    results, _ = graded
    errors = {t["grade_id"]: t["error"] for t in results["infinite_loop"]["tests"]}
    assert "time limit" in errors["perceptron_predict"] or "timed out" in errors["perceptron_predict"]


def test_nothing_is_left_running_after_the_batch(graded):
    # the fixture made this process the subreaper of everything the batch started
    deadline = time.monotonic() + 5  # (a killed worker's fork server and sandboxes die after it)
    while _left_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _left_running(), f"processes of the batch still running: {_left_running()}"


def _left_running():
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()[:200]
        except OSError:
            continue
        if int(ppid) == os.getpid():
            if state == "Z":  # ended, handed to this process to collect
                os.waitpid(int(pid), os.WNOHANG)
            else:
                left.append((pid, state, cmdline))
    return left


# ------------------------------------------------------------ what one submission costs the trusted side
def _bloated(extra=0, output_bytes=0):
    """A correct submission with ``extra`` empty cells after the last test, ``output_bytes`` of stored outputs."""
    data = json.loads(student())
    code = [cell for cell in data["cells"] if cell["cell_type"] == "code"]
    for cell in code:
        mib = {"output_type": "stream", "name": "stdout", "text": "x" * 2**20}
        cell["outputs"] = [mib] * (output_bytes // 2**20 // len(code))
    data["cells"] += [
        {"cell_type": "code", "id": f"e{i}", "metadata": {}, "source": "", "outputs": [], "execution_count": None}
        for i in range(extra)
    ]
    return json.dumps(data).encode()


def _copied_cells(nb):
    """As Jupyter's copy and paste leaves it: a draft of an answer above the fixed copy, a test cell twice."""
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_perceptron_fit")
    draft = nbformat.from_dict(json.loads(json.dumps(answer)))
    draft.id, draft.source = "draft", "def perceptron_fit(X, y, epochs=10, lr=1.0):\n    return None  # to do\n"
    nb.cells.insert(nb.cells.index(answer), draft)
    test = cell_of_test(nb, "perceptron_predict")
    again = nbformat.from_dict(json.loads(json.dumps(test)))
    again.id = "again"
    nb.cells.insert(nb.cells.index(test) + 1, again)


BLOATED = {
    "normal": student(),
    "250000_empty_cells": _bloated(extra=250_000),
    "huge_outputs": _bloated(output_bytes=40 * 2**20),
    "copied_cells": student(edit=_copied_cells),
}


@pytest.fixture(scope="module")
def bloated(tmp_path_factory):
    folder, keep = tmp_path_factory.mktemp("bloated"), tmp_path_factory.mktemp("bloated-graded")
    paths = []
    for name, content in BLOATED.items():
        assert len(content) < 50 * 2**20
        (folder / f"{name}.ipynb").write_bytes(content)
        paths.append(str(folder / f"{name}.ipynb"))
    results = grade_notebooks(paths, timeout=CELL_TIMEOUT, unit="01_perceptron", root=ROOT, wall_timeout=90, keep=keep)
    graded = {name: keep / f"{i}.ipynb" for i, name in enumerate(BLOATED)}
    cells = {name: len(json.loads(p.read_text())["cells"]) if p.exists() else None for name, p in graded.items()}
    return {name: r for name, r in zip(BLOATED, results)}, cells


@pytest.mark.parametrize("name", ["250000_empty_cells", "huge_outputs"])
def test_a_bloated_notebook_is_graded_with_the_cells_grading_needs(bloated, name):
    results, cells = bloated
    res = results[name]
    assert res["score"] == 5.0 and not res.get("error"), dump(res)
    assert cells[name] == cells["normal"], f"nbgrader got {cells[name]} cells, {cells['normal']} for the same work"
    normal = results["normal"]["stages"]["total"]
    assert res["stages"]["total"] < 3 * normal + 5, f"{res['stages']} against {normal} s for a normal notebook"


def test_copied_cells_are_graded_and_the_note_names_them(bloated):
    results, _ = bloated
    res = results["copied_cells"]
    assert {t["grade_id"]: t["score"] for t in res["tests"]} == FULL, dump(res)
    notes = " ".join(res["notes"])
    for gid in ("'answer_perceptron_fit'", "'perceptron_predict'"):
        assert gid in notes and "the last of them was graded" in notes, f"the notes must name {gid}: {notes}"


# ------------------------------------------------------------ one submission fills the disk
FILL_CAP_MB, HOLD_S = 600, 20
FILL = f"""import time
_full = None
try:
    for _i in range({FILL_CAP_MB}):
        with open(f"fill-{{_i}}", "wb") as _f:
            _f.write(b"x" * 2**20)
except OSError as e:
    _full = OSError(e.errno, f"{{e.strerror}} after {{_i}} MiB")
time.sleep({HOLD_S})  # what it wrote stays while its classmates are graded
"""
FILLED = """def perceptron_predict(X, w, b):
    if _full is not None:
        raise _full
    return np.zeros(len(X), dtype=int)  # (it wrote all it wanted: nothing stopped it)
"""


@pytest.fixture
def grader_disk(tmp_path, monkeypatch):
    """As root: the grader's folders on a file system of their own, 400 MiB, which a filler fills in
    seconds (a real disk would take minutes); yields the least space it had free while in use.
    Otherwise the system's temporary folder (yields None)."""
    if not sandbox.is_root():
        yield None
        return
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400m,mode=1777", "tmpfs", str(disk)], check=True)
    monkeypatch.setattr(tempfile, "tempdir", str(disk))
    least_free, done = [400 * 2**20], threading.Event()

    def watch():
        while not done.wait(0.1):
            least_free[0] = min(least_free[0], shutil.disk_usage(disk).free)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield least_free
    finally:
        done.set()
        watcher.join()
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_submission_that_fills_the_disk_changes_no_classmates_grade(tmp_path, grader_disk):
    names = ["filler", "alice", "bob"]
    for name in names:
        filler = student(predict=FILLED, extra_cells=[(1, FILL)])  # (it fills first, then holds)
        (tmp_path / f"{name}.ipynb").write_bytes(filler if name == "filler" else student())
    paths = [str(tmp_path / f"{name}.ipynb") for name in names]
    results = grade_notebooks(paths, timeout=HOLD_S + 30, unit="01_perceptron", root=ROOT, workers=2, wall_timeout=240)
    filler, *classmates = results
    for name, res in zip(names[1:], classmates):
        assert res["score"] == 5.0 and not res.get("error"), f"{name} lost marks to the filler: {dump(res)}"
    why = {t["grade_id"]: t["error"] or "" for t in filler["tests"]}.get("perceptron_predict", "")
    written = re.search(r"No space left on device after (\d+) MiB", why)
    assert written and int(written[1]) <= sandbox.Limits().disk_mb, (
        f"the filler must stop at its sandbox's own limit ({sandbox.Limits().disk_mb} MiB), and say so: {why}"
    )
    if grader_disk is not None:
        assert grader_disk[0] > 64 * 2**20, f"the grader's disk had {grader_disk[0]} bytes free at the worst"
