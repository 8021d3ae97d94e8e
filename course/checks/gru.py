"""Checks of unit 7 (GRU): steps and sequences, forward and backward.

References: ``torch.nn.GRU`` (float64, batch_first) with the weights copied by
``course.interop`` (gate order r, z, n; ``bx = bias_ih``, ``bh = bias_hh``),
its autograd, and centred numerical gradients of the student's own forward.
``dbx`` and ``dbh`` are checked separately: they differ in the n block,
where the reset gate multiplies ``h_prev @ Wh_n + bh_n`` only.

A wrong forward is compared with the usual variants to say what differs:
another gate order, the z / 1 - z convention of Cho et al. (2014), the
reset gate applied to h_prev before the matrix product, bh_n outside the
reset gate.
"""

import numpy as np
import torch

from course.checks.lstm import (
    block_hint,
    close,
    numeric_grads,
    permutation_hint,
    permute_blocks,
    random_params,
    shift_hint,
    time_hint,
)
from course.interop import torch_reference
from course.testing import BACKWARD_TOL, FORWARD_TOL, assert_shape, call_student, unpack

GRU_GATES = ("r", "z", "n")
GRU_GATE_NAMES = ("r (reset gate)", "z (update gate)", "n (candidate)")


def _gru_data(rng, N, T, D, H):
    x = rng.normal(size=(N, T, D))
    h0 = rng.normal(scale=0.5, size=(N, H))
    return (x, h0, *random_params(rng, "gru", D, H))


def _gru_ref(x, h0, Wx, Wh, bx, bh, perm=GRU_GATES, **kw):
    p = tuple(permute_blocks(a, perm, GRU_GATES) for a in (Wx, Wh, bx, bh))
    return torch_reference("gru", x, [[p]], h0=h0[None], **kw)


def _variant(x, h0, Wx, Wh, bx, bh, variant):
    """h (N, T, H) of a GRU written the way ``variant`` says (torch ops; used only to explain a mismatch)."""
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    x, h, Wx, Wh, bx, bh = map(t, (x, h0, Wx, Wh, bx, bh))
    H = h.shape[1]
    out = []
    for step in range(x.shape[1]):
        ax, ah = x[:, step] @ Wx + bx, h @ Wh + bh
        r = torch.sigmoid(ax[:, :H] + ah[:, :H])
        z = torch.sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
        if variant == "reset before matmul":
            n = torch.tanh(ax[:, 2 * H :] + (r * h) @ Wh[:, 2 * H :] + bh[2 * H :])
        elif variant == "bh_n outside":
            n = torch.tanh(ax[:, 2 * H :] + r * (h @ Wh[:, 2 * H :]) + bh[2 * H :])
        else:
            n = torch.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
        h = z * n + (1 - z) * h if variant == "z swapped" else (1 - z) * n + z * h
        out.append(h)
    return torch.stack(out, dim=1).numpy()


_VARIANT_HINTS = {
    "z swapped": "you computed h = z * n + (1 - z) * h_prev (Cho et al.'s convention); "
    "the contract (PyTorch's) is h = (1 - z) * n + z * h_prev",
    "reset before matmul": "you applied r to h_prev before the product, (r * h_prev) @ Wh_n; "
    "the contract (PyTorch's) is r * (h_prev @ Wh_n + bh_n)",
    "bh_n outside": "you added bh_n outside the reset gate; the contract (PyTorch's) is "
    "n = tanh(x @ Wx_n + bx_n + r * (h_prev @ Wh_n + bh_n))",
}


def _forward_hint(got, args, select=lambda h: h):
    """Explain a wrong GRU output ``got`` (select picks it out of an (N, T, H) result)."""

    def hint():
        msg = permutation_hint(
            got, lambda perm: select(_gru_ref(*args, perm=perm)["h"]), GRU_GATES, FORWARD_TOL, "r, z, n"
        )
        if msg:
            return msg
        for variant, text in _VARIANT_HINTS.items():
            ref = select(_variant(*args, variant))
            if np.shape(got) == ref.shape and np.max(np.abs(np.asarray(got) - ref)) < 1e-9:
                return text
        return None

    return hint


def check_gru_step_forward(gru_step_forward, N=3, D=4, H=5, seed=0):
    """h_next of one step against torch.nn.GRU (T = 1) with copied weights."""
    name = "gru_step_forward"
    x, h_prev, Wx, Wh, bx, bh = _gru_data(np.random.default_rng(seed), N, 1, D, H)
    out = unpack(name, call_student(gru_step_forward, x[:, 0], h_prev, Wx, Wh, bx, bh), 2, "(h_next, cache)")
    h_next = assert_shape(name, "h_next", out[0], (N, H))
    ref = _gru_ref(x, h_prev, Wx, Wh, bx, bh)["h"][:, 0]
    close(
        name,
        "h_next",
        h_next,
        ref,
        FORWARD_TOL,
        "torch.nn.GRU",
        _forward_hint(h_next, (x, h_prev, Wx, Wh, bx, bh), lambda h: h[:, 0]),
    )


