"""Checks of unit 6 (LSTM): steps and sequences, forward and backward.

References: ``torch.nn.LSTM`` (float64, batch_first) with the weights copied
by ``course.interop`` (gate order i, f, g, o; ``b = bias_ih + bias_hh``),
its autograd, and centred numerical gradients of the student's own forward.
h and c are checked separately, every gradient on its own, and a wrong
forward is compared with torch models whose gate blocks are permuted, to
name a wrong gate order.

The helpers at the top (random weights, closeness with hints) are shared
with the checks of units 7 and 8.
"""

import itertools

import numpy as np

from course.gradient_check import eval_numerical_gradient_array, rel_error
from course.interop import torch_reference
from course.testing import BACKWARD_TOL, FORWARD_TOL, assert_close, assert_shape, call_student, unpack

LSTM_GATES = ("i", "f", "g", "o")
LSTM_GATE_NAMES = ("i (input gate)", "f (forget gate)", "g (candidate)", "o (output gate)")


# ---------------------------------------------------------------- shared helpers


def random_params(rng, kind, D, H):
    """Weights of one recurrent layer in the course's layout (not too saturated).

    rnn/lstm: (Wx (D, gH), Wh (H, gH), b (gH,)); gru: (Wx, Wh, bx, bh).
    """
    g = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    Wx = rng.normal(scale=1.0 / np.sqrt(D), size=(D, g * H))
    Wh = rng.normal(scale=1.0 / np.sqrt(H), size=(H, g * H))
    if kind == "gru":
        return Wx, Wh, rng.normal(scale=0.5, size=g * H), rng.normal(scale=0.5, size=g * H)
    return Wx, Wh, rng.normal(scale=0.5, size=g * H)


def close(name, what, got, ref, tol, reference, hint=None):
    """assert_close, with ``hint()`` (a string or None) appended to the message on failure."""
    try:
        return assert_close(name, what, got, ref, tol, reference)
    except AssertionError as e:
        extra = hint() if hint is not None else None
        if extra:
            raise AssertionError(f"{e}\n  hint: {extra}") from None
        raise


def block_hint(got, ref, gates, tol):
    """Which gate blocks (last axis split in len(gates) equal parts) of ``got`` are wrong."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != np.shape(ref) or got.shape[-1] % len(gates):
        return None
    H = got.shape[-1] // len(gates)
    bad = [
        g for k, g in enumerate(gates) if rel_error(got[..., k * H : (k + 1) * H], ref[..., k * H : (k + 1) * H]) > tol
    ]
    if 0 < len(bad) < len(gates):
        return f"only the block(s) of {', '.join(bad)} are wrong (the others match)"
    return None


def time_hint(got, ref, tol, axis=1):
    """Which time steps (axis 1 of (N, T, ...)) of ``got`` are wrong, when only some are."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != np.shape(ref) or got.ndim < 2 or got.shape[axis] < 2:
        return None
    T = got.shape[axis]
    bad = [t for t in range(T) if rel_error(np.take(got, t, axis), np.take(ref, t, axis)) > tol]
    if 0 < len(bad) < T:
        ok = [t for t in range(T) if t not in bad]
        return f"time steps t = {bad} are wrong, t = {ok} match"
    return None


