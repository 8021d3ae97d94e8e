"""`course grade`: full marks for solutions, zero for released stubs, error objects for bad files.

These run nbgrader's autograder for real (a kernel per notebook), so they
take a few seconds each.
"""

import json
import subprocess
from pathlib import Path

import nbformat
import pytest

from course import units as course_units
from course.grading import grade_notebooks
from course.grading.batch import Grader

from helpers import ROOT, bin_path

pytestmark = pytest.mark.slow
UNITS = course_units.units(ROOT)


def _grade(*paths, **kw):
    return grade_notebooks([str(p) for p in paths], root=ROOT, **kw)


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.id)
def test_solution_scores_full_marks(unit):
    (res,) = _grade(*unit.source_notebooks)
    failed = {t["grade_id"]: t["error"] for t in res["tests"] if t["score"] < t["max_score"]}
    assert res["assignment"] == unit.id
    assert res["max_score"] > 0 and res["score"] == res["max_score"], f"failed tests: {failed} {res.get('error')}"


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.id)
def test_released_stub_scores_zero_on_every_test(unit):
    (res,) = _grade(*sorted(unit.release_dir.glob("*.ipynb")))
    assert res["assignment"] == unit.id and "error" not in res
    assert res["tests"] and res["score"] == 0
    for t in res["tests"]:
        assert t["score"] == 0 and t["error"], f"{t['grade_id']} should fail on the stub with an error"


def _error_of(tmp_path, content, **kw):
    path = tmp_path / "submission.ipynb"
    path.write_bytes(content)
    (res,) = _grade(path, **kw)
    assert res["score"] == 0 and res["tests"] == []
    return res["error"]


def test_not_json_gets_an_error_object(tmp_path):
    assert "not JSON" in _error_of(tmp_path, b'{"cells": [')


def test_empty_file_gets_an_error_object(tmp_path):
    assert "empty" in _error_of(tmp_path, b"")


def test_non_utf8_bytes_get_an_error_object(tmp_path):
    assert "UTF-8" in _error_of(tmp_path, b"\xff\xfe\x00garbage")


def test_invalid_nbformat_gets_an_error_object(tmp_path):
    assert "not a valid Jupyter notebook" in _error_of(
        tmp_path, b'{"cells": [{"cell_type": "nonsense"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}'
    )


