"""call_student: inputs protected, torch forbidden, warnings silenced; the stub and a check's verdict
read first in a notebook (issue 20, item 3)."""

import re
import textwrap

import numpy as np
import pytest
import torch

from course.interop import INSTALL_TORCH
from course.testing import (
    NOT_IMPLEMENTED,
    assert_close,
    call_student,
    torch_allowed,
    unpack,
    without_checker_frames,
)


def test_call_student_returns_the_result():
    assert call_student(lambda x: x * 2, np.ones(2)).tolist() == [2.0, 2.0]


def test_modifying_an_input_is_reported_by_name():
    def scale(x, factor):
        x *= factor
        return x

    with pytest.raises(AssertionError, match="modified its input `x`"):
        call_student(scale, np.ones(3), 2.0)


def test_torch_bound_in_the_functions_module_is_forbidden():
    namespace = {"torch": torch}
    exec("def f(x):\n    return torch.tanh(torch.from_numpy(x)).numpy()", namespace)
    with pytest.raises(AssertionError, match="must not use torch"):
        call_student(namespace["f"], np.zeros(2))
    assert namespace["torch"] is torch  # restored afterwards


def test_importing_torch_inside_the_function_is_forbidden():
    def f(x):
        import torch

        return torch.ones(1)

    with pytest.raises(ImportError):
        call_student(f, np.zeros(1))
    import torch as again  # and importable again afterwards

    assert again is torch


class _Cache:  # a cache as a student may write it: a plain class, no __eq__
    def __init__(self, x):
        self.x, self.steps = x, [x * 2]


def test_a_plain_object_cache_left_alone_is_not_reported_as_modified():
    assert call_student(lambda cache: cache.x.sum(), _Cache(np.ones(3))) == 3.0


def test_a_plain_object_cache_changed_by_the_function_is_reported():
    def consume(cache):
        return cache.steps.pop()

    with pytest.raises(AssertionError, match="modified its input `cache`.*list.pop"):
        call_student(consume, _Cache(np.ones(3)))


def test_nan_in_an_input_is_not_taken_for_a_change():
    assert call_student(lambda x, c: x, np.array([np.nan]), {"scale": float("nan")}).shape == (1,)


def test_an_input_that_cannot_be_copied_is_passed_and_not_checked():
    steps = (np.ones(2) for _ in range(2))  # a generator: deepcopy refuses it
    assert call_student(lambda cache: next(cache).sum(), steps) == 2.0


def test_a_library_that_looks_for_torch_finds_it_absent():
    """SciPy asks ``sys.modules["torch"]`` whether an array is a tensor: hidden torch is absent,
    not None (a None there crashed scipy.special.logsumexp inside a graded call)."""
    import sys

    def probe(x):
        return "torch" in sys.modules

    assert call_student(probe, np.zeros(1)) is False
    special = pytest.importorskip("scipy.special")
    out = call_student(lambda s: special.logsumexp(s, axis=-1), np.zeros((2, 3)))
    assert np.allclose(out, np.log(3))


def test_torch_allowed_gives_a_check_its_torch_back_inside_a_student_call():
    def reference(x):  # the check's own layer, handed to the student's function
        with torch_allowed():
            import torch as inner

            return inner.tanh(inner.from_numpy(x)).numpy()

    ns = {}
    exec("def student(x, layer):\n    return layer(x)", ns)
    assert np.allclose(call_student(ns["student"], np.zeros(2), reference), 0.0)

    def sneaky(x, layer):
        layer(x)
        import torch  # noqa: F401  (hidden again once the reference returned)

    with pytest.raises(ImportError, match="must not use torch"):
        call_student(sneaky, np.zeros(2), reference)


def test_nested_calls_leave_torch_importable():
    call_student(lambda x: call_student(lambda y: y, x), np.zeros(1))
    import torch as again

    assert again is torch


def test_floating_point_warnings_are_silenced(recwarn):
    call_student(lambda x: np.exp(x), np.array([1000.0]))
    assert len(recwarn) == 0


def test_other_exceptions_propagate():
    def broken(x):
        return x[5]

    with pytest.raises(IndexError):
        call_student(broken, [1])


def test_the_stub_says_where_to_write_the_code():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError) as e:
        call_student(stub, 1)
    assert (
        str(e.value)
        == "stub: not implemented yet: write your code where it says YOUR CODE HERE"
        == f"stub: {NOT_IMPLEMENTED}"
    )


def test_a_not_implemented_error_with_the_students_own_message_keeps_it():
    def unfinished(x):
        raise NotImplementedError("the backward pass is next")

    with pytest.raises(NotImplementedError, match="^the backward pass is next$"):
        call_student(unfinished, 1)


def _frame_names(tb):
    names = []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


