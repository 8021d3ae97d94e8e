"""The verifier (course.grading.verify): the second opinion cannot be steered by the student's code.

One class of weakness per section, each tried the way a student who reads the code would:

1. the checker binds only the contract's graded names, never a list the student process reports;
2. what comes back from the student process is decoded with bounds (size, depth, count, no
   blow-up) into plain values, and valid answers of every numeric type cross (a NumPy scalar loss);
3. a graded NumPy function cannot reach torch, the checks or ``course.interop`` in any way, and
   the check's reference callbacks are bounded;
4. units 9 and 10 (torch functions, modules, training) are verified out of the kernel: tensors,
   gradients and module state cross the boundary, never live objects.

Most tests call :func:`course.grading.verify.verify` directly (a few seconds each); two grade a
whole notebook with :func:`course.grading.grade_notebooks` (slow).
"""

import json
import struct
import threading

import nbformat
import pytest

from course import units as course_units
from course.grading import verify as v
from course.grading.forkserver import ForkServer
from course.grading.sandbox import Limits
from course.grading.submission import cells_by_role, grade_id, solved_answers, source_text

from helpers import ROOT

TIMEOUT = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify")
    folder.chmod(0o755)
    fs = ForkServer(str(folder), shared=[str(folder)])
    assert fs.ensure(), "the fork server did not start"
    yield fs, folder
    fs.stop()


@pytest.fixture
def run(server):
    """``run(source_nb, submission_nb, only=None)`` -> verify()'s verdicts."""
    fs, folder = server
    count = iter(range(10**6))

    def _run(source, submission, only=None, timeout=TIMEOUT):
        work = folder / f"work-{next(count)}"
        return v.verify(source, submission, timeout, Limits(), str(work), only=only, forkserver=fs)

    return _run


def _unit(unit_id):
    (path,) = course_units.get(unit_id, ROOT).source_notebooks
    return json.loads(path.read_text(encoding="utf-8"))


def _answered(source, **answers):
    """The source notebook with some answer cells replaced: ``NAME=source``."""
    nb = json.loads(json.dumps(source))
    for cell in cells_by_role(nb, "answer"):
        name = grade_id(cell)[len("answer_") :]
        if name in answers:
            cell["source"] = answers[name]
    return nb


def _synthetic(setup, answers, tests, torch=()):
    """An instructor notebook of our own: one setup cell, answer cells ``answer_NAME``, test cells."""

    def code(src, **meta):
        cell = nbformat.v4.new_code_cell(src)
        cell.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False, "locked": False, **meta}
        return cell

    cells = [code(setup, grade_id="setup", locked=True)]
    cells += [code(src, grade_id=f"answer_{name}", solution=True) for name, src in answers.items()]
    cells += [code(src, grade_id=gid, grade=True, locked=True, points=1) for gid, src in tests.items()]
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"course": {"torch": list(torch)}})
    return json.loads(nbformat.writes(nb))


def _solution_source(unit_id, name):
    return solved_answers(_unit(unit_id))[f"answer_{name}"]


# ------------------------------------------------------------ 1. only the contract's names
WRONG_PREDICT = "def perceptron_predict(X, w, b):\n    return np.zeros(len(X), dtype=int)\n"


def test_an_answer_cell_cannot_replace_the_check_functions(run):
    """The student process reports the check function as one of its own (builtins patched): not bound."""
    hijack = WRONG_PREDICT + (
        "check_perceptron_predict = lambda *a, **k: None\n"
        "import builtins\n_sorted = builtins.sorted\n"
        "builtins.sorted = lambda it, **k: _sorted([*it, 'check_perceptron_predict'], **k)\n"
    )
    source = _unit("01_perceptron")
    verdicts = run(source, _answered(source, perceptron_predict=hijack), only={"perceptron_predict"})
    assert verdicts["perceptron_predict"] and "perceptron_predict" in verdicts["perceptron_predict"]


