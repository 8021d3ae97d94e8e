"""Checks of unit 4 (bptt): RNN backward passes, the temporal softmax loss, a bigram
language model and softmax with a temperature.

References: torch autograd (float64) through ``torch.nn.RNN`` with copied
weights or through the step written with torch operations, centred numerical
gradients of the student's own forward, ``torch.nn.functional.cross_entropy``,
``torch.softmax``, bigram counts made with ``collections.Counter``, and
hand-worked cases. A backward is always run on the cache of the student's own
forward, whose output is checked first (this unit does not grade the forwards,
but a wrong forward would make every gradient look wrong). Each torch reference is a
:func:`course.references.saved_reference` of the check's data alone: where torch is not
installed, the calls of the visible tests are read back from ``course/checks/saved/04_bptt.npz``.
"""

from collections import Counter

import numpy as np

from course.checks._common import (
    FAR_APART_P,
    FAR_APART_ROWS,
    ONLY_LAST_DH,
    ROW_SHIFT_HINT,
    accumulation_candidates,
    assert_close_stable,
    assert_float64,
    check_numeric,
    close,
    forward_first,
    grad_of,
    t,
)
from course.checks.hints import hint
from course.checks.rnn import random_rnn, torch_rnn
from course.gradient_check import eval_numerical_gradient
from course.interop import require_torch
from course.references import saved_reference
from course.testing import (
    BACKWARD_TOL,
    FORWARD_TOL,
    assert_close,
    assert_close_or_hint,
    assert_scalar,
    assert_shape,
    call_student,
    hint_for,
    unpack,
)

# What a student is told (course.checks.hints: each text with its id).
NO_TANH_DERIVATIVE = hint("bptt.no_tanh_derivative", "the tanh derivative (1 - h_next**2) is missing")
DWH_TRANSPOSED = hint("bptt.dwh_transposed", "dWh is transposed (dWh = h_prev.T @ da)")
DH_PREV_WH = hint("bptt.dh_prev_wh_not_transposed", "you multiplied by Wh instead of Wh.T (dh_prev = da @ Wh.T)")
LOSS_BY_TOKENS = hint(
    "bptt.loss_divided_by_tokens", "you divided by the number of unmasked tokens; divide by N (the batch size)"
)
MASK_IGNORED = hint("bptt.mask_ignored", "the mask was ignored")
LOSS_BY_NT = hint("bptt.loss_divided_by_nt", "you divided by N * T; divide by N (the batch size)")
LOSS_SIGN = hint("bptt.loss_sign", "the loss has the wrong sign: it is the sum of -log p(target) (positive)")
LOSS_NOT_ZERO = hint("bptt.loss_not_zero_when_masked", "with a mask that is all False the loss must be 0, got {loss}")
DSCORES_NOT_ZERO = hint(
    "bptt.dscores_not_zero_when_masked",
    "with a mask that is all False dscores must be all zero (masked time steps get no gradient)",
)
MASKED_STEPS_GRADIENT = hint("bptt.masked_steps_gradient", "masked time steps got a gradient: multiply by the mask")
DSCORES_BY_TOKENS = hint("bptt.dscores_divided_by_tokens", "you divided by the number of unmasked tokens; divide by N")
DSCORES_SIGN = hint("bptt.dscores_sign", "dscores has the wrong sign: it is (softmax(scores) - onehot(y)) * mask / N")
BIGRAM_NAN = hint("bptt.bigram_nan", "P contains NaN or inf (a row with no counts still has alpha in every cell)")
BIGRAM_ROWS = hint(
    "bptt.bigram_rows_not_normalised",
    "every row of P must sum to 1 (P[prev] is a distribution over the next token); row {row} sums to {total:.6g}",
)
BIGRAM_TRANSPOSED = hint(
    "bptt.bigram_transposed",
    "rows and columns are swapped: P[prev, next], each row sums to 1 (you may have normalised the transpose)",
)
BIGRAM_REPEATS = hint(
    "bptt.bigram_repeats_counted_once",
    "a pair that occurs several times was counted once: `counts[prev, next] += 1` with index "
    "arrays does not add repeats up (use np.add.at or a loop)",
)
BIGRAM_DEFAULT = hint("bptt.bigram_default_alpha", "the default must be alpha=1.0")
TEMPERATURE_MULTIPLIED = hint(
    "bptt.temperature_multiplied", "you multiplied by the temperature; divide the logits by it"
)
TEMPERATURE_IGNORED = hint("bptt.temperature_ignored", "the temperature was ignored")
SOFTMAX_AXIS = hint("bptt.softmax_wrong_axis", "softmax was taken along the wrong axis (use the last axis, axis=-1)")
TOO_GOOD = hint(
    "bptt.too_good_to_be_true",
    "WARNING: {bits:.2f} bits/char (the bigram model needs {bigram_bits:.2f}) is too good "
    "to be true for a small RNN trained for seconds. Likely causes: temporal_softmax_loss divides the summed "
    "loss by N * T (the number of tokens) instead of by N, so dividing by T again here makes it T times too "
    "small; or the model reads the character it predicts (the inputs must be the targets shifted by one).",
)


