"""Unit 4 (bptt): each typical wrong implementation gets its own named hint.

Correct functions are written here (not copied from the solution); each row plants
one bug and names the distinctive words of the hint the check must give, and the id
of the hint that the grader records from that message (course.checks.hints.identify).
"""

import numpy as np
import pytest

from course.checks import bptt as B
from course.checks._common import STABILITY_HINT
from course.checks.hints import identify

from helpers import hint_ids_of, hint_of, with_bug

pytestmark = pytest.mark.usefixtures("both_references")  # hints the same with torch and without


def assert_hint(message_and_ids, words, hint_id):
    """The message has ``words`` and identify() reads ``hint_id`` in it (what the grader records)."""
    message, ids = message_and_ids
    assert words in message
    assert hint_id in ids, f"{hint_id} not identified in: {message}"


# ---------------------------------------------------------------- correct functions, with switchable bugs
def step_forward(x, h_prev, Wx, Wh, b, bug=None):
    h = np.tanh(x @ Wx + h_prev @ Wh + (0.0 if bug == "no bias" else b))
    return h, (x, h_prev, Wx, Wh, h)


def step_backward(dh_next, cache, bug=None):
    x, h_prev, Wx, Wh, h = cache
    da = dh_next if bug == "no tanh'" else dh_next * (1 - h**2)
    dh_prev = da @ Wh if bug == "Wh instead of Wh.T" else da @ Wh.T
    dWh = da.T @ h_prev if bug == "dWh transposed" else h_prev.T @ da
    return da @ Wx.T, dh_prev, x.T @ da, dWh, da.sum(0)


def forward(x, h0, Wx, Wh, b, bug=None):
    h, hs, caches = h0, [], []
    for t in range(x.shape[1]):
        h, c = step_forward(x[:, t], h, Wx, Wh, b, bug=bug)
        hs.append(h)
        caches.append(c)
    return np.stack(hs, axis=1), caches


def backward(dh, caches, bug=None):
    N, T, H = dh.shape
    dx, dh_next, dWx, dWh, db = [None] * T, np.zeros((N, H)), 0.0, 0.0, 0.0
    for t in reversed(range(T)):
        upstream = dh[:, t] * (t == T - 1) if bug == "only the last dh" else dh[:, t]
        g = step_backward(upstream + dh_next, caches[t])
        dx[t], dh_next = g[0], g[1]
        dWx, db = dWx + g[2], db + g[4]
        dWh = g[3] if bug == "dWh not accumulated" else dWh + g[3]
    return np.stack(dx, axis=1), dh_next, dWx, dWh, db


def temporal_loss(scores, y, mask, bug=None):
    N, T, V = scores.shape
    s = scores.reshape(N * T, V)
    if bug != "not stable":
        s = s - s.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    m = np.ones(N * T) if bug == "mask ignored" else mask.reshape(-1).astype(float)
    rows = np.arange(N * T)
    denom = {"by tokens": max(1, mask.sum()), "by N*T": N * T}.get(bug, N)
    loss = -np.sum(log_p[rows, y.reshape(-1)] * m) / denom
    d = p.copy()
    d[rows, y.reshape(-1)] -= 1
    dm = np.ones(N * T) if bug == "masked steps get a gradient" else m
    sign = -1.0 if bug == "dscores sign" else 1.0
    return (-1.0 if bug == "loss sign" else 1.0) * float(loss), sign * (d * dm[:, None] / denom).reshape(N, T, V)


def bigram(tokens, V, alpha=1.0, bug=None):
    counts = np.zeros((V, V))
    if bug == "fancy-index +=":
        counts[tokens[:-1], tokens[1:]] += 1
    else:
        np.add.at(counts, (tokens[:-1], tokens[1:]), 1)
    if bug == "transposed":
        counts = counts.T
    counts = counts + alpha
    return counts / counts.sum(axis=1, keepdims=True)


