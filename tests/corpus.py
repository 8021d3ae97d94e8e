"""The adversarial corpus: broken and hostile submissions of unit 1, each with its exact expected outcome.

``CASES``: name -> (the submitted bytes, what its result must say or score). Graded in one batch
by tests/grading/test_adversarial.py; tests/system/test_dask.py grades it on a cluster too.
``student(...)`` builds a variation of the released exercise, answered correctly unless told otherwise.
"""

import nbformat

from course import units as course_units
from course.grading.submission import solved_answers

from helpers import ROOT

UNIT = course_units.get("01_perceptron", ROOT)
CELL_TIMEOUT = 8
FULL = {"perceptron_predict": 2.0, "perceptron_fit": 3.0}

SOLVED = nbformat.read(UNIT.source_notebooks[0], as_version=4)
ANSWERS = solved_answers(SOLVED)

WRONG_PREDICT = "def perceptron_predict(X, w, b):\n    return np.zeros(len(X), dtype=int)\n"
PATCH_NUMPY = (
    "np.array_equal = lambda *a, **k: True\nnp.allclose = lambda *a, **k: True\n"
    "np.testing.assert_allclose = lambda *a, **k: None\n"
)


def student(predict=None, fit=None, extra_cells=(), edit=None):
    """The released notebook, answered: ``predict``/``fit`` replace the correct answers."""
    nb = nbformat.read(UNIT.release_dir / UNIT.source_notebooks[0].name, as_version=4)
    answers = dict(ANSWERS)
    if predict is not None:
        answers["answer_perceptron_predict"] = predict
    if fit is not None:
        answers["answer_perceptron_fit"] = fit
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    for index, src in extra_cells:
        nb.cells.insert(index, nbformat.v4.new_code_cell(src))
    if edit:
        edit(nb)
    return nbformat.writes(nb).encode()


def cell_of_test(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _delete_test(nb):
    nb.cells.remove(cell_of_test(nb, "perceptron_fit"))


def _edit_test(nb):
    cell_of_test(nb, "perceptron_predict").source = "pass"


def _forge_points(nb):
    cell = cell_of_test(nb, "perceptron_predict")
    cell.metadata["nbgrader"]["points"] = 100
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_perceptron_fit")
    answer.metadata["nbgrader"].update(grade=True, points=50, locked=True)


def _strip_metadata(nb):
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)


def _reorder_tests(nb):
    a, b = cell_of_test(nb, "perceptron_predict"), cell_of_test(nb, "perceptron_fit")
    ia, ib = nb.cells.index(a), nb.cells.index(b)
    nb.cells[ia], nb.cells[ib] = b, a


READ_SOLUTIONS = """def perceptron_predict(X, w, b):
    import glob, json, os
    import course.units
    roots = [os.getcwd()] + [os.path.abspath(os.path.join(os.getcwd(), *[".."] * k)) for k in range(1, 8)]
    roots.append(str(course.units.course_root()))
    # first through other processes' view of the file system (/proc/PID/root of the grader, say)
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    roots = [f"/proc/{p}/root{course.units.course_root()}" for p in pids] + roots
    for root in roots:
        for path in glob.glob(os.path.join(root, "solutions", "01_perceptron", "*.ipynb")) + glob.glob(
                os.path.join(root, "**", "source", "01_perceptron", "*.ipynb"), recursive=True):
            for cell in json.load(open(path))["cells"]:
                if "def perceptron_predict" in "".join(cell["source"]):
                    ns = {"np": np}
                    exec("".join(cell["source"]), ns)
                    return ns["perceptron_predict"](X, w, b)
    raise FileNotFoundError("no solutions found")
"""

WRITE_GRADEBOOK = """def perceptron_predict(X, w, b):
    import glob, os, sqlite3
    for k in range(0, 8):
        up = os.path.join(os.getcwd(), *[".."] * k)
        for db in glob.glob(os.path.join(up, "**", "gradebook.db"), recursive=True):
            con = sqlite3.connect(db)
            con.execute("UPDATE grade SET auto_score = 100")
            con.commit()
    return np.zeros(len(X), dtype=int)
"""

UNMOUNT_THEN_READ = """def perceptron_predict(X, w, b):
    import ctypes
    libc = ctypes.CDLL(None)
    for _ in range(3):  # peel every mount off, deepest first, then look for the solutions
        for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
            libc.umount2(line.split()[4].encode(), 2)
""" + READ_SOLUTIONS.split("\n", 1)[1]

NETWORK_PEEK = """def perceptron_predict(X, w, b):
    import socket
    for port in range(1, 65536):  # a classmate's kernel listens on 127.0.0.1 somewhere
        s = socket.socket()
        s.settimeout(0.01)
        try:
            s.connect(("127.0.0.1", port))
            return (X @ w + b > 0).astype(int)  # "copied" from the other kernel
        except OSError as e:
            if e.errno == 101:  # (no network at all: stop scanning)
                break
        finally:
            s.close()
    return np.zeros(len(X), dtype=int)
"""

ASK_THE_FORK_SERVER = """def perceptron_predict(X, w, b):
    import glob, json, os, socket
    roots = ["/tmp", "/var", "/run", "/dev/shm", "/home", os.path.dirname(os.getcwd())]
    for path in [p for r in roots for p in glob.glob(r + "/**/*.sock", recursive=True)]:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            s.sendall(json.dumps({"kind": "serve", "args": ["--workdir", "/"]}).encode())
            return (X @ w + b > 0).astype(int)
        except OSError:
            pass
    return np.zeros(len(X), dtype=int)
"""