def _forward_first(name, fwd_name, fwd, args, ref):
    """Run the student's forward, check its output against ``ref`` and return its cache."""
    out = unpack(fwd_name, call_student(fwd, *args), 2, "(out, cache)")
    what = "h_next" if "step" in fwd_name else "h"
    forward_first(
        name,
        fwd_name,
        lambda: assert_close(
            fwd_name,
            what,
            assert_float64(fwd_name, what, out[0]),
            ref,
            FORWARD_TOL,
            "torch.nn.RNN with the same weights",
        ),
        where="bring your solution of unit 3",
    )
    return out[1]


# ---------------------------------------------------------------- rnn_step_backward
@saved_reference
def _torch_step_grads(x, h_prev, Wx, Wh, b, dh_next, activation="tanh"):
    """Torch autograd of sum(activation(x @ Wx + h_prev @ Wh + b) * dh_next): x (N, D), h_prev (N, H),
    Wx (D, H), Wh (H, H), b (H,), dh_next (N, H) -> [dx, dh_prev, dWx, dWh, db] of the same shapes.

    ``activation``: "tanh" (the step), or "identity" (the step without tanh: a mistake, for messages)."""
    torch = require_torch("_torch_step_grads")
    leaves = [t(a, True) for a in (x, h_prev, Wx, Wh, b)]
    tx, th, tWx, tWh, tb = leaves
    a = tx @ tWx + th @ tWh + tb
    {"tanh": torch.tanh, "identity": lambda v: v}[activation](a).backward(t(dh_next))
    return [leaf.grad.numpy() for leaf in leaves]


def check_rnn_step_backward(rnn_step_forward, rnn_step_backward, N=3, D=4, H=5, seed=0, numeric=False):
    """(dx, dh_prev, dWx, dWh, db) against torch autograd (and numerical gradients when ``numeric``)."""
    name = "rnn_step_backward"
    x, h_prev, Wx, Wh, b_ih, b_hh = random_rnn(N, 1, D, H, seed)
    x, b = x[:, 0], b_ih + b_hh
    dh_next = np.random.default_rng(seed + 1000).normal(size=(N, H))
    cache = _forward_first(
        name,
        "rnn_step_forward",
        rnn_step_forward,
        (x, h_prev, Wx, Wh, b),
        torch_rnn(x[:, None], h_prev, Wx, Wh, b_ih, b_hh)[:, 0],
    )
    grads = unpack(name, call_student(rnn_step_backward, dh_next, cache), 5, "(dx, dh_prev, dWx, dWh, db)")
    refs = _torch_step_grads(x, h_prev, Wx, Wh, b, dh_next)
    no_tanh = _torch_step_grads(x, h_prev, Wx, Wh, b, dh_next, activation="identity")
    whats = ["dx", "dh_prev", "dWx", "dWh", "db"]
    for i, (what, got, ref) in enumerate(zip(whats, grads, refs)):
        candidates = [(NO_TANH_DERIVATIVE, no_tanh[i])]
        if what == "dWh":
            candidates.append((DWH_TRANSPOSED, ref.T))
        if what == "dh_prev":
            candidates.append((DH_PREV_WH, (dh_next * (1 - np.tanh(x @ Wx + h_prev @ Wh + b) ** 2)) @ Wh))
        assert_close_or_hint(name, what, got, ref, BACKWARD_TOL, "torch autograd", candidates)
    if numeric:
        check_numeric(
            name,
            rnn_step_forward,
            "rnn_step_forward",
            (x, h_prev, Wx, Wh, b),
            lambda o: o[:1],
            (dh_next,),
            whats,
            grads,
        )


