"""The checks of unit 4 (bptt) accept correct implementations and reject wrong ones."""

import numpy as np
import pytest

from course.checks.bptt import (
    check_bigram_model,
    check_rnn_backward,
    check_rnn_step_backward,
    check_softmax_temperature,
    check_temporal_softmax_loss,
)


# ---------------------------------------------------------------- correct implementations
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    h_next = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h_next, (x, h_prev, Wx, Wh, h_next)


def rnn_step_backward(dh_next, cache):
    x, h_prev, Wx, Wh, h_next = cache
    da = dh_next * (1 - h_next**2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def rnn_step_forward_dict(x, h_prev, Wx, Wh, b):
    """A different cache: the pre-activation instead of the output, in a dict."""
    a = x @ Wx + h_prev @ Wh + b
    return np.tanh(a), {"a": a, "x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh}


def rnn_step_backward_dict(dh_next, cache):
    da = dh_next / np.cosh(cache["a"]) ** 2
    grads = [
        da @ cache["Wx"].T,
        da @ cache["Wh"].T,
        np.einsum("nd,nh->dh", cache["x"], da),
        np.einsum("nk,nh->kh", cache["h_prev"], da),
        np.einsum("nh->h", da),
    ]
    return grads  # a list is fine


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h, h_prev, caches = np.zeros((N, T, h0.shape[1])), h0, []
    for t in range(T):
        h_prev, c = rnn_step_forward(x[:, t], h_prev, Wx, Wh, b)
        h[:, t] = h_prev
        caches.append(c)
    return h, caches


def rnn_backward(dh, caches):
    N, T, H = dh.shape
    x0, _, Wx, Wh, _ = caches[0]
    dx = np.zeros((N, T, x0.shape[1]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    dh_prev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dh_prev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dh_prev, caches[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dh_prev, dWx, dWh, db


def rnn_forward_vectorised(x, h0, Wx, Wh, b):
    """Input projection once, cache of whole arrays."""
    N, T, _ = x.shape
    hs, h = [], h0
    xw = x @ Wx + b
    for t in range(T):
        h = np.tanh(xw[:, t] + h @ Wh)
        hs.append(h)
    h_all = np.stack(hs, axis=1)
    return h_all, (x, h0, Wx, Wh, h_all)


def rnn_backward_vectorised(dh, cache):
    """Gradient of the pre-activations for all steps, then the weight gradients in one einsum each."""
    x, h0, Wx, Wh, h_all = cache
    N, T, H = h_all.shape
    da = np.zeros_like(h_all)
    carry = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        da[:, t] = (dh[:, t] + carry) * (1 - h_all[:, t] ** 2)
        carry = da[:, t] @ Wh.T
    h_prev = np.concatenate([h0[:, None], h_all[:, :-1]], axis=1)
    return (
        da @ Wx.T,
        carry,
        np.einsum("ntd,nth->dh", x, da),
        np.einsum("ntk,nth->kh", h_prev, da),
        da.sum(axis=(0, 1)),
    )


def temporal_softmax_loss(scores, y, mask):
    N, T, V = scores.shape
    flat = scores.reshape(N * T, V)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    m = mask.reshape(-1)
    loss = -np.sum(log_p[np.arange(N * T), y.reshape(-1)] * m) / N
    d = np.exp(log_p)
    d[np.arange(N * T), y.reshape(-1)] -= 1
    return loss, (d * m[:, None] / N).reshape(N, T, V)


def temporal_softmax_loss_loops(scores, y, mask):
    """Loops over tokens, logsumexp per token, masked tokens skipped."""
    N, T, V = scores.shape
    loss, d = 0.0, np.zeros_like(scores)
    for n in range(N):
        for t in range(T):
            if not mask[n, t]:
                continue
            s = scores[n, t]
            lse = s.max() + np.log(np.sum(np.exp(s - s.max())))
            loss += lse - s[y[n, t]]
            p = np.exp(s - lse)
            p[y[n, t]] -= 1
            d[n, t] = p / N
    return loss / N, d


def bigram_model(tokens, vocab_size, alpha=1.0):
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (tokens[:-1], tokens[1:]), 1)
    counts += alpha
    return counts / counts.sum(axis=1, keepdims=True)


def bigram_model_loops(tokens, vocab_size, alpha=1.0):
    P = np.full((vocab_size, vocab_size), float(alpha))
    for a, b in zip(tokens[:-1], tokens[1:]):
        P[a, b] += 1
    return P / P.sum(axis=1)[:, None]


def bigram_model_bincount(tokens, vocab_size, alpha=1.0):
    c = np.bincount(tokens[:-1] * vocab_size + tokens[1:], minlength=vocab_size**2).reshape(vocab_size, vocab_size)
    return (c + alpha) / (c.sum(axis=1, keepdims=True) + vocab_size * alpha)


def softmax_temperature(logits, temperature):
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_temperature_logsumexp(logits, temperature):
    z = np.asarray(logits, dtype=float) / temperature
    m = np.max(z, axis=-1, keepdims=True)
    return np.exp(z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)))


# ---------------------------------------------------------------- wrong implementations
def _named(name, **variants):
    for fn in variants.values():
        fn.__name__ = name
    return variants


def _step_bwd(change):
    def bwd(dh_next, cache):
        x, h_prev, Wx, Wh, h_next = cache
        da = dh_next * (1 - h_next**2)
        g = {"dx": da @ Wx.T, "dh_prev": da @ Wh.T, "dWx": x.T @ da, "dWh": h_prev.T @ da, "db": da.sum(axis=0)}
        g.update(change(dh_next, x, h_prev, Wx, Wh, h_next, da))
        return g["dx"], g["dh_prev"], g["dWx"], g["dWh"], g["db"]

    return bwd


WRONG_STEP_BWD = _named(
    "rnn_step_backward",
    no_tanh_derivative=_step_bwd(
        lambda dh, x, hp, Wx, Wh, h, da: {
            "dx": dh @ Wx.T,
            "dh_prev": dh @ Wh.T,
            "dWx": x.T @ dh,
            "dWh": hp.T @ dh,
            "db": dh.sum(0),
        }
    ),
    dh_prev_not_transposed=_step_bwd(lambda dh, x, hp, Wx, Wh, h, da: {"dh_prev": da @ Wh}),
    dWh_transposed=_step_bwd(lambda dh, x, hp, Wx, Wh, h, da: {"dWh": da.T @ hp}),
    db_mean=_step_bwd(lambda dh, x, hp, Wx, Wh, h, da: {"db": da.mean(axis=0)}),
    dx_zero=_step_bwd(lambda dh, x, hp, Wx, Wh, h, da: {"dx": np.zeros_like(x)}),
    dh_prev_is_da=_step_bwd(lambda dh, x, hp, Wx, Wh, h, da: {"dh_prev": da}),
    tanh_derivative_1_minus_h=_step_bwd(lambda dh, x, hp, Wx, Wh, h, da: {"db": (dh * (1 - h)).sum(0)}),
    wrong_order=lambda dh, c: _step_bwd(lambda *a: {})(dh, c)[::-1],
    four_values=lambda dh, c: _step_bwd(lambda *a: {})(dh, c)[:4],
)


def _modifies_dh(dh_next, cache):
    dh_next *= 1.0  # an in-place write: must not be allowed even when harmless
    dh_next[0] = 0
    return rnn_step_backward(dh_next, cache)


WRONG_STEP_BWD.update(_named("rnn_step_backward", modifies_dh=_modifies_dh))


def _seq_bwd(variant):
    def bwd(dh, caches):
        N, T, H = dh.shape
        x0, _, Wx, Wh, _ = caches[0]
        dx = np.zeros((N, T, x0.shape[1]))
        acc = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)]
        dh_prev = np.zeros((N, H))
        for t in reversed(range(T)):
            upstream = {"last_only": dh[:, t] if t == T - 1 else dh_prev, "no_carry": dh[:, t]}.get(
                variant, dh[:, t] + dh_prev
            )
            dx[:, t], dh_prev, *g = rnn_step_backward(upstream, caches[t])
            if variant == "overwrite":
                acc = g
            elif variant == "overwrite_keep_last" and t == T - 1:
                acc = g
            elif variant != "overwrite_keep_last":
                acc = [a + b for a, b in zip(acc, g)]
        if variant == "dh0_zero":
            dh_prev = np.zeros_like(dh_prev)
        if variant == "mean_over_time":
            acc = [a / T for a in acc]
        if variant == "forward_time":  # processes time forwards: wrong carry direction
            return rnn_backward(dh[:, ::-1], caches[::-1])
        return dx, dh_prev, acc[0], acc[1], acc[2]

    return bwd


