"""Unit 6 (LSTM): each typical wrong implementation gets its own named hint.

A correct LSTM is written here (not copied from the solution); each row of the
tables plants one bug in it and names the distinctive words of the hint the
check must give. A failing row means a diagnostic regressed.
"""

import numpy as np
import pytest

from course.checks import lstm as L
from course.checks.hints import identify

from helpers import hint_of, with_bug

pytestmark = pytest.mark.usefixtures("both_references")  # hints the same with torch and without


def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


# ---------------------------------------------------------------- a correct LSTM, with switchable bugs
def step_forward(x, h_prev, c_prev, Wx, Wh, b, bug=None):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + (0.0 if bug == "no bias" else b)
    order = "ifog" if bug == "gate order ifog" else "ifgo"
    block = {k: a[:, n * H : (n + 1) * H] for n, k in enumerate(order)}
    i, f, o, g = sigmoid(block["i"]), sigmoid(block["f"]), sigmoid(block["o"]), np.tanh(block["g"])
    c = f * c_prev + i * g
    h = o * (c if bug == "h without tanh" else np.tanh(c))
    return h, c, {"x": x, "h_prev": h_prev, "c_prev": c_prev, "Wx": Wx, "Wh": Wh, "gates": (i, f, g, o), "c": c}


def step_backward(dh, dc, cache, bug=None):
    i, f, g, o = cache["gates"]
    tanh_c = np.tanh(cache["c"])
    dc_total = dc + (0.0 if bug == "dc misses h" else dh * o * (1 - tanh_c**2))
    sig_i, sig_f, sig_o = (1.0, 1.0, 1.0) if bug == "no sigmoid'" else (i * (1 - i), f * (1 - f), o * (1 - o))
    da = {
        "i": dc_total * g * sig_i,
        "f": dc_total * (cache["c"] if bug == "df with c_next" else cache["c_prev"]) * sig_f,
        "g": dc_total * i * (1.0 if bug == "no tanh' of g" else 1 - g**2),
        "o": dh * tanh_c * sig_o,
    }
    da = np.concatenate([da[k] for k in ("ifog" if bug == "da order ifog" else "ifgo")], axis=1)
    dc_prev = dc_total if bug == "dc without f" else dc_total * f
    return da @ cache["Wx"].T, da @ cache["Wh"].T, dc_prev, cache["x"].T @ da, cache["h_prev"].T @ da, da.sum(0)


def forward(x, h0, Wx, Wh, b, bug=None):
    h, c, hs, caches = h0, (h0 if bug == "c0 = h0" else np.zeros_like(h0)), [], []
    if bug == "h0 ignored":
        h = np.zeros_like(h0)
    for t in range(x.shape[1]):
        h, c, cache = step_forward(x[:, t], h, c, Wx, Wh, b, bug=bug)
        hs.append(h)
        caches.append(cache)
    h_all = np.stack(hs, axis=1)
    if bug == "shifted":
        h_all = np.concatenate([h0[:, None], h_all[:, :-1]], axis=1)
    return h_all, caches


def backward(dh, caches, bug=None):
    N, T, H = dh.shape
    dx, dh_next, dc_next = [None] * T, np.zeros((N, H)), np.zeros((N, H))
    dWx = dWh = db = 0.0
    for t in reversed(range(T)):
        step_bug = bug if bug in ("dc without f", "da order ifog") else None
        upstream = dh[:, t] + (0.0 if bug == "dh not carried" else dh_next)
        g = step_backward(upstream, 0 * dc_next if bug == "dc not carried" else dc_next, caches[t], bug=step_bug)
        dx[t], dh_next, dc_next = g[0], g[1], g[2]
        dWx, db = dWx + g[3], db + g[5]
        dWh = g[4] if bug == "dWh not accumulated" else dWh + g[4]
    dh0 = np.zeros_like(dh_next) if bug == "no dh0" else dh_next
    if bug == "db zero":
        db = np.zeros_like(db)
    return np.stack(dx, axis=1), dh0, dWx, dWh, db


def assert_hint(message, words, hint_id):
    """``message`` has ``words`` and names the hint ``hint_id`` (what the grader records)."""
    assert words in message
    assert hint_id in identify(message), f"{hint_id} not identified in: {message}"


