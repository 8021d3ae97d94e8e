"""Unit 7 (GRU): each typical wrong implementation gets its own named hint.

A correct GRU is written here (not copied from the solution); each row plants one
bug in it and names the distinctive words of the hint the check must give.
"""

import numpy as np
import pytest

from course.checks import gru as G
from course.checks.hints import identify

from helpers import hint_of, with_bug

pytestmark = pytest.mark.usefixtures("both_references")  # hints the same with torch and without


def assert_hint(message, words, hint_id):
    """``message`` has ``words`` and names the hint ``hint_id`` (what the grader records)."""
    assert words in message
    assert hint_id in identify(message), f"{hint_id} not identified in: {message}"


def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


# ---------------------------------------------------------------- a correct GRU, with switchable bugs
def step_forward(x, h_prev, Wx, Wh, bx, bh, bug=None):
    H = h_prev.shape[1]
    order = "zrn" if bug == "gate order zrn" else "rzn"
    blk = {k: slice(n * H, (n + 1) * H) for n, k in enumerate(order)}
    ax, ah = x @ Wx + bx, h_prev @ Wh + bh
    r = sigmoid(ax[:, blk["r"]] + ah[:, blk["r"]])
    z = sigmoid(ax[:, blk["z"]] + ah[:, blk["z"]])
    if bug == "reset before matmul":
        hn = (r * h_prev) @ Wh[:, blk["n"]] + bh[blk["n"]]
        n = np.tanh(ax[:, blk["n"]] + hn)
    elif bug == "bh_n outside":
        n = np.tanh(ax[:, blk["n"]] + r * (h_prev @ Wh[:, blk["n"]]) + bh[blk["n"]])
    else:
        n = np.tanh(ax[:, blk["n"]] + r * ah[:, blk["n"]])
    h = z * n + (1 - z) * h_prev if bug == "z on the candidate" else (1 - z) * n + z * h_prev
    return h, {"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "r": r, "z": z, "n": n, "ah_n": ah[:, 2 * H :]}


def step_backward(dh, c, bug=None):
    r, z, n, h_prev = c["r"], c["z"], c["n"], c["h_prev"]
    dan = dh * (1 - z) * (1.0 if bug == "no tanh' of n" else 1 - n**2)
    sig_r, sig_z = (1.0, 1.0) if bug == "no sigmoid'" else (r * (1 - r), z * (1 - z))
    dar = dan * c["ah_n"] * sig_r
    dz = dh * ((n - h_prev) if bug == "dz sign" else (h_prev - n))
    daz = dz * sig_z
    order = ("z", "r", "n") if bug == "da order zrn" else ("r", "z", "n")
    x_side = {"r": dar, "z": daz, "n": dan}
    h_side = {"r": dar, "z": daz, "n": dan if bug == "no r on hidden n" else dan * r}
    dax = np.concatenate([x_side[k] for k in order], axis=1)
    dah = np.concatenate([h_side[k] for k in order], axis=1)
    dh_prev = dah @ c["Wh"].T + (0.0 if bug == "no direct path" else dh * z)
    dbx = dax.sum(0)
    dbh = dbx if bug == "dbh = dbx" else dah.sum(0)
    if bug == "dbh zero":
        dbh = np.zeros_like(dbx)
    if bug == "dbh halved":
        dbh = dbh / 2
    if bug == "dh_prev halved":
        dh_prev = dh_prev / 2
    return dax @ c["Wx"].T, dh_prev, c["x"].T @ dax, h_prev.T @ dah, dbx, dbh


def forward(x, h0, Wx, Wh, bx, bh, bug=None):
    h, hs, caches = h0, [], []
    for t in range(x.shape[1]):
        h, cache = step_forward(x[:, t], h, Wx, Wh, bx, bh, bug=bug)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, axis=1), caches


def backward(dh, caches, bug=None):
    N, T, H = dh.shape
    dx, dh_next, sums = [None] * T, np.zeros((N, H)), [0.0] * 4
    for t in reversed(range(T)):
        upstream = dh[:, t] + (0.0 if bug == "dh not carried" else dh_next)
        g = step_backward(upstream, caches[t], bug=bug if bug == "no direct path" else None)
        dx[t], dh_next = g[0], g[1]
        sums = [s + v for s, v in zip(sums, g[2:])]
        if bug == "dWh not accumulated":
            sums[1] = g[3]
    if bug == "dbx, dbh swapped":
        sums[2], sums[3] = sums[3], sums[2]
    return (np.stack(dx, axis=1), dh_next, *sums)


def test_the_correct_gru_passes():
    G.check_gru_step_forward(step_forward)
    G.check_gru_step_backward(step_forward, step_backward)
    G.check_gru_forward(forward)
    G.check_gru_backward(forward, backward)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("z on the candidate", "with z on the new candidate", "gru.z_on_candidate"),
        (
            "reset before matmul",
            "you applied r to h_prev before the product, (r * h_prev) @ Wh_n",
            "gru.reset_before_product",
        ),
        ("bh_n outside", "you added bh_n outside the reset gate", "gru.bh_n_outside_reset"),
        ("gate order zrn", "the result matches the gate order z, r, n; the contract uses r, z, n", "common.gate_order"),
    ],
)
@pytest.mark.parametrize("sequence", [False, True])
def test_forward_hints(bug, words, hint_id, sequence):
    if sequence:
        assert_hint(hint_of(G.check_gru_forward, with_bug(forward, bug)), words, hint_id)
    else:
        assert_hint(hint_of(G.check_gru_step_forward, with_bug(step_forward, bug)), words, hint_id)


