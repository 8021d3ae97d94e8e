"""The unit 7 (GRU) checks accept correct implementations and reject wrong ones.

The reference solution comes from the solution notebook's answer cells; the
alternative and wrong implementations are written here.
"""

import numpy as np
import pytest
import torch

from course.checks import gru as G
from course.gradient_check import rel_error


@pytest.fixture(scope="module")
def sol(solution_answers):
    return solution_answers("07_gru")


def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


# ---------------------------------------------------------------- an alternative: per-gate weights, dict caches
def alt_step_forward(x, h_prev, Wx, Wh, bx, bh, variant=None, order="rzn"):
    H = h_prev.shape[1]
    blk = lambda a, k: a[..., order.index(k) * H : (order.index(k) + 1) * H]  # noqa: E731
    r = sig(x @ blk(Wx, "r") + blk(bx, "r") + h_prev @ blk(Wh, "r") + blk(bh, "r"))
    z = sig(x @ blk(Wx, "z") + blk(bx, "z") + h_prev @ blk(Wh, "z") + blk(bh, "z"))
    hn = h_prev @ blk(Wh, "n") + blk(bh, "n")
    if variant == "reset before matmul":
        n = np.tanh(x @ blk(Wx, "n") + blk(bx, "n") + (r * h_prev) @ blk(Wh, "n") + blk(bh, "n"))
    elif variant == "bh_n outside":
        n = np.tanh(x @ blk(Wx, "n") + blk(bx, "n") + r * (h_prev @ blk(Wh, "n")) + blk(bh, "n"))
    else:
        n = np.tanh(x @ blk(Wx, "n") + blk(bx, "n") + r * hn)
    h = z * n + (1 - z) * h_prev if variant == "z swapped" else (1 - z) * n + z * h_prev
    return h, dict(x=x, h=h_prev, Wx=Wx, Wh=Wh, r=r, z=z, n=n, hn=hn)


def alt_step_backward(dh_next, c, direct=True, same_biases=False):
    dan = dh_next * (1 - c["z"]) * (1 - c["n"] ** 2)
    dar = dan * c["hn"] * c["r"] * (1 - c["r"])
    daz = dh_next * (c["h"] - c["n"]) * c["z"] * (1 - c["z"])
    dax, dah = np.hstack([dar, daz, dan]), np.hstack([dar, daz, dan * c["r"]])
    dh_prev = dah @ c["Wh"].T + (dh_next * c["z"] if direct else 0)
    dbx = dax.sum(0)
    return [dax @ c["Wx"].T, dh_prev, c["x"].T @ dax, c["h"].T @ dah, dbx, dbx if same_biases else dah.sum(0)]


def alt_forward(x, h0, Wx, Wh, bx, bh, **kw):
    h, hs, caches = h0, [], []
    for t in range(x.shape[1]):
        h, cache = alt_step_forward(x[:, t], h, Wx, Wh, bx, bh, **kw)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, axis=1), caches


def alt_backward(dh, caches, carry=True, **kw):
    T = dh.shape[1]
    dx, dh_prev, sums = [None] * T, 0 * dh[:, 0], [0, 0, 0, 0]
    for t in reversed(range(T)):
        g = alt_step_backward(dh[:, t] + (dh_prev if carry else 0), caches[t], **kw)
        dx[t], dh_prev = g[0], g[1]
        sums = [s + v for s, v in zip(sums, g[2:])]
    return (np.stack(dx, axis=1), dh_prev, *sums)


def fails(check, *fns, **kw):
    with pytest.raises(AssertionError) as e:
        check(*fns, **kw)
    return str(e.value)