def test_the_correct_lstm_passes():
    L.check_lstm_step_forward(step_forward)
    L.check_lstm_step_backward(step_forward, step_backward)
    L.check_lstm_forward(forward)
    L.check_lstm_backward(forward, backward)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        (
            "gate order ifog",
            "the result matches the gate order i, f, o, g; the contract uses i, f, g, o",
            "common.gate_order",
        ),
        ("h without tanh", "c_next is right, so look at h_next = o * tanh(c_next)", "lstm.h_next_wrong"),
        ("no bias", "c_next = f * c_prev + i * g with i, f = sigmoid", "lstm.c_next_wrong"),
    ],
)
def test_step_forward_hints(bug, words, hint_id):
    assert_hint(hint_of(L.check_lstm_step_forward, with_bug(step_forward, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("gate order ifog", "gate order i, f, o, g", "common.gate_order"),
        ("shifted", "shifted one step late", "common.sequence_shifted_late"),
        ("c0 = h0", "the cell state starts at zero", "lstm.sequence_wrong"),
        ("h0 ignored", "the first step's h_prev is h0 (only c starts at zero)", "lstm.h0_ignored"),
    ],
)
def test_forward_hints(bug, words, hint_id):
    assert_hint(hint_of(L.check_lstm_forward, with_bug(forward, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        (
            "dc without f",
            "dc_prev must be dc * f: the gradient to the previous cell state passes through the forget",
            "lstm.dc_prev_without_f",
        ),
        (
            "dc misses h",
            "the cell state's gradient misses the path through h_t = o * tanh(c_t)",
            "lstm.dc_misses_h_path",
        ),
        ("no tanh' of g", "the derivative of g = tanh(a_g) is missing", "lstm.no_tanh_derivative_g"),
        ("no sigmoid'", "the sigmoid derivative is missing", "lstm.no_sigmoid_derivative"),
        (
            "da order ifog",
            "is packed in the gate order i, f, o, g; pack it in the forward's order i, f, g, o",
            "lstm.da_gate_order",
        ),
        (
            "df with c_next",
            "da, is wrong: in the bias gradient only the block(s) of f (forget gate) are wrong",
            "common.da_wrong_blocks",
        ),
    ],
)
def test_step_backward_hints(bug, words, hint_id):
    assert_hint(hint_of(L.check_lstm_step_backward, step_forward, with_bug(step_backward, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("dc not carried", "the cell state's gradient is not carried back in time", "lstm.dc_not_carried"),
        ("dc without f", "dc_prev must be dc * f", "lstm.dc_prev_without_f"),
        ("dh not carried", "the hidden state's gradient is not carried back in time", "lstm.dh_not_carried"),
        (
            "dWh not accumulated",
            "dWh holds only the contribution of time step 0: accumulate it over all steps",
            "common.gradient_only_first_step",
        ),
        ("da order ifog", "packed in the gate order i, f, o, g", "lstm.da_gate_order"),
        ("no dh0", "dh0 is the dh_prev of the first step", "lstm.dh0_zero"),
        ("db zero", "db is all zeros", "common.gradient_all_zeros"),
    ],
)
def test_backward_hints(bug, words, hint_id):
    assert_hint(hint_of(L.check_lstm_backward, forward, with_bug(backward, bug)), words, hint_id)


def test_the_three_sequence_bugs_get_three_different_hints():
    hints = {
        bug: hint_of(L.check_lstm_backward, forward, with_bug(backward, bug)).split("hint: ")[-1]
        for bug in ("dc not carried", "dc without f", "dh not carried")
    }
    assert len(set(hints.values())) == 3, hints


@pytest.mark.parametrize(
    "check,fns,fwd_name",
    [
        (L.check_lstm_step_backward, (with_bug(step_forward, "gate order ifog"), step_backward), "lstm_step_forward"),
        (L.check_lstm_backward, (with_bug(forward, "gate order ifog"), backward), "lstm_forward"),
    ],
)
def test_a_correct_backward_with_a_wrong_forward_is_told_to_fix_the_forward(check, fns, fwd_name):
    msg = hint_of(check, *fns)
    assert f"your {fwd_name} is wrong (" in msg and "fix it first" in msg
    assert "gate order i, f, o, g" in msg  # the forward's own hint comes along
    assert "does not match torch autograd" not in msg
