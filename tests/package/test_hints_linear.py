"""Unit 11 (linear recurrences): correct implementations of several styles pass; each typical wrong one
gets its own named hint.

Correct functions are written here (not copied from the solution); each row plants one bug and names
the distinctive words of the hint the check must give.
"""

import numpy as np
import pytest

from course.checks import linear as L
from course.checks.hints import identify

from helpers import hint_of, with_bug


def assert_hint(message, words, hint_id):
    """``message`` has ``words`` and names the hint ``hint_id`` (what the grader records)."""
    assert words in message
    assert hint_id in identify(message), f"{hint_id} not identified in: {message}"


# ---------------------------------------------------------------- correct implementations, several styles
def recurrence(a, b, h0, bug=None):
    h = np.zeros_like(h0) if bug == "no h0" else h0
    out = np.empty_like(b)
    for s in range(a.shape[1]):
        if bug == "a late":
            h = (a[:, s - 1] if s else 1.0) * h + b[:, s]
        elif bug == "a(h+b)":
            h = a[:, s] * (h + b[:, s])
        elif bug == "b late":
            h = a[:, s] * h + (b[:, s - 1] if s else 0.0)
        else:
            h = a[:, s] * h + b[:, s]
        out[:, s] = h
    if bug == "exclusive":
        out = np.concatenate([h0[:, None], out[:, :-1]], axis=1)
    if bug == "float32":
        out = out.astype(np.float32)
    return out


def recurrence_list(a, b, h0):
    """Another correct style: a Python list of steps, stacked at the end."""
    hs = [h0]
    for s in range(a.shape[1]):
        hs.append(a[:, s] * hs[-1] + b[:, s])
    return np.stack(hs[1:], axis=1)


def combine(first, second, bug=None):
    (a1, b1), (a2, b2) = first, second
    if bug == "swapped":
        return a1 * a2, a1 * b2 + b1
    if bug == "b1 + b2":
        return a1 * a2, b1 + b2
    if bug == "a1 * b1":
        return a2 * a1, a1 * b1 + b2
    return a2 * a1, a2 * b1 + b2


def combine_list(first, second):
    return [second[0] * first[0], second[0] * first[1] + second[1]]


def hillis_steele(a, b, h0, combine=combine, bug=None):
    """Inclusive scan by doubling: at offset d, step t absorbs the prefix ending at t - d."""
    A, B = a, b
    T, d, calls = a.shape[1], 1, 0
    while d < T:
        if bug == "loop":
            break
        if bug == "later first":
            nA, nB = combine((A[:, d:], B[:, d:]), (A[:, :-d], B[:, :-d]))
        elif bug == "not a pair":
            nA, nB = combine((A[:, :-d], B[:, :-d]), A[:, d:])
        elif bug == "unequal slices":
            nA, nB = combine((A[:, :-d], B[:, :-d]), (A, B))
        elif bug == "one sample at a time":
            rows = [
                combine((A[n : n + 1, :-d], B[n : n + 1, :-d]), (A[n : n + 1, d:], B[n : n + 1, d:]))
                for n in range(len(A))
            ]
            nA, nB = np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])
        else:
            nA, nB = combine((A[:, :-d], B[:, :-d]), (A[:, d:], B[:, d:]))
        A = np.concatenate([A[:, :d], nA], axis=1)
        B = np.concatenate([B[:, :d], nB], axis=1)
        d *= 2
        calls += 1
    if bug == "loop":  # a sequential scan in disguise: one combine per step
        As, Bs = [a[:, :1]], [b[:, :1]]
        for s in range(1, T):
            ga, gb = combine((As[-1], Bs[-1]), (a[:, s : s + 1], b[:, s : s + 1]))
            As.append(ga)
            Bs.append(gb)
        A, B = np.concatenate(As, axis=1), np.concatenate(Bs, axis=1)
    if bug == "own arithmetic":  # scans the a's with combine, then runs the recurrence itself
        h, hs = h0, []
        for s in range(T):
            h = a[:, s] * h + b[:, s]
            hs.append(h)
        return np.stack(hs, axis=1) + 0 * A
    if bug == "no h0":
        return B
    return A * h0[:, None, :] + B


def blelloch_padded(a, b, h0, combine=combine):
    """Another correct scan: pad T to a power of two with the identity (1, 0), then Hillis-Steele."""
    N, T, H = a.shape
    P = 1 << max(0, (T - 1).bit_length())
    A = np.concatenate([a, np.ones((N, P - T, H))], axis=1)
    B = np.concatenate([b, np.zeros((N, P - T, H))], axis=1)
    d = 1
    while d < P:
        ident_a, ident_b = np.ones((N, d, H)), np.zeros((N, d, H))
        prev_a = np.concatenate([ident_a, A[:, :-d]], axis=1)
        prev_b = np.concatenate([ident_b, B[:, :-d]], axis=1)
        A, B = combine((prev_a, prev_b), (A, B))
        d *= 2
    return A[:, :T] * h0[:, None] + B[:, :T]


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def mingru_forward(x, h0, Wz, bz, Wh, bh, bug=None):
    z = _sigmoid(x @ Wz + bz)
    h_tilde = x @ Wh + bh
    if bug == "tanh":
        h_tilde = np.tanh(h_tilde)
    if bug == "z swapped":
        z = 1 - z
    h = hillis_steele(1 - z, z * h_tilde, np.zeros_like(h0) if bug == "no h0" else h0)
    if bug == "float32":
        h = h.astype(np.float32)
    return h, (x, h0, Wz, Wh, z, h_tilde, h)