@pytest.mark.parametrize("impl", ["solution", "alternative"])
def test_correct_pass(impl, sol):
    if impl == "solution":
        sf, sb, f, b = sol["gru_step_forward"], sol["gru_step_backward"], sol["gru_forward"], sol["gru_backward"]
    else:
        sf, sb, f, b = alt_step_forward, alt_step_backward, alt_forward, alt_backward
    for kw in [{}, dict(N=1, D=1, H=1, seed=1), dict(N=4, D=6, H=3, seed=2)]:
        G.check_gru_step_forward(sf, **kw)
    for kw in [
        {},
        dict(N=1, D=1, H=1, seed=1, numeric=True),
        dict(N=3, D=2, H=3, seed=2, numeric=True),
        dict(N=5, D=7, H=6, seed=3),
    ]:
        G.check_gru_step_backward(sf, sb, **kw)
    for kw in [{}, dict(N=1, T=1, D=1, H=1, seed=1), dict(N=3, T=12, D=4, H=6, seed=2)]:
        G.check_gru_forward(f, **kw)
    for kw in [
        {},
        dict(N=1, T=1, D=1, H=1, seed=1, numeric=True),
        dict(N=2, T=5, D=2, H=3, seed=2, numeric=True),
        dict(N=3, T=15, D=4, H=6, seed=3),
    ]:
        G.check_gru_backward(f, b, **kw)


def test_margins_of_the_hidden_numeric_tests(sol):
    """A correct float64 implementation is >= 10x under the gradient tolerance on the tests' data."""
    for N, T, D, H, seed in [(1, 1, 1, 1, 1), (2, 5, 2, 3, 2)]:
        rng = np.random.default_rng(seed)
        args = G._gru_data(rng, N, T, D, H)
        dh = rng.normal(size=(N, T, H))
        grads = sol["gru_backward"](dh, sol["gru_forward"](*args)[1])
        num = G.numeric_grads(sol["gru_forward"], args, lambda o: o[:1], (dh,), range(6))
        assert max(rel_error(g, n) for g, n in zip(grads, num)) < 1e-7
    for N, D, H, seed in [(1, 1, 1, 1), (3, 2, 3, 2)]:
        rng = np.random.default_rng(seed)
        x, hp, Wx, Wh, bx, bh = G._gru_data(rng, N, 1, D, H)
        args = (x[:, 0], hp, Wx, Wh, bx, bh)
        dh = rng.normal(size=(N, H))
        grads = sol["gru_step_backward"](dh, sol["gru_step_forward"](*args)[1])
        num = G.numeric_grads(sol["gru_step_forward"], args, lambda o: o[:1], (dh,), range(6))
        assert max(rel_error(g, n) for g, n in zip(grads, num)) < 1e-7


@pytest.mark.parametrize(
    "variant,words",
    [
        ("z swapped", "with z on the new candidate"),
        ("reset before matmul", "(r * h_prev) @ Wh_n"),
        ("bh_n outside", "bh_n outside"),
    ],
)
def test_convention_variants_are_named(variant, words):
    msg = fails(G.check_gru_step_forward, lambda *a: alt_step_forward(*a, variant=variant))
    assert "h_next" in msg and words in msg
    msg = fails(G.check_gru_forward, lambda *a: alt_forward(*a, variant=variant))
    assert words in msg


def test_gate_order_is_named():
    msg = fails(G.check_gru_step_forward, lambda *a: alt_step_forward(*a, order="zrn"))
    assert "gate order z, r, n" in msg and "r, z, n" in msg


def test_wrong_forwards_fail():
    def no_bias(x, h_prev, Wx, Wh, bx, bh):
        return alt_step_forward(x, h_prev, Wx, Wh, 0 * bx, bh)

    assert "h_next does not match" in fails(G.check_gru_step_forward, no_bias)

    def off_by_one(*a):
        h, c = alt_forward(*a)
        return np.concatenate([a[1][:, None], h[:, :-1]], axis=1), c

    assert "shifted one step late" in fails(G.check_gru_forward, off_by_one)

    def modifies(x, h0, Wx, Wh, bx, bh):
        out = alt_forward(x, h0, Wx, Wh, bx, bh)
        bh[0] += 1.0
        return out

    assert "modified its input `bh`" in fails(G.check_gru_forward, modifies)

    def uses_torch(x, h_prev, Wx, Wh, bx, bh):
        h, c = alt_step_forward(x, h_prev, Wx, Wh, bx, bh)
        return torch.as_tensor(h).numpy(), c

    assert "must not use torch" in fails(G.check_gru_step_forward, uses_torch)
    assert "return 2 values" in fails(G.check_gru_step_forward, lambda *a: alt_step_forward(*a)[0])


