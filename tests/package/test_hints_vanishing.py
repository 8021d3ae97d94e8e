"""Unit 5 (vanishing gradients): each typical wrong implementation gets its own named hint.

Correct functions are written here (not copied from the solution); each row plants
one bug and names the distinctive words of the hint the check must give, and the id
of the hint that the grader records from that message (course.checks.hints.identify).
"""

import numpy as np
import pytest

from course.checks import vanishing as V

from helpers import hint_ids_of, with_bug

pytestmark = pytest.mark.usefixtures("both_references")  # hints the same with torch and without


def assert_hint(message_and_ids, words, hint_id):
    """The message has ``words`` and identify() reads ``hint_id`` in it (what the grader records)."""
    message, ids = message_and_ids
    assert words in message
    assert hint_id in ids, f"{hint_id} not identified in: {message}"


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
    "bug,words,hint_id",
    [
        ("transposed", "you returned the transpose", "vanishing.jacobian_transposed"),
        (
            "factor on columns",
            "the factor 1 - h_next**2 multiplies the columns instead of the rows",
            "vanishing.factor_on_columns",
        ),
        ("no factor", "the factor 1 - h_next**2 is missing", "vanishing.factor_missing"),
        ("1 - h", "you used 1 - h_next instead of 1 - h_next**2", "vanishing.one_minus_h"),
        ("Wh not transposed", "you used Wh, not its transpose", "vanishing.wh_not_transposed"),
    ],
)
def test_jacobian_hints(bug, words, hint_id):
    assert_hint(hint_ids_of(V.check_rnn_jacobian, with_bug(jacobian, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("norm after", "total_norm is the norm AFTER clipping", "vanishing.norm_after_clipping"),
        ("sum of norms", "you summed the norms of the arrays", "vanishing.sum_of_norms"),
        ("per array", "each array was clipped to max_norm on its own", "vanishing.clipped_per_array"),
        ("element-wise", "the values were clipped element-wise", "vanishing.clipped_elementwise"),
        ("same list", "return a new list, not the list `grads` itself", "vanishing.same_list"),
    ],
)
def test_clip_hints(bug, words, hint_id):
    assert_hint(hint_ids_of(V.check_clip_grad_norm, with_bug(clip, bug)), words, hint_id)


def test_the_missing_epsilon_is_named():
    assert_hint(
        hint_ids_of(V.check_clip_grad_norm_edge_cases, with_bug(clip, "no eps")),
        "PyTorch's rule is min(1, max_norm / (total_norm + 1e-6))",
        "vanishing.no_epsilon",
    )