def test_the_convention_hint_agrees_with_cho_et_al():
    """Cho et al. (2014), eq. 7: h = z * h_prev + (1 - z) * h~ -- z on the OLD state, as in PyTorch."""
    msg = hint_of(G.check_gru_step_forward, with_bug(step_forward, "z on the candidate"))
    assert "Cho et al.'s (2014, eq. 7: h = z * h_prev + (1 - z) * h~)" in msg
    assert "Cho et al.'s convention" not in msg


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("no direct path", "dh_prev misses the direct path", "gru.dh_prev_no_direct_path"),
        ("no r on hidden n", "the hidden side's n block must be r * da_n", "gru.no_r_on_hidden_n"),
        ("dz sign", "dz has the wrong sign", "gru.dz_sign"),
        ("no tanh' of n", "the derivative of n = tanh(a_n) is missing", "gru.no_tanh_derivative_n"),
        ("dbh = dbx", "dbh equals dbx", "gru.dbh_equals_dbx"),
        ("dbh zero", "dbh is all zeros", "common.gradient_all_zeros"),
        ("no sigmoid'", "the sigmoid derivative is missing", "gru.no_sigmoid_derivative"),
        ("dbh halved", "dbx and dbh differ in the n block", "gru.dbh_n_block"),
        ("dh_prev halved", "h_prev reaches h_next directly", "gru.dh_prev_paths"),
        (
            "da order zrn",
            "packed in the gate order z, r, n; pack them in the forward's order r, z, n",
            "gru.da_gate_order",
        ),
    ],
)
def test_step_backward_hints(bug, words, hint_id):
    assert_hint(hint_of(G.check_gru_step_backward, step_forward, with_bug(step_backward, bug)), words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("dh not carried", "the hidden state's gradient is not carried back in time", "lstm.dh_not_carried"),
        ("no direct path", "dh_prev misses the direct path", "gru.dh_prev_no_direct_path"),
        (
            "dWh not accumulated",
            "dWh holds only the contribution of time step 0: accumulate it over all steps",
            "common.gradient_only_first_step",
        ),
        (
            "dbx, dbh swapped",
            "dbx holds what dbh should: return the gradients in the order dx, dh0, dWx, dWh, dbx, dbh",
            "common.gradients_mixed_up",
        ),
    ],
)
def test_backward_hints(bug, words, hint_id):
    assert_hint(hint_of(G.check_gru_backward, forward, with_bug(backward, bug)), words, hint_id)


@pytest.mark.parametrize(
    "check,fns,fwd_name",
    [
        (G.check_gru_step_backward, (with_bug(step_forward, "z on the candidate"), step_backward), "gru_step_forward"),
        (G.check_gru_backward, (with_bug(forward, "gate order zrn"), backward), "gru_forward"),
    ],
)
def test_a_correct_backward_with_a_wrong_forward_is_told_to_fix_the_forward(check, fns, fwd_name):
    msg = hint_of(check, *fns)
    assert f"your {fwd_name} is wrong (" in msg and "fix it first" in msg
    assert "does not match torch autograd" not in msg


# ---------------------------------------------------------------- the reset-before stretch (not graded)
def reset_before_backward(dh, c, bug=None):
    """The backward of step_forward(..., bug="reset before matmul"), which is the stretch's correct forward."""
    r, z, n, h_prev, Wh = c["r"], c["z"], c["n"], c["h_prev"], c["Wh"]
    H = h_prev.shape[1]
    dan = dh * (1 - z) * (1 - n**2)
    drh = dan @ Wh[:, 2 * H :].T  # the gradient on r * h_prev
    da = np.hstack([drh * h_prev * r * (1 - r), dh * (h_prev - n) * z * (1 - z), dan])
    rh = h_prev if bug == "dWh_n from h_prev" else r * h_prev
    dWh = np.hstack([h_prev.T @ da[:, : 2 * H], rh.T @ dan])
    dh_prev = dh * z + da[:, : 2 * H] @ Wh[:, : 2 * H].T + (0.0 if bug == "no r on dh_prev" else drh * r)
    dbh = np.hstack([da[:, : 2 * H].sum(0), (r * dan).sum(0)]) if bug == "dbh_n times r" else da.sum(0)
    return da @ c["Wx"].T, dh_prev, c["x"].T @ da, dWh, da.sum(0), dbh


RESET_BEFORE = with_bug(step_forward, "reset before matmul")


def test_the_correct_reset_before_step_passes():
    G.check_gru_reset_before(RESET_BEFORE, reset_before_backward)


@pytest.mark.parametrize(
    "forward_bug,words,hint_id",
    [
        (None, "torch.nn.GRU's reset-after step", "gru.reset_before_is_reset_after"),
        ("bh_n outside", "r and z as in gru_step_forward", "gru.reset_before_forward"),
    ],
)
def test_reset_before_forward_hints(forward_bug, words, hint_id):
    msg = hint_of(G.check_gru_reset_before, with_bug(step_forward, forward_bug), reset_before_backward)
    assert_hint(msg, words, hint_id)


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("dWh_n from h_prev", "(r * h_prev).T @ da_n", "gru.reset_before_dwh"),
        ("no r on dh_prev", "(da_n @ Wh_n.T) * r", "gru.reset_before_dh_prev"),
        ("dbh_n times r", "dbh_n = dbx_n", "gru.reset_before_dbh"),
    ],
)
def test_reset_before_backward_hints(bug, words, hint_id):
    assert_hint(hint_of(G.check_gru_reset_before, RESET_BEFORE, with_bug(reset_before_backward, bug)), words, hint_id)
