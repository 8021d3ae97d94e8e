"""The unit 6 (LSTM) checks accept correct implementations and reject wrong ones.

The reference solution comes from the solution notebook's answer cells; the
alternative and wrong implementations are written here.
"""

import numpy as np
import pytest
import torch

from course.checks import lstm as L
from course.gradient_check import rel_error


@pytest.fixture(scope="module")
def sol(solution_answers):
    return solution_answers("06_lstm")


# ---------------------------------------------------------------- an alternative: loops, dict caches
def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def alt_step_forward(x, h_prev, c_prev, Wx, Wh, b, order="ifgo", bias=True, h_of_c=np.tanh):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + (b if bias else 0)
    blocks = {k: a[:, n * H : (n + 1) * H] for n, k in enumerate(order)}
    i, f, o, g = sig(blocks["i"]), sig(blocks["f"]), sig(blocks["o"]), np.tanh(blocks["g"])
    c = f * c_prev + i * g
    h = o * h_of_c(c)
    return h, c, {"x": x, "h": h_prev, "c": c_prev, "Wx": Wx, "Wh": Wh, "i": i, "f": f, "o": o, "g": g, "cn": c}


def alt_step_backward(dh_next, dc_next, cache, dc_through_h=True, forget_in_dc=True, g_deriv=True):
    k = cache
    t = np.tanh(k["cn"])
    dc = dc_next + (dh_next * k["o"] * (1 - t**2) if dc_through_h else 0)
    di, df, dg, do = dc * k["g"], dc * k["c"], dc * k["i"], dh_next * t
    da = np.hstack(
        [
            di * k["i"] * (1 - k["i"]),
            df * k["f"] * (1 - k["f"]),
            dg * ((1 - k["g"] ** 2) if g_deriv else 1.0),
            do * k["o"] * (1 - k["o"]),
        ]
    )
    return (
        da @ k["Wx"].T,
        da @ k["Wh"].T,
        dc * k["f"] if forget_in_dc else dc,
        k["x"].T @ da,
        k["h"].T @ da,
        da.sum(0),
    )


def alt_forward(x, h0, Wx, Wh, b, step=alt_step_forward, c0_from_h0=False):
    N, T, _ = x.shape
    h, c = h0, (h0.copy() if c0_from_h0 else np.zeros_like(h0))
    hs, caches = [], []
    for t in range(T):
        h, c, cache = step(x[:, t], h, c, Wx, Wh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, axis=1), caches


def alt_backward(dh, caches, carry_h=True, carry_c=True):
    N, T, H = dh.shape
    dx = [None] * T
    dh_prev, dc_prev = np.zeros((N, H)), np.zeros((N, H))
    dWx = dWh = db = 0
    for t in reversed(range(T)):
        g = alt_step_backward(dh[:, t] + (dh_prev if carry_h else 0), dc_prev if carry_c else 0 * dc_prev, caches[t])
        dx[t], dh_prev, dc_prev = g[0], g[1], g[2]
        dWx, dWh, db = dWx + g[3], dWh + g[4], db + g[5]
    return [np.stack(dx, axis=1), dh_prev, dWx, dWh, db]  # a list: allowed


class Steps:  # a cache as a plain object (no __eq__): the contract leaves caches free-form
    def __init__(self, steps):
        self.steps = steps


def obj_forward(x, h0, Wx, Wh, b):
    h, caches = alt_forward(x, h0, Wx, Wh, b)
    return h, Steps(caches)


def obj_backward(dh, cache):
    return alt_backward(dh, cache.steps)


def fails(check, *fns, match=None, **kw):
    with pytest.raises(AssertionError, match=match) as e:
        check(*fns, **kw)
    return str(e.value)


# ---------------------------------------------------------------- correct implementations pass
@pytest.mark.parametrize("impl", ["solution", "alternative", "object cache"])
def test_correct_pass(impl, sol):
    if impl == "solution":
        sf, sb, f, b = sol["lstm_step_forward"], sol["lstm_step_backward"], sol["lstm_forward"], sol["lstm_backward"]
    elif impl == "alternative":
        sf, sb, f, b = alt_step_forward, alt_step_backward, alt_forward, alt_backward
    else:
        sf, sb, f, b = alt_step_forward, alt_step_backward, obj_forward, obj_backward
    for kw in [{}, dict(N=1, D=1, H=1, seed=1), dict(N=4, D=6, H=3, seed=2)]:
        L.check_lstm_step_forward(sf, **kw)
    for kw in [{}, dict(N=1, D=1, H=1, seed=1, numeric=True), dict(N=3, D=2, H=3, seed=2, numeric=True)]:
        L.check_lstm_step_backward(sf, sb, **kw)
    for kw in [{}, dict(N=1, T=1, D=1, H=1, seed=1), dict(N=3, T=12, D=4, H=6, seed=2)]:
        L.check_lstm_forward(f, **kw)
    for kw in [{}, dict(N=1, T=1, D=1, H=1, seed=1, numeric=True), dict(N=2, T=5, D=2, H=3, seed=2, numeric=True)]:
        L.check_lstm_backward(f, b, **kw)


def test_margins_of_the_hidden_numeric_tests(sol):
    """A correct float64 implementation is >= 10x under the gradient tolerance on the tests' data."""
    for N, T, D, H, seed in [(1, 1, 1, 1, 1), (2, 5, 2, 3, 2), (2, 4, 3, 5, 0)]:
        rng = np.random.default_rng(seed)
        x, h0, _, Wx, Wh, b = L._lstm_data(rng, N, T, D, H)
        dh = rng.normal(size=(N, T, H))
        h, cache = sol["lstm_forward"](x, h0, Wx, Wh, b)
        grads = sol["lstm_backward"](dh, cache)
        num = L.numeric_grads(sol["lstm_forward"], (x, h0, Wx, Wh, b), lambda o: o[:1], (dh,), range(5))
        assert max(rel_error(g, n) for g, n in zip(grads, num)) < 1e-7
    for N, D, H, seed in [(1, 1, 1, 1), (3, 2, 3, 2)]:
        rng = np.random.default_rng(seed)
        x, hp, cp, Wx, Wh, b = L._lstm_data(rng, N, 1, D, H)
        x = x[:, 0]
        dh, dc = rng.normal(size=(N, H)), rng.normal(size=(N, H))
        out = sol["lstm_step_forward"](x, hp, cp, Wx, Wh, b)
        grads = sol["lstm_step_backward"](dh, dc, out[2])
        num = L.numeric_grads(sol["lstm_step_forward"], (x, hp, cp, Wx, Wh, b), lambda o: o[:2], (dh, dc), range(6))
        assert max(rel_error(g, n) for g, n in zip(grads, num)) < 1e-7


# ---------------------------------------------------------------- wrong forwards fail, with the right message
def test_gate_order_ifog_is_named():
    msg = fails(L.check_lstm_step_forward, lambda *a: alt_step_forward(*a, order="ifog"))
    assert "c_next" in msg and "gate order i, f, o, g" in msg and "i, f, g, o" in msg
    msg = fails(
        L.check_lstm_forward,
        lambda x, h0, Wx, Wh, b: alt_forward(x, h0, Wx, Wh, b, step=lambda *a: alt_step_forward(*a, order="ifog")),
    )
    assert "gate order i, f, o, g" in msg
    msg = fails(L.check_lstm_step_forward, lambda *a: alt_step_forward(*a, order="fiog"))
    assert "gate order f, i, o, g" in msg


