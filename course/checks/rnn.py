"""Checks of unit 3 (rnn): the tanh RNN step and sequence forward, the IndRNN step.

References: ``torch.nn.RNN`` (float64) with the student's weights copied in
(``weight_ih = Wx.T``, ``weight_hh = Wh.T``, ``bias_ih + bias_hh = b``, both
torch biases nonzero), an IndRNN step written with torch operations, and
hand-worked cases. When an output is wrong, the same torch reference is run
on a few typical mistakes (transposed weights, no bias, no recurrence, ...)
so the message can say which one it looks like.
"""

import numpy as np

from course.checks._common import BIAS_MISSING
from course.checks._common import forward_out as _forward
from course.checks._common import t as _t
from course.checks.hints import hint
from course.interop import require_torch
from course.references import saved_reference
from course.testing import FORWARD_TOL, assert_close, assert_close_or_hint, assert_shape

LN2, LN3 = np.log(2.0), np.log(3.0)  # tanh(ln 2) = 3/5, tanh(ln 3) = 4/5

# What a student is told (course.checks.hints: each text with its id).
WH_TRANSPOSED = hint("rnn.wh_transposed", "you used Wh.T instead of Wh (the forward is h_prev @ Wh)")
NO_RECURRENCE = hint("rnn.no_recurrence", "h_prev @ Wh is missing")
NO_TANH = hint("rnn.no_tanh", "tanh is missing: h_next = tanh(x @ Wx + h_prev @ Wh + b)")
H0_IGNORED = hint("rnn.h0_ignored", "h0 was ignored (started from zeros)")
H_SHIFTED = hint(
    "rnn.h_shifted",
    "h is shifted by one step: h[:, t] must be the state AFTER reading x[:, t], and h0 is not part of h",
)
INDRNN_NO_RECURRENCE = hint("rnn.indrnn_no_recurrence", "u * h_prev is missing")
INDRNN_NO_RELU = hint("rnn.indrnn_no_relu", "relu is missing: h_next = relu(x @ Wx + u * h_prev + b)")
INDRNN_TANH = hint("rnn.indrnn_tanh", "you used tanh instead of relu")


