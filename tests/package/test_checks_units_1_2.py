"""The checks of units 1-2 accept correct implementations (any style) and reject wrong ones.

Each wrong implementation below is a mistake a student could make; the check
must fail on it with an AssertionError (not pass, not crash differently).
"""

import numpy as np
import pytest

from course.checks import backprop, perceptron


# ------------------------------------------------------------ perceptron
def predict_ok(X, w, b):
    return (X @ w + b > 0).astype(int)


def predict_loop(X, w, b):
    return np.array([1 if sum(xi * wi for xi, wi in zip(x, w)) + b > 0 else 0 for x in X], dtype=np.int64)


def fit_ok(X, y, lr=1.0, epochs=10):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            e = y_i - predict_ok(x_i[None], w, b)[0]
            w, b = w + lr * e * x_i, b + lr * e
    return w, b


def fit_vectorised_error(X, y, lr=1.0, epochs=10):  # valid: same rule, numpy scalar b
    w, b = np.zeros(X.shape[1]), np.float64(0)
    for _ in range(epochs):
        for i in range(len(y)):
            e = y[i] - (X[i] @ w + b > 0)
            w = w + (lr * e) * X[i]
            b = b + lr * e
    return w, b


@pytest.mark.parametrize("fn", [predict_ok, predict_loop])
def test_predict_check_accepts(fn):
    perceptron.check_perceptron_predict(fn)
    perceptron.check_perceptron_predict(fn, N=1, D=1, seed=1)


@pytest.mark.parametrize(
    "fn",
    [
        lambda X, w, b: (X @ w + b >= 0).astype(int),  # a score of 0 predicts 1
        lambda X, w, b: X @ w + b > 0,  # bool, not integer
        lambda X, w, b: (X @ w > 0).astype(int),  # forgets the bias
        lambda X, w, b: (X @ w + b > 0).astype(float),  # float labels
        lambda X, w, b: (X @ w + b > 0).astype(int)[:, None],  # (N, 1) instead of (N,)
        lambda X, w, b: np.sign(X @ w + b).astype(int),  # -1/+1 labels
    ],
    ids=["ge", "bool", "nobias", "float", "column", "sign"],
)
def test_predict_check_rejects(fn):
    with pytest.raises(AssertionError):
        perceptron.check_perceptron_predict(fn)


@pytest.mark.parametrize("fn", [fit_ok, fit_vectorised_error])
def test_fit_check_accepts(fn):
    perceptron.check_perceptron_fit(fn)
    perceptron.check_perceptron_fit(fn, N=1, D=1, seed=1, lr=1.0, epochs=1)


def fit_batch(X, y, lr=1.0, epochs=10):  # wrong: batch update per epoch
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        e = y - predict_ok(X, w, b)
        w, b = w + lr * e @ X, b + lr * e.sum()
    return w, b


def fit_ge(X, y, lr=1.0, epochs=10):  # wrong: score 0 predicts 1
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            e = y_i - int(x_i @ w + b >= 0)
            w, b = w + lr * e * x_i, b + lr * e
    return w, b


def fit_no_bias_update(X, y, lr=1.0, epochs=10):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            w = w + lr * (y_i - int(x_i @ w + b > 0)) * x_i
    return w, b


def fit_one_epoch_only(X, y, lr=1.0, epochs=10):
    return fit_ok(X, y, lr, 1)


def fit_random_init(X, y, lr=1.0, epochs=10):
    w, b = np.full(X.shape[1], 0.01), 0.0
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            e = y_i - int(x_i @ w + b > 0)
            w, b = w + lr * e * x_i, b + lr * e
    return w, b


def fit_reversed_order(X, y, lr=1.0, epochs=10):
    return fit_ok(X[::-1], y[::-1], lr, epochs)


def fit_ignores_lr(X, y, lr=1.0, epochs=10):
    return fit_ok(X, y, 1.0, epochs)


def fit_default_epochs_5(X, y, lr=1.0, epochs=5):
    return fit_ok(X, y, lr, epochs)


@pytest.mark.parametrize(
    "fn",
    [
        fit_batch,
        fit_ge,
        fit_no_bias_update,
        fit_one_epoch_only,
        fit_random_init,
        fit_reversed_order,
        fit_ignores_lr,
        fit_default_epochs_5,
    ],
)
def test_fit_check_rejects(fn):
    with pytest.raises(AssertionError):
        perceptron.check_perceptron_fit(fn)


# ------------------------------------------------------------ backprop
def affine_forward(x, W, b):
    return x @ W + b, (x, W)


def affine_backward(dout, cache):
    x, W = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def affine_forward_loops(x, W, b):  # valid: loops and a different cache
    out = np.zeros((x.shape[0], W.shape[1]))
    for n in range(x.shape[0]):
        for m in range(W.shape[1]):
            out[n, m] = sum(x[n, d] * W[d, m] for d in range(x.shape[1])) + b[m]
    return out, {"x": x.copy(), "W": W.copy(), "b": b.copy()}


def affine_backward_loops(dout, cache):
    x, W = cache["x"], cache["W"]
    return np.einsum("nm,dm->nd", dout, W), np.einsum("nd,nm->dm", x, dout), np.einsum("nm->m", dout)


def test_affine_checks_accept_both_styles():
    for fwd, bwd in [(affine_forward, affine_backward), (affine_forward_loops, affine_backward_loops)]:
        backprop.check_affine_forward(fwd)
        backprop.check_affine_backward(fwd, bwd, numeric=True)
        backprop.check_affine_backward(fwd, bwd, N=1, D=1, M=1, seed=1, numeric=True)


