"""Checks of unit 2 (backprop): affine, sigmoid and tanh layers, softmax loss.

References: torch (float64) forward and autograd, centred numerical
gradients, and hand-worked cases. The torch references are functions decorated
with ``course.references.saved_reference`` (the check's data in, NumPy out), so
the visible tests run without torch on the saved calls.
"""

import numpy as np

from course.checks._common import (
    BIAS_MISSING,
    FAR_APART_P,
    FAR_APART_ROWS,
    ROW_SHIFT_HINT,
    assert_close_stable,
    assert_float64,
    close,
    forward_first,
    numeric_close,
)
from course.checks._common import forward_out as _forward
from course.checks._common import t as _t
from course.checks.hints import hint
from course.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from course.interop import require_torch
from course.references import saved_reference
from course.testing import (
    BACKWARD_TOL,
    FORWARD_TOL,
    assert_close,
    assert_close_or_hint,
    assert_scalar,
    call_student,
    unpack,
)

# What a student is told (course.checks.hints: each text with its id).
DW_DIVIDED_BY_N = hint("backprop.dw_divided_by_n", "dW is divided by N; it is the sum over the batch, x.T @ dout")
DB_MEAN = hint("backprop.db_mean", "db is the mean over the batch; it is the sum, dout.sum(axis=0)")
SIGN_FLIPPED = hint("backprop.activation_sign_flipped", "the sign of x is flipped: you computed {fn}(-x)")
SIGMOID_FROM_X = hint(
    "backprop.sigmoid_derivative_from_x",
    "the derivative was computed from x instead of sigmoid(x): use s * (1 - s), s the output",
)
SIGMOID_NO_DOUT = hint("backprop.sigmoid_no_dout", "the upstream gradient dout is missing: dx = dout * s * (1 - s)")
SIGMOID_ONE_PLUS_S = hint("backprop.sigmoid_one_plus_s", "you used s * (1 + s); the derivative is s * (1 - s)")
TANH_FROM_X = hint(
    "backprop.tanh_derivative_from_x",
    "the derivative was computed from x instead of tanh(x): use 1 - y**2, y the output",
)
TANH_NO_DOUT = hint("backprop.tanh_no_dout", "the upstream gradient dout is missing: dx = dout * (1 - y**2)")
TANH_ONE_MINUS_Y = hint("backprop.tanh_one_minus_y", "you used 1 - y; the derivative is 1 - y**2 (y = tanh(x))")
LOSS_SUMMED = hint("backprop.loss_summed", "the loss is summed over the batch; average it over N")
DSCORES_NOT_DIVIDED = hint(
    "backprop.dscores_not_divided", "dscores is not divided by N (the loss is a mean over the batch)"
)
DSCORES_NO_ONEHOT = hint(
    "backprop.dscores_no_onehot", "the one-hot term is missing: dscores = (softmax(scores) - onehot(y)) / N"
)
DSCORES_SIGN = hint("backprop.dscores_sign", "dscores has the wrong sign: it is (p - onehot(y)) / N")


# ---------------------------------------------------------------- affine
@saved_reference
def torch_affine(x, W, b):
    """torch.nn.functional.linear (float64): x (N, D), W (D, M), b (M,) -> out (N, M)."""
    torch = require_torch("torch_affine")
    return torch.nn.functional.linear(_t(x), _t(W).T, _t(b)).numpy()


@saved_reference
def torch_affine_backward(x, W, b, dout):
    """Autograd of x @ W + b with upstream dout (N, M): x (N, D), W (D, M), b (M,) -> (dx, dW, db)."""
    require_torch("torch_affine_backward")
    tx, tW, tb = _t(x, True), _t(W, True), _t(b, True)
    (tx @ tW + tb).backward(_t(dout))
    return tx.grad.numpy(), tW.grad.numpy(), tb.grad.numpy()


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
    assert_close_or_hint(
        name,
        "out (hand-worked 1x2 @ 2x3 case)",
        out,
        [[5.5, 2.0, 0.0]],
        FORWARD_TOL,
        "the hand-worked value",
        [(BIAS_MISSING, [[5.0, 2.0, -1.0]])],
    )
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=M)
    out, _ = _forward(name, affine_forward, x, W, b)
    ref = torch_affine(x, W, b)
    assert_close_or_hint(name, "out", out, ref, FORWARD_TOL, "torch.nn.functional.linear", [(BIAS_MISSING, x @ W)])


