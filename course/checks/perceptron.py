"""Checks of unit 1 (perceptron).

``perceptron_predict`` is compared with torch (``torch_predict``, saved for
the visible tests: course.references) and with hand-worked gates.
``perceptron_fit`` has no library twin (scikit-learn's Perceptron updates on
a zero score, Rosenblatt's rule as stated here does not), so it is checked
by hand-worked traces and by properties that pin the rule down completely:
each sample of an epoch changes (w, b) by exactly lr * e * (x_i, 1) with
e = y_i - predict(x_i) under the weights before it, and E epochs equal one
epoch over the data repeated E times.
"""

import numpy as np

from course.checks.hints import hint
from course.interop import require_torch
from course.references import saved_reference
from course.testing import assert_close, assert_shape, call_student, unpack

AND_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
AND_Y = np.array([0, 0, 0, 1])
# Traced by hand in the lecture: from w = (0, 0), b = 0 the first update
# happens at (1, 1); after 5 epochs the rule has converged.
AND_TRACE = {1: ([1.0, 1.0], 1.0), 2: ([2.0, 1.0], 0.0), 10: ([2.0, 1.0], -2.0)}

# What a student is told (course.checks.hints: each text with its id).
PREDICT_NOT_INTEGER = hint(
    "perceptron.predict_not_integer", "must return an integer array of 0/1, got dtype {dtype} (hint: .astype(int))"
)
PREDICT_NOT_0_OR_1 = hint("perceptron.predict_not_0_or_1", "predictions must be 0 or 1, got values {values}")
ZERO_SCORE_PREDICTS_1 = hint(
    "perceptron.zero_score_predicts_1", "a score of exactly 0 must predict 0: use > 0, not >= 0"
)
BIAS_MISSING = hint("perceptron.bias_missing", "the bias b is missing: the score is X @ w + b")
CLASSES_SWAPPED = hint("perceptron.classes_swapped", "the classes are swapped: predict 1 where the score is > 0")
FIT_START = hint("perceptron.fit_start_or_order", "start from zeros, visit samples in order")
FIT_UPDATE = hint(
    "perceptron.fit_update_wrong",
    "after sample {k} of the first epoch (lr={lr}) got w={w}, b={b}; expected w={w_ref}, b={b_ref} "
    "(e = y_i - predict(x_i) with the weights before the update)",
)
FIT_EPOCHS = hint(
    "perceptron.fit_epochs_wrong",
    "b after {epochs} epochs is {b}, expected {b_ref} (each epoch visits every sample once, in order, keeping w and b)",
)
FIT_DEFAULTS = hint("perceptron.fit_defaults", "the defaults must be lr=1.0 and epochs=10")


def _predict(name, fn, X, w, b):
    out = call_student(fn, X, w, b)
    arr = assert_shape(name, "the prediction", out, (X.shape[0],))
    if not np.issubdtype(np.asarray(out).dtype, np.integer):
        raise AssertionError(f"{name}: {PREDICT_NOT_INTEGER.format(dtype=np.asarray(out).dtype)}")
    if not np.all((arr == 0) | (arr == 1)):
        raise AssertionError(f"{name}: {PREDICT_NOT_0_OR_1.format(values=np.unique(arr))}")
    return np.asarray(out)


def _predict_hint(got, X, w, b):
    """Name a typical mistake that the wrong predictions ``got`` match (or "")."""
    score = X @ w + b
    for wrong, text in [(score >= 0, ZERO_SCORE_PREDICTS_1), (X @ w > 0, BIAS_MISSING), (score < 0, CLASSES_SWAPPED)]:
        if np.array_equal(got, wrong.astype(int)):
            return f"; it looks like {text}"
    return ""


@saved_reference
def torch_predict(X, w, b):
    """(X @ w + b > 0) as integers, computed by torch: X (N, D), w (D,), b a number -> (N,) of 0/1."""
    torch = require_torch("torch_predict")
    return (torch.from_numpy(X) @ torch.from_numpy(w) + b > 0).numpy().astype(int)


def check_perceptron_predict(perceptron_predict, N=10, D=3, seed=0):
    """1 where X @ w + b > 0, else 0 (a score of exactly 0 predicts 0)."""
    name = "perceptron_predict"
    for w, b, expected, gate in [
        ([1.0, 1.0], -1.5, [0, 0, 0, 1], "the AND gate"),
        ([1.0, 1.0], -0.5, [0, 1, 1, 1], "the OR gate"),
        ([1.0, 1.0], -1.0, [0, 0, 0, 1], "a score of exactly 0 on (0,1) and (1,0)"),
    ]:
        got = _predict(name, perceptron_predict, AND_X, np.array(w), b)
        if not np.array_equal(got, expected):
            raise AssertionError(
                f"{name}: with w={w}, b={b} ({gate}) got {got.tolist()}, expected {expected}"
                + _predict_hint(got, AND_X, np.array(w), b)
            )
    rng = np.random.default_rng(seed)
    X, w, b = rng.normal(size=(N, D)), rng.normal(size=D), float(rng.normal())
    ref = torch_predict(X, w, b)
    got = _predict(name, perceptron_predict, X, w, b)
    wrong = np.flatnonzero(got != ref)
    if wrong.size:
        raise AssertionError(  # not a hint: the verdict; _predict_hint names the mistake
            f"{name}: wrong prediction for sample(s) {wrong.tolist()[:5]} of {N} (random data)"
            + _predict_hint(got, X, w, b)
        )


