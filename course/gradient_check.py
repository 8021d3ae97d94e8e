"""Relative error and centred numerical gradients (cs231n's gradient_check).

These are the independent yardsticks of the course: a student's analytic
gradient is compared with a finite-difference estimate that knows nothing of
how the student computed it.
"""

import numpy as np


def rel_error(a, b):
    """Largest elementwise relative error, cs231n style.

    ``max |a - b| / max(1e-8, |a| + |b|)`` over all elements; a and b may be
    arrays of any (equal) shape or scalars. 0 means identical. In float64 a
    correct forward is typically under 1e-12 and a correct gradient under
    1e-9 against autograd.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0 and b.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def eval_numerical_gradient(f, x, h=1e-5):
    """Centred-difference gradient of a scalar function ``f`` at ``x``.

    f: callable taking the array x and returning a float.
    x: array of any shape, modified in place during the estimate and restored.
    Returns an array shaped like x: ``(f(x + h e_i) - f(x - h e_i)) / 2h``.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        grad[ix] = (fxph - fxmh) / (2 * h)
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Centred-difference gradient of ``sum(f(x) * df)`` with respect to x.

    f: callable taking the array x and returning an array (any shape).
    x: input array, perturbed in place and restored.
    df: upstream gradient, same shape as f(x).
    Returns an array shaped like x: the vector-Jacobian product df^T (df/dx).
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad
