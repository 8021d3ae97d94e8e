"""Unit 8 (deep and bidirectional): each typical wrong implementation gets its own named hint.

Correct generic functions are written here (not copied from the solution); each
row plants one bug and names the distinctive words of the hint the check must
give. The deep model check is run with layers that are right and with one
broken layer function, which must be the one named.
"""

import numpy as np
import pytest

from course.checks import deep as Dp
from course.checks.hints import identify

from helpers import hint_of, with_bug

pytestmark = pytest.mark.usefixtures("both_references")  # hints the same with torch and without


def assert_hint(message, words, hint_id):
    """``message`` has ``words`` and names the hint ``hint_id`` (what the grader records)."""
    assert words in message
    assert hint_id in identify(message), f"{hint_id} not identified in: {message}"


# ---------------------------------------------------------------- correct generic functions, with switchable bugs
def bi_forward(x, forward_fn, params_f, params_b, bug=None):
    x = 2 * x if bug == "x doubled" else x  # a mistake no check foresees
    h_f, cache_f = forward_fn(x[:, ::-1] if bug == "forward reversed" else x, *params_f)
    if bug == "batch axis":
        h_b, cache_b = forward_fn(x[::-1], *params_b)
        h_b = h_b[::-1]
    elif bug == "np.flip without axis":
        h_b, cache_b = forward_fn(np.flip(x), *params_b)
        h_b = np.flip(h_b)
    else:
        params = params_f if bug == "params_f twice" else params_b
        h_b, cache_b = forward_fn(x if bug == "input not reversed" else x[:, ::-1], *params)
        h_b = h_b if bug in ("output not flipped back", "input not reversed") else h_b[:, ::-1]
    halves = [h_b, h_f] if bug == "halves swapped" else [h_f, h_b]
    return np.concatenate(halves, axis=2), (cache_f, cache_b, h_f.shape[2])


def bi_backward(dh, cache, backward_fn, bug=None):
    cache_f, cache_b, H = cache
    dx_f, *grads_f = backward_fn(dh if bug == "whole dh" else dh[..., :H], cache if bug == "whole cache" else cache_f)
    dh_b = dh[..., H:] if bug == "dh not flipped" else dh[:, ::-1, H:]
    dx_b, *grads_b = backward_fn(dh_b, cache_f if bug == "same cache" else cache_b)
    if bug == "dx_b not added":
        dx = dx_f
    else:
        dx = dx_f + (dx_b if bug == "dx_b not flipped back" else dx_b[:, ::-1])
    return (dx, grads_b, grads_f) if bug == "grads swapped" else (dx, grads_f, grads_b)


def stacked_forward(x, forward_fn, layers, bug=None):
    h, caches = x, []
    for params in layers:
        inp = x if bug == "every layer reads x" else h
        h, cache = forward_fn(inp, params) if bug == "params not unpacked" else forward_fn(inp, *params)
        caches.append(cache)
    return h, caches


def stacked_backward(dh_top, cache, backward_fn, bug=None):
    dh, layer_grads = dh_top, []
    for c in reversed(cache):
        dx, *grads = backward_fn(dh, c)
        dh = dh if bug == "dx not passed down" else dx
        layer_grads.append(grads)
    return dh, layer_grads if bug == "top first" else layer_grads[::-1]


def test_the_correct_functions_pass():
    Dp.check_bidirectional_forward(bi_forward)
    Dp.check_bidirectional_backward(bi_forward, bi_backward)
    Dp.check_stacked_forward(stacked_forward)
    Dp.check_stacked_forward(stacked_forward, D=4, hidden=(4, 4, 4), seed=4)
    Dp.check_stacked_backward(stacked_forward, stacked_backward)
    Dp.check_stacked_backward(stacked_forward, stacked_backward, D=4, hidden=(4, 4, 4), seed=4)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        (
            "output not flipped back",
            "flip the backward direction's output back in time",
            "deep.output_not_flipped_back",
        ),
        (
            "input not reversed",
            "the backward direction must read the sequence reversed in time",
            "deep.input_not_reversed",
        ),
        ("halves swapped", "it looks like the backward direction: forward direction first", "deep.directions_swapped"),
        ("batch axis", "you reversed the batch axis (axis 0), not time", "deep.batch_reversed"),
        ("np.flip without axis", "np.flip without an axis reverses every axis", "deep.flip_without_axis"),
        ("forward reversed", "the forward direction is forward_fn(x, *params_f)", "deep.forward_direction"),
        ("params_f twice", "is forward_fn(x reversed in time, *params_b)'s output", "deep.backward_direction"),
    ],
)
def test_bidirectional_forward_hints(bug, words, hint_id):
    msg = hint_of(Dp.check_bidirectional_forward, with_bug(bi_forward, bug))
    assert_hint(msg, words, hint_id)
    assert "NaN" not in msg, "without torch too, the layer's calls of the mistake are saved: numbers, not NaN"


