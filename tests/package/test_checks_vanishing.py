"""The checks of unit 5 (vanishing gradients) accept correct implementations and reject wrong ones."""

import numpy as np
import pytest

from course.checks.vanishing import (
    check_clip_grad_norm,
    check_clip_grad_norm_edge_cases,
    check_rnn_jacobian,
    check_rnn_jacobian_chain,
)


# ---------------------------------------------------------------- correct implementations
def rnn_jacobian(h_next, Wh):
    return (1 - h_next**2)[:, :, None] * Wh.T[None]


def rnn_jacobian_loops(h_next, Wh):
    N, H = h_next.shape
    J = np.empty((N, H, H))
    for n in range(N):
        J[n] = np.diag(1 - h_next[n] ** 2) @ Wh.T
    return J


def rnn_jacobian_einsum(h_next, Wh):
    return np.einsum("ni,ji->nij", 1 - h_next * h_next, Wh)


def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g**2) for g in grads)))
    scale = min(1.0, max_norm / (total + 1e-6))
    return [g * scale for g in grads], total


def clip_grad_norm_concat(grads, max_norm):
    """Flatten everything, np.linalg.norm, return a tuple of arrays and a NumPy float."""
    total = np.linalg.norm(np.concatenate([g.ravel() for g in grads]))
    coef = np.clip(max_norm / (total + 1e-6), None, 1.0)
    return tuple(np.array(g) * coef for g in grads), total


def clip_grad_norm_branch(grads, max_norm):
    """Copies unchanged gradients when under the limit."""
    total = np.sqrt(sum(float((g * g).sum()) for g in grads))
    if total + 1e-6 <= max_norm:
        return [g.copy() for g in grads], total
    return [g * (max_norm / (total + 1e-6)) for g in grads], total


# ---------------------------------------------------------------- wrong implementations
def _named(name, **variants):
    for fn in variants.values():
        fn.__name__ = name
    return variants


WRONG_JAC = _named(
    "rnn_jacobian",
    transposed=lambda h, Wh: rnn_jacobian(h, Wh).transpose(0, 2, 1),
    not_transposed_Wh=lambda h, Wh: (1 - h**2)[:, :, None] * Wh[None],
    columns_scaled=lambda h, Wh: Wh.T[None] * (1 - h**2)[:, None, :],
    no_derivative=lambda h, Wh: np.broadcast_to(Wh.T, (h.shape[0],) + Wh.shape).copy(),
    one_minus_h=lambda h, Wh: (1 - h)[:, :, None] * Wh.T[None],
    tanh_of_h=lambda h, Wh: (1 - np.tanh(h) ** 2)[:, :, None] * Wh.T[None],
    no_batch_axis=lambda h, Wh: np.diag(1 - h[0] ** 2) @ Wh.T,
    batch_mean=lambda h, Wh: np.repeat(np.diag(1 - (h**2).mean(0)) @ Wh.T[None], h.shape[0], axis=0),
)


def _sum_of_norms(grads, max_norm):
    total = float(sum(np.linalg.norm(g) for g in grads))
    return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads], total


def _per_array(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g**2) for g in grads)))
    return [g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-6)) for g in grads], total


def _in_place(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g**2) for g in grads)))
    for g in grads:
        g *= min(1.0, max_norm / (total + 1e-6))
    return grads, total


def _same_arrays_when_small(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g**2) for g in grads)))
    if total <= max_norm:
        return list(grads), total
    return [g * (max_norm / (total + 1e-6)) for g in grads], total


def _same_list(grads, max_norm):
    clipped, total = clip_grad_norm(grads, max_norm)
    grads_copy = grads  # returns the caller's list object, refilled
    return grads_copy, total


WRONG_CLIP = _named(
    "clip_grad_norm",
    no_eps=lambda g, m: (
        [x * min(1.0, m / np.sqrt(sum(np.sum(y**2) for y in g))) for x in g],
        float(np.sqrt(sum(np.sum(y**2) for y in g))),
    ),
    norm_after=lambda g, m: (clip_grad_norm(g, m)[0], min(clip_grad_norm(g, m)[1], m)),
    sum_of_norms=_sum_of_norms,
    per_array=_per_array,
    elementwise=lambda g, m: ([np.clip(x, -m, m) for x in g], clip_grad_norm(g, m)[1]),
    no_sqrt=lambda g, m: (clip_grad_norm(g, m)[0], float(sum(np.sum(y**2) for y in g))),
    always_scales=lambda g, m: ([x * m / (clip_grad_norm(g, m)[1] + 1e-6) for x in g], clip_grad_norm(g, m)[1]),
    never_clips=lambda g, m: ([x.copy() for x in g], clip_grad_norm(g, m)[1]),
    in_place=_in_place,
    same_arrays_when_small=_same_arrays_when_small,
    same_list=_same_list,
    nan_on_zero=lambda g, m: (
        [x * min(1.0, m / np.sqrt(sum(np.sum(y**2) for y in g))) for x in g],
        float(np.sqrt(sum(np.sum(y**2) for y in g))),
    ),
    returns_array=lambda g, m: (np.concatenate([x.ravel() for x in clip_grad_norm(g, m)[0]]), clip_grad_norm(g, m)[1]),
    norm_as_list=lambda g, m: (clip_grad_norm(g, m)[0], [clip_grad_norm(g, m)[1]]),
    max_abs_norm=lambda g, m: (lambda t: ([x * min(1.0, m / (t + 1e-6)) for x in g], t))(
        float(max(np.abs(x).max() for x in g))
    ),
)


# ---------------------------------------------------------------- tests
@pytest.mark.parametrize("fn", [rnn_jacobian, rnn_jacobian_loops, rnn_jacobian_einsum])
@pytest.mark.parametrize("kw", [dict(), dict(N=1, H=1, D=1, seed=1), dict(N=5, H=7, D=2, seed=2)])
def test_rnn_jacobian_accepts(fn, kw):
    check_rnn_jacobian(fn, **kw)
    check_rnn_jacobian_chain(fn, **{k: v for k, v in kw.items() if k != "N"})


@pytest.mark.parametrize("wrong", sorted(WRONG_JAC))
def test_rnn_jacobian_rejects(wrong):
    with pytest.raises(AssertionError, match="rnn_jacobian"):
        check_rnn_jacobian(WRONG_JAC[wrong])
    if wrong != "batch_mean":  # the chain test has N = 1, where a mean over the batch is harmless
        with pytest.raises(AssertionError, match="rnn_jacobian"):
            check_rnn_jacobian_chain(WRONG_JAC[wrong])


def test_rnn_jacobian_messages():
    with pytest.raises(AssertionError, match="you returned the transpose"):
        check_rnn_jacobian(WRONG_JAC["transposed"])
    with pytest.raises(AssertionError, match="multiplies the columns"):
        check_rnn_jacobian(WRONG_JAC["columns_scaled"])


@pytest.mark.parametrize("fn", [clip_grad_norm, clip_grad_norm_concat, clip_grad_norm_branch])
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(shapes=((1,),), max_norm=0.1, seed=1),
        dict(shapes=((2, 3), (5,)), max_norm=5.0, seed=2, scale=10.0),
        dict(shapes=((4,), (1, 1), (3, 2, 2)), max_norm=100.0, seed=3),
    ],
)
def test_clip_grad_norm_accepts(fn, kw):
    check_clip_grad_norm(fn, **kw)
    check_clip_grad_norm_edge_cases(fn, seed=kw.get("seed", 0))


@pytest.mark.parametrize("wrong", sorted(WRONG_CLIP))
def test_clip_grad_norm_rejects(wrong):
    with pytest.raises(AssertionError, match="clip_grad_norm"):
        check_clip_grad_norm(WRONG_CLIP[wrong])
        check_clip_grad_norm_edge_cases(WRONG_CLIP[wrong])


def test_clip_grad_norm_messages():
    with pytest.raises(AssertionError, match=r"1e-6"):
        check_clip_grad_norm_edge_cases(WRONG_CLIP["no_eps"])
    with pytest.raises(AssertionError, match="one common factor"):
        check_clip_grad_norm(WRONG_CLIP["per_array"])
    with pytest.raises(AssertionError, match="modified its input"):
        check_clip_grad_norm(WRONG_CLIP["in_place"])
    with pytest.raises(AssertionError, match="new arrays"):
        check_clip_grad_norm(WRONG_CLIP["same_arrays_when_small"])