def test_wrong_forwards_fail():
    assert "c_next" in fails(L.check_lstm_step_forward, lambda *a: alt_step_forward(*a, bias=False))
    msg = fails(L.check_lstm_step_forward, lambda *a: alt_step_forward(*a, h_of_c=lambda c: c))
    assert "h_next" in msg and "c_next is right" in msg
    # c0 = h0 instead of zeros: the first step is already wrong
    assert "lstm_forward: h" in fails(L.check_lstm_forward, lambda *a: alt_forward(*a, c0_from_h0=True))

    def off_by_one(x, h0, Wx, Wh, b):  # h[:, t] holds the state before step t
        h, cache = alt_forward(x, h0, Wx, Wh, b)
        return np.concatenate([h0[:, None], h[:, :-1]], axis=1), cache

    assert "shifted one step late" in fails(L.check_lstm_forward, off_by_one)

    def last_only(x, h0, Wx, Wh, b):
        h, cache = alt_forward(x, h0, Wx, Wh, b)
        return h[:, -1], cache

    assert "shape" in fails(L.check_lstm_forward, last_only)
    assert "return 3 values" in fails(L.check_lstm_step_forward, lambda *a: alt_step_forward(*a)[:2])


def test_modifying_inputs_and_torch_fail():
    def modifies(x, h_prev, c_prev, Wx, Wh, b):
        out = alt_step_forward(x, h_prev, c_prev, Wx, Wh, b)
        c_prev *= 0.5
        return out

    assert "modified its input `c_prev`" in fails(L.check_lstm_step_forward, modifies)

    def uses_torch(x, h0, Wx, Wh, b):
        h, cache = alt_forward(x, h0, Wx, Wh, b)
        return torch.tanh(torch.from_numpy(h)).numpy(), cache

    assert "must not use torch" in fails(L.check_lstm_forward, uses_torch)


# ---------------------------------------------------------------- wrong backwards fail
def test_wrong_step_backwards_fail():
    msg = fails(L.check_lstm_step_backward, alt_step_forward, lambda *a: alt_step_backward(*a, dc_through_h=False))
    assert "dc_next only" not in msg and "dh_next only" in msg
    msg = fails(L.check_lstm_step_backward, alt_step_forward, lambda *a: alt_step_backward(*a, forget_in_dc=False))
    assert "dc_prev" in msg
    msg = fails(L.check_lstm_step_backward, alt_step_forward, lambda *a: alt_step_backward(*a, g_deriv=False))
    assert "dx" in msg

    # the weight gradients name the wrong gate's block
    def bad_db(*a):
        g = list(alt_step_backward(*a))
        g[5] = g[5].copy()
        H = g[5].size // 4
        g[5][H : 2 * H] *= 2
        return g

    msg = fails(L.check_lstm_step_backward, alt_step_forward, bad_db)
    assert "db" in msg and "f (forget gate)" in msg and "i (input gate)" not in msg

    def transposed(*a):
        g = list(alt_step_backward(*a))
        g[3] = g[3].T
        return g

    assert "dWx has shape" in fails(L.check_lstm_step_backward, alt_step_forward, transposed)


def test_wrong_sequence_backwards_fail():
    msg = fails(L.check_lstm_backward, alt_forward, lambda dh, c: alt_backward(dh, c, carry_h=False))
    assert "dx" in msg and "hidden state's gradient is not carried back" in msg
    msg = fails(L.check_lstm_backward, alt_forward, lambda dh, c: alt_backward(dh, c, carry_c=False))
    assert "lstm_backward" in msg and "cell state's gradient is not carried back" in msg

    def no_dh0(dh, c):
        g = alt_backward(dh, c)
        g[1] = np.zeros_like(g[1])
        return g

    assert "dh0" in fails(L.check_lstm_backward, alt_forward, no_dh0)

    def slightly_wrong(dh, c):  # db off by 1e-5 relative: still caught
        g = alt_backward(dh, c)
        g[4] = g[4] * (1 + 1e-5)
        return g

    assert "db" in fails(L.check_lstm_backward, alt_forward, slightly_wrong)