def test_names_the_contract_does_not_know_stay_in_the_student_process(run):
    source = _synthetic(
        "def reference():\n    return 1",
        {"f": "def f():\n    return 3"},
        {"f": "assert reference() == 1 and f() == 3"},
    )
    student = _answered(source, f="def f():\n    return 3\nreference = lambda: 2\ndef extra():\n    return 0")
    assert run(source, student) == {"f": None}


def test_an_answer_cell_that_never_ends_is_stopped_and_the_others_still_count(run):
    """As in the kernel: the time limit per cell stops it; the functions of other cells are graded."""
    source = _synthetic(
        "",
        {"f": "def f():\n    return 1", "g": "def g():\n    return 2"},
        {"f": "assert f() == 1", "g": "assert g() == 2"},
    )
    student = _answered(source, f="def f():\n    return 1\nwhile True:\n    pass")
    assert run(source, student, timeout=2) == {"f": None, "g": None}


# ------------------------------------------------------------ 2. bounded decoding, valid answers cross
def _frame(*chunks):
    return b"".join(chunks)


@pytest.mark.parametrize(
    "data, why",
    [
        (_frame(b"l" + struct.pack("<I", 1)) * 10_000 + b"N", "nested"),
        (b"l" + struct.pack("<I", 2**31) + b"N", "length"),
        (
            b"a" + struct.pack("<I", 3) + b"|O8" + b"\x01" + struct.pack("<q", 1) + struct.pack("<Q", 8) + bytes(8),
            "dtype",
        ),
        (
            b"a" + struct.pack("<I", 3) + b"<f8" + b"\x01" + struct.pack("<q", 10**6) + struct.pack("<Q", 8) + bytes(8),
            "size",
        ),
        (b"Z", "tag"),
        (b"NN", "trailing"),
        (b"o" + struct.pack("<q?", 0, True)[:3], "truncated"),
    ],
    ids=["deep", "huge-count", "object-dtype", "array-size", "unknown-tag", "trailing", "truncated"],
)
def test_a_malformed_reply_is_refused_not_decoded(data, why):
    with pytest.raises(v.WireError, match=why):
        v._Reader(data, side=None, student=False).message()


def test_decoding_counts_every_value():
    n = v.MAX_ITEMS + 1
    data = b"l" + struct.pack("<I", n) + b"N" * n
    with pytest.raises(v.WireError, match="more than"):
        v._Reader(data, side=None, student=False).message()


def test_a_reply_with_shared_sub_lists_cannot_blow_up(run):
    """``a = [a, a]`` forty times is a few bytes as a pickle and 2**40 lists decoded: refused, quickly."""
    bomb = "def f():\n    a = []\n    for _ in range(40):\n        a = [a, a]\n    return a"
    source = _synthetic("", {"f": "def f():\n    return []"}, {"f": "assert f() == []"})
    result = {}
    thread = threading.Thread(target=lambda: result.update(run(source, _answered(source, f=bomb))), daemon=True)
    thread.start()
    thread.join(TIMEOUT * 2)
    assert not thread.is_alive(), "decoding the reply did not finish"
    assert result["f"] and "cannot be sent" in result["f"]


RAW_PICKLE_BOMB = """def f():
    import fcntl, os, pickle, struct, time
    wire = None
    for _ in range(40):  # the old wire format: 2**40 lists to decode from a few hundred bytes (pickle's memo)
        wire = ("list", [wire, wire])
    data = pickle.dumps(("ok", wire), protocol=4)
    for fd in map(int, os.listdir("/proc/self/fd")):  # write it straight into the pipe to the checker
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:") and (
                fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
            ):
                os.write(fd, struct.pack("<Q", len(data)) + data)
        except OSError:
            pass
    time.sleep(60)
"""