WRONG_SEQ_BWD = _named(
    "rnn_backward",
    **{
        v: _seq_bwd(v)
        for v in [
            "last_only",
            "no_carry",
            "overwrite",
            "overwrite_keep_last",
            "dh0_zero",
            "mean_over_time",
            "forward_time",
        ]
    },
)


def _tsl(change):
    def fn(scores, y, mask):
        N, T, V = scores.shape
        loss, d = temporal_softmax_loss(scores, y, mask)
        return change(loss, d, scores, y, mask, N, T)

    return fn


def _naive_softmax_loss(scores, y, mask):
    """Unstable: exp of raw scores overflows at 1e3."""
    N, T, V = scores.shape
    p = np.exp(scores) / np.exp(scores).sum(axis=2, keepdims=True)
    onehot = np.eye(V)[y]
    loss = -np.sum(np.log(np.sum(p * onehot, axis=2)) * mask) / N
    return loss, (p - onehot) * mask[..., None] / N


def _mask_ignored(scores, y, mask):
    return temporal_softmax_loss(scores, y, np.ones_like(mask))


def _per_token_mean(scores, y, mask):
    loss, d = temporal_softmax_loss(scores, y, mask)
    n = max(1, mask.sum())
    return loss * scores.shape[0] / n, d * scores.shape[0] / n


