"""Checks of unit 6 (LSTM): steps and sequences, forward and backward.

References: ``torch.nn.LSTM`` (float64, batch_first) with the weights copied
by ``course.interop`` (gate order i, f, g, o; ``b = bias_ih + bias_hh``),
its autograd, and centred numerical gradients of the student's own forward.
h and c are checked separately, every gradient on its own. Both torch references
(``_lstm_ref`` through ``_common.torch_reference``, and ``_lstm_grads``) are saved
references (``course.references``): where torch is not installed they are read back
from ``saved/06_lstm.npz``, the hints' variants included.

Diagnostics, computed only when something fails:

* a backward is tested with the cache of the student's own forward, so that
  forward is checked first ("your lstm_forward is wrong (...); fix it first");
* a wrong forward is compared with torch models whose gate blocks are
  permuted, to name a wrong gate order;
* a wrong backward is compared with the gradients of LSTMs written here with
  torch in which one typical mistake is planted (``_lstm_grads``: the cell's
  gradient not carried back, carried without the forget gate, the hidden
  state's gradient not carried back, da packed in another gate order, ...),
  and with the contributions of single time steps (weight gradients not
  summed over time). The message names the mistake it matches.
"""

import numpy as np

from course.checks._common import (
    ONLY_LAST_DH,
    accumulation_candidates,
    assert_float64,
    check_numeric,
    close,
    compare_grads,
    explainer,
    first_hint,
    forward_first,
    grad_of,
    matches,
    numeric_grads,
    other_orders,
    permutation_hint,
    permute_blocks,
    random_params,
    reorder_hook,
    shift_hint,
    t,
    time_hint,
    torch_reference,
    without_derivative,
)
from course.checks.hints import hint
from course.interop import require_torch
from course.references import evaluate_when_recording, saved_reference
from course.testing import FORWARD_TOL, assert_shape, call_student, unpack

__all__ = [
    "check_lstm_step_forward",
    "check_lstm_step_backward",
    "check_lstm_forward",
    "check_lstm_backward",
    "numeric_grads",
]

LSTM_GATES = ("i", "f", "g", "o")
LSTM_GATE_NAMES = ("i (input gate)", "f (forget gate)", "g (candidate)", "o (output gate)")

# The mistakes planted in _lstm_grads, and what the student is told when their gradients match one.
# (The hidden state's gradient not carried back is the same mistake in a GRU: gru.py gives this hint too.)
DH_NOT_CARRIED = hint(
    "lstm.dh_not_carried",
    "the hidden state's gradient is not carried back in time: add dh_prev of step t+1 to "
    "dh[:, t] before the step's backward",
)
LSTM_BUGS = {
    "dc not carried": hint(
        "lstm.dc_not_carried",
        "the cell state's gradient is not carried back in time: pass dc_prev = dc * f of step t "
        "on to step t-1 and add it there (dc = dc_prev + dh_t * o * (1 - tanh(c_t)**2))",
    ),
    "dc without f": hint(
        "lstm.dc_prev_without_f",
        "dc_prev must be dc * f: the gradient to the previous cell state passes through the "
        "forget gate (c_t = f * c_prev + i * g)",
    ),
    "dh not carried": DH_NOT_CARRIED,
    "dc misses h": hint(
        "lstm.dc_misses_h_path",
        "the cell state's gradient misses the path through h_t = o * tanh(c_t): "
        "dc = dc_next + dh_next * o * (1 - tanh(c_next)**2)",
    ),
    "no tanh' of g": hint(
        "lstm.no_tanh_derivative_g", "the derivative of g = tanh(a_g) is missing: da_g = dg * (1 - g**2)"
    ),
    "no sigmoid'": hint(
        "lstm.no_sigmoid_derivative",
        "the sigmoid derivative is missing: da = d(gate) * gate * (1 - gate) for i, f and o",
    ),
}
DA_GATE_ORDER = hint(
    "lstm.da_gate_order",
    "your da (the gradient on the pre-activations, (N, 4H)) is packed in the gate order "
    "{order}; pack it in the forward's order i, f, g, o",
)
DH0_ZERO = hint("lstm.dh0_zero", "dh0 is the dh_prev of the first step; it must not be zero")
C_NEXT_WRONG = hint(
    "lstm.c_next_wrong",
    "c_next = f * c_prev + i * g with i, f = sigmoid, g = tanh of their blocks of x@Wx + h_prev@Wh + b",
)
H_NEXT_WRONG = hint(
    "lstm.h_next_wrong", "c_next is right, so look at h_next = o * tanh(c_next), o = sigmoid of the 4th block"
)
H0_IGNORED = hint(
    "lstm.h0_ignored",
    "h is what an LSTM started from h = 0 computes: the first step's h_prev is h0 (only c starts at zero)",
)
SEQUENCE_WRONG = hint(
    "lstm.sequence_wrong",
    "each step is lstm_step_forward; the cell state starts at zero and is carried from step to step",
)


