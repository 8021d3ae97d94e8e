"""Unit 2 (backprop): each typical wrong implementation gets its own named hint.

Correct layers are written here (not copied from the solution); each row plants
one bug and names the distinctive words of the hint the check must give.
"""

import numpy as np
import pytest

from course.checks import backprop as B
from course.checks._common import STABILITY_HINT

from helpers import hint_of, with_bug


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


def test_affine_hints():
    assert "the bias b is missing" in hint_of(B.check_affine_forward, with_bug(affine_forward, "no bias"))
    backward = B.check_affine_backward
    assert "dW is divided by N" in hint_of(backward, affine_forward, with_bug(affine_backward, "dW / N"))
    assert "db is the mean over the batch" in hint_of(backward, affine_forward, with_bug(affine_backward, "db mean"))


@pytest.mark.parametrize(
    "check,fns,words",
    [
        (B.check_sigmoid_forward, (with_bug(sigmoid_forward, "sign"),), "the sign of x is flipped"),
        (
            B.check_sigmoid_backward,
            (sigmoid_forward, with_bug(sigmoid_backward, "from x")),
            "the derivative was computed from x instead of sigmoid(x)",
        ),
        (
            B.check_sigmoid_backward,
            (sigmoid_forward, with_bug(sigmoid_backward, "no dout")),
            "the upstream gradient dout is missing",
        ),
        (
            B.check_tanh_backward,
            (tanh_forward, with_bug(tanh_backward, "from x")),
            "the derivative was computed from x instead of tanh(x)",
        ),
        (B.check_tanh_backward, (tanh_forward, with_bug(tanh_backward, "1 - y")), "you used 1 - y"),
    ],
)
def test_activation_hints(check, fns, words):
    assert words in hint_of(check, *fns)


@pytest.mark.parametrize(
    "bug,kw,words",
    [
        ("summed loss", {}, "the loss is summed over the batch; average it over N"),
        ("dscores not / N", {}, "dscores is not divided by N"),
        ("not stable", dict(N=6, C=5, seed=3, scale=1e3), STABILITY_HINT),
        ("one shift for the batch", dict(N=6, C=5, seed=3, scale=1e3), "shift each row by its own largest score"),
    ],
)
def test_softmax_cross_entropy_hints(bug, kw, words):
    assert words in hint_of(B.check_softmax_cross_entropy, with_bug(softmax_ce, bug), **kw)