def test_a_layer_call_no_correct_answer_makes_fails_in_both_modes_and_says_why_without_torch(both_references):
    msg = hint_of(Dp.check_bidirectional_forward, with_bug(bi_forward, "x doubled"))
    if both_references == "saved":  # torch gives the layer's output for any input; the saved files cannot
        assert_hint(msg, "was called (forward_fn) with numbers no correct answer gives it", "deep.layer_call_not_saved")
        assert "NaN" not in msg
    else:
        assert "does not match" in msg and "deep.layer_call_not_saved" not in identify(msg), msg


# the visible tests hand bidirectional_backward the RNN layer only: no LSTM call is saved, so LSTM with torch only
@pytest.mark.parametrize(
    "kind,both_references", [("rnn", "torch"), ("rnn", "saved"), ("lstm", "torch")], indirect=["both_references"]
)
@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        (
            "dh not flipped",
            "the backward direction's upstream gradient is dh[..., H:] flipped in time",
            "deep.dh_b_not_flipped",
        ),
        ("dx_b not added", "dx must be the sum of both directions' dx", "deep.dx_not_summed"),
        (
            "dx_b not flipped back",
            "flip the backward direction's dx back in time before adding it",
            "deep.dx_b_not_flipped_back",
        ),
        ("same cache", "the backward direction got the forward direction's cache", "deep.cache_of_other_direction"),
        ("grads swapped", "grads_f and grads_b are swapped", "deep.grads_swapped"),
    ],
)
def test_bidirectional_backward_hints(bug, words, hint_id, kind, both_references):
    msg = hint_of(Dp.check_bidirectional_backward, bi_forward, with_bug(bi_backward, bug), kind=kind)
    assert_hint(msg, words, hint_id)
    assert "NaN" not in msg, "without torch too, the layer's calls of the mistake are saved: numbers, not NaN"


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("whole dh", "(backward_fn) got dh of shape (2, 5, 8); its forward made h", "deep.backward_fn_dh_shape"),
        ("whole cache", "(backward_fn) got a cache that its forward_fn did not make", "deep.foreign_cache"),
    ],
)
def test_the_reference_layer_names_a_wrong_call(bug, words, hint_id):
    msg = hint_of(Dp.check_bidirectional_backward, bi_forward, with_bug(bi_backward, bug))
    assert msg.startswith("bidirectional_backward: the check's RNN layer")
    assert_hint(msg, words, hint_id)


def test_a_bidirectional_layer_called_with_one_tuple_is_named():
    msg = hint_of(Dp.check_stacked_forward, with_bug(stacked_forward, "params not unpacked"), bidirectional=True)
    assert_hint(msg, "takes (x, params_f, params_b), got 2 arguments", "deep.layer_arguments")


def test_stacked_forward_hint_with_equal_sizes():
    bug = with_bug(stacked_forward, "every layer reads x")
    msg = hint_of(Dp.check_stacked_forward, bug, D=4, hidden=(4, 4, 4), seed=4)  # the sizes of a visible test
    assert_hint(msg, "layer l runs forward_fn(h of layer l - 1, *layers[l])", "deep.stacked_forward")


def test_stacked_forward_hint():
    msg = hint_of(Dp.check_stacked_forward, with_bug(stacked_forward, "every layer reads x"))
    assert_hint(msg, "read the hidden states of the layer below", "deep.layer_input_width")


@pytest.mark.parametrize("sizes", [{}, dict(D=4, hidden=(4, 4, 4), seed=4)], ids=["default", "equal sizes"])
def test_top_first_layer_grads_are_named(sizes):
    msg = hint_of(Dp.check_stacked_backward, stacked_forward, with_bug(stacked_backward, "top first"), **sizes)
    assert_hint(msg, "layer_grads is ordered top layer first", "deep.layer_grads_reversed")


def test_dx_not_passed_down_is_named_with_equal_sizes():
    bug = with_bug(stacked_backward, "dx not passed down")
    msg = hint_of(Dp.check_stacked_backward, stacked_forward, bug, D=4, hidden=(4, 4, 4), seed=4)
    assert_hint(msg, "the dx of layer l is the upstream dh of layer l - 1", "deep.stacked_dx")


# ---------------------------------------------------------------- the deep model of the student's own layers
def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def lstm_forward(x, h0, Wx, Wh, b, bug=None):
    N, T, _ = x.shape
    H = h0.shape[1]
    h, c, out, caches = h0, np.zeros_like(h0), [], []
    for t in range(T):
        a = x[:, t] @ Wx + h @ Wh + b
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H])
        g, o = (
            (sigmoid(a[:, 2 * H : 3 * H]), np.tanh(a[:, 3 * H :]))
            if bug == "g and o swapped"
            else (
                np.tanh(a[:, 2 * H : 3 * H]),
                sigmoid(a[:, 3 * H :]),
            )
        )
        caches.append((x[:, t], h, c, i, f, g, o))
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1), (caches, Wx, Wh, out)


