"""A forward that returns float32 is told so at its own check, and a correct backward tested with it
is not blamed: its check says "your <forward> returns float32" (issue 23, section 2).

float32 keeps about 7 significant digits: a float32 ``h`` passes the forward's 1e-7 tolerance, but the
numerical gradient of such a forward is off by ~1e-4, which used to read as a wrong backward.
Each message also names its hints' ids, as the grader records them (course.checks.hints.identify).
"""

import numpy as np
import pytest

from course.checks import backprop as B
from course.checks import bptt as P
from course.checks import deep as DP
from course.checks import gru as G
from course.checks import lstm as L
from course.checks import rnn as R
from course.checks.hints import identify

from helpers import hint_of

pytestmark = pytest.mark.usefixtures("both_references")  # hints the same with torch and without


def assert_ids(message, *hint_ids):
    """identify() reads each of ``hint_ids`` in ``message`` (what the grader records)."""
    found = identify(message)
    assert set(hint_ids) <= set(found), f"{hint_ids} not all identified (found {found}) in: {message}"


def float32_out(fn):
    """``fn`` whose first output (h, out) is rounded to float32; the cache is left as it was."""

    def f(*args):
        out, *rest = fn(*args)
        return (np.asarray(out, dtype=np.float32), *rest)

    f.__name__ = fn.__name__
    return f


def rounded_out(fn):
    """``fn`` whose first output is rounded to float32's precision but returned as float64."""

    def f(*args):
        out, *rest = fn(*args)
        return (np.asarray(out, dtype=np.float32).astype(np.float64), *rest)

    f.__name__ = fn.__name__
    return f


# (unit, check of the forward, the forward's name)
FORWARDS = [
    ("02_backprop", B.check_affine_forward, "affine_forward"),
    ("02_backprop", B.check_sigmoid_forward, "sigmoid_forward"),
    ("02_backprop", B.check_tanh_forward, "tanh_forward"),
    ("03_rnn", R.check_rnn_step_forward, "rnn_step_forward"),
    ("03_rnn", R.check_rnn_forward, "rnn_forward"),
    ("03_rnn", R.check_indrnn_step_forward, "indrnn_step_forward"),
    ("06_lstm", L.check_lstm_step_forward, "lstm_step_forward"),
    ("06_lstm", L.check_lstm_forward, "lstm_forward"),
    ("07_gru", G.check_gru_step_forward, "gru_step_forward"),
    ("07_gru", G.check_gru_forward, "gru_forward"),
    ("08_deep_bidirectional", DP.check_bidirectional_forward, "bidirectional_forward"),
    ("08_deep_bidirectional", DP.check_stacked_forward, "stacked_forward"),
]

# (unit, check of the backward, the forward's name, the backward's name, keywords of a numeric check)
BACKWARDS = [
    ("02_backprop", B.check_affine_backward, "affine_forward", "affine_backward", {"numeric": True}),
    ("02_backprop", B.check_sigmoid_backward, "sigmoid_forward", "sigmoid_backward", {"numeric": True}),
    ("02_backprop", B.check_tanh_backward, "tanh_forward", "tanh_backward", {"numeric": True}),
    ("04_bptt", P.check_rnn_step_backward, "rnn_step_forward", "rnn_step_backward", {"numeric": True}),
    ("04_bptt", P.check_rnn_backward, "rnn_forward", "rnn_backward", {"numeric": True}),
    ("06_lstm", L.check_lstm_step_backward, "lstm_step_forward", "lstm_step_backward", {"numeric": True}),
    ("06_lstm", L.check_lstm_backward, "lstm_forward", "lstm_backward", {"numeric": True}),
    ("07_gru", G.check_gru_step_backward, "gru_step_forward", "gru_step_backward", {"numeric": True}),
    ("07_gru", G.check_gru_backward, "gru_forward", "gru_backward", {"numeric": True}),
    ("08_deep_bidirectional", DP.check_bidirectional_backward, "bidirectional_forward", "bidirectional_backward", {}),
    ("08_deep_bidirectional", DP.check_stacked_backward, "stacked_forward", "stacked_backward", {}),
]


def ids(rows):
    return [row[2] if len(row) == 3 else row[3] for row in rows]


@pytest.mark.parametrize("unit,check,fwd", FORWARDS, ids=ids(FORWARDS))
def test_a_float32_forward_is_told_its_dtype(solution_answers, unit, check, fwd):
    msg = hint_of(check, float32_out(solution_answers(unit)[fwd]))
    assert "dtype float32, expected float64" in msg, msg
    assert "np.float32" in msg  # the hint says where float32 comes from and what to write instead
    assert_ids(msg, "common.output_float32", "common.dtype_float32")


@pytest.mark.parametrize("unit,check,fwd", FORWARDS, ids=ids(FORWARDS))
def test_a_float64_forward_is_not_told_about_dtypes(solution_answers, unit, check, fwd):
    check(solution_answers(unit)[fwd])