@saved_reference
def torch_rnn(x, h0, Wx, Wh, b_ih, b_hh, nonlinearity="tanh"):
    """torch.nn.RNN (batch_first, float64) with copied weights: x (N, T, D), h0 (N, H) -> h (N, T, H)."""
    torch = require_torch("torch_rnn")
    D, H = Wx.shape
    rnn = torch.nn.RNN(D, H, nonlinearity=nonlinearity, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(_t(Wx).T)
        rnn.weight_hh_l0.copy_(_t(Wh).T)
        rnn.bias_ih_l0.copy_(_t(b_ih))
        rnn.bias_hh_l0.copy_(_t(b_hh))
        out, _ = rnn(_t(x), _t(h0)[None])
    return out.numpy()


def random_rnn(N, T, D, H, seed):
    """x (N, T, D), h0 (N, H), Wx, Wh, and two nonzero torch biases (their sum is the student's b)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, T, D))
    h0 = rng.normal(scale=0.5, size=(N, H))
    Wx = rng.normal(scale=1.0 / np.sqrt(D), size=(D, H))
    Wh = rng.normal(scale=1.0 / np.sqrt(H), size=(H, H))
    b_ih, b_hh = rng.normal(scale=0.5, size=H), rng.normal(scale=0.5, size=H)
    return x, h0, Wx, Wh, b_ih, b_hh


# ---------------------------------------------------------------- rnn_step_forward
def check_rnn_step_forward(rnn_step_forward, N=3, D=4, H=5, seed=0):
    """h_next = tanh(x @ Wx + h_prev @ Wh + b) against a hand-worked case and torch.nn.RNN (one step)."""
    name = "rnn_step_forward"
    x, h_prev, Wx, Wh, b_ih, b_hh = random_rnn(N, 1, D, H, seed)
    x = x[:, 0]
    h_next, _ = _forward(name, rnn_step_forward, x, h_prev, Wx, Wh, b_ih + b_hh, what="h_next")
    assert_shape(name, "h_next", h_next, (N, H))
    ref = torch_rnn(x[:, None], h_prev, Wx, Wh, b_ih, b_hh)[:, 0]

    def mistakes():
        zero = np.zeros(H)
        return [
            (WH_TRANSPOSED, torch_rnn(x[:, None], h_prev, Wx, Wh.T, b_ih, b_hh)[:, 0]),
            (BIAS_MISSING, torch_rnn(x[:, None], h_prev, Wx, Wh, zero, zero)[:, 0]),
            (NO_RECURRENCE, torch_rnn(x[:, None], 0 * h_prev, Wx, Wh, b_ih, b_hh)[:, 0]),
            (NO_TANH, x @ Wx + h_prev @ Wh + b_ih + b_hh),
        ]

    assert_close_or_hint(name, "h_next", h_next, ref, FORWARD_TOL, "torch.nn.RNN with the same weights", mistakes)

    # hand-worked: x @ Wx = [1, 2, 1], h_prev @ Wh = [0, -2, 0] (first row of Wh),
    # b = [-1, ln 2, -1 - ln 2]  ->  pre-activation [0, ln 2, -ln 2]  ->  h_next [0, 3/5, -3/5]
    x = np.array([[1.0, 2.0]])
    Wx = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]])
    h_prev = np.array([[1.0, 0.0, 0.0]])
    Wh = np.array([[0.0, -2.0, 0.0], [3.0, 1.0, 2.0], [-1.0, 0.5, 4.0]])
    b = np.array([-1.0, LN2, -1.0 - LN2])
    h_next, _ = _forward(name, rnn_step_forward, x, h_prev, Wx, Wh, b, what="h_next")
    assert_close(
        name,
        "h_next (hand-worked case)",
        h_next,
        [[0.0, 0.6, -0.6]],
        FORWARD_TOL,
        "the hand-worked value [[0, 3/5, -3/5]]",
    )


# ---------------------------------------------------------------- rnn_forward
def check_rnn_forward(rnn_forward, N=2, T=4, D=3, H=5, seed=0):
    """h (N, T, H) against a hand-worked two-step case and torch.nn.RNN, time step by time step.

    h0 is nonzero; h[:, t] is the state after reading x[:, t] (h0 itself is not part of h).
    """
    name = "rnn_forward"
    x, h0, Wx, Wh, b_ih, b_hh = random_rnn(N, T, D, H, seed)
    h, _ = _forward(name, rnn_forward, x, h0, Wx, Wh, b_ih + b_hh, what="h")
    h = assert_shape(name, "h", h, (N, T, H))
    ref = torch_rnn(x, h0, Wx, Wh, b_ih, b_hh)

    def mistakes():
        zero = np.zeros(H)
        out = [
            (WH_TRANSPOSED, torch_rnn(x, h0, Wx, Wh.T, b_ih, b_hh)),
            (BIAS_MISSING, torch_rnn(x, h0, Wx, Wh, zero, zero)),
            (H0_IGNORED, torch_rnn(x, 0 * h0, Wx, Wh, b_ih, b_hh)),
        ]
        if T > 1:
            out.append((H_SHIFTED, np.concatenate([h0[:, None], ref[:, :-1]], axis=1)))
        return out

    for t in range(T):
        assert_close_or_hint(
            name,
            f"h[:, {t}] (time step {t} of {T})",
            h[:, t],
            ref[:, t],
            FORWARD_TOL,
            "torch.nn.RNN with the same weights",
            lambda t=t: [(w, v[:, t]) for w, v in mistakes()],
        )

    # hand-worked, D = H = 1, Wx = Wh = 1, b = 0, h0 = 0:
    # h_1 = tanh(ln 2) = 3/5, h_2 = tanh((ln 3 - 3/5) + 3/5) = 4/5
    x = np.array([[[LN2], [LN3 - 0.6]]])
    h, _ = _forward(name, rnn_forward, x, np.zeros((1, 1)), np.ones((1, 1)), np.ones((1, 1)), np.zeros(1), what="h")
    assert_close(
        name,
        "h (hand-worked two-step case)",
        h,
        [[[0.6], [0.8]]],
        FORWARD_TOL,
        "the hand-worked value [[[3/5], [4/5]]] (h[:, t] is the state after reading x[:, t])",
    )


# ---------------------------------------------------------------- indrnn_step_forward
@saved_reference
def torch_indrnn_step(x, h_prev, Wx, u, b):
    """relu(x @ Wx + u * h_prev + b) written with torch operations: x (N, D), h_prev (N, H) -> (N, H)."""
    torch = require_torch("torch_indrnn_step")
    return torch.relu(torch.nn.functional.linear(_t(x), _t(Wx).T, _t(b)) + _t(u) * _t(h_prev)).numpy()


def check_indrnn_step_forward(indrnn_step_forward, N=3, D=4, H=5, seed=0):
    """h_next = relu(x @ Wx + u * h_prev + b), u (H,) element-wise, against a hand-worked case and torch."""
    name = "indrnn_step_forward"
    rng = np.random.default_rng(seed)
    x, h_prev = rng.normal(size=(N, D)), np.abs(rng.normal(size=(N, H)))  # relu states are >= 0
    Wx, u, b = rng.normal(size=(D, H)), rng.uniform(-1.5, 1.5, size=H), rng.normal(scale=0.5, size=H)
    h_next, _ = _forward(name, indrnn_step_forward, x, h_prev, Wx, u, b, what="h_next")
    assert_shape(name, "h_next", h_next, (N, H))
    ref = torch_indrnn_step(x, h_prev, Wx, u, b)

    def mistakes():
        return [
            (BIAS_MISSING, torch_indrnn_step(x, h_prev, Wx, u, 0 * b)),
            (INDRNN_NO_RECURRENCE, torch_indrnn_step(x, 0 * h_prev, Wx, u, b)),
            (INDRNN_NO_RELU, x @ Wx + u * h_prev + b),
            (INDRNN_TANH, np.tanh(x @ Wx + u * h_prev + b)),
        ]

    assert_close_or_hint(
        name, "h_next", h_next, ref, FORWARD_TOL, "relu(x @ Wx + u * h_prev + b) computed with torch", mistakes
    )

    # hand-worked: row 0: [1 + 0.5*2 + 0, -1 + 2*1 - 2] = [2, -1] -> [2, 0]
    #              row 1: [-3 + 0.5*1 + 0, 3 + 2*1 - 2] = [-2.5, 3] -> [0, 3]
    x = np.array([[1.0], [-3.0]])
    Wx = np.array([[1.0, -1.0]])
    u = np.array([0.5, 2.0])
    h_prev = np.array([[2.0, 1.0], [1.0, 1.0]])
    b = np.array([0.0, -2.0])
    h_next, _ = _forward(name, indrnn_step_forward, x, h_prev, Wx, u, b, what="h_next")
    assert_close(
        name,
        "h_next (hand-worked case)",
        h_next,
        [[2.0, 0.0], [0.0, 3.0]],
        FORWARD_TOL,
        "the hand-worked value [[2, 0], [0, 3]]",
    )
    # hand-worked, a negative h_prev (a given initial state may be): [0 + 1*(-1) + 2, 0 + (-1)*(-2) + 0] = [1, 2]
    h_prev, u = np.array([[-1.0, -2.0]]), np.array([1.0, -1.0])
    h_next, _ = _forward(
        name, indrnn_step_forward, np.zeros((1, 1)), h_prev, np.ones((1, 2)), u, np.array([2.0, 0.0]), what="h_next"
    )
    assert_close(
        name,
        "h_next (hand-worked case, h_prev [[-1, -2]], u [1, -1], b [2, 0], x @ Wx = 0)",
        h_next,
        [[1.0, 2.0]],
        FORWARD_TOL,
        "the hand-worked value [[1, 2]] (u * h_prev takes h_prev as it is, negative too)",
    )
