"""The unit 8 (deep & bidirectional) checks accept correct implementations and reject wrong ones.

The reference solution comes from the solution notebook's answer cells; the
alternative and wrong implementations are written here.
"""

import numpy as np
import pytest
import torch

from course.checks import deep as Dp


@pytest.fixture(scope="module")
def sol(solution_answers):
    return solution_answers("08_deep_bidirectional")


# ---------------------------------------------------------------- alternatives: np.flip copies, dict caches, lists
def alt_bi_forward(x, forward_fn, params_f, params_b, flip_back=True, reverse_input=True, swap=False):
    h_f, c_f = forward_fn(x, *params_f)
    h_b, c_b = forward_fn(np.flip(x, axis=1).copy() if reverse_input else x, *params_b)
    if flip_back:
        h_b = np.flip(h_b, axis=1)
    parts = [h_b, h_f] if swap else [h_f, h_b]
    return np.concatenate(parts, axis=2), {"f": c_f, "b": c_b, "H": h_f.shape[2]}


def alt_bi_backward(dh, cache, backward_fn, add_b=True, flip_dx=True, flip_dh=True, same_cache=False):
    H = cache["H"]
    out_f = backward_fn(dh[:, :, :H], cache["f"])
    dh_b = np.flip(dh[:, :, H:], axis=1) if flip_dh else dh[:, :, H:]
    out_b = backward_fn(dh_b, cache["f"] if same_cache else cache["b"])
    dx_b = np.flip(out_b[0], axis=1) if flip_dx else out_b[0]
    return out_f[0] + (dx_b if add_b else 0), list(out_f[1:]), list(out_b[1:])


def alt_stacked_forward(x, forward_fn, layers, from_x=False):
    if not layers:
        return x, []
    h, c = forward_fn(x, *layers[0])
    top, rest = alt_stacked_forward(x if from_x else h, forward_fn, layers[1:], from_x)
    return (top if len(layers) > 1 else h), [c] + rest


def alt_stacked_backward(dh_top, cache, backward_fn, keep_order=True, pass_dx=True):
    grads, dh = [], dh_top
    for c in cache[::-1]:
        out = backward_fn(dh, c)
        if pass_dx:
            dh = out[0]
        grads.insert(0, list(out[1:])) if keep_order else grads.append(list(out[1:]))
    return dh, grads


def fails(check, *fns, **kw):
    with pytest.raises(AssertionError) as e:
        check(*fns, **kw)
    return str(e.value)


BI_CASES = [
    {},
    dict(N=1, T=1, D=1, H=1, seed=1),
    dict(N=3, T=6, D=2, H=3, seed=2, kind="lstm"),
    dict(N=2, T=7, D=4, H=2, seed=3, kind="gru"),
]
ST_CASES = [
    {},
    dict(N=1, T=1, D=1, hidden=(1,), seed=1),
    dict(N=3, T=5, D=2, hidden=(2, 3, 4), seed=2, kind="gru"),
    dict(N=2, T=4, D=3, hidden=(3, 2), seed=3, kind="lstm", bidirectional=True),
]


@pytest.mark.parametrize("impl", ["solution", "alternative"])
def test_correct_pass(impl, sol):
    if impl == "solution":
        bf, bb, sf, sb = (
            sol[k] for k in ("bidirectional_forward", "bidirectional_backward", "stacked_forward", "stacked_backward")
        )
    else:
        bf, bb, sf, sb = alt_bi_forward, alt_bi_backward, alt_stacked_forward, alt_stacked_backward
    for kw in BI_CASES:
        Dp.check_bidirectional_forward(bf, **kw)
        Dp.check_bidirectional_backward(bf, bb, **kw)
    for kw in ST_CASES:
        Dp.check_stacked_forward(sf, **kw)
        Dp.check_stacked_backward(sf, sb, **kw)
    for kind in ("rnn", "lstm", "gru"):
        for kw in [{}, dict(N=1, T=1, D=1, H=1, seed=1), dict(N=3, T=6, D=2, H=3, num_layers=3, seed=2)]:
            Dp.check_deep_bidirectional(sf, bf, bb, sol[f"{kind}_forward"], sol[f"{kind}_backward"], kind, **kw)