def check_affine_backward(affine_forward, affine_backward, N=4, D=5, M=3, seed=0, numeric=False):
    """(dx, dW, db) against torch autograd (and numerical gradients when ``numeric``)."""
    name = "affine_backward"
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=M)
    dout = rng.normal(size=(N, M))
    _, cache = forward_first(name, "affine_forward", lambda: _forward("affine_forward", affine_forward, x, W, b))
    dx, dW, db = unpack(name, call_student(affine_backward, dout, cache), 3, "(dx, dW, db)")
    refs = torch_affine_backward(x, W, b, dout)
    mistakes = {
        "dx": [],
        "dW": [(DW_DIVIDED_BY_N, x.T @ dout / N)],
        "db": [(DB_MEAN, dout.mean(axis=0))],
    }
    for what, got, ref in zip(("dx", "dW", "db"), (dx, dW, db), refs):
        assert_close_or_hint(name, what, got, ref, BACKWARD_TOL, "torch autograd", mistakes[what])
    if numeric:
        f = {
            "dx": lambda v: call_student(affine_forward, v, W, b)[0],
            "dW": lambda v: call_student(affine_forward, x, v, b)[0],
            "db": lambda v: call_student(affine_forward, x, W, v)[0],
        }
        for (what, fn), got, at in zip(f.items(), (dx, dW, db), (x, W, b)):
            numeric_close(name, "affine_forward", what, got, eval_numerical_gradient_array(fn, at.copy(), dout))


# ---------------------------------------------------------------- activations
@saved_reference
def torch_activation(x, fn):
    """torch.<fn>(x) (float64), ``fn`` "sigmoid" or "tanh": x any shape -> out of x's shape."""
    torch = require_torch("torch_activation")
    return getattr(torch, fn)(_t(x)).numpy()


@saved_reference
def torch_activation_backward(x, dout, fn):
    """torch.<fn>(x) and its autograd with upstream dout (x's shape), ``fn`` "sigmoid" or "tanh" -> (out, dx)."""
    torch = require_torch("torch_activation_backward")
    tx = _t(x, True)
    out = getattr(torch, fn)(tx)
    out.backward(_t(dout))
    return out.detach().numpy(), tx.grad.numpy()


def _check_activation_forward(name, fn, activation, shape, seed, hand):
    """``activation`` names torch's function ("sigmoid" or "tanh")."""

    def mistakes(x):
        return lambda: [(SIGN_FLIPPED.format(fn=activation), torch_activation(-x, activation))]

    x_hand, out_hand = hand
    out, _ = _forward(name, fn, x_hand)
    assert_close_or_hint(
        name, "out (hand-worked values)", out, out_hand, FORWARD_TOL, "the hand-worked values", mistakes(x_hand)
    )
    x = np.random.default_rng(seed).normal(scale=3.0, size=shape)
    out, _ = _forward(name, fn, x)
    ref = torch_activation(x, activation)
    assert_close_or_hint(name, "out", out, ref, FORWARD_TOL, f"torch.{activation}", mistakes(x))


def _check_activation_backward(fwd_name, fwd, name, bwd, activation, shape, seed, numeric, mistakes):
    """``mistakes(x, out, dout)`` -> [(hint, wrong dx)]: typical wrong derivatives, named on failure;
    ``activation`` names torch's function ("sigmoid" or "tanh")."""
    rng = np.random.default_rng(seed)
    x, dout = rng.normal(scale=3.0, size=shape), rng.normal(size=shape)
    _, cache = forward_first(name, fwd_name, lambda: _forward(fwd_name, fwd, x))
    dx = call_student(bwd, dout, cache)
    y, ref = torch_activation_backward(x, dout, activation)
    assert_close_or_hint(name, "dx", dx, ref, BACKWARD_TOL, "torch autograd", lambda: mistakes(x, y, dout))
    if numeric:
        num = eval_numerical_gradient_array(lambda v: call_student(fwd, v)[0], x.copy(), dout)
        numeric_close(name, fwd_name, "dx", dx, num)


def check_sigmoid_forward(sigmoid_forward, shape=(4, 5), seed=0):
    """sigmoid(x) = 1 / (1 + exp(-x)), elementwise, any shape."""
    # sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4
    hand = (np.array([0.0, np.log(3.0), -np.log(3.0)]), np.array([0.5, 0.75, 0.25]))
    _check_activation_forward("sigmoid_forward", sigmoid_forward, "sigmoid", shape, seed, hand)