def test_bytes_written_straight_into_the_pipe_are_decoded_with_bounds(run):
    """Student code owns its end of the pipe: whatever it writes there is refused or decoded in bounded time."""
    source = _synthetic("", {"f": "def f():\n    return []"}, {"f": "assert f() == []"})
    result = {}
    thread = threading.Thread(target=lambda: result.update(run(source, _answered(source, f=RAW_PICKLE_BOMB))))
    thread.daemon = True
    thread.start()
    thread.join(TIMEOUT * 2)
    assert not thread.is_alive(), "decoding the reply did not finish"
    assert result["f"] and "malformed" in result["f"]


def test_a_numpy_scalar_loss_is_a_valid_answer(run):
    """temporal_softmax_loss returning np.float64 (a float subclass) or a 0-d array, as nbgrader accepts."""
    source = _unit("04_bptt")
    answer = _solution_source("04_bptt", "temporal_softmax_loss")
    assert "return float(loss)," in answer
    for loss in ("loss", "np.array(loss)"):
        student = _answered(source, temporal_softmax_loss=answer.replace("return float(loss),", f"return {loss},"))
        assert run(source, student, only={"temporal_softmax_loss"}) == {"temporal_softmax_loss": None}, loss


def test_subclasses_of_builtins_cross_as_plain_values(run):
    """A float that equals everything is a float here; NumPy scalars stay NumPy scalars."""
    source = _synthetic(
        "import numpy as np",
        {
            "liar": "def liar():\n    class F(float):\n        def __eq__(self, other):\n            return True\n"
            "    return F(0.5)",
            "scalars": "def scalars():\n    return np.float64(1.5), np.int64(2), np.bool_(True), np.array(3.0)",
        },
        {
            "liar": "out = liar()\nassert type(out) is float and out == 0.5 and out != 1.0",
            "scalars": "a, b, c, d = scalars()\n"
            "assert (type(a), type(b), type(c)) == (np.float64, np.int64, np.bool_)\n"
            "assert a == 1.5 and b == 2 and c and d.shape == () and d == 3.0",
        },
    )
    assert run(source, source) == {"liar": None, "scalars": None}


# ------------------------------------------------------------ 3. reference code out of reach
ROUTES = {  # ways a NumPy function could reach torch or the course's torch references (all work in a kernel)
    "default_argument": """
def f(x, t=__import__("torch")):
    return float(t.tensor(x).sum())""",
    "import_in_body": """
def f(x):
    import torch
    return float(torch.tensor(x).sum())""",
    "importlib": """
def f(x):
    import importlib
    return float(importlib.import_module("torch").tensor(x).sum())""",
    "sys_modules": """
def f(x):
    import sys
    return float(sys.modules["torch"].tensor(x).sum())""",
    "gc_objects": """
def f(x):
    import gc
    t = next(o for o in gc.get_objects() if type(o).__name__ == "module" and o.__name__ == "torch")
    return float(t.tensor(x).sum())""",
    "interop_attribute": """
def f(x):
    import course.interop
    return float(course.interop.require_torch("a route").tensor(x).sum())""",
    "checks_attribute": """
def f(x, m=__import__("course.checks.rnn").checks.rnn):
    return float(m.torch.tensor(x).sum())""",
    "module_dict": """
def f(x):
    import course.checks.lstm as c
    return float(vars(c)["torch_reference"] is not None) * float(np.sum(x))""",
    "read_source": """
def f(x):
    import importlib.util
    folder = importlib.util.find_spec("torch").submodule_search_locations[0]
    return float(len(open(folder + "/__init__.py").read()) > 0) * float(np.sum(x))""",
    "subprocess": """
def f(x):
    import subprocess, sys
    out = subprocess.run([sys.executable, "-c", "import torch; print(6.0)"], capture_output=True, text=True)
    return float(out.stdout)""",
    "ctypes": """
def f(x):
    import ctypes
    ctypes.CDLL(None)
    return float(np.sum(x))""",
}