def lstm_backward(dh, cache, bug=None):
    caches, Wx, Wh, hs = cache
    N, T, H = dh.shape
    dx, dh_next, dc_next = [None] * T, np.zeros((N, H)), np.zeros((N, H))
    dWx, dWh, db = 0.0, 0.0, 0.0
    for t in reversed(range(T)):
        x, h_prev, c_prev, i, f, g, o = caches[t]
        tanh_c = np.tanh(f * c_prev + i * g)
        dh_t = dh[:, t] + dh_next
        dc = dc_next + dh_t * o * (1 - tanh_c**2)
        da = np.concatenate(
            [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g**2), dh_t * tanh_c * o * (1 - o)], axis=1
        )
        dx[t], dh_next, dc_next = da @ Wx.T, da @ Wh.T, dc * f
        dWx, db = dWx + x.T @ da, db + da.sum(0)
        dWh = h_prev.T @ da if bug == "dWh not accumulated" else dWh + h_prev.T @ da
    return np.stack(dx, axis=1), dh_next, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b, bug=None):
    h, out = h0, []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ Wx + h @ (Wh.T if bug == "Wh.T" else Wh) + b)
        out.append(h)
    h_all = np.stack(out, axis=1)
    return h_all, (x, h0, Wx, Wh, h_all)


def rnn_backward(dh, cache, bug=None):
    x, h0, Wx, Wh, h = cache
    N, T, H = h.shape
    da, dh_next = np.zeros_like(h), np.zeros((N, H))
    for t in reversed(range(T)):
        da[:, t] = (dh[:, t] + (0.0 if bug == "dh not carried" else dh_next)) * (1 - h[:, t] ** 2)
        dh_next = da[:, t] @ Wh.T
    h_before = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    return (
        da @ Wx.T,
        dh_next,
        np.einsum("ntd,nth->dh", x, da),
        np.einsum("ntk,nth->kh", h_before, da),
        da.sum((0, 1)),
    )


def deep_hint(kind, fwd, bwd, bi_f=bi_forward, bi_b=bi_backward):
    return hint_of(Dp.check_deep_bidirectional, stacked_forward, bi_f, bi_b, fwd, bwd, kind)


def test_the_correct_deep_models_pass():
    Dp.check_deep_bidirectional(stacked_forward, bi_forward, bi_backward, lstm_forward, lstm_backward, "lstm")
    Dp.check_deep_bidirectional(stacked_forward, bi_forward, bi_backward, rnn_forward, rnn_backward, "rnn")


@pytest.mark.parametrize(
    "kind,fwd,bwd,broken,healthy",
    [
        ("lstm", with_bug(lstm_forward, "g and o swapped"), lstm_backward, "lstm_forward", "lstm_backward"),
        ("lstm", lstm_forward, with_bug(lstm_backward, "dWh not accumulated"), "lstm_backward", "lstm_forward"),
        ("rnn", with_bug(rnn_forward, "Wh.T"), rnn_backward, "rnn_forward", "rnn_backward"),
        ("rnn", rnn_forward, with_bug(rnn_backward, "dh not carried"), "rnn_backward", "rnn_forward"),
    ],
)
def test_the_deep_check_names_the_broken_layer_function(kind, fwd, bwd, broken, healthy):
    msg = deep_hint(kind, fwd, bwd)
    assert f"your {broken} is wrong (" in msg and "fix it first" in msg
    assert f"your {healthy} is wrong" not in msg
    assert "deep.layer_wrong" in identify(msg)


def test_the_broken_layer_functions_own_hint_is_recorded_too():
    msg = deep_hint("lstm", with_bug(lstm_forward, "g and o swapped"), lstm_backward)
    assert identify(msg) == ["lstm.sequence_wrong", "deep.layer_wrong"]


def test_the_deep_check_names_the_lstm_backward_mistake():
    msg = deep_hint("lstm", lstm_forward, with_bug(lstm_backward, "dWh not accumulated"))
    assert_hint(msg, "dWh holds only the contribution of time step 0", "common.gradient_only_first_step")


def test_with_healthy_layers_the_deep_check_points_at_the_bidirectional_functions():
    msg = deep_hint("lstm", lstm_forward, lstm_backward, bi_b=with_bug(bi_backward, "dh not flipped"))
    words = "bidirectional_forward/backward (your lstm_forward and lstm_backward pass their own tests"
    assert_hint(msg, words, "deep.plumbing_wrong")