def test_a_notebook_not_from_the_course_gets_an_error_object(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    assert "not a notebook of this course" in _error_of(tmp_path, nbformat.writes(nb).encode())


def test_a_notebook_of_another_unit_gets_an_error_object(tmp_path):
    first, second = UNITS[0], UNITS[1]
    content = second.source_notebooks[0].read_bytes()
    assert f"unit {second.id}, not of unit {first.id}" in _error_of(tmp_path, content, unit=first.id)


def _wrong_fit(path):
    """Unit 1 with the solution of perceptron_predict and a perceptron_fit that never learns, written to ``path``."""
    unit = UNITS[0]
    nb = nbformat.read(unit.release_dir / unit.source_notebooks[0].name, as_version=4)
    solved = nbformat.read(unit.source_notebooks[0], as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in solved.cells}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "answer_perceptron_predict":
            cell.source = by_id[gid].source
        if gid == "answer_perceptron_fit":
            cell.source = "def perceptron_fit(X, y, lr=1.0, epochs=10):\n    return np.zeros(X.shape[1]), 0.0\n"
    nbformat.write(nb, path)
    return path


def test_cli_json_grades_the_good_and_reports_the_bad_with_exit_0(tmp_path):
    bad = tmp_path / "garbage.ipynb"
    bad.write_text("garbage")
    sol = UNITS[0].source_notebooks[0]
    wrong = _wrong_fit(tmp_path / "wrong.ipynb")
    proc = subprocess.run(
        [bin_path("course"), "grade", str(bad), str(sol), str(wrong), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert [r["notebook"] for r in results] == [str(bad), str(sol), str(wrong)]
    assert results[0]["score"] == 0 and results[0]["error"]
    assert results[1]["score"] == results[1]["max_score"] > 0
    for t in results[1]["tests"]:
        assert set(t) == {"grade_id", "score", "max_score", "error"}
    # a failed test records the ids of the hints its message gave (course.checks.hints)
    hints = {t["grade_id"]: t.get("hints") for t in results[2]["tests"]}
    assert hints == {"perceptron_predict": None, "perceptron_fit": ["perceptron.fit_start_or_order"]}, hints


def test_a_wrong_answer_scores_zero_on_its_test_only(tmp_path):
    (res,) = _grade(_wrong_fit(tmp_path / "student.ipynb"))
    scores = {t["grade_id"]: (t["score"], t["error"]) for t in res["tests"]}
    assert scores["perceptron_predict"][0] == 2
    assert scores["perceptron_fit"][0] == 0 and "AND" in scores["perceptron_fit"][1]


def _solution_that_never_returns(path):
    """Unit 1's solution, its perceptron_predict an endless loop, written to ``path``."""
    nb = nbformat.read(UNITS[0].source_notebooks[0], as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "answer_perceptron_predict":
            cell.source = "def perceptron_predict(X, w, b):\n    while True:\n        pass\n"
    nbformat.write(nb, path)
    return path


def test_a_function_that_never_returns_is_stopped_by_the_cell_timeout(tmp_path):
    path = _solution_that_never_returns(tmp_path / "slow.ipynb")
    (res,) = _grade(path, timeout=3)
    scores = {t["grade_id"]: (t["score"], t["error"]) for t in res["tests"]}
    assert scores["perceptron_predict"][0] == 0 and scores["perceptron_predict"][1]
    assert scores["perceptron_fit"][0] == 3  # the rest of the notebook is still graded


def test_what_follows_the_last_test_cannot_change_the_grade(tmp_path):
    """Code after the last test is not run: a solution that ends by killing its kernel keeps full marks."""
    unit = UNITS[0]
    nb = nbformat.read(unit.source_notebooks[0], as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    path = tmp_path / "ends_badly.ipynb"
    nbformat.write(nb, path)
    (res,) = _grade(path)
    assert res["score"] == res["max_score"] > 0 and not res.get("error"), res


GRADE_FOREVER = """
import sys
from course.grading import grade_notebooks
from course.grading.batch import Grader
grade_notebooks([sys.argv[1]], root=sys.argv[2], timeout=300)
"""


def _busy(proc):
    """Whether ``proc`` (psutil) spends most of a fifth of a second on the CPU (an endless loop)."""
    try:
        return proc.cpu_percent(0.2) > 50
    except Exception:  # noqa: BLE001  (gone meanwhile)
        return False


def _descendants(proc):
    try:
        return proc.children(recursive=True)
    except Exception:  # noqa: BLE001  (gone meanwhile)
        return []


def _depth(proc, ancestor):
    """How many generations ``proc`` lies below ``ancestor`` (psutil processes)."""
    try:
        parents = [p.pid for p in proc.parents()]
        return parents.index(ancestor.pid) + 1
    except Exception:  # noqa: BLE001  (gone meanwhile, or not below it)
        return 0


def _cmdline(proc):
    try:
        return proc.cmdline()
    except Exception:  # noqa: BLE001  (gone meanwhile)
        return ["(gone)"]


def test_a_killed_grader_leaves_no_worker_and_no_kernel_behind(tmp_path):
    """`course autograde` (or a Dask worker) SIGKILLed mid-notebook: its worker, fork server and the
    student's kernel end too, at once, not when the notebook would have finished; its folder is
    removed by the next grader."""
    import os
    import signal
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    path = _solution_that_never_returns(tmp_path / "forever.ipynb")
    grader = subprocess.Popen([sys.executable, "-c", GRADE_FOREVER, str(path), str(ROOT)])
    try:
        deadline, tree, workers = time.monotonic() + 120, [], []
        while time.monotonic() < deadline:  # until the worker's kernel runs the endless loop
            tree = psutil.Process(grader.pid).children(recursive=True)
            workers = [p for p in tree if "course.grading.worker" in " ".join(_cmdline(p))]
            # the kernel: two levels below the fork server (which, and its torch-free server, import at first)
            if workers and any(_busy(p) for p in _descendants(workers[0]) if _depth(p, workers[0]) >= 3):
                break
        assert workers and len(tree) >= 3, f"the grading did not start: {[_cmdline(p) for p in tree]}"
        batch_folder = Path(_cmdline(workers[0])[-1])  # (the worker's last argument)
        assert batch_folder.is_dir()
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait()
        gone, alive = psutil.wait_procs(tree, timeout=20)
        assert not alive, f"left running after the grader was killed: {[_cmdline(p) for p in alive]}"
        # its folder is the next grader's to remove, once nothing changed it for a while
        os.utime(batch_folder, (time.time() - 3600,) * 2)
        Grader(root=ROOT).close()
        assert not batch_folder.exists(), "the killed grader's folder was left behind"
    finally:
        grader.kill()


def test_a_grader_in_a_deep_temporary_folder_still_grades(tmp_path):
    """A long TMPDIR (an instructor's, pytest's) puts the fork servers' sockets past the 107 bytes a
    Unix socket's path may have: they are reached through their folder, and the grade is the same."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (unit,) = [u for u in UNITS if u.id == "06_lstm"]  # a NumPy unit: the kernel and the torch-free server
    with Grader(root=ROOT, folder=deep) as grader:
        assert len(str(grader.tmp / "worker-0" / "forkserver.sock")) > 107
        (res,) = grader.grade([str(p) for p in unit.source_notebooks])
    assert "error" not in res, res.get("error")
    assert res["max_score"] > 0 and res["score"] == res["max_score"], res["tests"]


def test_a_missing_empty_or_broken_result_fails_that_submission_only(monkeypatch):
    """As a full disk leaves them (an empty result file crashed the batch and lost the class's grades)."""
    from course.grading import batch

    original = batch._Worker.grade
    broken = {0: "", 1: '{"tests": [{"grade_id": 7}]}', 2: "[1, 2"}  # by job; job 3: no result at all

    def grade(self, job_file, wall_timeout):
        job = int(Path(job_file).parent.name.split("-")[1])
        if job in broken:
            (Path(job_file).parent / "out" / "result.json").write_text(broken[job])
        return None if job <= 3 else original(self, job_file, wall_timeout)

    monkeypatch.setattr(batch._Worker, "grade", grade)
    solution = UNITS[0].source_notebooks[0]
    *failed, graded = _grade(*[solution] * 5)
    for res in failed:
        assert res["score"] == 0 and res["error"].startswith("could not be graded"), res
    assert graded["score"] == graded["max_score"] > 0 and not graded.get("error"), graded


def test_a_worker_that_never_says_ready_fails_its_notebook_within_the_deadline(monkeypatch):
    """A worker stuck while it starts (a hung import, a full disk) gets its notebook an error result
    after WORKER_READY_TIMEOUT_S: the batch used to wait for its "ready" forever."""
    import sys
    import time

    from course.grading import batch, processes

    monkeypatch.setattr(processes, "WORKER_READY_TIMEOUT_S", 2)
    never_ready = [sys.executable, "-c", "import time; time.sleep(600)"]
    monkeypatch.setattr(batch._Worker, "command", lambda self: never_ready)
    start = time.monotonic()
    (res,) = _grade(UNITS[0].source_notebooks[0])
    assert time.monotonic() - start < 60, "the batch waited for the worker far past the deadline"
    assert res["score"] == 0 and "did not start" in res.get("error", ""), res
