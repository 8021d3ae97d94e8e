"""Unit 1 (perceptron): each typical wrong implementation gets its own named hint.

Correct functions are written here (not copied from the solution); each row plants
one bug and names the distinctive words of the message the check must give, and the
id of the hint that the grader records from that message (course.checks.hints.identify).
"""

import numpy as np
import pytest

from course.checks import perceptron as P

from helpers import hint_ids_of, with_bug

pytestmark = pytest.mark.usefixtures("both_references")  # hints the same with torch and without


def predict(X, w, b, bug=None):
    score = X @ w + (0.0 if bug == "no bias" else b)
    out = score >= 0 if bug == ">= 0" else score > 0
    return out if bug == "bool" else out.astype(int)


def fit(X, y, lr=1.0, epochs=10, bug=None):
    w, b = (np.ones(X.shape[1]) if bug == "not from zeros" else np.zeros(X.shape[1])), 0.0
    if bug == "default epochs 5" and epochs == 10:
        epochs = 5
    for _ in range(epochs):
        frozen = w.copy(), b  # the "one update per epoch" bug predicts with the weights of the epoch's start
        for x_i, y_i in zip(X, y):
            w_pred, b_pred = frozen if bug == "predict with the epoch's weights" else (w, b)
            score = x_i @ w_pred + b_pred
            e = y_i - int(score >= 0 if bug == ">= 0 in the rule" else score > 0)
            w, b = w + lr * e * x_i, b + (0.0 if bug == "b not updated" else lr * e)
    return w, b


def test_the_correct_functions_pass():
    P.check_perceptron_predict(predict)
    P.check_perceptron_fit(fit)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        (">= 0", "a score of exactly 0 must predict 0: use > 0, not >= 0", "perceptron.zero_score_predicts_1"),
        ("no bias", "the bias b is missing", "perceptron.bias_missing"),
        ("bool", "must return an integer array of 0/1", "perceptron.predict_not_integer"),
    ],
)
def test_predict_hints(bug, words, hint_id):
    message, ids = hint_ids_of(P.check_perceptron_predict, with_bug(predict, bug))
    assert words in message
    assert hint_id in ids, f"{hint_id} not identified in: {message}"


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("not from zeros", "start from zeros, visit samples in order", "perceptron.fit_start_or_order"),
        (
            "predict with the epoch's weights",
            "the predictions used the weights of the start of the epoch",
            "perceptron.fit_epoch_weights",
        ),
        (
            ">= 0 in the rule",
            "a score of exactly 0 predicts 0, in the learning rule too",
            "perceptron.fit_zero_score_predicts_1",
        ),
        ("b not updated", "b is never updated: b += lr * e", "perceptron.fit_b_not_updated"),
        ("default epochs 5", "the defaults must be lr=1.0 and epochs=10", "perceptron.fit_defaults"),
    ],
)
def test_fit_hints(bug, words, hint_id):
    message, ids = hint_ids_of(P.check_perceptron_fit, with_bug(fit, bug))
    assert words in message
    assert hint_id in ids, f"{hint_id} not identified in: {message}"
