"""call_student: inputs protected, torch forbidden, warnings silenced."""

import numpy as np
import pytest
import torch

from course.testing import assert_close, call_student, unpack


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


def test_floating_point_warnings_are_silenced(recwarn):
    call_student(lambda x: np.exp(x), np.array([1000.0]))
    assert len(recwarn) == 0


def test_other_exceptions_propagate():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        call_student(stub, 1)


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