def _fit(fn, X, y, **kw):
    name = "perceptron_fit"
    w, b = unpack(name, call_student(fn, X, y, **kw), 2, "(w, b)")
    w = assert_shape(name, "w", w, (X.shape[1],))
    if np.ndim(b) != 0:
        raise AssertionError(f"{name}: b must be a scalar, got shape {np.shape(b)}")
    return w, float(b)


# Typical wrong versions of the rule, run on the AND trace only to name what a wrong answer looks like.
_FIT_MISTAKES = {
    "epoch": hint(
        "perceptron.fit_epoch_weights",
        "the predictions used the weights of the start of the epoch; e = y_i - predict(x_i) with the weights "
        "before the update of sample i, updated after every sample",
    ),
    ">=": hint(
        "perceptron.fit_zero_score_predicts_1",
        "a score of exactly 0 predicts 0, in the learning rule too (> 0, not >= 0)",
    ),
    "no b": hint("perceptron.fit_b_not_updated", "b is never updated: b += lr * e, like w"),
}


def _fit_variant(X, y, lr, epochs, mistake):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        w0, b0 = w.copy(), b
        for x_i, y_i in zip(X, y):
            wp, bp = (w0, b0) if mistake == "epoch" else (w, b)
            score = x_i @ wp + bp
            e = y_i - int(score >= 0 if mistake == ">=" else score > 0)
            w, b = w + lr * e * x_i, b + (0.0 if mistake == "no b" else lr * e)
    return w, b


def _fit_hint(perceptron_fit):
    """Name the typical mistake whose (w, b) after 1, 2 and 10 epochs on AND all match the student's."""
    got = {ep: _fit(perceptron_fit, AND_X, AND_Y, lr=1.0, epochs=ep) for ep in AND_TRACE}
    for mistake, text in _FIT_MISTAKES.items():
        if all(
            np.allclose(w, w_v, rtol=0, atol=1e-9) and abs(b - b_v) < 1e-9
            for ep, (w, b) in got.items()
            for w_v, b_v in [_fit_variant(AND_X, AND_Y, 1.0, ep, mistake)]
        ):
            return f"; it looks like {text}"
    return f" ({FIT_START})"


def check_perceptron_fit(perceptron_fit, N=12, D=3, seed=0, lr=0.5, epochs=3):
    """Rosenblatt's rule: hand-worked AND traces, then the per-sample update and the epoch structure."""
    name = "perceptron_fit"
    for ep, (w_ref, b_ref) in AND_TRACE.items():
        w, b = _fit(perceptron_fit, AND_X, AND_Y, lr=1.0, epochs=ep)
        if not (np.allclose(w, w_ref, rtol=0, atol=1e-12) and abs(b - b_ref) < 1e-12):
            raise AssertionError(  # not a hint: the verdict; _fit_hint names the mistake
                f"{name}: on AND with lr=1, epochs={ep} got w={w.tolist()}, b={b}; "
                f"expected w={w_ref}, b={b_ref}" + _fit_hint(perceptron_fit)
            )
    # Integer-valued data keep every step exact, and scores of exactly 0 occur.
    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, size=(N, D)).astype(float)
    y = rng.integers(0, 2, size=N)
    w_prev, b_prev = np.zeros(D), 0.0
    for k in range(1, N + 1):
        w, b = _fit(perceptron_fit, X[:k], y[:k], lr=lr, epochs=1)
        e = y[k - 1] - int(X[k - 1] @ w_prev + b_prev > 0)
        w_ref, b_ref = w_prev + lr * e * X[k - 1], b_prev + lr * e
        if not (np.allclose(w, w_ref, rtol=0, atol=1e-9) and abs(b - b_ref) < 1e-9):
            text = FIT_UPDATE.format(k=k - 1, lr=lr, w=w.tolist(), b=b, w_ref=w_ref.tolist(), b_ref=b_ref)
            raise AssertionError(f"{name}: {text}")
        w_prev, b_prev = w, b
    w, b = _fit(perceptron_fit, X, y, lr=lr, epochs=epochs)
    w_ref, b_ref = _fit(perceptron_fit, np.tile(X, (epochs, 1)), np.tile(y, epochs), lr=lr, epochs=1)
    assert_close(name, f"w after {epochs} epochs", w, w_ref, 1e-12, "one epoch over the data repeated")
    if abs(b - b_ref) > 1e-9:
        raise AssertionError(f"{name}: {FIT_EPOCHS.format(epochs=epochs, b=b, b_ref=b_ref)}")
    w0, b0 = _fit(perceptron_fit, X, y)
    w1, b1 = _fit(perceptron_fit, np.tile(X, (10, 1)), np.tile(y, 10), lr=1.0, epochs=1)
    if not (np.allclose(w0, w1, rtol=0, atol=1e-9) and abs(b0 - b1) < 1e-9):
        raise AssertionError(f"{name}: {FIT_DEFAULTS}")
