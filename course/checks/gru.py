"""Checks of unit 7 (GRU): steps and sequences, forward and backward.

References: ``torch.nn.GRU`` (float64, batch_first) with the weights copied by
``course.interop`` (gate order r, z, n; ``bx = bias_ih``, ``bh = bias_hh``),
its autograd, and centred numerical gradients of the student's own forward.
``dbx`` and ``dbh`` are checked separately: they differ in the n block,
where the reset gate multiplies ``h_prev @ Wh_n + bh_n`` only.

The contract's update is PyTorch's, ``h = (1 - z) * n + z * h_prev``: z weighs
the old state, as in Cho et al. (2014), eq. (7), ``h_j = z_j h_j^<t-1> + (1 - z_j) h~_j``.
A wrong forward is compared with the usual variants to say what differs:
another gate order, z on the candidate instead (h = z * n + (1 - z) * h_prev,
as Chung et al. 2014 and some textbooks write it), the reset gate applied to h_prev before the matrix
product (Cho et al.'s eq. 8, ``U (r * h_prev)``; Keras's ``reset_after=False``), bh_n
outside the reset gate. A backward is tested with the cache of the student's
own forward, which is checked first; a wrong backward is compared with GRUs
written here with torch in which one typical mistake is planted.

Every torch computation is a :func:`course.references.saved_reference` of the check's own data (seeds,
sizes, the name of a variant or a planted mistake), live where torch is installed and read back from
``course/checks/saved/07_gru.npz`` where it is not; the module imports without torch.
"""

import numpy as np

from course.checks._common import (
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
from course.checks.lstm import DH_NOT_CARRIED
from course.interop import require_torch
from course.references import saved_reference
from course.testing import FORWARD_TOL, assert_shape, call_student, unpack

__all__ = [
    "check_gru_step_forward",
    "check_gru_step_backward",
    "check_gru_forward",
    "check_gru_backward",
    "check_gru_reset_before",
    "numeric_grads",
]

GRU_GATES = ("r", "z", "n")
GRU_GATE_NAMES = ("r (reset gate)", "z (update gate)", "n (candidate)")


def _gru_data(rng, N, T, D, H):
    x = rng.normal(size=(N, T, D))
    h0 = rng.normal(scale=0.5, size=(N, H))
    return (x, h0, *random_params(rng, "gru", D, H))


def _gru_ref(x, h0, Wx, Wh, bx, bh, perm=GRU_GATES, **kw):
    p = tuple(permute_blocks(a, perm, GRU_GATES) for a in (Wx, Wh, bx, bh))
    return torch_reference("gru", x, [[p]], h0=h0[None], **kw)


# ---------------------------------------------------------------- forward variants
@saved_reference
def _variant(x, h0, Wx, Wh, bx, bh, variant):
    """h (N, T, H) of a GRU written the way ``variant`` (a key of _VARIANT_HINTS) says, with torch operations:
    x (N, T, D), h0 (N, H), Wx (D, 3H), Wh (H, 3H), bx and bh (3H,). Used only to explain a mismatch."""
    torch = require_torch("_variant")
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
    "z swapped": hint(
        "gru.z_on_candidate",
        "you computed h = z * n + (1 - z) * h_prev, with z on the new candidate (as Chung et al. 2014 "
        "and some textbooks write it); the contract, PyTorch's and Cho et al.'s (2014, eq. 7: "
        "h = z * h_prev + (1 - z) * h~), puts z on the old state: h = (1 - z) * n + z * h_prev",
    ),
    "reset before matmul": hint(
        "gru.reset_before_product",
        "you applied r to h_prev before the product, (r * h_prev) @ Wh_n (Cho et al.'s eq. 8, "
        "Keras's reset_after=False); the contract (PyTorch's) is r * (h_prev @ Wh_n + bh_n)",
    ),
    "bh_n outside": hint(
        "gru.bh_n_outside_reset",
        "you added bh_n outside the reset gate; the contract (PyTorch's) is "
        "n = tanh(x @ Wx_n + bx_n + r * (h_prev @ Wh_n + bh_n))",
    ),
}