NOISY_BUT_CORRECT = (
    "import sys, warnings\n_quiet = perceptron_predict\n"
    "def perceptron_predict(X, w, b):\n"
    "    warnings.warn('deprecated')\n    print('debug', file=sys.stderr)\n"
    "    np.exp(np.array([1e4]))  # RuntimeWarning: overflow\n"
    "    return _quiet(X, w, b)\n"
)

# name -> (file content, expected {grade_id: score} or an error substring for the whole file)
CASES = {
    "correct": (student(), FULL),
    "correct_with_extra_cells_and_outputs": (
        student(
            extra_cells=[
                (2, "print('hello')\nx = np.arange(10)\nx.sum()"),
                (3, "import matplotlib.pyplot as plt\nplt.plot([1, 2])"),
            ]
        ),
        FULL,
    ),
    "infinite_loop": (
        student(predict="def perceptron_predict(X, w, b):\n    while True:\n        pass\n"),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    "sleep_forever": (
        student(fit="def perceptron_fit(X, y, lr=1.0, epochs=10):\n    import time\n    time.sleep(10**6)\n"),
        {"perceptron_predict": 2.0, "perceptron_fit": 0.0},
    ),
    "sleep_forever_at_top_level": (student(extra_cells=[(2, "import time\ntime.sleep(10**6)")]), FULL),
    "memory_bomb": (
        student(
            predict="def perceptron_predict(X, w, b):\n    hog = []\n    while True:\n"
            "        hog.append(bytearray(10**8))\n"
        ),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    "fork_bomb": (
        student(
            predict="def perceptron_predict(X, w, b):\n    import os, time\n    while True:\n"
            "        if os.fork() == 0:\n            time.sleep(1000)\n            os._exit(0)\n"
        ),
        # the bomb exhausts its own process budget, so the rest of its notebook fails too
        {"perceptron_predict": 0.0, "perceptron_fit": 0.0},
    ),
    "os_exit": (student(extra_cells=[(2, "import os\nos._exit(0)")]), "kernel died"),
    "sys_exit_in_function": (
        student(fit="def perceptron_fit(X, y, lr=1.0, epochs=10):\n    import sys\n    sys.exit()\n"),
        {"perceptron_predict": 2.0, "perceptron_fit": 0.0},
    ),
    "keyboard_interrupt_in_test": (
        student(predict="def perceptron_predict(X, w, b):\n    raise KeyboardInterrupt\n"),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    "system_exit_in_test": (
        student(predict="def perceptron_predict(X, w, b):\n    raise SystemExit(0)\n"),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    "deleted_test_cell": (student(edit=_delete_test), {"perceptron_predict": 2.0, "perceptron_fit": 0.0}),
    "edited_test_cell_with_wrong_answer": (
        student(predict=WRONG_PREDICT, edit=_edit_test),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    # nbgrader restores contents, not order: the fit test now runs before perceptron_fit is defined
    "reordered_test_cells": (student(edit=_reorder_tests), {"perceptron_predict": 2.0, "perceptron_fit": 0.0}),
    "stripped_metadata": (student(edit=_strip_metadata), "not a notebook of this course"),
    "forged_points_and_grade_cell": (student(edit=_forge_points), FULL),
    "monkeypatch_numpy": (
        student(predict=WRONG_PREDICT + PATCH_NUMPY),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    "monkeypatch_checks": (
        student(
            predict=WRONG_PREDICT + "check_perceptron_predict = lambda *a, **k: None\n"
            "import course.checks.perceptron as _c\n"
            "_c.check_perceptron_predict = lambda *a, **k: None\n"
        ),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    "monkeypatch_testing_and_builtins": (
        student(
            predict=WRONG_PREDICT
            + (
                "import builtins, course.testing\ncourse.testing.call_student = lambda fn, *a, **k: fn(*a, **k)\n"
                "builtins.print = lambda *a, **k: None\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n"
            )
        ),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    "reads_solution_files": (student(predict=READ_SOLUTIONS), {"perceptron_predict": 0.0, "perceptron_fit": 3.0}),
    "writes_to_gradebook": (student(predict=WRITE_GRADEBOOK), {"perceptron_predict": 0.0, "perceptron_fit": 3.0}),
    "huge_output": (student(extra_cells=[(2, "print('x' * 100_000_000)")]), FULL),
    "unmounts_then_reads_solutions": (
        student(predict=UNMOUNT_THEN_READ),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    "scans_localhost_for_a_classmates_kernel": (
        student(predict=NETWORK_PEEK),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    "asks_the_fork_server_for_a_process": (
        student(predict=ASK_THE_FORK_SERVER),
        {"perceptron_predict": 0.0, "perceptron_fit": 3.0},
    ),
    "warnings_and_stderr_in_correct_code": (
        student(predict=ANSWERS["answer_perceptron_predict"] + "\n" + NOISY_BUT_CORRECT),
        FULL,
    ),
    "another_unit": (
        course_units.get("02_backprop", ROOT).source_notebooks[0].read_bytes(),
        "not of unit 01_perceptron",
    ),
    "empty_file": (b"", "empty"),
    "malformed_json": (b'{"cells": [}', "not JSON"),
    "invalid_nbformat": (
        b'{"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
        "not a valid Jupyter notebook",
    ),
    "non_utf8_bytes": (b"\x89PNG\r\n\x1a\n\xff\xfe", "not UTF-8"),
}