# ---------------------------------------------------------------- rnn_backward
@saved_reference
def _torch_rnn_grads(x, h0, Wx, Wh, b_ih, b_hh, dh):
    """Autograd of sum(h * dh) through torch.nn.RNN (float64) with copied weights: x (N, T, D), h0 (N, H),
    Wx (D, H), Wh (H, H), b_ih, b_hh (H,), dh (N, T, H) -> [dx (N, T, D), dh0 (N, H), dWx, dWh, db (H,)]."""
    torch = require_torch("_torch_rnn_grads")
    D, H = Wx.shape
    rnn = torch.nn.RNN(D, H, batch_first=True).double()
    with torch.no_grad():
        for p, v in zip(rnn.parameters(), (Wx.T, Wh.T, b_ih, b_hh)):  # weight_ih, weight_hh, bias_ih, bias_hh
            p.copy_(t(v))
    tx, th0 = t(x, True), t(h0[None], True)
    rnn(tx, th0)[0].backward(t(dh))
    return [
        tx.grad.numpy(),
        th0.grad.numpy()[0],
        rnn.weight_ih_l0.grad.numpy().T,
        rnn.weight_hh_l0.grad.numpy().T,
        rnn.bias_ih_l0.grad.numpy(),
    ]


@saved_reference
def _torch_seq_grads(x, h0, Wx, Wh, b, dh):
    """Gradients of sum(h * dh) through a torch loop with one copy of each weight per step.

    x (N, T, D), h0 (N, H), Wx (D, H), Wh (H, H), b (H,), dh (N, T, H) -> (the total gradients
    [dx, dh0, dWx, dWh, db], the per-step weight contributions: T lists [dWx_t, dWh_t, db_t]),
    used to explain mistakes.
    """
    torch = require_torch("_torch_seq_grads")
    N, T, _ = x.shape
    tx, th0 = t(x, True), t(h0, True)
    steps = [[t(Wx, True), t(Wh, True), t(b, True)] for _ in range(T)]
    h, hs = th0, []
    for s in range(T):
        h = torch.tanh(tx[:, s] @ steps[s][0] + h @ steps[s][1] + steps[s][2])
        hs.append(h)
    torch.stack(hs, dim=1).backward(t(dh))
    per_step = [[grad_of(p) for p in s] for s in steps]
    total = [sum(s[k] for s in per_step) for k in range(3)]
    return [grad_of(tx), grad_of(th0)] + total, per_step