def softmax_t(logits, temperature, bug=None):
    z = logits * temperature if bug == "multiplied" else logits / temperature
    axis = 0 if bug == "axis 0" else -1
    if bug == "one shift for the array":
        z = z - z.max()
    elif bug != "not stable":
        z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def test_the_correct_functions_pass():
    B.check_rnn_step_backward(step_forward, step_backward)
    B.check_rnn_backward(forward, backward)
    B.check_temporal_softmax_loss(temporal_loss)
    B.check_temporal_softmax_loss(temporal_loss, N=3, T=5, V=4, seed=3, scale=300.0)
    B.check_bigram_model(bigram)
    B.check_softmax_temperature(softmax_t)
    B.check_softmax_temperature(softmax_t, shape=(4, 6), temperature=0.3, seed=4, scale=100.0)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("no tanh'", "the tanh derivative (1 - h_next**2) is missing", "bptt.no_tanh_derivative"),
        ("Wh instead of Wh.T", "you multiplied by Wh instead of Wh.T", "bptt.dh_prev_wh_not_transposed"),
        ("dWh transposed", "dWh is transposed", "bptt.dwh_transposed"),
    ],
)
def test_step_backward_hints(bug, words, hint_id):
    assert_hint(hint_ids_of(B.check_rnn_step_backward, step_forward, with_bug(step_backward, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("only the last dh", "only dh[:, T-1] was used", "common.only_last_dh"),
        (
            "dWh not accumulated",
            "dWh holds only the contribution of time step 0: accumulate it over all steps",
            "common.gradient_only_first_step",
        ),
    ],
)
def test_backward_hints(bug, words, hint_id):
    assert_hint(hint_ids_of(B.check_rnn_backward, forward, with_bug(backward, bug)), words, hint_id)


@pytest.mark.parametrize(
    "check,fns,fwd_name",
    [
        (B.check_rnn_step_backward, (with_bug(step_forward, "no bias"), step_backward), "rnn_step_forward"),
        (B.check_rnn_backward, (with_bug(forward, "no bias"), backward), "rnn_forward"),
    ],
)
def test_a_correct_backward_with_a_wrong_forward_is_told_to_fix_the_forward(check, fns, fwd_name):
    msg, ids = hint_ids_of(check, *fns)
    assert f"your {fwd_name} is wrong (" in msg and "fix it first" in msg
    assert "common.forward_wrong" in ids, msg


@pytest.mark.parametrize(
    "bug,kw,words,hint_id",
    [
        ("by tokens", {}, "you divided by the number of unmasked tokens; divide by N", "bptt.loss_divided_by_tokens"),
        ("by N*T", {}, "you divided by N * T; divide by N", "bptt.loss_divided_by_nt"),
        ("mask ignored", {}, "the mask was ignored", "bptt.mask_ignored"),
        (
            "masked steps get a gradient",
            {},
            "masked time steps got a gradient: multiply by the mask",
            "bptt.masked_steps_gradient",
        ),
        ("loss sign", {}, "the loss has the wrong sign", "bptt.loss_sign"),
        ("dscores sign", {}, "dscores has the wrong sign", "bptt.dscores_sign"),
        (
            "not stable",
            dict(N=3, T=5, V=4, seed=3, scale=300.0),
            "not numerically stable: subtract the max",
            "common.softmax_unstable",
        ),
    ],
)
def test_temporal_softmax_loss_hints(bug, kw, words, hint_id):
    assert_hint(hint_ids_of(B.check_temporal_softmax_loss, with_bug(temporal_loss, bug), **kw), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("transposed", "rows and columns are swapped", "bptt.bigram_transposed"),
        ("fancy-index +=", "was counted once", "bptt.bigram_repeats_counted_once"),
    ],
)
def test_bigram_hints(bug, words, hint_id):
    assert_hint(hint_ids_of(B.check_bigram_model, with_bug(bigram, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,kw,words,hint_id",
    [
        ("multiplied", {}, "you multiplied by the temperature", "bptt.temperature_multiplied"),
        ("axis 0", {}, "softmax was taken along the wrong axis", "bptt.softmax_wrong_axis"),
        (
            "not stable",
            dict(shape=(4, 6), temperature=0.3, seed=4, scale=100.0),
            STABILITY_HINT,
            "common.softmax_unstable",
        ),
        (
            "one shift for the array",
            dict(shape=(4, 6), temperature=0.3, seed=4, scale=100.0),
            "shift each row by its own largest score",
            "common.softmax_global_max",
        ),
    ],
)
def test_softmax_temperature_hints(bug, kw, words, hint_id):
    assert_hint(hint_ids_of(B.check_softmax_temperature, with_bug(softmax_t, bug), **kw), words, hint_id)


def test_the_stability_hint_is_kept_for_large_logits():
    """A wrong answer on small logits is not blamed on stability."""
    msg = hint_of(B.check_softmax_temperature, with_bug(softmax_t, "multiplied"))
    assert "numerically stable" not in msg


def test_a_result_too_good_to_be_true_says_so():
    assert B.too_good_to_be_true(2.4, 3.3) == ""
    warning = B.too_good_to_be_true(0.05, 3.3)  # the loss divided by N * T, then by T again
    assert "too good to be true" in warning and "N * T" in warning and "shifted by one" in warning
    assert identify(warning) == ["bptt.too_good_to_be_true"]
    assert "too good to be true" in B.too_good_to_be_true(1.5, 3.3)  # under half the bigram's
