"""Unit 5 (vanishing gradients): each typical wrong implementation gets its own named hint.

Correct functions are written here (not copied from the solution); each row plants
one bug and names the distinctive words of the hint the check must give.
"""

import numpy as np
import pytest

from course.checks import vanishing as V

from helpers import hint_of, with_bug


def jacobian(h_next, Wh, bug=None):
    d = 1.0 - (h_next if bug == "1 - h" else h_next**2)
    if bug == "no factor":
        d = np.ones_like(d)
    if bug == "factor on columns":
        J = Wh.T[None] * d[:, None, :]
    elif bug == "Wh not transposed":
        J = d[:, :, None] * Wh[None]
    else:
        J = d[:, :, None] * Wh.T[None]
    return np.transpose(J, (0, 2, 1)) if bug == "transposed" else J


def clip(grads, max_norm, bug=None):
    norms = [np.sqrt(np.sum(g * g)) for g in grads]
    total = float(np.sqrt(sum(n * n for n in norms)))
    if bug == "per array":
        return [g * min(1.0, max_norm / (n + 1e-6)) for g, n in zip(grads, norms)], total
    if bug == "element-wise":
        return [np.clip(g, -max_norm, max_norm) for g in grads], total
    if bug == "same list":
        return grads, total
    scale = min(1.0, max_norm / total) if bug == "no eps" else min(1.0, max_norm / (total + 1e-6))
    clipped = [g * scale for g in grads]
    if bug == "norm after":
        total = min(total, max_norm)
    if bug == "sum of norms":
        total = float(sum(norms))
    return clipped, total


def test_the_correct_functions_pass():
    V.check_rnn_jacobian(jacobian)
    V.check_rnn_jacobian_chain(jacobian)
    V.check_clip_grad_norm(clip)
    V.check_clip_grad_norm_edge_cases(clip)


@pytest.mark.parametrize(
    "bug,words",
    [
        ("transposed", "you returned the transpose"),
        ("factor on columns", "the factor 1 - h_next**2 multiplies the columns instead of the rows"),
        ("no factor", "the factor 1 - h_next**2 is missing"),
        ("1 - h", "you used 1 - h_next instead of 1 - h_next**2"),
        ("Wh not transposed", "you used Wh, not its transpose"),
    ],
)
def test_jacobian_hints(bug, words):
    assert words in hint_of(V.check_rnn_jacobian, with_bug(jacobian, bug))


@pytest.mark.parametrize(
    "bug,words",
    [
        ("norm after", "total_norm is the norm AFTER clipping"),
        ("sum of norms", "you summed the norms of the arrays"),
        ("per array", "each array was clipped to max_norm on its own"),
        ("element-wise", "the values were clipped element-wise"),
        ("same list", "return a new list, not the list `grads` itself"),
    ],
)
def test_clip_hints(bug, words):
    assert words in hint_of(V.check_clip_grad_norm, with_bug(clip, bug))


def test_the_missing_epsilon_is_named():
    assert "PyTorch's rule is min(1, max_norm / (total_norm + 1e-6))" in hint_of(
        V.check_clip_grad_norm_edge_cases, with_bug(clip, "no eps")
    )