def check_rnn_backward(rnn_forward, rnn_backward, N=2, T=4, D=3, H=5, seed=0, numeric=False):
    """(dx, dh0, dWx, dWh, db) of sum(h * dh) against torch.nn.RNN's autograd (and numerical gradients).

    ``dh`` (N, T, H) is an upstream gradient on every hidden state, as when each
    h[:, t] feeds an output.
    """
    name = "rnn_backward"
    x, h0, Wx, Wh, b_ih, b_hh = random_rnn(N, T, D, H, seed)
    b = b_ih + b_hh
    dh = np.random.default_rng(seed + 1000).normal(size=(N, T, H))
    cache = _forward_first(name, "rnn_forward", rnn_forward, (x, h0, Wx, Wh, b), torch_rnn(x, h0, Wx, Wh, b_ih, b_hh))
    grads = unpack(name, call_student(rnn_backward, dh, cache), 5, "(dx, dh0, dWx, dWh, db)")

    refs = _torch_rnn_grads(x, h0, Wx, Wh, b_ih, b_hh, dh)  # torch.nn.RNN with copied weights
    last_only = np.zeros_like(dh)
    last_only[:, -1] = dh[:, -1]
    _, per_step = _torch_seq_grads(x, h0, Wx, Wh, b, dh)
    lonely, _ = _torch_seq_grads(x, h0, Wx, Wh, b, last_only)
    whats = ["dx", "dh0", "dWx", "dWh", "db"]
    for i, (what, got, ref) in enumerate(zip(whats, grads, refs)):
        candidates = []
        if T > 1:
            candidates.append((ONLY_LAST_DH, lonely[i]))
            candidates += accumulation_candidates(what, per_step, ("dWx", "dWh", "db"))
        assert_close_or_hint(name, what, got, ref, BACKWARD_TOL, "torch.nn.RNN's autograd", candidates)
    if numeric:
        check_numeric(name, rnn_forward, "rnn_forward", (x, h0, Wx, Wh, b), lambda o: o[:1], (dh,), whats, grads)


# ---------------------------------------------------------------- temporal_softmax_loss
@saved_reference
def _torch_temporal_loss(scores, y, mask):
    """cross_entropy(reduction="none") masked, summed, divided by N, and its autograd: scores (N, T, V),
    y (N, T) integers, mask (N, T) booleans -> (loss, a float; dscores (N, T, V))."""
    torch = require_torch("_torch_temporal_loss")
    N, T, V = scores.shape
    ts = t(scores, True)
    token = torch.nn.functional.cross_entropy(ts.reshape(N * T, V), torch.tensor(y.reshape(-1)), reduction="none")
    loss = (token * torch.tensor(mask.reshape(-1), dtype=torch.float64)).sum() / N
    loss.backward()
    return loss.item(), ts.grad.numpy()


def _loss_call(name, fn, scores, y, mask):
    loss, dscores = unpack(name, call_student(fn, scores, y, mask), 2, "(loss, dscores)")
    assert_float64(name, "loss", loss)  # a float32 loss spoils the numerical gradient of dscores
    return assert_scalar(name, "loss", loss), dscores


def _temporal_hand_worked(name, temporal_softmax_loss):
    # hand-worked: scores all 0 over V = 2 -> p = 1/2; token 0 counts (ln 2), token 1 is masked.
    loss, dscores = _loss_call(
        name, temporal_softmax_loss, np.zeros((1, 2, 2)), np.array([[0, 1]]), np.array([[True, False]])
    )
    assert_close(
        name, "loss (hand-worked: scores 0, y [[0, 1]], mask [[True, False]])", loss, np.log(2.0), FORWARD_TOL, "ln 2"
    )
    assert_close(
        name,
        "dscores (hand-worked: scores 0, y [[0, 1]], mask [[True, False]])",
        dscores,
        [[[-0.5, 0.5], [0.0, 0.0]]],
        BACKWARD_TOL,
        "[[[-1/2, 1/2], [0, 0]]] (a masked step has no gradient)",
    )


