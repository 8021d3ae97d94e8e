"""Unit 3 (rnn): each typical wrong implementation gets its own named hint.

Correct functions are written here (not copied from the solution); each row plants
one bug and names the distinctive words of the hint the check must give, and the id
of the hint that the grader records from that message (course.checks.hints.identify).
"""

import numpy as np
import pytest

from course.checks import rnn as R

from helpers import hint_ids_of, with_bug

pytestmark = pytest.mark.usefixtures("both_references")  # hints the same with torch and without


def step_forward(x, h_prev, Wx, Wh, b, bug=None):
    a = x @ Wx
    a = a + (0.0 if bug == "no recurrence" else h_prev @ (Wh.T if bug == "Wh.T" else Wh))
    a = a + (0.0 if bug == "no bias" else b)
    return (a if bug == "no tanh" else np.tanh(a)), None


def forward(x, h0, Wx, Wh, b, bug=None):
    h, hs = (np.zeros_like(h0) if bug == "h0 ignored" else h0), []
    for t in range(x.shape[1]):
        hs.append(h)  # the state before step t (used by the "shifted" bug)
        h = step_forward(x[:, t], h, Wx, Wh, b, bug=bug if bug in ("Wh.T", "no bias") else None)[0]
        if bug != "shifted":
            hs[-1] = h
    return np.stack(hs, axis=1), None


def indrnn_step(x, h_prev, Wx, u, b, bug=None):
    a = x @ Wx + (0.0 if bug == "no u * h_prev" else u * h_prev) + (0.0 if bug == "no bias" else b)
    if bug == "no relu":
        return a, None
    return (np.tanh(a) if bug == "tanh" else np.maximum(a, 0.0)), None


def test_the_correct_functions_pass():
    R.check_rnn_step_forward(step_forward)
    R.check_rnn_forward(forward)
    R.check_indrnn_step_forward(indrnn_step)


def assert_hint(message_and_ids, words, hint_id):
    """The message has ``words`` and identify() reads ``hint_id`` in it (what the grader records)."""
    message, ids = message_and_ids
    assert words in message
    assert hint_id in ids, f"{hint_id} not identified in: {message}"


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("Wh.T", "you used Wh.T instead of Wh", "rnn.wh_transposed"),
        ("no bias", "the bias b is missing", "common.bias_missing"),
        ("no recurrence", "h_prev @ Wh is missing", "rnn.no_recurrence"),
        ("no tanh", "tanh is missing", "rnn.no_tanh"),
    ],
)
def test_step_forward_hints(bug, words, hint_id):
    assert_hint(hint_ids_of(R.check_rnn_step_forward, with_bug(step_forward, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("Wh.T", "you used Wh.T instead of Wh", "rnn.wh_transposed"),
        ("no bias", "the bias b is missing", "common.bias_missing"),
        ("h0 ignored", "h0 was ignored", "rnn.h0_ignored"),
        ("shifted", "h is shifted by one step", "rnn.h_shifted"),
    ],
)
def test_forward_hints(bug, words, hint_id):
    assert_hint(hint_ids_of(R.check_rnn_forward, with_bug(forward, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("no bias", "the bias b is missing", "common.bias_missing"),
        ("no u * h_prev", "u * h_prev is missing", "rnn.indrnn_no_recurrence"),
        ("no relu", "relu is missing", "rnn.indrnn_no_relu"),
        ("tanh", "you used tanh instead of relu", "rnn.indrnn_tanh"),
    ],
)
def test_indrnn_hints(bug, words, hint_id):
    assert_hint(hint_ids_of(R.check_indrnn_step_forward, with_bug(indrnn_step, bug)), words, hint_id)