def test_wrong_bidirectional_forwards_fail():
    msg = fails(Dp.check_bidirectional_forward, lambda *a: alt_bi_forward(*a, flip_back=False))
    assert "h[..., H:]" in msg and "flip the backward direction's output back" in msg
    msg = fails(Dp.check_bidirectional_forward, lambda *a: alt_bi_forward(*a, reverse_input=False, flip_back=False))
    assert "must read the sequence reversed" in msg
    msg = fails(Dp.check_bidirectional_forward, lambda *a: alt_bi_forward(*a, swap=True))
    assert "h[..., :H]" in msg and "forward direction first" in msg
    msg = fails(Dp.check_bidirectional_forward, lambda x, f, pf, pb: alt_bi_forward(x, f, pf, pf))
    assert "h[..., H:]" in msg

    def uses_torch(x, forward_fn, params_f, params_b):
        h, c = alt_bi_forward(x, forward_fn, params_f, params_b)
        return torch.from_numpy(h).numpy(), c

    assert "must not use torch" in fails(Dp.check_bidirectional_forward, uses_torch)

    def modifies(x, forward_fn, params_f, params_b):
        out = alt_bi_forward(x, forward_fn, params_f, params_b)
        x[:] = x[:, ::-1].copy()
        return out

    assert "modified its input `x`" in fails(Dp.check_bidirectional_forward, modifies)


def test_wrong_bidirectional_backwards_fail():
    msg = fails(Dp.check_bidirectional_backward, alt_bi_forward, lambda *a: alt_bi_backward(*a, add_b=False))
    assert "sum of both directions" in msg
    msg = fails(Dp.check_bidirectional_backward, alt_bi_forward, lambda *a: alt_bi_backward(*a, flip_dx=False))
    assert "flip the backward direction's dx back" in msg
    msg = fails(Dp.check_bidirectional_backward, alt_bi_forward, lambda *a: alt_bi_backward(*a, flip_dh=False))
    assert "dx" in msg
    msg = fails(Dp.check_bidirectional_backward, alt_bi_forward, lambda *a: alt_bi_backward(*a, same_cache=True))
    assert "bidirectional_backward" in msg

    def drops_dh0(dh, cache, backward_fn):
        dx, gf, gb = alt_bi_backward(dh, cache, backward_fn)
        return dx, gf[1:], gb

    assert "grads_f" in fails(Dp.check_bidirectional_backward, alt_bi_forward, drops_dh0)


def test_wrong_stacked_fail():
    msg = fails(Dp.check_stacked_forward, lambda *a: alt_stacked_forward(*a, from_x=True))
    assert "read the hidden states of the layer below" in msg
    msg = fails(Dp.check_stacked_forward, lambda x, f, layers: (f(x, *layers[0])[0], None))
    assert "h_top has shape" in msg
    msg = fails(Dp.check_stacked_forward, lambda x, f, layers: alt_stacked_forward(x, f, layers[::-1]))
    assert "stacked_forward" in msg

    def modifies(x, forward_fn, layers):
        out = alt_stacked_forward(x, forward_fn, layers)
        layers.reverse()
        return out

    assert "modified its input `layers`" in fails(Dp.check_stacked_forward, modifies)

    msg = fails(Dp.check_stacked_backward, alt_stacked_forward, lambda *a: alt_stacked_backward(*a, keep_order=False))
    assert "layer_grads[0]" in msg
    msg = fails(Dp.check_stacked_backward, alt_stacked_forward, lambda *a: alt_stacked_backward(*a, pass_dx=False))
    assert "dh of shape" in msg or "stacked_backward" in msg
    msg = fails(
        Dp.check_stacked_backward,
        alt_stacked_forward,
        lambda *a: alt_stacked_backward(*a, pass_dx=False),
        hidden=(4, 4),
    )
    assert "stacked_backward: dx" in msg
    msg = fails(Dp.check_stacked_backward, alt_stacked_forward, lambda d, c, b: alt_stacked_backward(d, c[::-1], b))
    assert "stacked_backward" in msg


def test_the_student_layers_are_checked(sol):
    """A wrong lstm or a wrong generic function fails the deep model check."""
    ok = [sol[k] for k in ("stacked_forward", "bidirectional_forward", "bidirectional_backward")]

    def lstm_no_bias(x, h0, Wx, Wh, b):
        return sol["lstm_forward"](x, h0, Wx, Wh, 0 * b)

    msg = fails(Dp.check_deep_bidirectional, *ok, lstm_no_bias, sol["lstm_backward"], "lstm")
    assert "your lstm_no_bias is wrong" in msg and "fix it first" in msg

    def gru_bad_dbh(dh, cache):
        g = list(sol["gru_backward"](dh, cache))
        g[5] = g[4]
        return g

    msg = fails(Dp.check_deep_bidirectional, *ok, sol["gru_forward"], gru_bad_dbh, "gru")
    assert "dbh" in msg
    bad = [ok[0], lambda *a: alt_bi_forward(*a, flip_back=False), ok[2]]
    assert "h_top" in fails(Dp.check_deep_bidirectional, *bad, sol["rnn_forward"], sol["rnn_backward"], "rnn")


def test_reference_layers_refuse_foreign_caches():
    fwd, bwd = Dp.reference_layer("rnn")
    with pytest.raises(AssertionError, match="cache that its forward_fn did not make"):
        bwd(np.zeros((1, 2, 3)), {"not": "ours"})
