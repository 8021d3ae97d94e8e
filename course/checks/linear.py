"""Checks of unit 11 (linear recurrences): the recurrence, its associative combine, the parallel scan
and minGRU (Feng et al. 2024, "Were RNNs All We Needed?").

References, none written by the student or taken from the solution:

* the recurrence ``h_t = a_t * h_{t-1} + b_t`` unrolled in closed form with torch,
  ``h_t = (a_t ... a_1) h_0 + sum_k (a_t ... a_{k+1}) b_k`` (products by ``torch.cumprod``), and
  hand-worked cases;
* the scan is run with the check's own ``combine`` functions, which count their calls and look at
  what they are given (the whole batch and hidden axes, never one step at a time), and with a
  second associative operator, whose scan is known in closed form: a scan that computes anything
  outside ``combine`` gives itself away there;
* minGRU written with torch operations, its gradients by autograd, and numerical gradients.
"""

import math

import numpy as np

from course.checks._common import (
    assert_float64,
    close,
    diagnose,
    first_hint,
    forward_first,
    precision_hint,
    shift_hint,
    t,
)
from course.checks.hints import hint
from course.interop import require_torch
from course.testing import BACKWARD_TOL, FORWARD_TOL, assert_shape, call_student, unpack

# Unit 11's checks compare with live torch: where it is missing (the student's course of units 1-8),
# importing them says so in one line, with the install command.
torch = require_torch("the exercise of unit 11")