WRONG_TSL = _named(
    "temporal_softmax_loss",
    mask_ignored=_mask_ignored,
    divide_by_tokens=_per_token_mean,
    divide_by_NT=_tsl(lambda l, d, s, y, m, N, T: (l / T, d / T)),
    no_division=_tsl(lambda l, d, s, y, m, N, T: (l * N, d * N)),
    gradient_not_masked=lambda s, y, m: (
        temporal_softmax_loss(s, y, m)[0],
        temporal_softmax_loss(s, y, np.ones_like(m))[1],
    ),
    gradient_sign=_tsl(lambda l, d, s, y, m, N, T: (l, -d)),
    loss_as_array=_tsl(lambda l, d, s, y, m, N, T: (np.array([l]), d)),
    unstable=_naive_softmax_loss,
    nan_when_all_masked=_tsl(lambda l, d, s, y, m, N, T: (l * N / m.sum(), d)),
    wrong_time_label=lambda s, y, m: temporal_softmax_loss(s, np.roll(y, 1, axis=1), m),
)


def _bigram_transposed(tokens, V, alpha=1.0):
    c = np.zeros((V, V))
    np.add.at(c, (tokens[1:], tokens[:-1]), 1)
    c += alpha
    return c / c.sum(axis=1, keepdims=True)


def _bigram_column_normalised(tokens, V, alpha=1.0):
    c = _counts(tokens, V) + alpha
    return c / c.sum(axis=0, keepdims=True)


def _counts(tokens, V):
    c = np.zeros((V, V))
    np.add.at(c, (tokens[:-1], tokens[1:]), 1)
    return c


def _bigram_fancy_index(tokens, V, alpha=1.0):
    c = np.zeros((V, V))
    c[tokens[:-1], tokens[1:]] += 1  # repeated pairs count once: the np.add.at pitfall
    c += alpha
    return c / c.sum(axis=1, keepdims=True)


def _bigram_vocab_from_data(tokens, V, alpha=1.0):
    return bigram_model(tokens, int(tokens.max()) + 1, alpha)


def _bigram_includes_wraparound(tokens, V, alpha=1.0):
    c = _counts(tokens, V)
    c[tokens[-1], tokens[0]] += 1
    c += alpha
    return c / c.sum(axis=1, keepdims=True)


def _bigram_alpha_once(tokens, V, alpha=1.0):
    c = _counts(tokens, V) + alpha
    return c / (c.sum(axis=1, keepdims=True) - (V - 1) * alpha + 1e-300)