# ---------------------------------------------------------------- references
def _lstm_data(rng, N, T, D, H):
    x = rng.normal(size=(N, T, D))
    h0 = rng.normal(scale=0.5, size=(N, H))
    c0 = rng.normal(scale=0.5, size=(N, H))
    Wx, Wh, b = random_params(rng, "lstm", D, H)
    return x, h0, c0, Wx, Wh, b


def _lstm_ref(x, h0, c0, Wx, Wh, b, perm=LSTM_GATES, **kw):
    p = tuple(permute_blocks(a, perm, LSTM_GATES) for a in (Wx, Wh, b))
    return torch_reference("lstm", x, [[p]], h0=h0[None], c0=None if c0 is None else c0[None], **kw)


@saved_reference
def _lstm_grads(x, h0, c0, Wx, Wh, b, dh, dc_n=None, bug=None, per_step=False):
    """Gradients of sum(h * dh) + sum(c_T * dc_n) of an LSTM written with torch, with ``bug`` planted.

    x (N, T, D), h0 and c0 (N, H) (c0 None: zeros), dh (N, T, H), dc_n (N, H) or None.
    ``bug``: None, a key of LSTM_BUGS, or a gate order (a tuple of names) in which da is packed.
    Returns ``[dx, dh0, dc0, dWx, dWh, db]``; with ``per_step``, ``(that, [[dWx_t, dWh_t, db_t] for t])``,
    the weights' contributions of each step (used to explain gradients not summed over time).
    """
    torch = require_torch("_lstm_grads")
    N, T, _ = x.shape
    H = h0.shape[1]
    tx, th0 = t(x, True), t(h0, True)
    tc0 = t(np.zeros((N, H)) if c0 is None else c0, True)
    steps = [[t(Wx, True), t(Wh, True), t(b, True)] for _ in range(T)]
    h, c, hs = th0, tc0, []
    for s, (tWx, tWh, tb) in enumerate(steps):
        h_in = h.detach() if bug == "dh not carried" and s > 0 else h
        a = tx[:, s] @ tWx + h_in @ tWh + tb
        if isinstance(bug, tuple):
            a.register_hook(reorder_hook(bug, LSTM_GATES))
        sig = (lambda v: without_derivative(torch.sigmoid, v)) if bug == "no sigmoid'" else torch.sigmoid
        i, f, o = sig(a[:, :H]), sig(a[:, H : 2 * H]), sig(a[:, 3 * H :])
        a_g = a[:, 2 * H : 3 * H]
        g = without_derivative(torch.tanh, a_g) if bug == "no tanh' of g" else torch.tanh(a_g)
        if bug == "dc not carried":
            c = f * c.detach() + i * g
        elif bug == "dc without f":
            c = f * c.detach() + (c - c.detach()) + i * g  # same value; the gradient to c_prev skips f
        else:
            c = f * c + i * g
        h = o * torch.tanh(c.detach() if bug == "dc misses h" else c)
        hs.append(h)
    loss = (torch.stack(hs, dim=1) * t(dh)).sum()
    if dc_n is not None:
        loss = loss + (c * t(dc_n)).sum()
    loss.backward()
    steps = [[grad_of(p) for p in s] for s in steps]
    grads = [grad_of(tx), grad_of(th0), grad_of(tc0), *(sum(s[k] for s in steps) for k in range(3))]
    return (grads, steps) if per_step else grads


def _backward_variants(args, dh, dc_n, select):
    """[(hint, outputs)] for every planted mistake; ``select`` picks the graded outputs from
    ``(dx, dh0, dc0, dWx, dWh, db)`` (and adapts their shapes)."""
    out = []
    for bug, text in LSTM_BUGS.items():
        out.append((text, select(_lstm_grads(*args, dh, dc_n, bug=bug))))
    for perm in other_orders(LSTM_GATES):
        out.append((DA_GATE_ORDER.format(order=", ".join(perm)), select(_lstm_grads(*args, dh, dc_n, bug=perm))))
    return out