def check_gru_step_backward(gru_step_forward, gru_step_backward, N=3, D=4, H=5, seed=0, numeric=False):
    """(dx, dh_prev, dWx, dWh, dbx, dbh) against torch autograd (and numerical gradients when ``numeric``)."""
    name = "gru_step_backward"
    rng = np.random.default_rng(seed)
    x, h_prev, Wx, Wh, bx, bh = _gru_data(rng, N, 1, D, H)
    dh_next = rng.normal(size=(N, H))
    args = (x[:, 0], h_prev, Wx, Wh, bx, bh)
    out = unpack("gru_step_forward", call_student(gru_step_forward, *args), 2, "(h_next, cache)")
    grads = unpack(name, call_student(gru_step_backward, dh_next, out[1]), 6, "(dx, dh_prev, dWx, dWh, dbx, dbh)")
    ref = _gru_ref(x, h_prev, Wx, Wh, bx, bh, dh=dh_next[:, None])
    names = ("dx", "dh_prev", "dWx", "dWh", "dbx", "dbh")
    refs = (ref["dx"][:, 0], ref["dh0"][0], *ref["grads"][0][0])
    shapes = ((N, D), (N, H), (D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,))
    _compare_grads(name, names, grads, refs, shapes)
    if numeric:
        num = numeric_grads(gru_step_forward, args, lambda o: o[:1], (dh_next,), range(6))
        for what, got, r in zip(names, grads, num):
            close(name, what, got, r, BACKWARD_TOL, "the numerical gradient")


def _compare_grads(name, names, grads, refs, shapes):
    for what, got, r, shape in zip(names, grads, refs, shapes):
        assert_shape(name, what, got, shape)
        if what == "dx":
            hint = lambda got=got, r=r: (
                time_hint(got, r, BACKWARD_TOL)
                and (  # noqa: E731
                    time_hint(got, r, BACKWARD_TOL) + " (is dh_prev added to dh[:, t-1] on the way back?)"
                )
            )
        elif what in ("dh0", "dh_prev"):
            hint = lambda: "h_prev reaches h_next directly (z * h_prev) and through all three gates' Wh blocks"  # noqa
        else:
            hint = lambda got=got, r=r, what=what: (
                block_hint(got, r, GRU_GATE_NAMES, BACKWARD_TOL)
                or (  # noqa
                    "dbx and dbh differ in the n block: the reset gate multiplies bh_n, not bx_n"
                    if what == "dbh"
                    else None
                )
            )
        close(name, what, got, r, BACKWARD_TOL, "torch autograd", hint)


def check_gru_forward(gru_forward, N=2, T=4, D=3, H=5, seed=0):
    """h (N, T, H) against torch.nn.GRU(batch_first=True) with h0 given."""
    name = "gru_forward"
    args = _gru_data(np.random.default_rng(seed), N, T, D, H)
    out = unpack(name, call_student(gru_forward, *args), 2, "(h, cache)")
    h = assert_shape(name, "h", out[0], (N, T, H))
    ref = _gru_ref(*args)["h"]
    close(
        name,
        "h",
        h,
        ref,
        FORWARD_TOL,
        "torch.nn.GRU",
        lambda: _forward_hint(h, args)() or shift_hint(h, ref, FORWARD_TOL) or time_hint(h, ref, FORWARD_TOL),
    )


def check_gru_backward(gru_forward, gru_backward, N=2, T=4, D=3, H=5, seed=0, numeric=False):
    """(dx, dh0, dWx, dWh, dbx, dbh) for an upstream gradient on every h_t, against torch autograd
    (and numerical gradients when ``numeric``)."""
    name = "gru_backward"
    rng = np.random.default_rng(seed)
    args = _gru_data(rng, N, T, D, H)
    dh = rng.normal(size=(N, T, H))
    out = unpack("gru_forward", call_student(gru_forward, *args), 2, "(h, cache)")
    grads = unpack(name, call_student(gru_backward, dh, out[1]), 6, "(dx, dh0, dWx, dWh, dbx, dbh)")
    ref = _gru_ref(*args, dh=dh)
    names = ("dx", "dh0", "dWx", "dWh", "dbx", "dbh")
    refs = (ref["dx"], ref["dh0"][0], *ref["grads"][0][0])
    shapes = ((N, T, D), (N, H), (D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,))
    _compare_grads(name, names, grads, refs, shapes)
    if numeric:
        num = numeric_grads(gru_forward, args, lambda o: o[:1], (dh,), range(6))
        for what, got, r in zip(names, grads, num):
            close(name, what, got, r, BACKWARD_TOL, "the numerical gradient")