def check_sigmoid_backward(sigmoid_forward, sigmoid_backward, shape=(4, 5), seed=0, numeric=False):
    """dx = dout * s * (1 - s) against torch autograd."""

    def mistakes(x, s, dout):
        return [
            (SIGMOID_FROM_X, dout * x * (1 - x)),
            (SIGMOID_NO_DOUT, s * (1 - s)),
            (SIGMOID_ONE_PLUS_S, dout * s * (1 + s)),
        ]

    _check_activation_backward(
        "sigmoid_forward",
        sigmoid_forward,
        "sigmoid_backward",
        sigmoid_backward,
        "sigmoid",
        shape,
        seed,
        numeric,
        mistakes,
    )


def check_tanh_forward(tanh_forward, shape=(4, 5), seed=0):
    """tanh(x), elementwise, any shape."""
    # tanh(0) = 0, tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 3/5
    hand = (np.array([0.0, np.log(2.0), -np.log(2.0)]), np.array([0.0, 0.6, -0.6]))
    _check_activation_forward("tanh_forward", tanh_forward, "tanh", shape, seed, hand)


def check_tanh_backward(tanh_forward, tanh_backward, shape=(4, 5), seed=0, numeric=False):
    """dx = dout * (1 - tanh(x)^2) against torch autograd."""

    def mistakes(x, y, dout):
        return [(TANH_FROM_X, dout * (1 - x**2)), (TANH_NO_DOUT, 1 - y**2), (TANH_ONE_MINUS_Y, dout * (1 - y))]

    _check_activation_backward(
        "tanh_forward", tanh_forward, "tanh_backward", tanh_backward, "tanh", shape, seed, numeric, mistakes
    )


# ---------------------------------------------------------------- softmax loss
@saved_reference
def torch_cross_entropy(scores, y):
    """torch.nn.functional.cross_entropy (mean over N) and its autograd: scores (N, C), y (N,) of ints
    -> (loss, dscores (N, C))."""
    torch = require_torch("torch_cross_entropy")
    ts = _t(scores, True)
    loss = torch.nn.functional.cross_entropy(ts, torch.tensor(y))
    loss.backward()
    return loss.item(), ts.grad.numpy()


def _onehot(y, C):
    return np.eye(C)[y]


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
    assert_float64(name, "loss", loss)  # a float32 loss spoils the numerical gradient of dscores
    ref, ref_d = torch_cross_entropy(scores, y)
    magnitude = float(np.max(np.abs(scores)))
    loss = assert_scalar(name, "loss", loss)
    assert_close_stable(
        name,
        f"loss (scores up to {magnitude:.3g} in magnitude)",
        loss,
        ref,
        FORWARD_TOL,
        "torch.nn.functional.cross_entropy",
        [(LOSS_SUMMED, N * ref)],
        magnitude,
    )
    assert_close_stable(
        name,
        "dscores",
        dscores,
        ref_d,
        BACKWARD_TOL,
        "torch autograd",
        [(DSCORES_NOT_DIVIDED, N * ref_d), (DSCORES_NO_ONEHOT, ref_d + _onehot(y, C) / N), (DSCORES_SIGN, -ref_d)],
        magnitude,
    )
    if scale > 50:  # stable row by row, not only for the largest score of the batch
        # hand-worked: y = [0, 1] picks e / (1 + e) in both rows; dscores = (p - onehot(y)) / 2
        loss, dscores = unpack(
            name, call_student(softmax_cross_entropy, FAR_APART_ROWS.copy(), np.array([0, 1])), 2, "(loss, dscores)"
        )
        what = f"(hand-worked: scores {FAR_APART_ROWS.tolist()}, y [0, 1])"
        hint = lambda: ROW_SHIFT_HINT  # noqa: E731
        expected_loss = -np.log(FAR_APART_P[0, 0])
        close(name, f"loss {what}", assert_scalar(name, "loss", loss), expected_loss, FORWARD_TOL, "ln(1 + 1/e)", hint)
        expected_d = (FAR_APART_P - np.eye(2)) / 2
        close(name, f"dscores {what}", dscores, expected_d, BACKWARD_TOL, "(softmax - onehot(y)) / 2", hint)
    if numeric:
        num = eval_numerical_gradient(lambda s: float(call_student(softmax_cross_entropy, s, y)[0]), scores.copy())
        assert_close(name, "dscores", dscores, num, BACKWARD_TOL, "the numerical gradient")