def mingru_backward(dh, cache, bug=None):
    x, h0, Wz, Wh, z, h_tilde, h = cache
    a = 1 - z
    # dL/dh_t = dh_t + a_{t+1} dL/dh_{t+1}: the reverse linear recurrence, by the same scan on reversed time
    a_next = np.concatenate([a[:, 1:], np.zeros_like(a[:, :1])], axis=1)
    if bug == "a off by one":
        a_next = a
    if bug == "not carried":
        g = dh
    else:
        g = hillis_steele(a_next[:, ::-1], dh[:, ::-1], np.zeros_like(h0))[:, ::-1]
    dh0 = np.zeros_like(h0) if bug == "dh0 zeros" else a[:, 0] * g[:, 0]
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    dz = g * (h_tilde - h_prev)
    if bug == "dz sign":
        dz = -dz
    da = dz if bug == "no sigmoid'" else dz * z * (1 - z)
    dht = g * z
    dx = da @ Wz.T + dht @ Wh.T
    dWz = np.einsum("ntd,nth->dh", x, da)
    dWh = np.einsum("ntd,nth->dh", x, dht)
    return dx, dh0, dWz, da.sum(axis=(0, 1)), dWh, dht.sum(axis=(0, 1))


# ---------------------------------------------------------------- correct ones pass
@pytest.mark.parametrize("fn", [recurrence, recurrence_list], ids=["array", "list"])
def test_a_correct_recurrence_passes(fn):
    L.check_linear_recurrence(fn)
    L.check_linear_recurrence(fn, N=1, T=1, H=1, seed=3)


@pytest.mark.parametrize("fn", [combine, combine_list], ids=["tuple", "list"])
def test_a_correct_combine_passes(fn):
    L.check_scan_combine(fn)


@pytest.mark.parametrize("scan", [hillis_steele, blelloch_padded], ids=["hillis-steele", "identity-padded"])
def test_a_correct_scan_passes_for_every_length(scan):
    L.check_parallel_scan(scan)
    L.check_parallel_scan_lengths(scan)


def test_a_correct_mingru_passes_forward_backward_and_numerical_gradients():
    L.check_mingru_forward(mingru_forward)
    L.check_mingru_backward(mingru_forward, mingru_backward, numeric=True)


# ---------------------------------------------------------------- each mistake, its hint
@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("no h0", "h0 is left out", "linear.h0_left_out"),
        ("a late", "a is read one step late", "linear.a_one_step_late"),
        ("b late", "b is read one step late", "linear.b_one_step_late"),
        ("a(h+b)", "the order is a * (h_prev + b)", "linear.b_inside_product"),
        ("exclusive", "exclusive scan", "linear.exclusive_scan"),
        ("float32", "dtype float32", "common.output_float32"),
    ],
)
def test_linear_recurrence_hints(bug, words, hint_id):
    assert_hint(hint_of(L.check_linear_recurrence, with_bug(recurrence, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("swapped", "first and second are swapped", "linear.combine_swapped"),
        ("b1 + b2", "carried through", "linear.combine_b_not_carried"),
        ("a1 * b1", "(you wrote a1 * b1 + b2)", "linear.combine_b_with_a1"),
    ],
)
def test_scan_combine_hints(bug, words, hint_id):
    assert_hint(hint_of(L.check_scan_combine, with_bug(combine, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("loop", "more than 10 times for T = 16", "linear.too_many_combines"),
        ("later first", "combine(later, earlier)", "linear.combine_arguments_swapped"),
        ("own arithmetic", "the scan must build h only from combine's outputs", "linear.scan_outside_combine"),
        ("no h0", "h0 is left out", "linear.h0_left_out"),
        ("not a pair", "combine a second that is not a pair (a, b)", "linear.combine_not_a_pair"),
        ("unequal slices", "combine arrays of different shapes", "linear.combine_shapes_differ"),
        ("one sample at a time", "each call must hold the whole batch", "linear.combine_not_whole_arrays"),
    ],
)
def test_parallel_scan_hints(bug, words, hint_id):
    assert_hint(hint_of(L.check_parallel_scan, with_bug(hillis_steele, bug)), words, hint_id)


def test_a_scan_that_combines_one_step_at_a_time_is_refused_even_within_the_bound():
    def per_step(a, b, h0, combine=combine):
        return hillis_steele(a, b, h0, combine=lambda f, s: combine(f, s))[:, :, :1] * 0 + recurrence(a, b, h0)

    message = hint_of(L.check_parallel_scan, per_step)
    assert "combine" in message
    assert "linear.scan_outside_combine" in identify(message)


@pytest.mark.parametrize("bug", sorted(L.MINGRU_FORWARD_BUGS))
def test_mingru_forward_hints(bug):
    hint = L.MINGRU_FORWARD_BUGS[bug]
    assert_hint(hint_of(L.check_mingru_forward, with_bug(mingru_forward, bug)), hint, hint.id)


@pytest.mark.parametrize("bug", sorted(L.MINGRU_BACKWARD_BUGS))
def test_mingru_backward_hints(bug):
    message = hint_of(L.check_mingru_backward, mingru_forward, with_bug(mingru_backward, bug))
    hint = L.MINGRU_BACKWARD_BUGS[bug]
    assert_hint(message, hint, hint.id)


def test_a_float32_mingru_forward_is_named_when_its_backward_is_checked():
    message = hint_of(L.check_mingru_backward, with_bug(mingru_forward, "float32"), mingru_backward)
    assert "your mingru_forward" in message and "float32" in message
