"""rel_error and the numerical gradients, on functions whose gradients are known by hand."""

import numpy as np

from course.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error


def test_rel_error_is_zero_for_equal_arrays():
    a = np.arange(6.0).reshape(2, 3)
    assert rel_error(a, a.copy()) == 0.0


def test_rel_error_is_the_largest_elementwise_ratio():
    # |1 - 1.1| / 2.1 and |100 - 100.1| / 200.1: the first is the larger
    assert np.isclose(rel_error([1.0, 100.0], [1.1, 100.1]), 0.1 / 2.1)


def test_rel_error_of_opposite_numbers_is_one():
    assert rel_error(np.array([2.0]), np.array([-2.0])) == 1.0


def test_rel_error_floor_keeps_tiny_entries_from_dominating():
    assert rel_error(np.array([1e-20]), np.array([2e-20])) < 1e-11


def test_numerical_gradient_of_a_quadratic():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    x = np.array([0.5, -1.0])
    num = eval_numerical_gradient(lambda v: 0.5 * v @ A @ v, x)
    assert rel_error(num, A @ x) < 1e-9


def test_numerical_gradient_restores_its_input():
    x = np.array([1.0, 2.0, 3.0])
    eval_numerical_gradient(lambda v: float(np.sum(v**3)), x)
    assert np.array_equal(x, [1.0, 2.0, 3.0])


def test_numerical_gradient_array_is_a_vector_jacobian_product():
    x = np.random.default_rng(0).normal(size=(3, 4))
    df = np.random.default_rng(1).normal(size=(3, 4))
    num = eval_numerical_gradient_array(np.sin, x, df)
    assert rel_error(num, np.cos(x) * df) < 1e-8