def _forward_hint(got, args, select=lambda h: h):
    """Explain a wrong GRU output ``got`` (select picks it out of an (N, T, H) result)."""

    def explain():
        msg = permutation_hint(
            got, lambda perm: select(_gru_ref(*args, perm=perm)["h"]), GRU_GATES, FORWARD_TOL, "r, z, n"
        )
        if msg:
            return msg
        for variant, text in _VARIANT_HINTS.items():
            if matches(got, select(_variant(*args, variant)), 1e-9):
                return text
        return None

    return explain


def _check_step_output(name, h_next, seq_args):
    """h_next (N, H) of one step; ``seq_args`` = (x (N, 1, D), h_prev, Wx, Wh, bx, bh)."""
    h_next = assert_shape(name, "h_next", assert_float64(name, "h_next", h_next), np.shape(seq_args[1]))
    ref = _gru_ref(*seq_args)["h"][:, 0]
    close(name, "h_next", h_next, ref, FORWARD_TOL, "torch.nn.GRU", _forward_hint(h_next, seq_args, lambda h: h[:, 0]))


def _check_sequence_output(name, h, args):
    """h (N, T, H) of gru_forward(*args) against torch.nn.GRU."""
    x, h0 = args[0], args[1]
    h = assert_shape(name, "h", assert_float64(name, "h", h), (*x.shape[:2], h0.shape[1]))
    ref = _gru_ref(*args)["h"]
    close(
        name,
        "h",
        h,
        ref,
        FORWARD_TOL,
        "torch.nn.GRU",
        first_hint(
            _forward_hint(h, args), lambda: shift_hint(h, ref, FORWARD_TOL), lambda: time_hint(h, ref, FORWARD_TOL)
        ),
    )


def check_gru_step_forward(gru_step_forward, N=3, D=4, H=5, seed=0):
    """h_next of one step against torch.nn.GRU (T = 1) with copied weights."""
    name = "gru_step_forward"
    x, h_prev, Wx, Wh, bx, bh = _gru_data(np.random.default_rng(seed), N, 1, D, H)
    out = unpack(name, call_student(gru_step_forward, x[:, 0], h_prev, Wx, Wh, bx, bh), 2, "(h_next, cache)")
    _check_step_output(name, out[0], (x, h_prev, Wx, Wh, bx, bh))


def check_gru_forward(gru_forward, N=2, T=4, D=3, H=5, seed=0):
    """h (N, T, H) against torch.nn.GRU(batch_first=True) with h0 given."""
    name = "gru_forward"
    args = _gru_data(np.random.default_rng(seed), N, T, D, H)
    out = unpack(name, call_student(gru_forward, *args), 2, "(h, cache)")
    _check_sequence_output(name, out[0], args)


# ---------------------------------------------------------------- backward variants
GRU_BUGS = {
    "dh not carried": DH_NOT_CARRIED,  # the same mistake as in an LSTM, the same hint
    "no direct path": hint(
        "gru.dh_prev_no_direct_path",
        "dh_prev misses the direct path: h_prev reaches h_next through z * h_prev as well as "
        "through the gates' Wh blocks, so dh_prev = dh_next * z + dah @ Wh.T",
    ),
    "no r on hidden n": hint(
        "gru.no_r_on_hidden_n",
        "the hidden side's n block must be r * da_n (the reset gate multiplies "
        "h_prev @ Wh_n + bh_n): dWh_n, dbh_n and dh_prev miss the factor r",
    ),
    "dz sign": hint("gru.dz_sign", "dz has the wrong sign: h = (1 - z) * n + z * h_prev, so dz = dh * (h_prev - n)"),
    "no tanh' of n": hint(
        "gru.no_tanh_derivative_n", "the derivative of n = tanh(a_n) is missing: da_n = dn * (1 - n**2)"
    ),
    "no sigmoid'": hint(
        "gru.no_sigmoid_derivative",
        "the sigmoid derivative is missing: da_r = dr * r * (1 - r), da_z = dz * z * (1 - z)",
    ),
    "dbh = dbx": hint(
        "gru.dbh_equals_dbx",
        "dbh equals dbx: they differ in the n block, where the reset gate multiplies bh_n "
        "(dbh_n = the sum of r * da_n)",
    ),
}
DA_GATE_ORDER = hint(
    "gru.da_gate_order",
    "your dax and dah (the gradients on the pre-activations, (N, 3H)) are packed in the gate order "
    "{order}; pack them in the forward's order r, z, n",
)
DH_PREV_PATHS = hint(
    "gru.dh_prev_paths", "h_prev reaches h_next directly (z * h_prev) and through all three gates' Wh blocks"
)
DBH_N_BLOCK = hint("gru.dbh_n_block", "dbx and dbh differ in the n block: the reset gate multiplies bh_n, not bx_n")