def check_temporal_softmax_loss(temporal_softmax_loss, N=3, T=4, V=5, seed=0, scale=1.0, mask="random", numeric=False):
    """(loss, dscores) against torch cross_entropy(reduction='none'), masked, summed, divided by N.

    ``mask``: "random" (row 0 fully masked when N > 1), "all" (all True) or
    "none" (all False: loss 0 and zero gradient). ``scale`` multiplies the
    standard-normal scores (300 gives scores up to about 1e3: numerical stability).
    """
    name = "temporal_softmax_loss"
    rng = np.random.default_rng(seed)
    scores = scale * rng.normal(size=(N, T, V))
    y = rng.integers(0, V, size=(N, T))
    y[0, 0] = V - 1  # the largest class index occurs
    if mask == "random":
        m = rng.random((N, T)) < 0.7
        m[-1, 0] = True  # at least one token counts
        if N > 1:
            m[0] = False  # a fully masked row (a padded sequence) adds nothing
    elif mask == "all":
        m = np.ones((N, T), dtype=bool)
    elif mask == "none":
        m = np.zeros((N, T), dtype=bool)
    else:
        raise ValueError(f"unknown mask kind {mask!r}")
    loss, dscores = _loss_call(name, temporal_softmax_loss, scores, y, m)
    ref_loss, ref_d = _torch_temporal_loss(scores, y, m)
    n_tokens = max(1, int(m.sum()))
    wrong_loss = [
        (LOSS_BY_TOKENS, ref_loss * N / n_tokens),
        (MASK_IGNORED, _torch_temporal_loss(scores, y, np.ones_like(m))[0]),
        (LOSS_BY_NT, ref_loss / T),
        (LOSS_SIGN, -ref_loss),
    ]
    if mask == "none":
        if not np.isfinite(loss) or abs(loss) > 1e-12:
            raise AssertionError(f"{name}: {LOSS_NOT_ZERO.format(loss=loss)}" + hint_for(loss, wrong_loss))
        assert_shape(name, "dscores", dscores, scores.shape)
        if not np.all(np.asarray(dscores) == 0):
            raise AssertionError(f"{name}: {DSCORES_NOT_ZERO}")
        _temporal_hand_worked(name, temporal_softmax_loss)
        return
    magnitude = float(np.max(np.abs(scores)))
    assert_close_stable(
        name,
        f"loss (scores up to {magnitude:.3g} in magnitude)",
        loss,
        ref_loss,
        FORWARD_TOL,
        "torch.nn.functional.cross_entropy (masked, summed, divided by N)",
        wrong_loss,
        magnitude,
    )
    assert_close_stable(
        name,
        "dscores",
        dscores,
        ref_d,
        BACKWARD_TOL,
        "torch autograd",
        [
            (MASKED_STEPS_GRADIENT, _torch_temporal_loss(scores, y, np.ones_like(m))[1]),
            (DSCORES_BY_TOKENS, ref_d * N / n_tokens),
            (DSCORES_SIGN, -ref_d),
        ],
        magnitude,
    )
    if numeric:
        num = eval_numerical_gradient(lambda s: _loss_call(name, temporal_softmax_loss, s, y, m)[0], scores.copy())
        assert_close(name, "dscores", dscores, num, BACKWARD_TOL, "the numerical gradient of your loss")
    _temporal_hand_worked(name, temporal_softmax_loss)


# ---------------------------------------------------------------- bigram_model
def counter_bigram(tokens, vocab_size, alpha, unique=False):
    """Add-alpha bigram probabilities from collections.Counter, row by row (an independent reference).

    ``unique``: count each distinct pair once (a typical mistake, for messages).
    """
    pairs = Counter(zip(np.asarray(tokens).tolist()[:-1], np.asarray(tokens).tolist()[1:]))
    if unique:
        pairs = Counter(set(pairs))
    P = np.zeros((vocab_size, vocab_size))
    for prev in range(vocab_size):
        row = [pairs.get((prev, nxt), 0) + alpha for nxt in range(vocab_size)]
        P[prev] = np.array(row) / sum(row)
    return P