def shift_hint(got, ref, tol):
    """If ``got`` (N, T, ...) is ``ref`` shifted by one step in time, say so."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != np.shape(ref) or got.ndim < 2 or got.shape[1] < 2:
        return None
    if rel_error(got[:, 1:], ref[:, :-1]) < tol:
        return "the sequence is shifted one step late: h[:, t] must be the state after reading x[:, t]"
    if rel_error(got[:, :-1], ref[:, 1:]) < tol:
        return "the sequence is shifted one step early: h[:, t] must be the state after reading x[:, t]"
    return None


def permutation_hint(got, make_ref, gates, tol, label):
    """If ``got`` equals the reference computed with the gate blocks read in another order, say so.

    make_ref(perm) returns the reference output when the weights' blocks are
    permuted so that block k is used as gate perm[k]'s (perm a tuple of gate
    names); ``label`` names the contract's order, e.g. "i, f, g, o".
    """
    got = np.asarray(got, dtype=np.float64)
    for perm in itertools.permutations(gates):
        if perm == tuple(gates):
            continue
        try:
            ref = make_ref(perm)
        except Exception:
            continue
        if got.shape == np.shape(ref) and rel_error(got, ref) < tol:
            return (
                f"the result matches the gate order {', '.join(perm)}; the contract uses {label} "
                f"(column blocks of Wx, Wh and b, each H wide)"
            )
    return None


def permute_blocks(a, perm, gates):
    """Reorder the gate blocks of ``a`` (last axis) so that a model with the contract's order
    computes what a model reading block k as gate perm[k] computes with ``a``."""
    a = np.asarray(a)
    H = a.shape[-1] // len(gates)
    blocks = [None] * len(gates)
    for k, g in enumerate(perm):
        blocks[list(gates).index(g)] = a[..., k * H : (k + 1) * H]
    return np.concatenate(blocks, axis=-1)


def numeric_grads(forward, args, outputs, upstream, which):
    """Centred numerical gradients of sum_k sum(outputs(forward(*args))[k] * upstream[k]) w.r.t. args[i].

    ``forward`` is the student's function (called through call_student);
    ``outputs`` picks the differentiated arrays from its return value;
    ``which`` the indices of args. The difference is taken per output entry
    before summing (less round-off than differencing a summed loss), and two
    step sizes are combined (Richardson: (4 D(h/2) - D(h)) / 3 cancels the
    h^2 error term), so that small gradient entries are accurate to ~1e-8.
    Returns a list of arrays in the order of ``which``.
    """
    args = [np.array(a, dtype=np.float64, copy=True) for a in args]
    df = np.concatenate([np.ravel(u) for u in upstream])
    grads = []
    for i in which:

        def f(v, i=i):
            a = list(args)
            a[i] = v
            return np.concatenate(
                [np.ravel(np.asarray(o, dtype=np.float64)) for o in outputs(call_student(forward, *a))]
            )

        coarse = eval_numerical_gradient_array(f, args[i].copy(), df, h=1e-4)
        fine = eval_numerical_gradient_array(f, args[i].copy(), df, h=5e-5)
        grads.append((4.0 * fine - coarse) / 3.0)
    return grads


# ---------------------------------------------------------------- LSTM
def _lstm_data(rng, N, T, D, H):
    x = rng.normal(size=(N, T, D))
    h0 = rng.normal(scale=0.5, size=(N, H))
    c0 = rng.normal(scale=0.5, size=(N, H))
    Wx, Wh, b = random_params(rng, "lstm", D, H)
    return x, h0, c0, Wx, Wh, b


def _lstm_ref(x, h0, c0, Wx, Wh, b, perm=LSTM_GATES, **kw):
    p = tuple(permute_blocks(a, perm, LSTM_GATES) for a in (Wx, Wh, b))
    return torch_reference("lstm", x, [[p]], h0=h0[None], c0=None if c0 is None else c0[None], **kw)


def _gate_order_hint(got, key, args, index=lambda r: r):
    return lambda: permutation_hint(
        got, lambda perm: index(_lstm_ref(*args, perm=perm)[key]), LSTM_GATES, FORWARD_TOL, "i, f, g, o"
    )


def _through_time_hint(got, ref):
    hint = time_hint(got, ref, BACKWARD_TOL)
    return hint and hint + (
        " (is the gradient carried back through time: dh_prev added to dh[:, t-1], dc_prev passed on?)"
    )


def check_lstm_step_forward(lstm_step_forward, N=3, D=4, H=5, seed=0):
    """(h_next, c_next) of one step against torch.nn.LSTM (T = 1) with copied weights; c and h separately."""
    name = "lstm_step_forward"
    x, h_prev, c_prev, Wx, Wh, b = _lstm_data(np.random.default_rng(seed), N, 1, D, H)
    x = x[:, 0]
    out = unpack(name, call_student(lstm_step_forward, x, h_prev, c_prev, Wx, Wh, b), 3, "(h_next, c_next, cache)")
    h_next, c_next = assert_shape(name, "h_next", out[0], (N, H)), assert_shape(name, "c_next", out[1], (N, H))
    args = (x[:, None], h_prev, c_prev, Wx, Wh, b)
    ref = _lstm_ref(*args)
    close(
        name,
        "c_next",
        c_next,
        ref["c_n"][0],
        FORWARD_TOL,
        "torch.nn.LSTM",
        lambda: (
            _gate_order_hint(c_next, "c_n", args, lambda r: r[0])()
            or "c_next = f * c_prev + i * g with i, f = sigmoid, g = tanh of their blocks of x@Wx + h_prev@Wh + b"
        ),
    )
    close(
        name,
        "h_next",
        h_next,
        ref["h"][:, 0],
        FORWARD_TOL,
        "torch.nn.LSTM",
        lambda: (
            _gate_order_hint(h_next, "h", args, lambda r: r[:, 0])()
            or "c_next is right, so look at h_next = o * tanh(c_next), o = sigmoid of the 4th block"
        ),
    )


def check_lstm_step_backward(lstm_step_forward, lstm_step_backward, N=3, D=4, H=5, seed=0, numeric=False):
    """(dx, dh_prev, dc_prev, dWx, dWh, db) against torch autograd, for upstream gradients on
    h_next only, on c_next only and on both (and numerical gradients when ``numeric``)."""
    name = "lstm_step_backward"
    rng = np.random.default_rng(seed)
    x, h_prev, c_prev, Wx, Wh, b = _lstm_data(rng, N, 1, D, H)
    x = x[:, 0]
    dh, dc = rng.normal(size=(N, H)), rng.normal(size=(N, H))
    names = ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")
    shapes = ((N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,))
    for dh_next, dc_next, upstream in [
        (dh, 0 * dc, "dh_next only, dc_next = 0"),
        (0 * dh, dc, "dc_next only, dh_next = 0"),
        (dh, dc, "dh_next and dc_next"),
    ]:
        out = unpack(
            "lstm_step_forward",
            call_student(lstm_step_forward, x, h_prev, c_prev, Wx, Wh, b),
            3,
            "(h_next, c_next, cache)",
        )
        grads = unpack(
            name, call_student(lstm_step_backward, dh_next, dc_next, out[2]), 6, "(dx, dh_prev, dc_prev, dWx, dWh, db)"
        )
        ref = _lstm_ref(x[:, None], h_prev, c_prev, Wx, Wh, b, dh=dh_next[:, None], dc_n=dc_next[None])
        refs = (ref["dx"][:, 0], ref["dh0"][0], ref["dc0"][0], *ref["grads"][0][0])
        for what, got, r, shape in zip(names, grads, refs, shapes):
            assert_shape(name, what, got, shape)
            hint = (
                (lambda got=got, r=r: block_hint(got, r, LSTM_GATE_NAMES, BACKWARD_TOL))
                if what[1] == "W" or what == "db"
                else None
            )
            close(name, f"{what} (upstream: {upstream})", got, r, BACKWARD_TOL, "torch autograd", hint)
    if numeric:
        args = (x, h_prev, c_prev, Wx, Wh, b)
        num = numeric_grads(lstm_step_forward, args, lambda o: o[:2], (dh, dc), range(6))
        for what, got, r in zip(names, grads, num):
            close(name, what, got, r, BACKWARD_TOL, "the numerical gradient")


def check_lstm_forward(lstm_forward, N=2, T=4, D=3, H=5, seed=0):
    """h (N, T, H) against torch.nn.LSTM(batch_first=True) with h0 given and c0 = 0."""
    name = "lstm_forward"
    x, h0, _, Wx, Wh, b = _lstm_data(np.random.default_rng(seed), N, T, D, H)
    out = unpack(name, call_student(lstm_forward, x, h0, Wx, Wh, b), 2, "(h, cache)")
    h = assert_shape(name, "h", out[0], (N, T, H))
    args = (x, h0, None, Wx, Wh, b)
    ref = _lstm_ref(*args)
    close(
        name,
        "h",
        h,
        ref["h"],
        FORWARD_TOL,
        "torch.nn.LSTM",
        lambda: (
            _gate_order_hint(h, "h", args)()
            or shift_hint(h, ref["h"], FORWARD_TOL)
            or time_hint(h, ref["h"], FORWARD_TOL)
            or "each step is lstm_step_forward; the cell state starts at zero and is carried from step to step"
        ),
    )


def check_lstm_backward(lstm_forward, lstm_backward, N=2, T=4, D=3, H=5, seed=0, numeric=False):
    """(dx, dh0, dWx, dWh, db) for an upstream gradient on every h_t, against torch autograd
    (and numerical gradients when ``numeric``)."""
    name = "lstm_backward"
    rng = np.random.default_rng(seed)
    x, h0, _, Wx, Wh, b = _lstm_data(rng, N, T, D, H)
    dh = rng.normal(size=(N, T, H))
    out = unpack("lstm_forward", call_student(lstm_forward, x, h0, Wx, Wh, b), 2, "(h, cache)")
    grads = unpack(name, call_student(lstm_backward, dh, out[1]), 5, "(dx, dh0, dWx, dWh, db)")
    ref = _lstm_ref(x, h0, None, Wx, Wh, b, dh=dh)
    names = ("dx", "dh0", "dWx", "dWh", "db")
    refs = (ref["dx"], ref["dh0"][0], *ref["grads"][0][0])
    for what, got, r, shape in zip(names, grads, refs, ((N, T, D), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,))):
        assert_shape(name, what, got, shape)
        if what == "dx":
            hint = lambda got=got, r=r: _through_time_hint(got, r)  # noqa: E731
        elif what == "dh0":
            hint = lambda: "dh0 is the dh_prev of the first step"  # noqa: E731
        else:
            hint = lambda got=got, r=r: block_hint(got, r, LSTM_GATE_NAMES, BACKWARD_TOL)  # noqa: E731
        close(name, what, got, r, BACKWARD_TOL, "torch autograd", hint)
    if numeric:
        num = numeric_grads(lstm_forward, (x, h0, Wx, Wh, b), lambda o: o[:1], (dh,), range(5))
        for what, got, r in zip(names, grads, num):
            close(name, what, got, r, BACKWARD_TOL, "the numerical gradient")