def _bigram_uniform_rows_zero(tokens, V, alpha=1.0):
    c = _counts(tokens, V)
    s = c.sum(axis=1, keepdims=True)
    P = (c + alpha) / (s + V * alpha)
    P[s[:, 0] == 0] = 0.0
    return P


WRONG_BIGRAM = _named(
    "bigram_model",
    transposed=_bigram_transposed,
    column_normalised=_bigram_column_normalised,
    fancy_index=_bigram_fancy_index,
    vocab_from_data=_bigram_vocab_from_data,
    wraparound=_bigram_includes_wraparound,
    alpha_once=_bigram_alpha_once,
    unseen_rows_zero=_bigram_uniform_rows_zero,
    no_smoothing=lambda tokens, V, alpha=1.0: np.nan_to_num(bigram_model(tokens, V, 1e-300)),
    default_alpha_half=lambda tokens, V, alpha=0.5: bigram_model(tokens, V, alpha),
    counts_not_probabilities=lambda tokens, V, alpha=1.0: _counts(tokens, V) + alpha,
)


def _softmax_no_shift(logits, temperature):
    e = np.exp(logits / temperature)
    return e / e.sum(axis=-1, keepdims=True)


WRONG_SOFTMAX = _named(
    "softmax_temperature",
    multiplies=lambda l, T: softmax_temperature(l * T * T, T),
    ignores_temperature=lambda l, T: softmax_temperature(l, 1.0),
    axis0=lambda l, T: np.exp(l / T - (l / T).max(axis=0)) / np.exp(l / T - (l / T).max(axis=0)).sum(axis=0),
    unstable=_softmax_no_shift,
    flattened=lambda l, T: softmax_temperature(np.ravel(l), T),
    temperature_squared=lambda l, T: softmax_temperature(l, T * T),
)


# ---------------------------------------------------------------- tests
STEP_SHAPES = [dict(), dict(N=1, D=1, H=1, seed=1, numeric=True), dict(N=4, D=3, H=6, seed=2, numeric=True)]
SEQ_SHAPES = [
    dict(),
    dict(N=1, T=1, D=1, H=1, seed=1, numeric=True),
    dict(N=1, T=5, D=2, H=3, seed=2),
    dict(N=3, T=6, D=4, H=5, seed=3, numeric=True),
]


@pytest.mark.parametrize(
    "fwd,bwd", [(rnn_step_forward, rnn_step_backward), (rnn_step_forward_dict, rnn_step_backward_dict)]
)
@pytest.mark.parametrize("kw", STEP_SHAPES)
def test_rnn_step_backward_accepts(fwd, bwd, kw):
    check_rnn_step_backward(fwd, bwd, **kw)


@pytest.mark.parametrize("wrong", sorted(WRONG_STEP_BWD))
def test_rnn_step_backward_rejects(wrong):
    with pytest.raises(AssertionError, match="rnn_step_backward"):
        check_rnn_step_backward(rnn_step_forward, WRONG_STEP_BWD[wrong])


def test_rnn_step_backward_messages():
    with pytest.raises(AssertionError, match="tanh derivative"):
        check_rnn_step_backward(rnn_step_forward, WRONG_STEP_BWD["no_tanh_derivative"])
    with pytest.raises(AssertionError, match=r"dh_prev .*instead of Wh\.T"):
        check_rnn_step_backward(rnn_step_forward, WRONG_STEP_BWD["dh_prev_not_transposed"])
    with pytest.raises(AssertionError, match="dWh is transposed"):
        check_rnn_step_backward(rnn_step_forward, WRONG_STEP_BWD["dWh_transposed"])


def test_rnn_step_backward_wrong_forward_is_reported():
    def bad_forward(x, h_prev, Wx, Wh, b):
        return rnn_step_forward(x, h_prev, Wx, Wh.T, b)

    bad_forward.__name__ = "rnn_step_forward"
    with pytest.raises(AssertionError, match="your rnn_step_forward is wrong .*fix it first"):
        check_rnn_step_backward(bad_forward, rnn_step_backward)


@pytest.mark.parametrize("fwd,bwd", [(rnn_forward, rnn_backward), (rnn_forward_vectorised, rnn_backward_vectorised)])
@pytest.mark.parametrize("kw", SEQ_SHAPES)
def test_rnn_backward_accepts(fwd, bwd, kw):
    check_rnn_backward(fwd, bwd, **kw)