def _bigram(name, fn, tokens, V, alpha, alpha_given=True):
    P = call_student(fn, tokens, V, alpha) if alpha_given else call_student(fn, tokens, V)
    P = assert_shape(name, f"P (vocab_size={V})", P, (V, V))
    if not np.all(np.isfinite(P)):
        raise AssertionError(f"{name}: {BIGRAM_NAN}")
    sums = P.sum(axis=1)
    if np.max(np.abs(sums - 1.0)) > 1e-9:
        bad = int(np.argmax(np.abs(sums - 1.0)))
        raise AssertionError(f"{name}: {BIGRAM_ROWS.format(row=bad, total=sums[bad])}")
    return P


def check_bigram_model(bigram_model, n_tokens=50, V=6, alpha=1.0, seed=0):
    """P[prev, next] = (count(prev, next) + alpha) / (count(prev, .) + V * alpha).

    Hand-worked cases, the default alpha = 1, a token never seen as "prev"
    (uniform row), then random tokens against counts made with collections.Counter.
    """
    name = "bigram_model"
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, V, size=n_tokens)
    if V > 2:
        tokens[tokens == V - 2] = V - 1  # token V-2 never occurs (the vocabulary is larger than the data)
    P = _bigram(name, bigram_model, tokens, V, alpha)
    ref = counter_bigram(tokens, V, alpha)
    assert_close_or_hint(
        name,
        f"P (random tokens, V={V}, alpha={alpha})",
        P,
        ref,
        FORWARD_TOL,
        "add-alpha counts of consecutive pairs (collections.Counter)",
        [
            (BIGRAM_TRANSPOSED, counter_bigram(tokens[::-1], V, alpha)),
            (BIGRAM_REPEATS, counter_bigram(tokens, V, alpha, unique=True)),
        ],
    )

    # hand-worked: tokens 0 1 1 2 0 1 -> pairs (0,1) (1,1) (1,2) (2,0) (0,1); V = 4, token 3 never occurs.
    tokens = np.array([0, 1, 1, 2, 0, 1])
    hand = np.array([[1, 3, 1, 1], [1, 2, 2, 1], [2, 1, 1, 1], [1, 1, 1, 1]], dtype=float)
    hand /= hand.sum(axis=1, keepdims=True)
    P = _bigram(name, bigram_model, tokens, 4, 1.0)
    for prev, why in [
        (0, "pairs (0,1) twice"),
        (1, "pairs (1,1) and (1,2)"),
        (2, "pair (2,0)"),
        # not a hint: names the hand-worked row that is checked
        (3, "token 3 never comes first in a pair: a uniform row"),
    ]:
        assert_close(
            name,
            f"P[{prev}] (hand-worked: tokens [0 1 1 2 0 1], V=4, alpha=1; {why})",
            P[prev],
            hand[prev],
            FORWARD_TOL,
            f"{np.round(hand[prev], 4).tolist()}",
        )
    if not np.allclose(_bigram(name, bigram_model, tokens, 4, None, alpha_given=False), hand, rtol=0, atol=1e-12):
        raise AssertionError(f"{name}: {BIGRAM_DEFAULT}")
    # alpha = 0.5: row 0 counts [0, 2, 0, 0] -> [0.5, 2.5, 0.5, 0.5] / 4
    P = _bigram(name, bigram_model, tokens, 4, 0.5)
    assert_close(
        name, "P[0] (hand-worked: alpha=0.5)", P[0], [0.125, 0.625, 0.125, 0.125], FORWARD_TOL, "[1/8, 5/8, 1/8, 1/8]"
    )
    # the order of a pair matters: tokens 0 1 -> P[0, 1] large, P[1, :] uniform
    P = _bigram(name, bigram_model, np.array([0, 1]), 2, 1.0)
    assert_close(
        name,
        "P (hand-worked: tokens [0 1], V=2: only the pair prev=0 -> next=1)",
        P,
        [[1 / 3, 2 / 3], [0.5, 0.5]],
        FORWARD_TOL,
        "[[1/3, 2/3], [1/2, 1/2]] (rows are prev, columns next)",
    )


