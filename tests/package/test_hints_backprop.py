"""Unit 2 (backprop): each typical wrong implementation gets its own named hint.

Correct layers are written here (not copied from the solution); each row plants
one bug and names the distinctive words of the hint the check must give, and the id
of the hint that the grader records from that message (course.checks.hints.identify).
"""

import numpy as np
import pytest

from course.checks import backprop as B
from course.checks._common import STABILITY_HINT

from helpers import hint_ids_of, with_bug

pytestmark = pytest.mark.usefixtures("both_references")  # hints the same with torch and without


def affine_forward(x, W, b, bug=None):
    return x @ W + (0.0 if bug == "no bias" else b), (x, W)


def affine_backward(dout, cache, bug=None):
    x, W = cache
    dW = x.T @ dout / (len(x) if bug == "dW / N" else 1)
    db = dout.mean(axis=0) if bug == "db mean" else dout.sum(axis=0)
    return dout @ W.T, dW, db


def sigmoid_forward(x, bug=None):
    s = 1.0 / (1.0 + np.exp(x if bug == "sign" else -x))
    return s, (x, s)


def sigmoid_backward(dout, cache, bug=None):
    x, s = cache
    if bug == "from x":
        return dout * x * (1 - x)
    if bug == "no dout":
        return s * (1 - s)
    return dout * s * (1 - s)


def tanh_forward(x, bug=None):
    y = np.tanh(x)
    return y, (x, y)


def tanh_backward(dout, cache, bug=None):
    x, y = cache
    return {"from x": dout * (1 - x**2), "1 - y": dout * (1 - y)}.get(bug, dout * (1 - y**2))


def softmax_ce(scores, y, bug=None):
    N = scores.shape[0]
    s = scores if bug == "not stable" else scores - scores.max(axis=1, keepdims=True)
    if bug == "one shift for the batch":
        s = scores - scores.max()
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(N), y].sum() / (1 if bug == "summed loss" else N)
    d = np.exp(log_p)
    d[np.arange(N), y] -= 1.0
    return float(loss), d / (1 if bug == "dscores not / N" else N)


def test_the_correct_layers_pass():
    B.check_affine_forward(affine_forward)
    B.check_affine_backward(affine_forward, affine_backward)
    B.check_sigmoid_forward(sigmoid_forward)
    B.check_sigmoid_backward(sigmoid_forward, sigmoid_backward)
    B.check_tanh_forward(tanh_forward)
    B.check_tanh_backward(tanh_forward, tanh_backward)
    B.check_softmax_cross_entropy(softmax_ce)
    B.check_softmax_cross_entropy(softmax_ce, N=6, C=5, seed=3, scale=1e3)


def assert_hint(message_and_ids, words, hint_id):
    """The message has ``words`` and identify() reads ``hint_id`` in it (what the grader records)."""
    message, ids = message_and_ids
    assert words in message
    assert hint_id in ids, f"{hint_id} not identified in: {message}"


@pytest.mark.parametrize(
    "check,fns,words,hint_id",
    [
        (
            B.check_affine_forward,
            (with_bug(affine_forward, "no bias"),),
            "the bias b is missing",
            "common.bias_missing",
        ),
        (
            B.check_affine_backward,
            (affine_forward, with_bug(affine_backward, "dW / N")),
            "dW is divided by N",
            "backprop.dw_divided_by_n",
        ),
        (
            B.check_affine_backward,
            (affine_forward, with_bug(affine_backward, "db mean")),
            "db is the mean over the batch",
            "backprop.db_mean",
        ),
    ],
)
def test_affine_hints(check, fns, words, hint_id):
    assert_hint(hint_ids_of(check, *fns), words, hint_id)


@pytest.mark.parametrize(
    "check,fns,words,hint_id",
    [
        (
            B.check_sigmoid_forward,
            (with_bug(sigmoid_forward, "sign"),),
            "the sign of x is flipped",
            "backprop.activation_sign_flipped",
        ),
        (
            B.check_sigmoid_backward,
            (sigmoid_forward, with_bug(sigmoid_backward, "from x")),
            "the derivative was computed from x instead of sigmoid(x)",
            "backprop.sigmoid_derivative_from_x",
        ),
        (
            B.check_sigmoid_backward,
            (sigmoid_forward, with_bug(sigmoid_backward, "no dout")),
            "the upstream gradient dout is missing",
            "backprop.sigmoid_no_dout",
        ),
        (
            B.check_tanh_backward,
            (tanh_forward, with_bug(tanh_backward, "from x")),
            "the derivative was computed from x instead of tanh(x)",
            "backprop.tanh_derivative_from_x",
        ),
        (
            B.check_tanh_backward,
            (tanh_forward, with_bug(tanh_backward, "1 - y")),
            "you used 1 - y",
            "backprop.tanh_one_minus_y",
        ),
    ],
)
def test_activation_hints(check, fns, words, hint_id):
    assert_hint(hint_ids_of(check, *fns), words, hint_id)


@pytest.mark.parametrize(
    "bug,kw,words,hint_id",
    [
        ("summed loss", {}, "the loss is summed over the batch; average it over N", "backprop.loss_summed"),
        ("dscores not / N", {}, "dscores is not divided by N", "backprop.dscores_not_divided"),
        ("not stable", dict(N=6, C=5, seed=3, scale=1e3), STABILITY_HINT, "common.softmax_unstable"),
        (
            "one shift for the batch",
            dict(N=6, C=5, seed=3, scale=1e3),
            "shift each row by its own largest score",
            "common.softmax_global_max",
        ),
    ],
)
def test_softmax_cross_entropy_hints(bug, kw, words, hint_id):
    assert_hint(hint_ids_of(B.check_softmax_cross_entropy, with_bug(softmax_ce, bug), **kw), words, hint_id)