def _gate_order_hint(got, key, args, index=lambda r: r):
    return lambda: permutation_hint(
        got, lambda perm: index(_lstm_ref(*args, perm=perm)[key]), LSTM_GATES, FORWARD_TOL, "i, f, g, o"
    )


# ---------------------------------------------------------------- forwards
def _check_step_outputs(name, out, args):
    """h_next and c_next of one step (``out`` = what lstm_step_forward returned) against torch."""
    N, H = np.shape(args[1])
    assert_float64(name, "h_next", out[0]), assert_float64(name, "c_next", out[1])
    h_next, c_next = assert_shape(name, "h_next", out[0], (N, H)), assert_shape(name, "c_next", out[1], (N, H))
    seq_args = (args[0][:, None], *args[1:])
    ref = _lstm_ref(*seq_args)
    close(
        name,
        "c_next",
        c_next,
        ref["c_n"][0],
        FORWARD_TOL,
        "torch.nn.LSTM",
        first_hint(
            _gate_order_hint(c_next, "c_n", seq_args, lambda r: r[0]),
            C_NEXT_WRONG,
        ),
    )
    close(
        name,
        "h_next",
        h_next,
        ref["h"][:, 0],
        FORWARD_TOL,
        "torch.nn.LSTM",
        first_hint(
            _gate_order_hint(h_next, "h", seq_args, lambda r: r[:, 0]),
            H_NEXT_WRONG,
        ),
    )


def _h0_ignored_hint(h, ref_args):
    x, h0, c0, *params = ref_args
    if matches(h, _lstm_ref(x, np.zeros_like(h0), c0, *params)["h"]):
        return H0_IGNORED
    return None


def _check_sequence_output(name, h, args):
    """h (N, T, H) of lstm_forward(x, h0, Wx, Wh, b) = ``args`` against torch (c0 = 0)."""
    x, h0 = args[0], args[1]
    h = assert_shape(name, "h", assert_float64(name, "h", h), (*x.shape[:2], h0.shape[1]))
    ref_args = (x, h0, None, *args[2:])
    ref = _lstm_ref(*ref_args)["h"]
    close(
        name,
        "h",
        h,
        ref,
        FORWARD_TOL,
        "torch.nn.LSTM",
        first_hint(
            _gate_order_hint(h, "h", ref_args),
            lambda: shift_hint(h, ref, FORWARD_TOL),
            lambda: _h0_ignored_hint(h, ref_args),
            lambda: time_hint(h, ref, FORWARD_TOL),
            SEQUENCE_WRONG,
        ),
    )


def check_lstm_step_forward(lstm_step_forward, N=3, D=4, H=5, seed=0):
    """(h_next, c_next) of one step against torch.nn.LSTM (T = 1) with copied weights; c and h separately."""
    name = "lstm_step_forward"
    x, h_prev, c_prev, Wx, Wh, b = _lstm_data(np.random.default_rng(seed), N, 1, D, H)
    args = (x[:, 0], h_prev, c_prev, Wx, Wh, b)
    out = unpack(name, call_student(lstm_step_forward, *args), 3, "(h_next, c_next, cache)")
    _check_step_outputs(name, out, args)


def check_lstm_forward(lstm_forward, N=2, T=4, D=3, H=5, seed=0):
    """h (N, T, H) against torch.nn.LSTM(batch_first=True) with h0 given and c0 = 0."""
    name = "lstm_forward"
    x, h0, _, Wx, Wh, b = _lstm_data(np.random.default_rng(seed), N, T, D, H)
    out = unpack(name, call_student(lstm_forward, x, h0, Wx, Wh, b), 2, "(h, cache)")
    _check_sequence_output(name, out[0], (x, h0, Wx, Wh, b))