def test_a_numpy_function_cannot_reach_torch_or_the_references(run):
    """Each route (run in the kernel, every one of them would work) fails in the verifier's student process."""
    setup = "import numpy as np\nimport torch\nimport course.interop\nfrom course.checks.rnn import check_rnn_forward"
    answers = {f"route_{name}": src.replace("def f(", f"def route_{name}(") for name, src in ROUTES.items()}
    answers["honest"] = "def honest(x):\n    return float(np.sum(x))"
    tests = {name: f"assert {name}(np.arange(4.0)) == 6.0" for name in answers}
    verdicts = run(_synthetic(setup, answers, tests), _synthetic(setup, answers, tests))
    assert verdicts.pop("honest") is None, "a NumPy function without torch must still pass"
    reached = [name for name, why in verdicts.items() if why is None]
    assert not reached, f"reached torch or the references: {reached}"


def test_in_the_notebook_the_torch_ban_also_covers_default_arguments_and_closures():
    """Early feedback in the kernel (course.testing.call_student); the grade relies on the verifier above."""
    import numpy as np
    import torch

    from course.testing import call_student

    def default(x, t=torch):
        return float(t.tensor(x).sum())

    def keyword(x, *, t=torch):
        return float(t.tensor(x).sum())

    def enclosing():
        t = torch
        return lambda x: float(t.tensor(x).sum())

    for fn in (default, keyword, enclosing()):
        with pytest.raises(AssertionError, match="must not use torch"):
            call_student(fn, np.arange(3.0))
    assert default.__defaults__ == (torch,) and keyword.__kwdefaults__ == {"t": torch}, "restored after the call"


CALLBACK_SETUP = "import numpy as np\ndef reference(x):\n    return float(np.sum(x))"


@pytest.mark.parametrize(
    "call, why",
    [
        ("reference(np.zeros(10**6))", "limit of a reference callback"),
        ("[reference(x) for _ in range(5000)]", "more than 1000 times"),
    ],
    ids=["huge-input", "too-many-calls"],
)
def test_reference_callbacks_are_bounded(run, call, why):
    """The check's function handed to student code runs here: only with inputs and calls in proportion."""
    answer = "def f(x, reference):\n    {call}\n    return reference(x)"
    source = _synthetic(
        CALLBACK_SETUP,
        {"f": answer.format(call="pass")},
        {"f": "assert f(np.arange(4.0), reference) == 6.0"},
    )
    assert run(source, source) == {"f": None}, "an honest callback must pass"
    verdicts = run(source, _answered(source, f=answer.format(call=call)))
    assert verdicts["f"] and why in verdicts["f"]


# ------------------------------------------------------------ 4. units 9 and 10, out of the kernel
REBIND = "import course.checks.pytorch as _c\n_c.{0} = lambda *a, **k: None\n{0} = _c.{0}\n"


def test_unit_9_solution_passes_and_its_torch_functions_are_checked_here(run):
    """Tensors and gradients cross (vector-Jacobian products); rebinding the checks changes nothing;
    a result cut from the graph, or an input changed in place, is seen by the checker."""
    source = _unit("09_pytorch")
    only = {"masked_mean_loss", "last_hidden_state", "recurrent_param_count_errors"}
    assert run(source, source, only=only) == dict.fromkeys(only)
    detached = (
        "def masked_mean_loss(losses, lengths):\n"
        "    mask = torch.arange(losses.shape[1])[None, :] < lengths[:, None]\n"
        "    return (torch.where(mask, losses, torch.zeros_like(losses)).sum() / mask.sum()).detach()\n"
    )
    last = (  # right, but it zeroes its input afterwards
        "def last_hidden_state(outputs, lengths):\n"
        "    out = outputs[torch.arange(outputs.shape[0]), lengths - 1].clone()\n"
        "    with torch.no_grad():\n        outputs.zero_()\n    return out\n"
    )
    student = _answered(
        source,
        masked_mean_loss=detached + REBIND.format("check_masked_mean_loss"),
        last_hidden_state=last + REBIND.format("check_last_hidden_state"),
        recurrent_param_count="def recurrent_param_count(*a, **k):\n    return 0\n"
        + REBIND.format("check_recurrent_param_count_errors"),
    )
    verdicts = run(source, student, only=only)
    assert "does not require grad" in verdicts["masked_mean_loss"]
    assert "modified its input `outputs`" in verdicts["last_hidden_state"]
    assert verdicts["recurrent_param_count_errors"]


