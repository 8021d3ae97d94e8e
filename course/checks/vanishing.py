"""Checks of unit 5 (vanishing gradients): the RNN step Jacobian and global-norm clipping.

References: ``torch.autograd.functional.jacobian`` of a tanh RNN step
written with torch operations, the product of Jacobians against the
Jacobian of a whole unrolled sequence, ``torch.nn.utils.clip_grad_norm_``,
and hand-worked cases. Each torch computation is a saved reference
(course.references) of the check's data alone: live where torch is
installed, read back from ``course/checks/saved/05_vanishing_gradients.npz``
where it is not.
"""

import numpy as np

from course.checks._common import t as _t
from course.checks.hints import hint
from course.interop import require_torch
from course.references import saved_reference
from course.testing import (
    BACKWARD_TOL,
    assert_close,
    assert_close_or_hint,
    assert_scalar,
    assert_shape,
    call_student,
    unpack,
)

# What a student is told (course.checks.hints: each text with its id).
J_TRANSPOSED = hint(
    "vanishing.jacobian_transposed",
    "you returned the transpose: J[n][i, j] = d h_next[n, i] / d h_prev[n, j] = (1 - h_next[n, i]**2) * Wh[j, i]",
)
FACTOR_ON_COLUMNS = hint(
    "vanishing.factor_on_columns",
    "the factor 1 - h_next**2 multiplies the columns instead of the rows (use diag(1 - h_next[n]**2) @ Wh.T)",
)
FACTOR_MISSING = hint("vanishing.factor_missing", "the factor 1 - h_next**2 is missing")
WH_NOT_TRANSPOSED = hint(
    "vanishing.wh_not_transposed",
    "you used Wh, not its transpose: h_next = tanh(... + h_prev @ Wh), so "
    "d h_next[i] / d h_prev[j] = (1 - h_next[i]**2) * Wh[j, i]: diag(1 - h_next[n]**2) @ Wh.T",
)
ONE_MINUS_H = hint("vanishing.one_minus_h", "you used 1 - h_next instead of 1 - h_next**2")
CLIPPED_NOT_A_LIST = hint("vanishing.clipped_not_a_list", "clipped must be a list of arrays, got {type}")
SAME_LIST = hint("vanishing.same_list", "return a new list, not the list `grads` itself")
CLIPPED_COUNT = hint(
    "vanishing.clipped_count", "clipped has {n} arrays, grads has {m} (one clipped array per gradient)"
)
CLIPPED_VIEW = hint(
    "vanishing.clipped_view",
    "clipped[{i}] is (a view of) grads[{i}]; return new arrays (e.g. g * scale), so that updating one never "
    "changes the other",
)
TOTAL_NOT_FLOAT = hint("vanishing.total_norm_not_float", "total_norm must be a float, got {type}")
NORM_AFTER = hint("vanishing.norm_after_clipping", "total_norm is the norm AFTER clipping; return the norm before")
SUM_OF_NORMS = hint(
    "vanishing.sum_of_norms", "you summed the norms of the arrays; the global norm is sqrt(sum of all squares)"
)
NO_SQUARE_ROOT = hint("vanishing.no_square_root", "you forgot the square root")
NO_EPSILON = hint(
    "vanishing.no_epsilon",
    "you scaled by max_norm / total_norm; PyTorch's rule is min(1, max_norm / (total_norm + 1e-6))",
)
CLIPPED_PER_ARRAY = hint(
    "vanishing.clipped_per_array",
    "each array was clipped to max_norm on its own; clip all of them by one common factor from the global norm",
)
CLIPPED_ELEMENTWISE = hint(
    "vanishing.clipped_elementwise",
    "the values were clipped element-wise; scale all arrays by one common factor (the direction must not change)",
)
NOTHING_CLIPPED = hint(
    "vanishing.nothing_clipped",
    "nothing was clipped: scale every array by min(1, max_norm / (total_norm + 1e-6))",
)
ZERO_GRADS_NORM = hint("vanishing.zero_grads_norm", "total_norm of all-zero gradients must be 0, got {total}")
ZERO_GRADS_NAN = hint(
    "vanishing.zero_grads_not_zero",
    "clipped[{i}] of all-zero gradients must be all zero, got {values} "
    "(NaN? do not divide by a zero norm: PyTorch adds 1e-6)",
)


