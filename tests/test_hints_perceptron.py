"""Unit 1 (perceptron): each typical wrong implementation gets its own named hint.

Correct functions are written here (not copied from the solution); each row plants
one bug and names the distinctive words of the message the check must give.
"""

import numpy as np
import pytest

from course.checks import perceptron as P

from helpers import hint_of, with_bug


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
    "bug,words",
    [
        (">= 0", "a score of exactly 0 must predict 0: use > 0, not >= 0"),
        ("no bias", "the bias b is missing"),
        ("bool", "must return an integer array of 0/1"),
    ],
)
def test_predict_hints(bug, words):
    assert words in hint_of(P.check_perceptron_predict, with_bug(predict, bug))


@pytest.mark.parametrize(
    "bug,words",
    [
        ("not from zeros", "start from zeros, visit samples in order"),
        ("predict with the epoch's weights", "the predictions used the weights of the start of the epoch"),
        (">= 0 in the rule", "a score of exactly 0 predicts 0, in the learning rule too"),
        ("b not updated", "b is never updated: b += lr * e"),
        ("default epochs 5", "the defaults must be lr=1.0 and epochs=10"),
    ],
)
def test_fit_hints(bug, words):
    assert words in hint_of(P.check_perceptron_fit, with_bug(fit, bug))