@saved_reference
def _gru_grads(x, h0, Wx, Wh, bx, bh, dh, bug=None, per_step=False):
    """Gradients of sum(h * dh) of a GRU written with torch, with ``bug`` planted (None, a key of
    GRU_BUGS, or a gate order, a tuple of names, in which dax and dah are packed).

    x (N, T, D), h0 (N, H), Wx (D, 3H), Wh (H, 3H), bx and bh (3H,), dh (N, T, H).
    Returns ``[dx, dh0, dWx, dWh, dbx, dbh]``; with ``per_step``, ``(that, [[dWx_t, dWh_t, dbx_t, dbh_t] for t])``,
    the weights' contributions of each step (used to explain gradients not summed over time).
    """
    torch = require_torch("_gru_grads")
    N, T, _ = x.shape
    H = h0.shape[1]
    tx, th0 = t(x, True), t(h0, True)
    steps = [[t(a, True) for a in (Wx, Wh, bx, bh)] for _ in range(T)]
    h, hs = th0, []
    sig = (lambda v: without_derivative(torch.sigmoid, v)) if bug == "no sigmoid'" else torch.sigmoid
    for s, (tWx, tWh, tbx, tbh) in enumerate(steps):
        h_in = h.detach() if bug == "dh not carried" and s > 0 else h
        ax, ah = tx[:, s] @ tWx + tbx, h_in @ tWh + tbh
        if isinstance(bug, tuple):
            ax.register_hook(reorder_hook(bug, GRU_GATES))
            ah.register_hook(reorder_hook(bug, GRU_GATES))
        r, z = sig(ax[:, :H] + ah[:, :H]), sig(ax[:, H : 2 * H] + ah[:, H : 2 * H])
        ah_n = ah[:, 2 * H :]
        if bug == "no r on hidden n":  # same value; the gradient to ah_n skips r
            a_n = ax[:, 2 * H :] + r * ah_n.detach() + ah_n - ah_n.detach()
        else:
            a_n = ax[:, 2 * H :] + r * ah_n
        n = without_derivative(torch.tanh, a_n) if bug == "no tanh' of n" else torch.tanh(a_n)
        if bug == "dz sign":
            z = 2 * z.detach() - z  # same value, gradient negated
        h = (1 - z) * n + z * (h_in.detach() if bug == "no direct path" else h_in)
        hs.append(h)
    (torch.stack(hs, dim=1) * t(dh)).sum().backward()
    steps = [[grad_of(p) for p in s] for s in steps]
    totals = [sum(s[k] for s in steps) for k in range(4)]
    if bug == "dbh = dbx":
        totals[3] = totals[2]
    grads = [grad_of(tx), grad_of(th0), *totals]
    return (grads, steps) if per_step else grads


def _backward_variants(args, dh, select):
    out = [(text, select(_gru_grads(*args, dh, bug=bug))) for bug, text in GRU_BUGS.items()]
    for perm in other_orders(GRU_GATES):
        out.append((DA_GATE_ORDER.format(order=", ".join(perm)), select(_gru_grads(*args, dh, bug=perm))))
    return out


def _fallback(whats):
    def fallback(i):
        if whats[i] in ("dh0", "dh_prev"):
            return DH_PREV_PATHS
        if whats[i] == "dbh":
            return DBH_N_BLOCK
        return None

    return fallback