def test_unit_10_models_are_built_and_trained_in_the_student_process_and_checked_here(run):
    """The model crosses as its torch.nn layers and weights; training runs there and its effect is seen here."""
    source = _unit("10_applications")
    only = {"build_sentiment_model_order", "train_sentiment_model"}
    assert run(source, source, only=only) == dict.fromkeys(only)
    build = _solution_source("10_applications", "build_sentiment_model")
    mean_pool = build.replace("return self.out(h[:, -1])", "return self.out(h.mean(1))")
    assert mean_pool != build
    no_step = _solution_source("10_applications", "train_sentiment_model").replace("opt.step()", "pass")
    verdicts = run(source, _answered(source, build_sentiment_model=mean_pool, train_sentiment_model=no_step), only=only)
    assert "LAST" in verdicts["build_sentiment_model_order"]
    assert "did not change" in verdicts["train_sentiment_model"]


# ------------------------------------------------------------ through the whole grading path
def _graded(tmp_path, unit_id, **answers):
    from course.grading import grade_notebooks

    unit = course_units.get(unit_id, ROOT)
    (source_path,) = unit.source_notebooks
    nb = json.loads((unit.release_dir / source_path.name).read_text(encoding="utf-8"))
    solved = {grade_id(c): source_text(c) for c in cells_by_role(_unit(unit_id), "answer")}
    for cell in cells_by_role(nb, "answer"):
        name = grade_id(cell)[len("answer_") :]
        cell["source"] = answers.get(name, solved[grade_id(cell)])
    path = tmp_path / source_path.name
    path.write_text(json.dumps(nb), encoding="utf-8")
    (res,) = grade_notebooks([str(path)], root=ROOT)
    return {t["grade_id"]: t["score"] for t in res["tests"]}, res


CHEAT_RNN_BACKWARD = """import sys


def rnn_backward(dh, cache, ref=__import__("course.interop", fromlist=["x"]).torch_reference, saved=dict(sys.modules)):
    sys.modules.update({k: m for k, m in saved.items() if k.split(".")[0] == "torch"})  # undo the kernel's ban
    x = np.stack([c[0] for c in cache], axis=1)
    h0, Wx, Wh = cache[0][1], cache[0][2], cache[0][3]
    b = np.arctanh(cache[0][4][0]) - x[0, 0] @ Wx - h0[0] @ Wh
    r = ref("rnn", x, [[(Wx, Wh, b)]], h0=h0[None], dh=dh)
    dWx, dWh, db = r["grads"][0][0]
    return r["dx"], r["dh0"][0], dWx, dWh, db
"""


@pytest.mark.slow
def test_a_numpy_rnn_backward_handing_its_work_to_torch_scores_zero(tmp_path):
    scores, res = _graded(tmp_path, "04_bptt", rnn_backward=CHEAT_RNN_BACKWARD)
    assert scores["rnn_backward"] == 0, json.dumps(res, indent=1)
    assert scores["rnn_step_backward"] > 0 and scores["temporal_softmax_loss"] > 0


@pytest.mark.slow
def test_a_unit_9_stub_that_rebinds_the_checks_scores_zero(tmp_path):
    stub = "def masked_mean_loss(losses, lengths):\n    return losses.sum() * 0\n" + REBIND.format(
        "check_masked_mean_loss"
    )
    scores, res = _graded(tmp_path, "09_pytorch", masked_mean_loss=stub)
    assert scores["masked_mean_loss"] == 0, json.dumps(res, indent=1)
    assert scores["last_hidden_state"] > 0 and scores["recurrent_param_count"] > 0