# ---------------------------------------------------------------- rnn_jacobian
def _random_step(N, D, H, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    x, h_prev = rng.normal(size=(N, D)), rng.normal(scale=0.5, size=(N, H))
    Wx = rng.normal(scale=scale / np.sqrt(D), size=(D, H))
    Wh = rng.normal(scale=scale / np.sqrt(H), size=(H, H))
    b = rng.normal(scale=0.5, size=H)
    return x, h_prev, Wx, Wh, b


def _torch_step(x, Wx, Wh, b):
    """The tanh RNN step with torch operations, as a function of h_prev: x (N, D) -> (h (N, H) -> h_next (N, H))."""
    torch = require_torch("the torch RNN step")
    return lambda h: torch.tanh(_t(x) @ _t(Wx) + h @ _t(Wh) + _t(b))


@saved_reference
def torch_step_jacobians(x, h_prev, Wx, Wh, b):
    """One tanh RNN step and autograd's Jacobian of each sample's step.

    x (N, D), h_prev (N, H), Wx (D, H), Wh (H, H), b (H,) -> (h_next (N, H), J (N, H, H)) with
    J[n][i, j] = d h_next[n, i] / d h_prev[n, j] (rows: outputs, columns: inputs)."""
    torch = require_torch("torch_step_jacobians")
    with torch.no_grad():
        h_next = _torch_step(x, Wx, Wh, b)(_t(h_prev)).numpy()
    J = np.empty((len(x), len(b), len(b)))
    for n in range(len(x)):
        step_n = _torch_step(x[n : n + 1], Wx, Wh, b)  # sample n's step alone
        J[n] = torch.autograd.functional.jacobian(lambda h, s=step_n: s(h[None])[0], _t(h_prev[n])).numpy()
    return h_next, J


@saved_reference
def torch_unrolled_jacobian(xs, h0, Wx, Wh, b):
    """The states of a tanh RNN unrolled over xs, and autograd's Jacobian of the last one w.r.t. h0.

    xs (T, 1, D), h0 (1, H), Wx (D, H), Wh (H, H), b (H,) -> (hs (T, 1, H): the state after each step,
    J (H, H) = d h_T / d h_0)."""
    torch = require_torch("torch_unrolled_jacobian")
    steps = [_torch_step(x, Wx, Wh, b) for x in xs]

    def unrolled(h):
        for step in steps:
            h = step(h)
        return h

    J = torch.autograd.functional.jacobian(lambda h: unrolled(h[None])[0], _t(h0[0])).numpy()
    hs, h = [], _t(h0)
    with torch.no_grad():
        for step in steps:
            h = step(h)
            hs.append(h.numpy())
    return np.stack(hs), J


def check_rnn_jacobian(rnn_jacobian, N=3, H=4, D=3, seed=0):
    """J[n] = d h_next[n] / d h_prev[n] = diag(1 - h_next[n]**2) @ Wh.T, against autograd's Jacobian."""
    name = "rnn_jacobian"
    x, h_prev, Wx, Wh, b = _random_step(N, D, H, seed)
    h_next, refs = torch_step_jacobians(x, h_prev, Wx, Wh, b)
    J = call_student(rnn_jacobian, h_next, Wh)
    J = assert_shape(name, "J", J, (N, H, H))
    for n, ref in enumerate(refs):
        d = 1 - h_next[n] ** 2
        assert_close_or_hint(
            name,
            f"J[{n}]",
            J[n],
            ref,
            BACKWARD_TOL,
            "torch.autograd.functional.jacobian",
            [
                (J_TRANSPOSED, ref.T),
                (FACTOR_ON_COLUMNS, Wh.T * d[None, :]),
                (FACTOR_MISSING, Wh.T),
                (WH_NOT_TRANSPOSED, d[:, None] * Wh),
                (ONE_MINUS_H, (1 - h_next[n])[:, None] * Wh.T),
            ],
        )

    # hand-worked: h_next = [[0, 1/2]], Wh = [[1, 2], [3, 4]] -> diag(1, 3/4) @ [[1, 3], [2, 4]] = [[1, 3], [1.5, 3]]
    J = call_student(rnn_jacobian, np.array([[0.0, 0.5]]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert_close(
        name,
        "J (hand-worked: h_next [[0, 1/2]], Wh [[1, 2], [3, 4]])",
        J,
        [[[1.0, 3.0], [1.5, 3.0]]],
        BACKWARD_TOL,
        "[[[1, 3], [3/2, 3]]] (J[n][i, j] = d h_next[n, i] / d h_prev[n, j])",
    )


def check_rnn_jacobian_chain(rnn_jacobian, T=5, H=4, D=3, seed=0):
    """The product J_T ... J_1 of your Jacobians along a sequence equals d h_T / d h_0 (autograd), N = 1."""
    name = "rnn_jacobian"
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(T, 1, D))
    _, h0, Wx, Wh, b = _random_step(1, D, H, seed + 1)
    hs, ref = torch_unrolled_jacobian(xs, h0, Wx, Wh, b)
    product = np.eye(H)
    for t in range(T):
        J = assert_shape(name, f"J at step {t + 1}", call_student(rnn_jacobian, hs[t], Wh), (1, H, H))
        product = J[0] @ product  # the chain rule, latest step on the left
    assert_close(
        name,
        f"the product of your Jacobians over {T} steps",
        product,
        ref,
        BACKWARD_TOL,
        "the Jacobian d h_T / d h_0 of the unrolled RNN (torch.autograd.functional.jacobian)",
    )


# ---------------------------------------------------------------- clip_grad_norm
@saved_reference
def torch_clip_grad_norm(grads, max_norm):
    """torch.nn.utils.clip_grad_norm_ on parameters whose gradients are ``grads`` (a list of arrays of
    any shapes) -> (clipped: a list of arrays of the same shapes, total_norm: a float, before clipping)."""
    torch = require_torch("torch_clip_grad_norm")
    params = []
    for g in grads:
        p = torch.zeros(np.shape(g), dtype=torch.float64, requires_grad=True)
        p.grad = _t(g)
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad.numpy() for p in params], float(total)


def _clip(name, fn, grads, max_norm):
    out = unpack(name, call_student(fn, grads, max_norm), 2, "(clipped, total_norm)")
    clipped, total = out
    if not isinstance(clipped, (list, tuple)):
        raise AssertionError(f"{name}: {CLIPPED_NOT_A_LIST.format(type=type(clipped).__name__)}")
    if clipped is grads:
        raise AssertionError(f"{name}: {SAME_LIST}")
    if len(clipped) != len(grads):
        raise AssertionError(f"{name}: {CLIPPED_COUNT.format(n=len(clipped), m=len(grads))}")
    for i, (c, g) in enumerate(zip(clipped, grads)):
        if isinstance(c, np.ndarray) and np.shares_memory(c, g):
            raise AssertionError(f"{name}: {CLIPPED_VIEW.format(i=i)}")
    if isinstance(total, (bool, np.bool_)) or not isinstance(total, (int, float, np.integer, np.floating, np.ndarray)):
        raise AssertionError(f"{name}: {TOTAL_NOT_FLOAT.format(type=type(total).__name__)}")
    return clipped, assert_scalar(name, "total_norm", total)


def _compare_clip(name, fn, grads, max_norm, case):
    ref, ref_total = torch_clip_grad_norm(list(grads), max_norm)
    clipped, total = _clip(name, fn, grads, max_norm)
    flat = np.concatenate([np.ravel(g) for g in grads]) if grads else np.zeros(0)
    assert_close_or_hint(
        name,
        f"total_norm ({case})",
        total,
        ref_total,
        BACKWARD_TOL,
        "torch.nn.utils.clip_grad_norm_",
        [
            (NORM_AFTER, min(ref_total, max_norm)),
            (SUM_OF_NORMS, sum(np.linalg.norm(np.ravel(g)) for g in grads)),
            (NO_SQUARE_ROOT, float(flat @ flat)),
        ],
    )
    for i, (c, r) in enumerate(zip(clipped, ref)):
        scale_no_eps = min(1.0, max_norm / ref_total) if ref_total > 0 else 1.0
        assert_close_or_hint(
            name,
            f"clipped[{i}] ({case})",
            c,
            r,
            BACKWARD_TOL,
            "torch.nn.utils.clip_grad_norm_",
            [
                (NO_EPSILON, np.asarray(grads[i]) * scale_no_eps),
                (
                    CLIPPED_PER_ARRAY,
                    np.asarray(grads[i]) * min(1.0, max_norm / (np.linalg.norm(np.ravel(grads[i])) + 1e-6)),
                ),
                (CLIPPED_ELEMENTWISE, np.clip(grads[i], -max_norm, max_norm)),
                (NOTHING_CLIPPED, grads[i]),
            ],
        )
    return total


def check_clip_grad_norm(clip_grad_norm, shapes=((3, 4), (4,), (2, 2, 3)), max_norm=1.0, seed=0, scale=1.0):
    """(clipped, total_norm) against torch.nn.utils.clip_grad_norm_; grads untouched, new arrays returned.

    Each case is run twice: with gradients ``scale`` times a standard normal
    (usually above ``max_norm``: clipped), and shrunk under ``max_norm``
    (returned unchanged).
    """
    name = "clip_grad_norm"
    rng = np.random.default_rng(seed)
    grads = [scale * rng.normal(size=s) for s in shapes]
    norm = np.sqrt(sum(np.sum(g * g) for g in grads))
    _compare_clip(
        name,
        clip_grad_norm,
        grads,
        max_norm,
        f"global norm {norm:.3g} > max_norm {max_norm:g}: clipped" if norm > max_norm else f"global norm {norm:.3g}",
    )
    small = [g * (0.5 * max_norm / norm) for g in grads]
    clipped, _ = _clip(name, clip_grad_norm, small, max_norm)
    for i, (c, g) in enumerate(zip(clipped, small)):
        assert_close(
            name,
            f"clipped[{i}] (global norm {0.5 * max_norm:g} < max_norm {max_norm:g}: unchanged)",
            c,
            g,
            1e-12,
            "the unclipped gradient",
        )
    _compare_clip(name, clip_grad_norm, small, max_norm, "global norm below max_norm")

    # hand-worked: grads [3] and [4] -> total norm 5; max_norm 1 -> scaled by 1 / (5 + 1e-6)
    clipped, total = _clip(name, clip_grad_norm, [np.array([3.0]), np.array([4.0])], 1.0)
    assert_close(name, "total_norm (hand-worked: grads [3.] and [4.])", total, 5.0, BACKWARD_TOL, "5")
    for c, v in zip(clipped, (3.0, 4.0)):
        assert_close(
            name,
            "clipped (hand-worked: grads [3.] and [4.], max_norm 1)",
            c,
            [v / (5.0 + 1e-6)],
            BACKWARD_TOL,
            "[3/(5+1e-6)] and [4/(5+1e-6)]",
        )


def check_clip_grad_norm_edge_cases(clip_grad_norm, seed=0):
    """A single array, tiny norms (where the 1e-6 matters), huge norms, and all-zero gradients."""
    name = "clip_grad_norm"
    rng = np.random.default_rng(seed)
    _compare_clip(name, clip_grad_norm, [rng.normal(size=(5, 3))], 0.5, "a list with one array")
    _compare_clip(
        name,
        clip_grad_norm,
        [1e-4 * rng.normal(size=4), 1e-4 * rng.normal(size=(2, 3))],
        1e-5,
        # not a hint: names the case that is checked
        "a tiny global norm, where the 1e-6 of PyTorch's rule matters",
    )
    _compare_clip(
        name,
        clip_grad_norm,
        [1e12 * rng.normal(size=(3, 3)), rng.normal(size=2)],
        1.0,
        "an exploded gradient of norm about 1e12",
    )
    zeros = [np.zeros((2, 3)), np.zeros(4)]
    clipped, total = _clip(name, clip_grad_norm, zeros, 1.0)
    if total != 0.0:
        raise AssertionError(f"{name}: {ZERO_GRADS_NORM.format(total=total)}")
    for i, c in enumerate(clipped):
        c = assert_shape(name, f"clipped[{i}] (all-zero gradients)", c, zeros[i].shape)
        if not np.all(c == 0):
            raise AssertionError(f"{name}: {ZERO_GRADS_NAN.format(i=i, values=c.ravel()[:4])}")