def test_the_checkers_frames_are_left_out_of_a_traceback():
    def students(x):
        return x[5]

    with pytest.raises(IndexError) as e:
        call_student(students, [1])
    assert "call_student" in _frame_names(e.tb)
    kept = _frame_names(without_checker_frames(e.tb))
    assert "call_student" not in kept
    assert kept[-1] == "students", "the student's own frame, where it failed, stays"


def _run_in_a_kernel(cells):
    """Runs ``cells`` in a fresh IPython kernel; returns the error the last one showed (its content:
    ename, evalue and the traceback's lines without colours), or None."""
    manager = pytest.importorskip("jupyter_client.manager")
    errors = []

    def keep_errors(msg):
        if msg["msg_type"] == "error":
            errors.append(msg["content"])

    km, kc = manager.start_new_kernel(kernel_name="python3")
    try:
        for source in cells:
            errors.clear()
            kc.execute_interactive(textwrap.dedent(source), timeout=120, output_hook=keep_errors)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    if not errors:
        return None
    return dict(errors[-1], traceback=[re.sub(r"\x1b\[[0-9;]*m", "", line) for line in errors[-1]["traceback"]])


STUB = """
    from course.checks.perceptron import check_perceptron_predict

    def perceptron_predict(X, w, b):
        raise NotImplementedError()
"""


@pytest.mark.slow
def test_in_a_notebook_the_stubs_test_shows_its_message_alone():
    error = _run_in_a_kernel([STUB, "check_perceptron_predict(perceptron_predict)"])
    shown = "\n".join(error["traceback"]).strip()
    assert shown == f"NotImplementedError: perceptron_predict: {NOT_IMPLEMENTED}", f"the notebook shows:\n{shown}"
    assert error["ename"] == "NotImplementedError"  # what graders and feedback read


@pytest.mark.slow
def test_in_a_notebook_a_check_fails_with_its_message_alone():
    wrong = STUB.replace("raise NotImplementedError()", "return (X @ w + b >= 0).astype(int)")
    error = _run_in_a_kernel([wrong, "check_perceptron_predict(perceptron_predict)"])
    shown = "\n".join(error["traceback"]).strip()
    assert shown.startswith("AssertionError: perceptron_predict: ") and "\n" not in shown, shown
    assert "use > 0, not >= 0" in shown


@pytest.mark.slow
def test_in_a_notebook_a_check_without_torch_at_sizes_never_saved_says_so_in_one_line(monkeypatch):
    monkeypatch.setenv("COURSE_REFERENCES", "saved")  # the kernel reads the saved files, as without torch
    right = STUB.replace("raise NotImplementedError()", "return (X @ w + b > 0).astype(int)")
    error = _run_in_a_kernel([right, "check_perceptron_predict(perceptron_predict, N=7)"])
    shown = "\n".join(error["traceback"]).strip()
    assert shown.startswith("NoSavedReference: torch_predict: without torch") and "\n" not in shown, shown
    assert shown.endswith(INSTALL_TORCH)


@pytest.mark.slow
def test_in_a_notebook_an_error_in_the_students_code_shows_their_line_without_the_checkers_frames():
    broken = STUB.replace("raise NotImplementedError()", "return X[:, 5]")
    error = _run_in_a_kernel([broken, "check_perceptron_predict(perceptron_predict)"])
    shown = "\n".join(error["traceback"]).strip()
    assert "return X[:, 5]" in shown and "IndexError" in shown
    assert "course/checks" not in shown and "course/testing" not in shown, shown


def test_unpack_explains_a_wrong_return_value():
    with pytest.raises(AssertionError, match=r"must return 2 values \(out, cache\), got ndarray"):
        unpack("f", np.zeros(2), 2, "(out, cache)")


def test_assert_close_names_the_output_and_the_shape():
    with pytest.raises(AssertionError, match=r"f: dx has shape \(2,\), expected \(3,\)"):
        assert_close("f", "dx", np.zeros(2), np.zeros(3), 1e-7)


def test_assert_close_reports_relative_error_and_worst_index():
    with pytest.raises(AssertionError, match=r"relative error .*worst at index \(1,\)"):
        assert_close("f", "out", np.array([1.0, 2.0]), np.array([1.0, 3.0]), 1e-7)


def test_assert_close_rejects_nan():
    with pytest.raises(AssertionError, match="NaN or inf"):
        assert_close("f", "out", np.array([np.nan]), np.array([1.0]), 1e-7)


@pytest.mark.slow
def test_in_a_notebook_an_error_outside_the_checks_keeps_ipythons_traceback():
    error = _run_in_a_kernel(["import course.testing", "x = 1\n1 / (x - 1)"])
    shown = "\n".join(error["traceback"])
    assert "ZeroDivisionError" in shown and "1 / (x - 1)" in shown, shown