@pytest.mark.parametrize(
    "fwd",
    [
        lambda x, W, b: (x @ W, (x, W)),
        lambda x, W, b: (x @ W - b, (x, W)),
        lambda x, W, b: ((x @ W + b).T, (x, W)),
        lambda x, W, b: x @ W + b,
    ],
    ids=["nobias", "minus", "transposed", "nocache"],
)
def test_affine_forward_check_rejects(fwd):
    with pytest.raises(AssertionError):
        backprop.check_affine_forward(fwd)


@pytest.mark.parametrize(
    "bwd",
    [
        lambda dout, c: (0.5 * dout @ c[1].T, c[0].T @ dout, dout.sum(axis=0)),  # dx scaled
        lambda dout, c: (dout @ c[1].T, c[0].T @ dout, dout.mean(axis=0)),  # db averaged
        lambda dout, c: (dout @ c[1].T, (c[0].T @ dout).T.T * 2, dout.sum(axis=0)),  # dW doubled
        lambda dout, c: (dout @ c[1].T, c[0].T @ dout),  # db missing
        lambda dout, c: (dout @ c[1].T, c[0].T @ dout, dout.sum(axis=1)),  # db over the wrong axis
    ],
    ids=["dx", "db_mean", "dW", "missing", "db_axis"],
)
def test_affine_backward_check_rejects(bwd):
    with pytest.raises(AssertionError):
        backprop.check_affine_backward(affine_forward, bwd)


def test_activation_checks_accept_alternatives():
    sig_f = lambda x: (0.5 * (1 + np.tanh(x / 2)), x)  # noqa: E731  (another formula, input cached)
    sig_b = lambda d, x: d * np.exp(-x) / (1 + np.exp(-x)) ** 2  # noqa: E731
    backprop.check_sigmoid_forward(sig_f)
    backprop.check_sigmoid_backward(sig_f, sig_b, numeric=True)
    tanh_f = lambda x: ((np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)), {"x": x})  # noqa: E731
    tanh_b = lambda d, c: d / np.cosh(c["x"]) ** 2  # noqa: E731
    backprop.check_tanh_forward(tanh_f)
    backprop.check_tanh_backward(tanh_f, tanh_b, numeric=True)


@pytest.mark.parametrize(
    "check, fwd, bwd",
    [
        (backprop.check_sigmoid_backward, lambda x: (1 / (1 + np.exp(-x)),) * 2, lambda d, s: s * (1 - s)),
        (backprop.check_sigmoid_backward, lambda x: (1 / (1 + np.exp(-x)),) * 2, lambda d, s: d * s),
        (backprop.check_tanh_backward, lambda x: (np.tanh(x),) * 2, lambda d, t: d * (1 - t)),
        (backprop.check_tanh_backward, lambda x: (np.tanh(x),) * 2, lambda d, t: d * (1 + t**2)),
    ],
    ids=["sig_no_dout", "sig_wrong", "tanh_not_squared", "tanh_sign"],
)
def test_activation_backward_checks_reject(check, fwd, bwd):
    with pytest.raises(AssertionError):
        check(fwd, bwd)


@pytest.mark.parametrize(
    "check, fwd",
    [
        (backprop.check_sigmoid_forward, lambda x: (1 / (1 + np.exp(x)), None)),
        (backprop.check_tanh_forward, lambda x: (np.tanh(x) * 0.999, None)),
        (backprop.check_tanh_forward, lambda x: (np.tanh(np.clip(x, -2, 2)), None)),
    ],
)
def test_activation_forward_checks_reject(check, fwd):
    with pytest.raises(AssertionError):
        check(fwd)


def softmax_ok(scores, y):
    s = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    N = len(y)
    d = p.copy()
    d[np.arange(N), y] -= 1
    return -np.log(p[np.arange(N), y]).mean(), d / N


def softmax_logsumexp(scores, y):  # valid: log-sum-exp form, 0-d array loss
    m = scores.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(scores - m).sum(axis=1, keepdims=True))
    onehot = np.eye(scores.shape[1])[y]
    return np.array(np.mean(lse[:, 0] - scores[np.arange(len(y)), y])), (np.exp(scores - lse) - onehot) / len(y)


def test_softmax_check_accepts():
    for fn in (softmax_ok, softmax_logsumexp):
        backprop.check_softmax_cross_entropy(fn, numeric=True)
        backprop.check_softmax_cross_entropy(fn, N=1, C=2, seed=1)
    backprop.check_softmax_cross_entropy(softmax_logsumexp, scale=1e3)


def test_softmax_check_rejects_log_of_an_underflowed_probability():
    # softmax_ok is stable in p but takes log(p): p underflows to 0 for scores of size 1e3
    with pytest.raises(AssertionError, match="NaN or inf"):
        backprop.check_softmax_cross_entropy(softmax_ok, scale=1e3)


def softmax_unstable(scores, y):
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    N = len(y)
    d = p.copy()
    d[np.arange(N), y] -= 1
    return -np.log(p[np.arange(N), y]).mean(), d / N


def softmax_sum_not_mean(scores, y):
    loss, d = softmax_ok(scores, y)
    return loss * len(y), d * len(y)


def softmax_grad_not_divided(scores, y):
    loss, d = softmax_ok(scores, y)
    return loss, d * len(y)


def softmax_modifies_scores(scores, y):
    scores -= scores.max(axis=1, keepdims=True)
    return softmax_ok(scores, y)


@pytest.mark.parametrize(
    "fn, kw",
    [
        (softmax_unstable, {"scale": 1e3}),
        (softmax_sum_not_mean, {}),
        (softmax_grad_not_divided, {}),
        (softmax_modifies_scores, {}),
    ],
    ids=["unstable", "sum", "grad_N", "inplace"],
)
def test_softmax_check_rejects(fn, kw):
    with pytest.raises(AssertionError):
        backprop.check_softmax_cross_entropy(fn, **kw)
