"""The checks of unit 3 (rnn) accept correct implementations and reject wrong ones.

Each check is run on a reference solution, on valid alternatives (a different
cache, loops instead of matrix products) and on typical mistakes, which must
fail with a message that names the function and, where it can, the mistake.
"""

import numpy as np
import pytest
import torch

from course.checks.rnn import check_indrnn_step_forward, check_rnn_forward, check_rnn_step_forward


# ---------------------------------------------------------------- correct implementations
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    h_next = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h_next, (x, h_prev, Wx, Wh, h_next)


def rnn_step_forward_loops(x, h_prev, Wx, Wh, b):
    """Scalar loops and a dict cache: slow but correct."""
    N, D = x.shape
    H = Wh.shape[0]
    h = np.empty((N, H))
    for n in range(N):
        for j in range(H):
            a = b[j] + sum(x[n, d] * Wx[d, j] for d in range(D)) + sum(h_prev[n, k] * Wh[k, j] for k in range(H))
            h[n, j] = np.tanh(a)
    return h, {"h": h}


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h, h_prev, caches = np.zeros((N, T, h0.shape[1])), h0, []
    for t in range(T):
        h_prev, c = rnn_step_forward(x[:, t], h_prev, Wx, Wh, b)
        h[:, t] = h_prev
        caches.append(c)
    return h, caches


def rnn_forward_precomputed(x, h0, Wx, Wh, b):
    """Input projection of all steps in one matmul, time-major list of states."""
    xw = x @ Wx + b
    hs, h = [], h0
    for t in range(x.shape[1]):
        h = np.tanh(xw[:, t] + h @ Wh)
        hs.append(h)
    return np.stack(hs, axis=1), None


def indrnn_step_forward(x, h_prev, Wx, u, b):
    a = x @ Wx + u * h_prev + b
    return np.maximum(a, 0), (x, h_prev, a)


def indrnn_step_forward_diag(x, h_prev, Wx, u, b):
    a = x @ Wx + h_prev @ np.diag(u) + b
    return a * (a > 0), None


# ---------------------------------------------------------------- wrong implementations
WRONG_STEP = {
    "transposed Wh": lambda x, h, Wx, Wh, b: (np.tanh(x @ Wx + h @ Wh.T + b), None),
    "no bias": lambda x, h, Wx, Wh, b: (np.tanh(x @ Wx + h @ Wh), None),
    "no recurrence": lambda x, h, Wx, Wh, b: (np.tanh(x @ Wx + b), None),
    "no tanh": lambda x, h, Wx, Wh, b: (x @ Wx + h @ Wh + b, None),
    "relu": lambda x, h, Wx, Wh, b: (np.maximum(0, x @ Wx + h @ Wh + b), None),
    "sigmoid": lambda x, h, Wx, Wh, b: (1 / (1 + np.exp(-(x @ Wx + h @ Wh + b))), None),
    "bias twice": lambda x, h, Wx, Wh, b: (np.tanh(x @ Wx + h @ Wh + 2 * b), None),
    "no cache": lambda x, h, Wx, Wh, b: np.tanh(x @ Wx + h @ Wh + b),
    "extra batch axis": lambda x, h, Wx, Wh, b: (np.tanh(x @ Wx + h @ Wh + b)[None], None),
}


def _modifies_input(x, h, Wx, Wh, b):
    h += 0.0  # harmless value, but an in-place write: allowed only if it changes nothing
    x *= 2.0
    return np.tanh(x @ Wx + h @ Wh + b), None


def _uses_torch(x, h, Wx, Wh, b):
    return torch.tanh(torch.from_numpy(x @ Wx + h @ Wh + b)).numpy(), None


def _imports_torch(x, h, Wx, Wh, b):
    import torch as th  # fails while a graded function runs

    return th.tanh(th.from_numpy(x @ Wx + h @ Wh + b)).numpy(), None


WRONG_STEP["modifies x"] = _modifies_input
WRONG_STEP["uses torch"] = _uses_torch


def _named(table, name):
    """Give every wrong variant the graded function's name, as in a notebook."""
    for fn in table.values():
        fn.__name__ = name
    return table


def _seq_from_step(step):
    def fwd(x, h0, Wx, Wh, b):
        hs, h = [], h0
        for t in range(x.shape[1]):
            h, _ = step(x[:, t], h, Wx, Wh, b)
            hs.append(h)
        return np.stack(hs, axis=1), None

    return fwd


def _shifted(x, h0, Wx, Wh, b):
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    return np.concatenate([h0[:, None], h[:, :-1]], axis=1), None


def _h0_ignored(x, h0, Wx, Wh, b):
    return rnn_forward(x, np.zeros_like(h0), Wx, Wh, b)


def _time_major(x, h0, Wx, Wh, b):
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    return h.transpose(1, 0, 2), None


def _reversed(x, h0, Wx, Wh, b):
    h, _ = rnn_forward(x[:, ::-1], h0, Wx, Wh, b)
    return h[:, ::-1], None


def _last_state_everywhere(x, h0, Wx, Wh, b):
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    return np.repeat(h[:, -1:], x.shape[1], axis=1), None


def _no_recurrence_after_first(x, h0, Wx, Wh, b):
    """Every step starts from h0 instead of the previous state."""
    return np.tanh(x @ Wx + (h0 @ Wh)[:, None] + b), None


