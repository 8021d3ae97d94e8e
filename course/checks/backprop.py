"""Checks of unit 2 (backprop): affine, sigmoid and tanh layers, softmax loss.

References: torch (float64) forward and autograd, centred numerical
gradients, and hand-worked cases.
"""

import numpy as np
import torch

from course.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from course.testing import BACKWARD_TOL, FORWARD_TOL, assert_close, assert_scalar, call_student, unpack


def _t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _forward(name, fn, *args):
    out = unpack(name, call_student(fn, *args), 2, "(out, cache)")
    return out[0], out[1]


# ---------------------------------------------------------------- affine
def check_affine_forward(affine_forward, N=4, D=5, M=3, seed=0):
    """out = x @ W + b for x (N, D), W (D, M), b (M,) against torch and a hand-worked case."""
    name = "affine_forward"
    # hand-worked: [[1, 2]] @ [[1, 0, -1], [2, 1, 0]] + [0.5, 0, 1] = [[5.5, 2, 0]]
    out, _ = _forward(
        name,
        affine_forward,
        np.array([[1.0, 2.0]]),
        np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]),
        np.array([0.5, 0.0, 1.0]),
    )
    assert_close(name, "out (hand-worked 1x2 @ 2x3 case)", out, [[5.5, 2.0, 0.0]], FORWARD_TOL, "the hand-worked value")
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=M)
    out, _ = _forward(name, affine_forward, x, W, b)
    ref = torch.nn.functional.linear(_t(x), _t(W).T, _t(b)).numpy()
    assert_close(name, "out", out, ref, FORWARD_TOL, "torch.nn.functional.linear")


def check_affine_backward(affine_forward, affine_backward, N=4, D=5, M=3, seed=0, numeric=False):
    """(dx, dW, db) against torch autograd (and numerical gradients when ``numeric``)."""
    name = "affine_backward"
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=M)
    dout = rng.normal(size=(N, M))
    _, cache = _forward("affine_forward", affine_forward, x, W, b)
    dx, dW, db = unpack(name, call_student(affine_backward, dout, cache), 3, "(dx, dW, db)")
    tx, tW, tb = _t(x, True), _t(W, True), _t(b, True)
    (tx @ tW + tb).backward(_t(dout))
    for what, got, ref in [("dx", dx, tx.grad), ("dW", dW, tW.grad), ("db", db, tb.grad)]:
        assert_close(name, what, got, ref.numpy(), BACKWARD_TOL, "torch autograd")
    if numeric:
        f = {
            "dx": lambda v: call_student(affine_forward, v, W, b)[0],
            "dW": lambda v: call_student(affine_forward, x, v, b)[0],
            "db": lambda v: call_student(affine_forward, x, W, v)[0],
        }
        for (what, fn), got, at in zip(f.items(), (dx, dW, db), (x, W, b)):
            num = eval_numerical_gradient_array(fn, at.copy(), dout)
            assert_close(name, what, got, num, BACKWARD_TOL, "the numerical gradient")


# ---------------------------------------------------------------- activations
def _check_activation_forward(name, fn, torch_fn, shape, seed, hand):
    x_hand, out_hand = hand
    out, _ = _forward(name, fn, x_hand)
    assert_close(name, "out (hand-worked values)", out, out_hand, FORWARD_TOL, "the hand-worked values")
    x = np.random.default_rng(seed).normal(scale=3.0, size=shape)
    out, _ = _forward(name, fn, x)
    assert_close(name, "out", out, torch_fn(_t(x)).numpy(), FORWARD_TOL, f"torch.{torch_fn.__name__}")


def _check_activation_backward(fwd_name, fwd, name, bwd, torch_fn, shape, seed, numeric):
    rng = np.random.default_rng(seed)
    x, dout = rng.normal(scale=3.0, size=shape), rng.normal(size=shape)
    _, cache = _forward(fwd_name, fwd, x)
    dx = call_student(bwd, dout, cache)
    tx = _t(x, True)
    torch_fn(tx).backward(_t(dout))
    assert_close(name, "dx", dx, tx.grad.numpy(), BACKWARD_TOL, "torch autograd")
    if numeric:
        num = eval_numerical_gradient_array(lambda v: call_student(fwd, v)[0], x.copy(), dout)
        assert_close(name, "dx", dx, num, BACKWARD_TOL, "the numerical gradient")