def test_wrong_backwards_fail():
    msg = fails(G.check_gru_step_backward, alt_step_forward, lambda d, c: alt_step_backward(d, c, direct=False))
    assert "dh_prev" in msg
    msg = fails(G.check_gru_step_backward, alt_step_forward, lambda d, c: alt_step_backward(d, c, same_biases=True))
    assert "dbh" in msg and "dbh equals dbx" in msg
    msg = fails(G.check_gru_backward, alt_forward, lambda d, c: alt_backward(d, c, carry=False))
    assert "dx" in msg and "hidden state's gradient is not carried back" in msg
    msg = fails(G.check_gru_backward, alt_forward, lambda d, c: alt_backward(d, c, same_biases=True))
    assert "dbh" in msg

    def swapped_grads(d, c):
        g = alt_backward(d, c)
        return (g[0], g[1], g[2], g[3], g[5], g[4])  # dbx and dbh swapped

    assert "dbx" in fails(G.check_gru_backward, alt_forward, swapped_grads)

    def transposed(d, c):
        g = list(alt_backward(d, c))
        g[3] = g[3].T
        return g

    assert "dWh has shape" in fails(G.check_gru_backward, alt_forward, transposed, H=4)


# ---------------------------------------------------------------- stretch (not graded): the reset before the product
def reset_before_step(x, h_prev, Wx, Wh, bx, bh):
    """Another correct reset-before step: per-gate weights, a dict cache, the logistic sigmoid."""
    H = h_prev.shape[1]
    W = {k: (Wx[:, i * H : (i + 1) * H], Wh[:, i * H : (i + 1) * H], bx[i * H : (i + 1) * H] + bh[i * H : (i + 1) * H])
         for i, k in enumerate("rzn")}  # fmt: skip
    r = sig(x @ W["r"][0] + h_prev @ W["r"][1] + W["r"][2])
    z = sig(x @ W["z"][0] + h_prev @ W["z"][1] + W["z"][2])
    n = np.tanh(x @ W["n"][0] + (r * h_prev) @ W["n"][1] + W["n"][2])
    return (1 - z) * n + z * h_prev, {"x": x, "h": h_prev, "Wx": Wx, "Wh": Wh, "r": r, "z": z, "n": n}


def reset_before_backward(dh, c, bug=None):
    H = c["h"].shape[1]
    dan = dh * (1 - c["z"]) * (1 - c["n"] ** 2)
    drh = dan @ c["Wh"][:, 2 * H :].T
    dar = drh * c["h"] * c["r"] * (1 - c["r"])
    daz = dh * (c["h"] - c["n"]) * c["z"] * (1 - c["z"])
    da = np.hstack([dar, daz, dan])
    rh = c["h"] if bug == "dWh_n from h_prev" else c["r"] * c["h"]
    dWh = np.hstack([c["h"].T @ da[:, : 2 * H], rh.T @ dan])
    dh_prev = dh * c["z"] + da[:, : 2 * H] @ c["Wh"][:, : 2 * H].T + (0 if bug == "no r on dh_prev" else drh * c["r"])
    dbh = np.hstack([da[:, : 2 * H].sum(0), (c["r"] * dan).sum(0)]) if bug == "dbh_n times r" else da.sum(0)
    return da @ c["Wx"].T, dh_prev, c["x"].T @ da, dWh, da.sum(0), dbh


def test_the_reset_before_stretch_accepts_correct_steps(sol):
    G.check_gru_reset_before(sol["gru_step_forward_reset_before"], sol["gru_step_backward_reset_before"])
    G.check_gru_reset_before(reset_before_step, reset_before_backward, N=1, D=1, H=1, seed=4)


def test_the_reset_before_stretch_names_the_reset_after_step(sol):
    with pytest.raises(AssertionError, match="torch.nn.GRU's reset-after step"):
        G.check_gru_reset_before(sol["gru_step_forward"], sol["gru_step_backward"])


@pytest.mark.parametrize(
    "bug,words",
    [
        ("dWh_n from h_prev", "(r * h_prev).T @ da_n"),
        ("no r on dh_prev", "(da_n @ Wh_n.T) * r"),
        ("dbh_n times r", "dbh_n = dbx_n"),
    ],
)
def test_the_reset_before_stretch_names_a_wrong_backward(bug, words):
    def backward(dh, cache):
        return reset_before_backward(dh, cache, bug)

    with pytest.raises(AssertionError) as e:
        G.check_gru_reset_before(reset_before_step, backward)
    assert words in str(e.value)