def _overwrites_first_step(x, h0, Wx, Wh, b):
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    h[:, 0] = 0.0
    return h, None


WRONG_SEQ = {
    "transposed Wh": _seq_from_step(WRONG_STEP["transposed Wh"]),
    "no bias": _seq_from_step(WRONG_STEP["no bias"]),
    "shifted by one (h0 included)": _shifted,
    "h0 ignored": _h0_ignored,
    "time-major output": _time_major,
    "reads the sequence backwards": _reversed,
    "last state repeated": _last_state_everywhere,
    "h0 at every step": _no_recurrence_after_first,
    "first step zeroed": _overwrites_first_step,
}

WRONG_IND = {
    "u as a matrix product": lambda x, h, Wx, u, b: (np.maximum(0, x @ Wx + (h @ u)[:, None] + b), None),
    "no relu": lambda x, h, Wx, u, b: (x @ Wx + u * h + b, None),
    "tanh": lambda x, h, Wx, u, b: (np.tanh(x @ Wx + u * h + b), None),
    "no bias": lambda x, h, Wx, u, b: (np.maximum(0, x @ Wx + u * h), None),
    "no recurrence": lambda x, h, Wx, u, b: (np.maximum(0, x @ Wx + b), None),
    "relu before the recurrence": lambda x, h, Wx, u, b: (np.maximum(0, x @ Wx + b) + u * h, None),
    "abs instead of relu": lambda x, h, Wx, u, b: (np.abs(x @ Wx + u * h + b), None),
    "u squared": lambda x, h, Wx, u, b: (np.maximum(0, x @ Wx + u * u * h + b), None),
    # right for the states relu makes (>= 0), wrong for a given negative h_prev
    "abs of h_prev": lambda x, h, Wx, u, b: (np.maximum(0, x @ Wx + u * np.abs(h) + b), None),
    "relu of h_prev": lambda x, h, Wx, u, b: (np.maximum(0, x @ Wx + u * np.maximum(h, 0) + b), None),
}


# ---------------------------------------------------------------- tests
_named(WRONG_STEP, "rnn_step_forward")
_named(WRONG_SEQ, "rnn_forward")
_named(WRONG_IND, "indrnn_step_forward")


@pytest.mark.parametrize("fn", [rnn_step_forward, rnn_step_forward_loops])
@pytest.mark.parametrize("shape", [dict(), dict(N=1, D=1, H=1, seed=1), dict(N=3, D=7, H=5, seed=2)])
def test_rnn_step_forward_accepts(fn, shape):
    check_rnn_step_forward(fn, **shape)


@pytest.mark.parametrize("wrong", sorted(WRONG_STEP))
def test_rnn_step_forward_rejects(wrong):
    with pytest.raises(AssertionError, match="rnn_step_forward|must not use torch"):
        check_rnn_step_forward(WRONG_STEP[wrong])


def test_rnn_step_forward_messages():
    with pytest.raises(AssertionError, match=r"Wh\.T instead of Wh"):
        check_rnn_step_forward(WRONG_STEP["transposed Wh"])
    with pytest.raises(AssertionError, match="must not use torch"):
        check_rnn_step_forward(WRONG_STEP["uses torch"])
    with pytest.raises(AssertionError, match="modified its input `x`"):
        check_rnn_step_forward(WRONG_STEP["modifies x"])
    with pytest.raises(ImportError):  # the test cell errors: no points either
        check_rnn_step_forward(_imports_torch)


@pytest.mark.parametrize("fn", [rnn_forward, rnn_forward_precomputed, _seq_from_step(rnn_step_forward_loops)])
@pytest.mark.parametrize(
    "shape",
    [dict(), dict(N=1, T=1, D=1, H=1, seed=1), dict(N=1, T=6, D=2, H=3, seed=2), dict(N=4, T=1, D=3, H=2, seed=3)],
)
def test_rnn_forward_accepts(fn, shape):
    check_rnn_forward(fn, **shape)


@pytest.mark.parametrize("wrong", sorted(WRONG_SEQ))
def test_rnn_forward_rejects(wrong):
    with pytest.raises(AssertionError, match="rnn_forward"):
        check_rnn_forward(WRONG_SEQ[wrong])


def test_rnn_forward_messages():
    with pytest.raises(AssertionError, match="shifted by one step"):
        check_rnn_forward(_shifted)
    with pytest.raises(AssertionError, match="h0 was ignored"):
        check_rnn_forward(_h0_ignored)
    with pytest.raises(AssertionError, match=r"has shape \(4, 2, 5\), expected \(2, 4, 5\)"):
        check_rnn_forward(_time_major)


@pytest.mark.parametrize("fn", [indrnn_step_forward, indrnn_step_forward_diag])
@pytest.mark.parametrize("shape", [dict(), dict(N=1, D=1, H=1, seed=1), dict(N=4, D=2, H=6, seed=2)])
def test_indrnn_step_forward_accepts(fn, shape):
    check_indrnn_step_forward(fn, **shape)


@pytest.mark.parametrize("wrong", sorted(WRONG_IND))
def test_indrnn_step_forward_rejects(wrong):
    with pytest.raises(AssertionError, match="indrnn_step_forward"):
        check_indrnn_step_forward(WRONG_IND[wrong])