@pytest.mark.parametrize("wrong", sorted(WRONG_SEQ_BWD))
def test_rnn_backward_rejects(wrong):
    with pytest.raises(AssertionError, match="rnn_backward"):
        check_rnn_backward(rnn_forward, WRONG_SEQ_BWD[wrong])


def test_rnn_backward_messages():
    with pytest.raises(AssertionError, match="only dh\\[:, T-1\\] was used"):
        check_rnn_backward(rnn_forward, WRONG_SEQ_BWD["last_only"])
    with pytest.raises(AssertionError, match="accumulate it over all steps"):
        check_rnn_backward(rnn_forward, WRONG_SEQ_BWD["overwrite"])
    with pytest.raises(AssertionError, match="your rnn_forward is wrong .*fix it first"):
        check_rnn_backward(lambda x, h0, Wx, Wh, b: rnn_forward(x, 0 * h0, Wx, Wh, b), rnn_backward)


@pytest.mark.parametrize("fn", [temporal_softmax_loss, temporal_softmax_loss_loops])
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(N=1, T=1, V=2, seed=1, numeric=True, mask="all"),
        dict(N=4, T=3, V=6, seed=2, numeric=True),
        dict(N=3, T=5, V=4, seed=3, scale=300.0),
        dict(N=2, T=3, V=3, seed=4, mask="none"),
        dict(N=1, T=1, V=3, seed=5, mask="none"),
    ],
)
def test_temporal_softmax_loss_accepts(fn, kw):
    check_temporal_softmax_loss(fn, **kw)


@pytest.mark.parametrize("wrong", sorted(WRONG_TSL))
def test_temporal_softmax_loss_rejects(wrong):
    with pytest.raises(AssertionError, match="temporal_softmax_loss"):
        check_temporal_softmax_loss(WRONG_TSL[wrong])
        check_temporal_softmax_loss(WRONG_TSL[wrong], N=3, T=5, V=4, seed=3, scale=300.0)
        check_temporal_softmax_loss(WRONG_TSL[wrong], N=2, T=3, V=3, seed=4, mask="none")


def test_temporal_softmax_loss_messages():
    with pytest.raises(AssertionError, match="divide by N"):
        check_temporal_softmax_loss(_per_token_mean)
    with pytest.raises(AssertionError, match="NaN or inf"):
        check_temporal_softmax_loss(_naive_softmax_loss, N=3, T=5, V=4, seed=3, scale=300.0)


@pytest.mark.parametrize("fn", [bigram_model, bigram_model_loops, bigram_model_bincount])
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(n_tokens=1, V=3, alpha=0.5, seed=1),
        dict(n_tokens=2, V=1, seed=2),
        dict(n_tokens=300, V=12, alpha=0.01, seed=3),
        dict(n_tokens=40, V=5, alpha=1e3, seed=4),
    ],
)
def test_bigram_model_accepts(fn, kw):
    check_bigram_model(fn, **kw)


@pytest.mark.parametrize("wrong", sorted(WRONG_BIGRAM))
def test_bigram_model_rejects(wrong):
    with pytest.raises(AssertionError, match="bigram_model"):
        check_bigram_model(WRONG_BIGRAM[wrong])


@pytest.mark.parametrize("fn", [softmax_temperature, softmax_temperature_logsumexp])
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(shape=(1,), temperature=1.0, seed=1),
        dict(shape=(7,), temperature=2.5),
        dict(shape=(2, 3, 4), temperature=0.1, seed=2),
        dict(shape=(4, 6), temperature=0.3, seed=3, scale=100.0),
        dict(shape=(2, 1, 5), temperature=3.0, seed=4, scale=1e3),
    ],
)
def test_softmax_temperature_accepts(fn, kw):
    check_softmax_temperature(fn, **kw)


@pytest.mark.parametrize("wrong", sorted(WRONG_SOFTMAX))
def test_softmax_temperature_rejects(wrong):
    with pytest.raises(AssertionError, match="softmax_temperature"):
        check_softmax_temperature(WRONG_SOFTMAX[wrong])
        check_softmax_temperature(WRONG_SOFTMAX[wrong], shape=(4, 6), temperature=0.3, seed=3, scale=100.0)
