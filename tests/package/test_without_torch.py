"""Units 1-8 without torch: the notebook-facing package imports, lectures 1-8 run to the end, and the
exercises of units 1-8, answered, pass their visible tests (their checks read the saved torch references,
course.references), with the hint a mistake gets with torch.

torch is blocked by a folder first on PYTHONPATH whose ``torch`` package raises the ImportError a
missing torch raises, so these tests run in the course's full environment. A lecture's cell that
compares with torch prints one line instead (``course.interop.optional_torch``): what it would
show and the install command.
"""

import os
import re
import subprocess
import sys

import pytest

from course.interop import INSTALL_TORCH

from helpers import ROOT

LECTURES = sorted(ROOT.glob("lectures/0[1-8]_*.ipynb"))
EXERCISES = sorted(ROOT.glob("solutions/0[1-8]_*/*.ipynb"))
CHECKS = ["perceptron", "backprop", "rnn", "bptt", "vanishing", "lstm", "gru", "deep"]
NOTEBOOK_MODULES = [
    "course",
    "course.gradient_check",
    "course.plotting",
    "course.widgets",
    "course.training",
    "course.interop",
    "course.units",
    "course.datasets.toy",
    "course.datasets.text",
    "course.datasets.synthetic",
    "course.datasets.human_numbers",
    "course.datasets.co2",
    "course.references",
    *(f"course.checks.{name}" for name in CHECKS),
]


@pytest.fixture
def no_torch(tmp_path, monkeypatch):
    """An environment (inherited by subprocesses and kernels) where ``import torch`` fails."""
    blocker = tmp_path / "no-torch" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(blocker.parent) + (os.pathsep + path if path else ""))
    return os.environ.copy()


def _run(code, env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_the_blocker_makes_torch_unimportable(no_torch):
    out = _run("import torch", no_torch)
    assert out.returncode != 0 and "No module named 'torch'" in out.stderr, out.stderr


def test_the_notebook_modules_import_without_torch(no_torch):
    out = _run(f"import importlib\nfor m in {NOTEBOOK_MODULES!r}:\n    importlib.import_module(m)", no_torch)
    assert out.returncode == 0, f"a module a notebook of units 1-8 imports needs torch at import time:\n{out.stderr}"


def test_a_torch_function_says_in_one_line_how_to_install_torch(no_torch):
    code = (
        "import numpy as np\n"
        "from course.interop import torch_reference\n"
        "try:\n"
        "    torch_reference('rnn', np.zeros((1, 2, 3)), [[(np.zeros((3, 4)), np.zeros((4, 4)), np.zeros(4))]])\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = _run(code, no_torch)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"TorchMissing torch_reference needs torch, which is not installed: {INSTALL_TORCH}"


def test_optional_torch_prints_what_the_cell_would_show_and_returns_none(no_torch):
    code = "from course.interop import optional_torch\nprint(optional_torch('compare with torch.nn.RNN (1e-16)'))"
    out = _run(code, no_torch)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"torch is not installed: this cell would compare with torch.nn.RNN (1e-16); to run it: {INSTALL_TORCH}",
        "None",
    ]


def _execute(nb, path, fails):
    """Run the notebook ``nb`` (read from ``path``) in a kernel from its folder; ``fails`` starts the message."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as e:
        pytest.fail(f"{path.name} {fails}:\n{e}", pytrace=False)


def _assert_the_torch_cells_say_what_they_would_show(nb, path):
    guarded = [c for c in nb.cells if c.cell_type == "code" and "optional_torch(" in c.source]
    if any("import torch" in c.source for c in nb.cells if c.cell_type == "code"):
        assert guarded, f"{path.name} imports torch: guard its cells with course.interop.optional_torch"
    for cell in guarded:
        lines = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout").splitlines()
        said = [line for line in lines if line.startswith("torch is not installed: ")]
        assert len(said) == 1 and said[0].endswith(INSTALL_TORCH), (
            f"{path.name}: a cell guarded by optional_torch must print its one line, got {said}:\n{cell.source}"
        )


@pytest.mark.slow
@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_the_lecture_runs_to_the_end_without_torch(lecture, no_torch):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(lecture, as_version=4)
    _execute(nb, lecture, "fails without torch (guard the cell with optional_torch)")
    _assert_the_torch_cells_say_what_they_would_show(nb, lecture)


def test_a_check_reads_the_saved_references_and_names_a_mistake_as_with_torch(no_torch):
    code = (
        "import numpy as np\n"
        "from course import references\n"
        "from course.checks.rnn import check_rnn_forward\n"
        "from course.checks.hints import identify\n"
        "def rnn_forward(x, h0, Wx, Wh, b):  # h0 ignored: the state starts from zeros\n"
        "    h, hs = np.zeros_like(h0), []\n"
        "    for t in range(x.shape[1]):\n"
        "        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)\n"
        "        hs.append(h)\n"
        "    return np.stack(hs, axis=1), None\n"
        "try:\n"
        "    check_rnn_forward(rnn_forward)\n"
        "except AssertionError as e:\n"
        "    print(references.mode(), identify(str(e)))\n"
    )
    out = _run(code, no_torch)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "saved ['rnn.h0_ignored']"


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.parent.name)
def test_the_answered_exercise_passes_its_visible_tests_without_torch(exercise, no_torch):
    nbformat = pytest.importorskip("nbformat")
    from course.instructor.feedback import without_hidden_tests

    nb = nbformat.read(exercise, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = without_hidden_tests(cell.source)  # the release's tests: hidden ones keep live torch
    # NoSavedReference here: a visible test's sizes or a check's reference changed without the saved files
    _execute(
        nb,
        exercise,
        "with its answers fails without torch (write the saved references again: "
        "python -m course.instructor.saved_references)",
    )
    _assert_the_torch_cells_say_what_they_would_show(nb, exercise)


@pytest.mark.parametrize("unit,module", [(9, "pytorch"), (10, "applications"), (11, "linear")])
def test_the_checks_of_units_9_to_11_say_in_one_line_that_they_need_torch(unit, module, no_torch):
    code = f"import course.checks.{module}"
    out = _run(code, no_torch)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last == f"course.interop.TorchMissing: the exercise of unit {unit} needs torch, which is not installed: " + (
        INSTALL_TORCH
    ), out.stderr


@pytest.mark.slow
def test_in_a_notebook_the_checks_of_unit_11_without_torch_show_one_line(no_torch):
    manager = pytest.importorskip("jupyter_client.manager")
    errors = []
    km, kc = manager.start_new_kernel(kernel_name="python3")  # inherits the environment without torch
    try:
        kc.execute_interactive(
            "from course.checks.linear import check_linear_recurrence",
            timeout=120,
            output_hook=lambda msg: errors.append(msg["content"]) if msg["msg_type"] == "error" else None,
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errors[-1]["traceback"])).strip()
    assert shown == f"TorchMissing: the exercise of unit 11 needs torch, which is not installed: {INSTALL_TORCH}", shown