def check_gru_step_backward(gru_step_forward, gru_step_backward, N=3, D=4, H=5, seed=0, numeric=False):
    """(dx, dh_prev, dWx, dWh, dbx, dbh) against torch autograd (and numerical gradients when ``numeric``).
    gru_step_forward is checked first."""
    name = "gru_step_backward"
    rng = np.random.default_rng(seed)
    x, h_prev, Wx, Wh, bx, bh = _gru_data(rng, N, 1, D, H)
    dh_next = rng.normal(size=(N, H))
    args = (x[:, 0], h_prev, Wx, Wh, bx, bh)
    seq = (x, h_prev, Wx, Wh, bx, bh)
    out = unpack("gru_step_forward", call_student(gru_step_forward, *args), 2, "(h_next, cache)")
    forward_first(name, "gru_step_forward", lambda: _check_step_output("gru_step_forward", out[0], seq))
    grads = unpack(name, call_student(gru_step_backward, dh_next, out[1]), 6, "(dx, dh_prev, dWx, dWh, dbx, dbh)")
    ref = _gru_ref(*seq, dh=dh_next[:, None])
    whats = ("dx", "dh_prev", "dWx", "dWh", "dbx", "dbh")
    refs = (ref["dx"][:, 0], ref["dh0"][0], *ref["grads"][0][0])
    shapes = ((N, D), (N, H), (D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,))

    def select(g):
        return (g[0][:, 0], *g[1:])

    variants = lambda: _backward_variants(seq, dh_next[:, None], select)  # noqa: E731
    explain = explainer(
        grads, refs, variants, gates=GRU_GATE_NAMES, fallback=_fallback(whats), gated=(2, 3, 5, 4), whats=whats
    )
    compare_grads(name, whats, grads, refs, shapes, "", explain)
    if numeric:
        check_numeric(name, gru_step_forward, "gru_step_forward", args, lambda o: o[:1], (dh_next,), whats, grads)


def check_gru_backward(gru_forward, gru_backward, N=2, T=4, D=3, H=5, seed=0, numeric=False):
    """(dx, dh0, dWx, dWh, dbx, dbh) for an upstream gradient on every h_t, against torch autograd
    (and numerical gradients when ``numeric``). gru_forward is checked first."""
    name = "gru_backward"
    rng = np.random.default_rng(seed)
    args = _gru_data(rng, N, T, D, H)
    dh = rng.normal(size=(N, T, H))
    out = unpack("gru_forward", call_student(gru_forward, *args), 2, "(h, cache)")
    forward_first(name, "gru_forward", lambda: _check_sequence_output("gru_forward", out[0], args))
    grads = unpack(name, call_student(gru_backward, dh, out[1]), 6, "(dx, dh0, dWx, dWh, dbx, dbh)")
    ref = _gru_ref(*args, dh=dh)
    whats = ("dx", "dh0", "dWx", "dWh", "dbx", "dbh")
    refs = (ref["dx"], ref["dh0"][0], *ref["grads"][0][0])
    shapes = ((N, T, D), (N, H), (D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,))
    per_step = {}

    def candidates(i):
        if "p" not in per_step:
            per_step["p"] = _gru_grads(*args, dh, per_step=True)[1]
        return accumulation_candidates(whats[i], per_step["p"], ("dWx", "dWh", "dbx", "dbh"))

    explain = explainer(
        grads,
        refs,
        lambda: _backward_variants(args, dh, tuple),
        candidates,
        GRU_GATE_NAMES,
        _fallback(whats),
        gated=(2, 3, 5, 4),
        whats=whats,
    )
    compare_grads(name, whats, grads, refs, shapes, "", explain)
    if numeric:
        check_numeric(name, gru_forward, "gru_forward", args, lambda o: o[:1], (dh,), whats, grads)