# ---------------------------------------------------------------- softmax_temperature
@saved_reference
def _torch_softmax_temperature(logits, temperature, mistake=None):
    """torch.softmax(logits / temperature, dim=-1): logits (..., V) -> p (..., V), float64.

    ``mistake`` plants one, for messages: "multiplied" (logits * temperature), "ignored" (logits alone)
    or "axis 0" (dim=0)."""
    torch = require_torch("_torch_softmax_temperature")
    z = {"multiplied": t(logits) * temperature, "ignored": t(logits)}.get(mistake, t(logits) / temperature)
    return torch.softmax(z, dim=0 if mistake == "axis 0" else -1).numpy()


def check_softmax_temperature(softmax_temperature, shape=(3, 5), temperature=0.5, seed=0, scale=1.0):
    """softmax(logits / temperature) along the last axis against torch.softmax, any leading shape.

    ``scale`` multiplies standard-normal logits: scale / temperature up to about
    330 gives logits / temperature up to about 1e3 in magnitude (numerical stability).
    """
    name = "softmax_temperature"
    rng = np.random.default_rng(seed)
    logits = scale * rng.normal(size=shape)
    p = call_student(softmax_temperature, logits, temperature)
    ref = _torch_softmax_temperature(logits, temperature)
    magnitude = float(np.max(np.abs(logits)) / temperature)
    assert_close_stable(
        name,
        f"probabilities (shape {shape}, temperature {temperature}, |logits / temperature| up to {magnitude:.3g})",
        p,
        ref,
        FORWARD_TOL,
        "torch.softmax(logits / temperature, dim=-1)",
        [
            (TEMPERATURE_MULTIPLIED, _torch_softmax_temperature(logits, temperature, "multiplied")),
            (TEMPERATURE_IGNORED, _torch_softmax_temperature(logits, temperature, "ignored")),
        ]
        + ([(SOFTMAX_AXIS, _torch_softmax_temperature(logits, temperature, "axis 0"))] if len(shape) > 1 else []),
        magnitude,
    )
    if scale / temperature > 50:  # stable row by row, not only for the largest logit of the array
        p = call_student(softmax_temperature, FAR_APART_ROWS.copy(), 1.0)
        # not a hint: names the output that is checked
        what = f"probabilities (hand-worked: logits {FAR_APART_ROWS.tolist()}, temperature 1)"
        close(name, what, p, FAR_APART_P, FORWARD_TOL, "softmax of [1, 0] and of [0, 1]", lambda: ROW_SHIFT_HINT)

    # hand-worked: logits [0, ln 3] at T = 1 -> [1/4, 3/4]; logits [0, 2 ln 3] at T = 2 -> [1/4, 3/4]
    for logits, T in [([0.0, np.log(3.0)], 1.0), ([0.0, 2 * np.log(3.0)], 2.0), ([[0.0, np.log(3.0) / 2]], 0.5)]:
        p = call_student(softmax_temperature, np.array(logits), T)
        assert_close(
            name,
            f"probabilities (hand-worked: logits {np.round(logits, 4).tolist()}, temperature {T})",
            p,
            np.reshape([0.25, 0.75], np.shape(logits)),
            FORWARD_TOL,
            "[1/4, 3/4]",
        )


# ---------------------------------------------------------------- results too good to be true
def too_good_to_be_true(bits_per_char, bigram_bits_per_char):
    """A warning (a string) when a character model's held-out bits per character is implausibly low, else "".

    A small RNN trained for seconds does better than the bigram model, but not by half, and not below
    1 bit per character: such a number almost always comes from a loss averaged over the wrong count
    (the bits per character here divide the summed loss by T once more), or from a model that sees
    the character it is asked to predict.
    """
    if bits_per_char >= 1.0 and bits_per_char >= 0.5 * bigram_bits_per_char:
        return ""
    return TOO_GOOD.format(bits=bits_per_char, bigram_bits=bigram_bits_per_char)