def check_sigmoid_forward(sigmoid_forward, shape=(4, 5), seed=0):
    """sigmoid(x) = 1 / (1 + exp(-x)), elementwise, any shape."""
    # sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4
    hand = (np.array([0.0, np.log(3.0), -np.log(3.0)]), np.array([0.5, 0.75, 0.25]))
    _check_activation_forward("sigmoid_forward", sigmoid_forward, torch.sigmoid, shape, seed, hand)


def check_sigmoid_backward(sigmoid_forward, sigmoid_backward, shape=(4, 5), seed=0, numeric=False):
    """dx = dout * s * (1 - s) against torch autograd."""
    _check_activation_backward(
        "sigmoid_forward", sigmoid_forward, "sigmoid_backward", sigmoid_backward, torch.sigmoid, shape, seed, numeric
    )


def check_tanh_forward(tanh_forward, shape=(4, 5), seed=0):
    """tanh(x), elementwise, any shape."""
    # tanh(0) = 0, tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 3/5
    hand = (np.array([0.0, np.log(2.0), -np.log(2.0)]), np.array([0.0, 0.6, -0.6]))
    _check_activation_forward("tanh_forward", tanh_forward, torch.tanh, shape, seed, hand)


def check_tanh_backward(tanh_forward, tanh_backward, shape=(4, 5), seed=0, numeric=False):
    """dx = dout * (1 - tanh(x)^2) against torch autograd."""
    _check_activation_backward(
        "tanh_forward", tanh_forward, "tanh_backward", tanh_backward, torch.tanh, shape, seed, numeric
    )


# ---------------------------------------------------------------- softmax loss
def check_softmax_cross_entropy(softmax_cross_entropy, N=5, C=4, seed=0, scale=1.0, numeric=False):
    """(loss, dscores) against torch.nn.functional.cross_entropy (mean over N).

    ``scale`` bounds the scores' magnitude: 1e3 checks numerical stability.
    """
    name = "softmax_cross_entropy"
    # hand-worked: two equal scores -> p = 1/2 each -> loss = ln 2, dscores = (p - onehot)/N
    loss, dscores = unpack(
        name, call_student(softmax_cross_entropy, np.zeros((1, 2)), np.array([1])), 2, "(loss, dscores)"
    )
    assert_close(
        name,
        "loss (hand-worked: scores [[0, 0]], y [1])",
        assert_scalar(name, "loss", loss),
        np.log(2.0),
        FORWARD_TOL,
        "ln 2",
    )
    assert_close(
        name, "dscores (hand-worked: scores [[0, 0]], y [1])", dscores, [[0.5, -0.5]], BACKWARD_TOL, "[[1/2, -1/2]]"
    )
    rng = np.random.default_rng(seed)
    # |scores| <= scale: the contract asks for exactness with logits up to 1e3 in magnitude
    scores, y = scale * rng.uniform(-1, 1, size=(N, C)), rng.integers(0, C, size=N)
    loss, dscores = unpack(name, call_student(softmax_cross_entropy, scores, y), 2, "(loss, dscores)")
    ts = _t(scores, True)
    ref = torch.nn.functional.cross_entropy(ts, torch.tensor(y))
    ref.backward()
    assert_close(
        name, "loss", assert_scalar(name, "loss", loss), ref.item(), FORWARD_TOL, "torch.nn.functional.cross_entropy"
    )
    assert_close(name, "dscores", dscores, ts.grad.numpy(), BACKWARD_TOL, "torch autograd")
    if numeric:
        num = eval_numerical_gradient(lambda s: float(call_student(softmax_cross_entropy, s, y)[0]), scores.copy())
        assert_close(name, "dscores", dscores, num, BACKWARD_TOL, "the numerical gradient")