@pytest.mark.parametrize("unit,check,fwd,bwd,kw", BACKWARDS, ids=ids(BACKWARDS))
def test_a_correct_backward_with_a_float32_forward_is_told_the_forward_returns_float32(
    solution_answers, unit, check, fwd, bwd, kw
):
    ns = solution_answers(unit)
    msg = hint_of(check, float32_out(ns[fwd]), ns[bwd], **kw)
    assert msg.startswith(f"{bwd}: your {fwd} returns float32"), msg
    assert "np.float32" in msg
    assert_ids(msg, "common.forward_float32", "common.dtype_float32")


NUMERIC = [row for row in BACKWARDS if row[4]]


@pytest.mark.parametrize("unit,check,fwd,bwd,kw", NUMERIC, ids=ids(NUMERIC))
def test_a_correct_backward_with_an_imprecise_forward_blames_the_forward(solution_answers, unit, check, fwd, bwd, kw):
    """A forward that returns float64 rounded to float32's precision passes its own check (1e-7); the
    numerical gradient of the backward's check is then off, and the message says the forward is to fix."""
    ns = solution_answers(unit)
    msg = hint_of(check, rounded_out(ns[fwd]), ns[bwd], **kw)
    assert f"matches torch autograd but not the numerical gradient of your {fwd}" in msg, msg
    assert f"your {bwd} is right" in msg and f"fix {fwd}" in msg
    assert_ids(msg, "common.forward_imprecise")


@pytest.mark.parametrize("unit,check,fwd,bwd,kw", BACKWARDS, ids=ids(BACKWARDS))
def test_a_correct_float64_pair_passes_the_backward_check(solution_answers, unit, check, fwd, bwd, kw):
    ns = solution_answers(unit)
    check(ns[fwd], ns[bwd], **kw)


def test_float64_made_in_other_ways_is_accepted():
    """Nested lists of Python floats and float64 scalars are float64; a longer float is more precise."""

    def listy(x, W, b):
        return (x @ W + b).tolist(), None

    def longer(x, W, b):
        return (x @ W + b).astype(np.longdouble), None

    B.check_affine_forward(listy)
    B.check_affine_forward(longer)


def test_a_float32_loss_is_told_its_dtype(solution_answers):
    sce = solution_answers("02_backprop")["softmax_cross_entropy"]

    def f32(scores, y):
        loss, dscores = sce(scores, y)
        return np.float32(loss), dscores

    msg = hint_of(B.check_softmax_cross_entropy, f32)
    assert "loss has dtype float32, expected float64" in msg
    assert_ids(msg, "common.output_float32", "common.dtype_float32")


def test_a_float32_backward_within_the_tolerance_is_accepted(solution_answers):
    """float32 gradients are only float32-rounded (~3e-8): within the 1e-6 tolerance, nothing downstream
    differentiates them, so they pass; the dtype is named only when a comparison fails."""
    ns = solution_answers("06_lstm")

    def backward(dh, cache):
        return tuple(np.asarray(g, dtype=np.float32) for g in ns["lstm_backward"](dh, cache))

    L.check_lstm_backward(ns["lstm_forward"], backward)


def test_a_failing_float32_backward_is_told_its_dtype(solution_answers):
    ns = solution_answers("06_lstm")

    def backward(dh, cache):
        dx, *rest = ns["lstm_backward"](dh, cache)
        return (np.asarray(1.001 * dx, dtype=np.float32), *rest)

    msg = hint_of(L.check_lstm_backward, ns["lstm_forward"], backward)
    assert "hint: dx has dtype float32" in msg, msg
    assert_ids(msg, "common.gradient_float32")


def float32_cache(fn):
    """``fn`` whose cache keeps h (item 4 of the solutions' LSTM and GRU caches) in float32; h returned is float64."""

    def f(*args):
        out, cache = fn(*args)
        return out, tuple(np.asarray(a, dtype=np.float32) if k == 4 else a for k, a in enumerate(cache))

    f.__name__ = fn.__name__
    return f


@pytest.mark.parametrize("both_references", ["torch"], indirect=True)  # the hidden tests' sizes: no saved call
@pytest.mark.parametrize(
    "unit,check,fwd,bwd",
    [
        ("06_lstm", L.check_lstm_backward, "lstm_forward", "lstm_backward"),
        ("07_gru", G.check_gru_backward, "gru_forward", "gru_backward"),
    ],
)
def test_a_float32_cache_is_named_as_a_precision_problem(solution_answers, unit, check, fwd, bwd):
    """The check cannot look into the cache (the verifier keeps it in the student's process), but a gradient
    wrong only in its 6th digit is float32's rounding, not a mistake in the maths."""
    ns = solution_answers(unit)
    msg = hint_of(check, float32_cache(ns[fwd]), ns[bwd], N=3, T=15, D=4, H=6, seed=3)
    assert "float32's precision: is an array of the forward's cache" in msg, msg
    assert_ids(msg, "common.float32_precision")