# ---------------------------------------------------------------- data and references
def _recurrence_data(N, T, H, seed):
    """a in (0.3, 1) (a decaying memory, as minGRU's 1 - z), b and h0 standard normal; each (N, T, H) / (N, H)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.3, 1.0, size=(N, T, H)), rng.normal(size=(N, T, H)), rng.normal(size=(N, H))


def _closed_form(a, b, h0):
    """h (N, T, H) of h_t = a_t * h_{t-1} + b_t, unrolled: (a_t ... a_1) h0 + sum_k (a_t ... a_{k+1}) b_k."""
    ta, tb, th0 = t(a), t(b), t(h0)
    T = ta.shape[1]
    h = torch.cumprod(ta, dim=1) * th0[:, None]
    for k in range(T):  # b_k reaches every later step through the product of the a's after it
        reach = torch.cumprod(torch.cat([torch.ones_like(ta[:, :1]), ta[:, k + 1 :]], dim=1), dim=1)
        h[:, k:] += reach * tb[:, k : k + 1]
    return h.numpy()


def _without_h0(a, b, h0):
    return _closed_form(a, b, np.zeros_like(h0))


def _loop(a, b, h0, step):
    h, hs = h0, []
    for s in range(a.shape[1]):
        h = step(a, b, h, s)
        hs.append(h)
    return np.stack(hs, axis=1)


# The recurrence's typical mistakes (linear_recurrence and parallel_scan).
H0_LEFT_OUT = hint("linear.h0_left_out", "h0 is left out: the first step is h[:, 0] = a[:, 0] * h0 + b[:, 0]")
B_INSIDE = hint(
    "linear.b_inside_product", "the order is a * (h_prev + b); the contract's step is a[:, t] * h_prev + b[:, t]"
)
A_LATE = hint(
    "linear.a_one_step_late",
    "a is read one step late (a[:, t-1] multiplies h[:, t-1]): step t uses a[:, t] and b[:, t] together",
)
B_LATE = hint("linear.b_one_step_late", "b is read one step late (b[:, t-1]): step t uses a[:, t] and b[:, t] together")
EXCLUSIVE_SCAN = hint(
    "linear.exclusive_scan",
    "the result is an exclusive scan (h[:, t] before step t, starting with h0): return the state after step t",
)


def _recurrence_variants(a, b, h0):
    T = a.shape[1]
    return [
        (H0_LEFT_OUT, _without_h0(a, b, h0)),
        (B_INSIDE, _loop(a, b, h0, lambda a, b, h, s: a[:, s] * (h + b[:, s]))),
        (A_LATE, _loop(a, b, h0, lambda a, b, h, s: (a[:, s - 1] if s else np.ones_like(h)) * h + b[:, s])),
        (B_LATE, _loop(a, b, h0, lambda a, b, h, s: a[:, s] * h + (b[:, s - 1] if s else 0.0))),
        (EXCLUSIVE_SCAN, np.concatenate([h0[:, None], _closed_form(a, b, h0)[:, : T - 1]], axis=1)),
    ]


def _check_recurrence_output(name, h, a, b, h0, reference="the recurrence unrolled in closed form (torch)"):
    N, T, H = a.shape
    assert_float64(name, "h", h)
    h = assert_shape(name, "h", h, (N, T, H))
    ref = _closed_form(a, b, h0)
    explain = lambda: (
        diagnose((h,), [(m, (v,)) for m, v in _recurrence_variants(a, b, h0)])
        or shift_hint(  # noqa: E731
            h, ref, 1e-6
        )
    )
    close(name, "h", h, ref, FORWARD_TOL, reference, explain)
    return h


def _hand_worked(name, fn):
    """a = [1/2, 2, 0, -1], b = [1, 1, 3, 1], h0 = 2: h = [2, 5, 3, -2] (one sample, one unit)."""
    a = np.array([[[0.5], [2.0], [0.0], [-1.0]]])
    b = np.array([[[1.0], [1.0], [3.0], [1.0]]])
    h = fn(a, b, np.array([[2.0]]))
    close(
        name,
        "h (hand-worked: a = [1/2, 2, 0, -1], b = [1, 1, 3, 1], h0 = 2)",
        h,
        [[[2.0], [5.0], [3.0], [-2.0]]],
        FORWARD_TOL,
        "[2, 5, 3, -2]: 1/2 * 2 + 1 = 2, 2 * 2 + 1 = 5, 0 * 5 + 3 = 3, -1 * 3 + 1 = -2",
    )


# ---------------------------------------------------------------- linear_recurrence
def check_linear_recurrence(linear_recurrence, N=2, T=6, H=3, seed=0):
    """h (N, T, H) of h_t = a_t * h_{t-1} + b_t against the closed form, and a hand-worked case."""
    name = "linear_recurrence"
    a, b, h0 = _recurrence_data(N, T, H, seed)
    _check_recurrence_output(name, call_student(linear_recurrence, a, b, h0), a, b, h0)
    _hand_worked(name, lambda a, b, h0: call_student(linear_recurrence, a, b, h0))


# ---------------------------------------------------------------- scan_combine
COMBINE_SWAPPED = hint(
    "linear.combine_swapped",
    "first and second are swapped: first = (a1, b1) is the earlier step, so applying it and then second "
    "gives (a2 * a1, a2 * b1 + b2)",
)
COMBINE_B_NOT_CARRIED = hint(
    "linear.combine_b_not_carried",
    "b must be a2 * b1 + b2: the earlier step's b is carried through the later step's a",
)
COMBINE_B_WITH_A1 = hint("linear.combine_b_with_a1", "b must be a2 * b1 + b2 (you wrote a1 * b1 + b2)")


def check_scan_combine(scan_combine, shape=(2, 3, 4), seed=0):
    """(a2 * a1, a2 * b1 + b2) for first = (a1, b1), second = (a2, b2); associativity follows."""
    name = "scan_combine"
    rng = np.random.default_rng(seed)
    a1, b1, a2, b2 = (rng.normal(size=shape) for _ in range(4))
    out = unpack(name, call_student(scan_combine, (a1, b1), (a2, b2)), 2, "(a, b): the combined step")
    variants = [
        (COMBINE_SWAPPED, (a1 * a2, a1 * b2 + b1)),
        (COMBINE_B_NOT_CARRIED, (a2 * a1, b1 + b2)),
        (COMBINE_B_WITH_A1, (a2 * a1, a1 * b1 + b2)),
    ]
    for i, (what, ref) in enumerate(zip(("a", "b"), (a2 * a1, a2 * b1 + b2))):
        assert_float64(name, what, out[i])
        close(name, what, out[i], ref, FORWARD_TOL, "(a2 * a1, a2 * b1 + b2)", lambda: diagnose(out, variants))
    # hand-worked, scalars as (1,) arrays: (2, 3) then (5, 7) is h -> 5 * (2h + 3) + 7 = 10h + 22
    got = unpack(
        name,
        call_student(scan_combine, (np.array([2.0]), np.array([3.0])), (np.array([5.0]), np.array([7.0]))),
        2,
        "(a, b)",
    )
    close(
        name,
        "(a, b) (hand-worked: first (2, 3), second (5, 7))",
        np.concatenate([np.ravel(g) for g in got]),
        [10.0, 22.0],
        FORWARD_TOL,
        "(10, 22): h -> 5 * (2h + 3) + 7 = 10h + 22",
        lambda: diagnose(got, [(COMBINE_SWAPPED, ([10.0], [17.0]))]),
    )


# ---------------------------------------------------------------- parallel_scan
def max_combines(T):
    """The contract's bound on combine's calls for T steps: 2 * ceil(log2 T) + 2."""
    return 2 * math.ceil(math.log2(T)) + 2 if T > 1 else 2


TOO_MANY_COMBINES = hint(
    "linear.too_many_combines",
    "parallel_scan called combine more than {limit} times for T = {T} (at most "
    "2 * ceil(log2 T) + 2): a scan that calls combine once per time step is the sequential loop; "
    "combine whole shifted arrays at offsets 1, 2, 4, ... (Hillis-Steele) instead",
)
COMBINE_NOT_A_PAIR = hint(
    "linear.combine_not_a_pair", "parallel_scan passed combine a {which} that is not a pair (a, b)"
)
COMBINE_SHAPES_DIFFER = hint(
    "linear.combine_shapes_differ",
    "parallel_scan passed combine arrays of different shapes {shapes}: slice or pad both pairs to the same (N, T', H)",
)
COMBINE_NOT_WHOLE = hint(
    "linear.combine_not_whole_arrays",
    "parallel_scan passed combine arrays of shape {shape}; each call must hold the whole batch and "
    "hidden axes, (N, T', H) = ({N}, T', {H}): shifted slices of the (N, T, H) arrays",
)
COMBINE_ARGUMENTS_SWAPPED = hint(
    "linear.combine_arguments_swapped", "combine is called as combine(later, earlier): pass the earlier pair first"
)
SCAN_OUTSIDE_COMBINE = hint(
    "linear.scan_outside_combine",
    "the scan computes part of the recurrence itself (a * h + b outside combine): scan the pairs "
    "(a, b) with combine alone, then return A * h0[:, None, :] + B",
)


class CountingCombine:
    """The check's own ``combine``: ``op`` on pairs of arrays, counting calls and checking what it is given.

    Each call must pass two pairs of four equal-shaped (N, T', H) arrays holding the whole batch and
    hidden axes; more calls than the contract allows stop the scan with a message."""

    def __init__(self, op, N, T, H):
        self.op, self.N, self.T, self.H, self.calls = op, N, T, H, 0
        self.limit, self.problem = max_combines(T), None
        self.__name__ = "combine"

    def __deepcopy__(self, memo):  # the check's own object: not an input the student could modify
        return self

    def _fail(self, message):
        self.problem = self.problem or message
        raise AssertionError(message)

    def __call__(self, first, second):
        self.calls += 1
        if self.calls > self.limit:
            self._fail(TOO_MANY_COMBINES.format(limit=self.limit, T=self.T))
        arrays = []
        for which, pair in (("first", first), ("second", second)):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                self._fail(COMBINE_NOT_A_PAIR.format(which=which))
            arrays += [np.asarray(p, dtype=np.float64) for p in pair]
        shapes = {x.shape for x in arrays}
        if len(shapes) != 1:
            self._fail(COMBINE_SHAPES_DIFFER.format(shapes=sorted(shapes)))
        (shape,) = shapes
        if len(shape) != 3 or shape[0] != self.N or shape[2] != self.H:
            self._fail(COMBINE_NOT_WHOLE.format(shape=shape, N=self.N, H=self.H))
        return self.op(*arrays)


def _affine(a1, b1, a2, b2):
    return a2 * a1, a2 * b1 + b2


def _product_sum(a1, b1, a2, b2):
    """Another associative operator with identity (1, 0): its inclusive scan is (cumprod a, cumsum b)."""
    return a1 * a2, b1 + b2


def _run_scan(name, parallel_scan, op, a, b, h0):
    N, T, H = a.shape
    combine = CountingCombine(op, N, T, H)
    h = call_student(parallel_scan, a, b, h0, combine)
    if combine.problem:  # raised inside the scan, maybe caught there
        raise AssertionError(f"{name}: {combine.problem}")
    return h, combine.calls


def check_parallel_scan(parallel_scan, N=2, T=16, H=3, seed=0):
    """The recurrence's h (N, T, H) by a scan over time: the same h as the closed form, at most
    2 * ceil(log2 T) + 2 calls of combine on whole (N, T', H) arrays, and, with another associative
    combine, that operator's scan (the result is built only from combine's outputs)."""
    name = "parallel_scan"
    a, b, h0 = _recurrence_data(N, T, H, seed)
    h, calls = _run_scan(name, parallel_scan, _affine, a, b, h0)
    assert_float64(name, "h", h)
    h = assert_shape(name, "h", h, (N, T, H))
    ref = _closed_form(a, b, h0)

    def explain():
        swapped = _sequential_scan(lambda a1, b1, a2, b2: _affine(a2, b2, a1, b1), a, b, h0)
        variants = [(m, (v,)) for m, v in _recurrence_variants(a, b, h0)]
        variants.append((COMBINE_ARGUMENTS_SWAPPED, (swapped,)))
        return diagnose((h,), variants) or shift_hint(h, ref, 1e-6)

    close(name, f"h (combine called {calls} times)", h, ref, FORWARD_TOL, "the recurrence unrolled (torch)", explain)
    _hand_worked(name, lambda a, b, h0: _run_scan(name, parallel_scan, _affine, a, b, h0)[0])
    # another associative combine: the scan must return A * h0 + B with (A, B) that operator's inclusive scan
    got, _ = _run_scan(name, parallel_scan, _product_sum, a, b, h0)
    other = np.cumprod(a, axis=1) * h0[:, None] + np.cumsum(b, axis=1)
    close(
        name,
        "h with another associative combine, (a1, b1), (a2, b2) -> (a1 * a2, b1 + b2)",
        got,
        other,
        FORWARD_TOL,
        "cumprod(a) * h0 + cumsum(b): the scan must build h only from combine's outputs, A * h0 + B",
        lambda: SCAN_OUTSIDE_COMBINE,
    )


def _sequential_scan(op, a, b, h0):
    """A sequential inclusive scan under ``op``, applied to h0 (hints only: which wrong operator was applied)."""
    A, B = [a[:, 0]], [b[:, 0]]
    for s in range(1, a.shape[1]):
        ga, gb = op(A[-1], B[-1], a[:, s], b[:, s])
        A.append(ga)
        B.append(gb)
    return np.stack(A, axis=1) * h0[:, None] + np.stack(B, axis=1)


def check_parallel_scan_lengths(parallel_scan, lengths=(1, 2, 3, 5, 7, 64), seed=0):
    """Lengths that are not powers of two, T = 1, and a long sequence where a loop over t exceeds the bound."""
    for k, T in enumerate(lengths):
        check_parallel_scan(parallel_scan, N=2, T=T, H=2, seed=seed + k)


# ---------------------------------------------------------------- minGRU
def _mingru_data(N, T, D, H, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, T, D))
    h0 = rng.normal(scale=0.5, size=(N, H))
    Wz, Wh = rng.normal(scale=1 / np.sqrt(D), size=(D, H)), rng.normal(scale=1 / np.sqrt(D), size=(D, H))
    bz, bh = rng.normal(scale=0.5, size=H), rng.normal(scale=0.5, size=H)
    return x, h0, Wz, bz, Wh, bh


def _mingru_torch(x, h0, Wz, bz, Wh, bh, dh=None, bug=None):
    """minGRU written with torch: h (N, T, H), and with ``dh`` the autograd gradients of sum(h * dh)."""
    leaves = [t(v, grad=dh is not None) for v in (x, h0, Wz, bz, Wh, bh)]
    tx, th0, tWz, tbz, tWh, tbh = leaves
    z = torch.sigmoid(tx @ tWz + tbz)
    h_tilde = tx @ tWh + tbh
    if bug == "tanh":
        h_tilde = torch.tanh(h_tilde)
    if bug == "z swapped":
        z = 1 - z
    h, hs = th0 if bug != "no h0" else torch.zeros_like(th0), []
    for s in range(tx.shape[1]):
        h = (1 - z[:, s]) * h + z[:, s] * h_tilde[:, s]
        hs.append(h)
    h = torch.stack(hs, dim=1)
    if dh is None:
        return h.detach().numpy()
    (h * t(dh)).sum().backward()
    return h.detach().numpy(), [np.zeros(v.shape) if v.grad is None else v.grad.numpy() for v in leaves]


MINGRU_FORWARD_BUGS = {
    "z swapped": hint(
        "linear.mingru_z_swapped",
        "z and 1 - z are swapped: h[:, t] = (1 - z) * h[:, t-1] + z * h_tilde (z lets the new value in)",
    ),
    "tanh": hint("linear.mingru_tanh", "h_tilde has a tanh: minGRU's candidate is linear, h_tilde = x @ Wh + bh"),
    "no h0": hint("linear.mingru_h0_left_out", "h0 is left out: the scan starts from h0, not from zeros"),
}


def _check_mingru_output(name, h, args):
    N, T, _ = args[0].shape
    H = args[1].shape[1]
    assert_float64(name, "h", h)
    h = assert_shape(name, "h", h, (N, T, H))
    ref = _mingru_torch(*args)
    explain = lambda: (
        diagnose(  # noqa: E731
            (h,), [(m, (_mingru_torch(*args, bug=bug),)) for bug, m in MINGRU_FORWARD_BUGS.items()]
        )
        or shift_hint(h, ref, 1e-6)
    )
    close(name, "h", h, ref, FORWARD_TOL, "minGRU written with torch", explain)


def check_mingru_forward(mingru_forward, N=2, T=8, D=3, H=4, seed=0):
    """h (N, T, H) of minGRU against a torch implementation (z = sigmoid(x Wz + bz), h_tilde = x Wh + bh)."""
    name = "mingru_forward"
    args = _mingru_data(N, T, D, H, seed)
    out = unpack(name, call_student(mingru_forward, *args), 2, "(h, cache)")
    _check_mingru_output(name, out[0], args)


def _mingru_grads_numpy(x, h0, Wz, bz, Wh, bh, dh, bug):
    """minGRU's gradients by the reverse recurrence, with ``bug`` planted (hints only; the reference is autograd)."""
    z = 1 / (1 + np.exp(-(x @ Wz + bz)))
    h_tilde = x @ Wh + bh
    a = 1 - z
    h = _loop(a, z * h_tilde, h0, lambda a, b, h, s: a[:, s] * h + b[:, s])
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    T = x.shape[1]
    g = np.zeros_like(dh)
    carry = np.zeros_like(h0)
    for s in reversed(range(T)):  # dL/dh_t = dh_t + a_{t+1} dL/dh_{t+1}
        g[:, s] = dh[:, s] + (0 if bug == "not carried" else carry)
        carry = g[:, s] * (a[:, s - 1] if bug == "a off by one" and s > 0 else a[:, s])
    dh0 = np.zeros_like(h0) if bug == "dh0 zeros" else carry
    dz = g * (h_tilde - h_prev) * (-1 if bug == "dz sign" else 1)
    da_z = dz if bug == "no sigmoid'" else dz * z * (1 - z)
    dht = g * z
    dx = da_z @ Wz.T + dht @ Wh.T
    return (
        dx,
        dh0,
        np.einsum("ntd,nth->dh", x, da_z),
        da_z.sum((0, 1)),
        np.einsum("ntd,nth->dh", x, dht),
        dht.sum((0, 1)),
    )


MINGRU_BACKWARD_BUGS = {
    "not carried": hint(
        "linear.mingru_not_carried",
        "the gradient is not carried back in time: dL/dh[:, t] = dh[:, t] + (1 - z[:, t+1]) * dL/dh[:, t+1]",
    ),
    "a off by one": hint(
        "linear.mingru_gate_off_by_one",
        "the gradient is carried back with the wrong step's gate: dL/dh[:, t-1] gets (1 - z[:, t]) * "
        "dL/dh[:, t], the gate of the step that read h[:, t-1]",
    ),
    "dh0 zeros": hint(
        "linear.mingru_dh0_zero",
        "dh0 is zero: h0 reaches h[:, 0] through (1 - z[:, 0]), so dh0 = (1 - z[:, 0]) * dL/dh[:, 0]",
    ),
    "dz sign": hint(
        "linear.mingru_dz_sign",
        "dz has the wrong sign: h = (1 - z) * h_prev + z * h_tilde, so dz = dL/dh * (h_tilde - h_prev)",
    ),
    "no sigmoid'": hint(
        "linear.mingru_no_sigmoid_derivative", "the sigmoid's derivative is missing: da = dz * z * (1 - z)"
    ),
}


def check_mingru_backward(mingru_forward, mingru_backward, N=2, T=6, D=3, H=4, seed=0, numeric=False):
    """(dx, dh0, dWz, dbz, dWh, dbh) for an upstream gradient on every h_t, against torch autograd (and
    numerical gradients of the student's forward when ``numeric``). mingru_forward is checked first."""
    from course.checks._common import check_numeric

    name = "mingru_backward"
    args = _mingru_data(N, T, D, H, seed)
    dh = np.random.default_rng(seed + 100).normal(size=(N, T, H))
    out = unpack("mingru_forward", call_student(mingru_forward, *args), 2, "(h, cache)")
    forward_first(name, "mingru_forward", lambda: _check_mingru_output("mingru_forward", out[0], args))
    grads = unpack(name, call_student(mingru_backward, dh, out[1]), 6, "(dx, dh0, dWz, dbz, dWh, dbh)")
    _, refs = _mingru_torch(*args, dh=dh)
    whats = ("dx", "dh0", "dWz", "dbz", "dWh", "dbh")
    variants = lambda: [(m, _mingru_grads_numpy(*args, dh, bug)) for bug, m in MINGRU_BACKWARD_BUGS.items()]  # noqa: E731
    for what, got, ref in zip(whats, grads, refs):  # a float32 gradient within the tolerance is accepted
        assert_shape(name, what, got, ref.shape)
        explain = first_hint(
            lambda: diagnose(grads, variants), lambda got=got, ref=ref, what=what: precision_hint(what, got, ref)
        )
        close(name, what, got, ref, BACKWARD_TOL, "torch autograd", explain)
    if numeric:
        check_numeric(name, mingru_forward, "mingru_forward", args, lambda o: o[:1], (dh,), whats, grads)