# ---------------------------------------------------------------- backwards
def check_lstm_step_backward(lstm_step_forward, lstm_step_backward, N=3, D=4, H=5, seed=0, numeric=False):
    """(dx, dh_prev, dc_prev, dWx, dWh, db) against torch autograd, for upstream gradients on
    h_next only, on c_next only and on both (and numerical gradients when ``numeric``)."""
    name = "lstm_step_backward"
    rng = np.random.default_rng(seed)
    x, h_prev, c_prev, Wx, Wh, b = _lstm_data(rng, N, 1, D, H)
    args = (x[:, 0], h_prev, c_prev, Wx, Wh, b)
    dh, dc = rng.normal(size=(N, H)), rng.normal(size=(N, H))
    whats = ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")
    shapes = ((N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,))
    seq = (x, h_prev, c_prev, Wx, Wh, b)

    def select(g):
        return (g[0][:, 0], *g[1:])

    first = True
    for dh_next, dc_next, upstream in [
        (dh, 0 * dc, "dh_next only, dc_next = 0"),
        (0 * dh, dc, "dc_next only, dh_next = 0"),
        (dh, dc, "dh_next and dc_next"),
    ]:
        out = unpack("lstm_step_forward", call_student(lstm_step_forward, *args), 3, "(h_next, c_next, cache)")
        if first:
            forward_first(
                name, "lstm_step_forward", lambda out=out: _check_step_outputs("lstm_step_forward", out, args)
            )
            first = False
        grads = unpack(
            name, call_student(lstm_step_backward, dh_next, dc_next, out[2]), 6, "(dx, dh_prev, dc_prev, dWx, dWh, db)"
        )
        ref = _lstm_ref(*seq, dh=dh_next[:, None], dc_n=dc_next[None])
        refs = (ref["dx"][:, 0], ref["dh0"][0], ref["dc0"][0], *ref["grads"][0][0])

        def variants(dh_next=dh_next, dc_next=dc_next):
            return _backward_variants(seq, dh_next[:, None], dc_next, select)

        explain = explainer(grads, refs, variants, gates=LSTM_GATE_NAMES, gated=(3, 4, 5), whats=whats)
        compare_grads(name, whats, grads, refs, shapes, f" (upstream: {upstream})", explain)
    if numeric:
        check_numeric(name, lstm_step_forward, "lstm_step_forward", args, lambda o: o[:2], (dh, dc), whats, grads)


def check_lstm_backward(lstm_forward, lstm_backward, N=2, T=4, D=3, H=5, seed=0, numeric=False):
    """(dx, dh0, dWx, dWh, db) for an upstream gradient on every h_t, against torch autograd
    (and numerical gradients when ``numeric``). lstm_forward is checked first."""
    name = "lstm_backward"
    rng = np.random.default_rng(seed)
    x, h0, _, Wx, Wh, b = _lstm_data(rng, N, T, D, H)
    args = (x, h0, Wx, Wh, b)
    dh = rng.normal(size=(N, T, H))
    out = unpack("lstm_forward", call_student(lstm_forward, *args), 2, "(h, cache)")
    forward_first(name, "lstm_forward", lambda: _check_sequence_output("lstm_forward", out[0], args))
    grads = unpack(name, call_student(lstm_backward, dh, out[1]), 5, "(dx, dh0, dWx, dWh, db)")
    ref = _lstm_ref(x, h0, None, Wx, Wh, b, dh=dh)
    whats = ("dx", "dh0", "dWx", "dWh", "db")
    refs = (ref["dx"], ref["dh0"][0], *ref["grads"][0][0])
    shapes = ((N, T, D), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,))
    seq = (x, h0, None, Wx, Wh, b)
    per_step = {}

    def select(g):
        return (g[0], g[1], *g[3:])

    def candidates(i):
        if "p" not in per_step:
            per_step["p"] = _lstm_grads(*seq, dh, per_step=True)[1]
        out = accumulation_candidates(whats[i], per_step["p"], ("dWx", "dWh", "db"))
        if T > 1:
            last_only = np.zeros_like(dh)
            last_only[:, -1] = dh[:, -1]
            out.append((ONLY_LAST_DH, select(_lstm_grads(*seq, last_only))[i]))
        if whats[i] == "dh0":
            out.append((DH0_ZERO, np.zeros((N, H))))
        return out

    def variants():
        return _backward_variants(seq, dh, None, select)

    explain = explainer(grads, refs, variants, candidates, LSTM_GATE_NAMES, gated=(2, 3, 4), whats=whats)
    # saved with the solution's references: diagnose may stop at a variant equal to the correct answer
    # (T = 1: dh not carried), before the candidates
    evaluate_when_recording(variants, *(lambda i=i: candidates(i) for i in range(len(whats))))
    compare_grads(name, whats, grads, refs, shapes, "", explain)
    if numeric:
        check_numeric(name, lstm_forward, "lstm_forward", args, lambda o: o[:1], (dh,), whats, grads)