# ---------------------------------------------------------------- stretch (not graded): the reset before the product
RESET_BEFORE_HINTS = {
    "dh_prev": hint(
        "gru.reset_before_dh_prev",
        "h_prev reaches h_next three ways here: directly (z * h_prev), through the r and z blocks "
        "(da @ Wh.T for those blocks) and through r * h_prev in the n block: (da_n @ Wh_n.T) * r",
    ),
    "dWh": hint(
        "gru.reset_before_dwh",
        "the n block of dWh is (r * h_prev).T @ da_n: the product reads r * h_prev, not h_prev",
    ),
    "dbh": hint(
        "gru.reset_before_dbh",
        "bh_n is added after the product, outside the reset gate: dbh_n = dbx_n = the sum of da_n",
    ),
}
RESET_BEFORE_IS_AFTER = hint(
    "gru.reset_before_is_reset_after",
    "this is torch.nn.GRU's reset-after step, r * (h_prev @ Wh_n + bh_n); here r multiplies h_prev first",
)
RESET_BEFORE_FORWARD = hint(
    "gru.reset_before_forward",
    "n = tanh(x @ Wx_n + bx_n + (r * h_prev) @ Wh_n + bh_n); r and z as in gru_step_forward",
)


@saved_reference
def _reset_before_step(x, h_prev, Wx, Wh, bx, bh, dh_next):
    """One step of the GRU with the reset gate applied before the product (Cho et al. 2014, eq. 8; Keras's
    ``reset_after=False``), n = tanh(x @ Wx_n + bx_n + (r * h_prev) @ Wh_n + bh_n), written with torch.

    x (N, D), h_prev (N, H), Wx (D, 3H), Wh (H, 3H), bx and bh (3H,), dh_next (N, H).
    Returns h_next (N, H) and the autograd gradients of sum(h_next * dh_next):
    ``[dx, dh_prev, dWx, dWh, dbx, dbh]``."""
    torch = require_torch("_reset_before_step")
    leaves = [t(a, True) for a in (x, h_prev, Wx, Wh, bx, bh)]
    tx, th, tWx, tWh, tbx, tbh = leaves
    H = th.shape[1]
    ax = tx @ tWx + tbx
    rz = torch.sigmoid(ax[:, : 2 * H] + th @ tWh[:, : 2 * H] + tbh[: 2 * H])
    r, z = rz[:, :H], rz[:, H:]
    n = torch.tanh(ax[:, 2 * H :] + (r * th) @ tWh[:, 2 * H :] + tbh[2 * H :])
    h = (1 - z) * n + z * th
    h.backward(t(dh_next))
    return h.detach().numpy(), [grad_of(leaf) for leaf in leaves]


def check_gru_reset_before(gru_step_forward_reset_before, gru_step_backward_reset_before, N=3, D=4, H=5, seed=0):
    """Stretch, not graded: one step of the reset-before GRU, forward and backward, against the same step
    written with torch and its autograd (torch.nn.GRU itself applies the reset after the product)."""
    name = "gru_step_forward_reset_before"
    rng = np.random.default_rng(seed)
    x, h_prev, Wx, Wh, bx, bh = _gru_data(rng, N, 1, D, H)
    args = (x[:, 0], h_prev, Wx, Wh, bx, bh)
    dh_next = rng.normal(size=(N, H))
    ref_h, refs = _reset_before_step(*args, dh_next)
    out = unpack(name, call_student(gru_step_forward_reset_before, *args), 2, "(h_next, cache)")
    h_next = assert_shape(name, "h_next", assert_float64(name, "h_next", out[0]), (N, H))

    def forward_hint():
        if matches(h_next, _gru_ref(x, h_prev, Wx, Wh, bx, bh)["h"][:, 0]):
            return RESET_BEFORE_IS_AFTER
        return RESET_BEFORE_FORWARD

    close(name, "h_next", h_next, ref_h, FORWARD_TOL, "a reset-before GRU step written with torch", forward_hint)
    bname = "gru_step_backward_reset_before"
    grads = unpack(
        bname, call_student(gru_step_backward_reset_before, dh_next, out[1]), 6, "(dx, dh_prev, dWx, dWh, dbx, dbh)"
    )
    whats = ("dx", "dh_prev", "dWx", "dWh", "dbx", "dbh")
    shapes = ((N, D), (N, H), (D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,))
    compare_grads(bname, whats, grads, refs, shapes, "", lambda i: RESET_BEFORE_HINTS.get(whats[i]))
