"""What the checks of several units share: one home for each piece of check logic.

* ``t`` (an array as a float64 torch tensor) and ``forward_out`` (call a layer's
  forward and unpack ``(out, cache)``);
* ``forward_first``: a backward is tested with the cache of the student's own
  forward, so that forward is checked first and, when it is wrong, the message
  says "your X_forward is wrong (...); fix it first" instead of blaming a correct
  backward;
* ``close`` and ``diagnose``: the hint-on-failure machinery. ``close`` appends a
  hint (computed only on failure) to an ``assert_close`` message; ``diagnose``
  compares what the student returned with known wrong variants (computed by the
  check, on failure only) and names the one it matches;
* ``block_hint``, ``time_hint``, ``shift_hint``, ``permutation_hint``,
  ``permute_blocks``: generic explanations of a wrong array (which gate blocks,
  which time steps, shifted in time, another gate order);
* ``numeric_grads`` and ``check_numeric``: centred numerical gradients of the
  student's own forward, and the comparison of a tuple of gradients with them;
* ``random_params``: weights of one recurrent layer in the course's layout;
* ``STABILITY_HINT``, ``assert_close_stable``: what a softmax that overflows is told;
* ``assert_float64`` and ``DtypeError``: an output of less than float64's precision (float32 passes a
  forward's 1e-7 but spoils the numerical gradients of the backward tested with it), which
  ``forward_first`` reports as "your X_forward returns float32", and ``check_numeric`` blames the
  forward when the backward matches torch autograd but not the forward's numerical gradient;
  ``precision_hint``: a failing gradient that is float32, or off in its 6th digit only.
"""

import itertools

import numpy as np

from course.checks.hints import hint
from course.gradient_check import eval_numerical_gradient_array, rel_error
from course.interop import require_torch
from course.interop import torch_reference as _torch_reference
from course.references import evaluate_when_recording, saved_reference
from course.testing import BACKWARD_TOL, assert_close, assert_close_or_hint, assert_shape, call_student, unpack

#: relative error under which a student's output "is" a known wrong variant
MATCH_TOL = 1e-6

STABILITY_HINT = hint(
    "common.softmax_unstable",
    "not numerically stable: subtract the max of each row of scores (logits) before exp, which leaves softmax "
    "unchanged, and compute log p as (s - max) - log(sum(exp(s - max))), never log(softmax(s))",
)


def t(a, grad=False):
    """``a`` as a float64 torch tensor (a copy), optionally a leaf that requires grad (inside a
    :func:`course.references.saved_reference` only: torch may be missing)."""
    torch = require_torch("a check's torch reference")
    return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def grad_of(leaf):
    """The gradient of a torch leaf as a NumPy array (zeros where nothing reached it)."""
    return np.zeros(tuple(leaf.shape)) if leaf.grad is None else leaf.grad.numpy().copy()


def forward_out(name, fn, *args, what="out"):
    """``fn(*args)`` through call_student, unpacked as ``(out, cache)``; ``out`` (named ``what``) float64."""
    out = unpack(name, call_student(fn, *args), 2, "(out, cache)")
    assert_float64(name, what, out[0])
    return out[0], out[1]


def matches(got, ref, tol=MATCH_TOL):
    """``got`` has ``ref``'s shape, is finite and equals it to ``tol`` (relative error)."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == np.shape(ref) and bool(np.all(np.isfinite(got))) and rel_error(got, ref) < tol


def all_match(got, refs, tol=MATCH_TOL):
    """Every item of the sequence ``got`` :func:`matches` the item of ``refs`` at its position."""
    if not isinstance(got, (list, tuple)) or len(got) != len(refs):
        return False
    return all(matches(g, r, tol) for g, r in zip(got, refs))


def diagnose(got, variants, tol=MATCH_TOL):
    """The hint of the first of ``variants`` [(hint, refs)] whose ``refs`` all match ``got``, or None.

    ``got`` and each ``refs`` are sequences of arrays (the outputs of a graded
    function); ``variants`` may be a callable returning the list (evaluated
    once, on failure only) and may yield ``refs = None`` for a variant that
    does not apply.
    """
    evaluate_when_recording(variants)
    if callable(variants):
        variants = variants()
    for text, refs in variants:
        if refs is not None and all_match(got, refs, tol):
            return text
    return None


def close(name, what, got, ref, tol, reference, hint=None):
    """assert_close, with ``hint()`` (a string or None, called only on failure) appended to the message."""
    evaluate_when_recording(hint)
    try:
        return assert_close(name, what, got, ref, tol, reference)
    except AssertionError as e:
        extra = hint() if hint is not None else None
        if extra:
            raise AssertionError(f"{e}\n  hint: {extra}") from None
        raise


def first_hint(*hints):
    """A hint function returning the first non-empty answer of ``hints`` (callables or None)."""

    def hint():
        evaluate_when_recording(*hints)  # each of them, not only those up to the first answer
        for h in hints:
            msg = h() if callable(h) else h
            if msg:
                return msg
        return None

    return hint


#: :func:`course.interop.torch_reference` (a whole torch.nn.RNN/LSTM/GRU with the course's arrays), live
#: where torch is installed and read back from the saved references where it is not (course.references)
torch_reference = saved_reference(_torch_reference)


# ---------------------------------------------------------------- dtypes
DTYPE_HINT = hint(
    "common.dtype_float32",
    "the course computes in float64 (NumPy's default): an array made with dtype=np.float32 (or .astype(np.float32)) "
    "keeps about 7 significant digits; leave out the dtype, or take the inputs' (np.zeros_like(x), dtype=x.dtype)",
)
OUTPUT_FLOAT32 = hint("common.output_float32", "{what} has dtype {dtype}, expected float64")
FORWARD_FLOAT32 = hint(
    "common.forward_float32",
    "your {fwd_name} returns {dtype} ({what}); fix it first: {name} is tested with the cache and the numerical "
    "gradients of your {fwd_name}, where {dtype}'s rounding looks like a wrong gradient",
)
FORWARD_WRONG = hint(
    "common.forward_wrong", "fix it first: {name} is tested with the cache of your {fwd_name} ({where})"
)


class DtypeError(AssertionError):
    """An output holds floats less precise than float64 (``dtype``); ``what`` names it."""

    def __init__(self, message, what, dtype):
        super().__init__(message)
        self.what, self.dtype = what, dtype


def low_precision(value):
    """The dtype of ``value`` when it holds floats less precise than float64 (float16, float32), else None.

    Python floats, nested lists of them, float64 and longer floats are fine; what is not a float array
    (integers, objects, torch tensors, ragged lists) is left to the value checks."""
    dtype = getattr(value, "dtype", None)
    if dtype is None and isinstance(value, (list, tuple)):
        try:
            dtype = np.asarray(value).dtype
        except (TypeError, ValueError):
            return None
    if isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize < 8:
        return dtype
    return None


def assert_float64(name, what, value, hint=DTYPE_HINT):
    """Raise :class:`DtypeError` when ``value`` (an output of ``name``) is a float array below float64."""
    dtype = low_precision(value)
    if dtype is not None:
        raise DtypeError(f"{name}: {OUTPUT_FLOAT32.format(what=what, dtype=dtype)}\n  hint: {hint}", what, dtype)
    return value


def forward_first(name, fwd_name, check_output, where="bring your solution that passes its own tests"):
    """Run ``check_output()`` (which raises AssertionError when the student's forward is wrong);
    on failure, say that the forward is wrong and must be fixed before ``name`` can be tested.
    A forward whose output is float32 (:func:`assert_float64` in ``check_output``) is named as such."""
    try:
        return check_output()
    except DtypeError as e:
        text = FORWARD_FLOAT32.format(name=name, fwd_name=fwd_name, dtype=e.dtype, what=e.what)
        raise AssertionError(f"{name}: {text}\n  hint: {DTYPE_HINT}") from None
    except AssertionError as e:
        # the forward's own message stays outside the hint's text: identify() reads the hints in it too
        text = FORWARD_WRONG.format(name=name, fwd_name=fwd_name, where=where)
        raise AssertionError(f"{name}: your {fwd_name} is wrong ({e}); {text}") from None


def stability_hint(scale):
    """:data:`STABILITY_HINT` when the inputs were large enough (|logits| > 50) to need it, else None."""
    return STABILITY_HINT if scale > 50 else None


#: Two rows whose maxima lie 2000 apart, for the softmaxes: shifted by the largest score of the whole
#: array, the second row underflows (exp(-1999) is 0 in float64); shifted row by row, they are the
#: softmaxes of [1, 0] and [0, 1]: FAR_APART_P, worked by hand (e / (1 + e) and 1 / (1 + e)).
FAR_APART_ROWS = np.array([[1000.0, 999.0], [-1000.0, -999.0]])
FAR_APART_P = np.array([[np.e, 1.0], [1.0, np.e]]) / (1.0 + np.e)
ROW_SHIFT_HINT = hint(
    "common.softmax_global_max",
    "shift each row by its own largest score (max over axis=-1, keepdims=True), not by the largest of the whole array",
)


def assert_close_stable(name, what, actual, expected, tol, reference, candidates, magnitude):
    """:func:`course.testing.assert_close_or_hint` for a softmax's output; when it fails on logits of
    ``magnitude`` > 50 and names no other mistake, the message adds :data:`STABILITY_HINT` (a softmax
    that overflows gives NaN, inf or garbage there)."""
    try:
        assert_close_or_hint(name, what, actual, expected, tol, reference, candidates)
    except AssertionError as e:
        msg = str(e)
        if stability_hint(magnitude) and "it looks like" not in msg:
            raise AssertionError(f"{msg}\n  hint: {STABILITY_HINT}") from None
        raise


# ---------------------------------------------------------------- explaining a wrong array
#: (units 2 and 3: a layer's affine part without its bias)
BIAS_MISSING = hint("common.bias_missing", "the bias b is missing")
WRONG_BLOCKS = hint("common.wrong_gate_blocks", "only the block(s) of {gates} are wrong (the others match)")
WRONG_TIME_STEPS = hint("common.wrong_time_steps", "time steps t = {bad} are wrong, t = {ok} match")
SHIFTED_LATE = hint(
    "common.sequence_shifted_late",
    "the sequence is shifted one step late: h[:, t] must be the state after reading x[:, t]",
)
SHIFTED_EARLY = hint(
    "common.sequence_shifted_early",
    "the sequence is shifted one step early: h[:, t] must be the state after reading x[:, t]",
)
GATE_ORDER = hint(
    "common.gate_order",
    "the result matches the gate order {order}; the contract uses {label} (column blocks of Wx, Wh and b, each H wide)",
)


def block_hint(got, ref, gates, tol):
    """Which gate blocks (last axis split in len(gates) equal parts) of ``got`` are wrong."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != np.shape(ref) or got.shape[-1] % len(gates):
        return None
    H = got.shape[-1] // len(gates)
    bad = [
        g for k, g in enumerate(gates) if rel_error(got[..., k * H : (k + 1) * H], ref[..., k * H : (k + 1) * H]) > tol
    ]
    if 0 < len(bad) < len(gates):
        return WRONG_BLOCKS.format(gates=", ".join(bad))
    return None


def time_hint(got, ref, tol, axis=1):
    """Which time steps (axis 1 of (N, T, ...)) of ``got`` are wrong, when only some are."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != np.shape(ref) or got.ndim < 2 or got.shape[axis] < 2:
        return None
    T = got.shape[axis]
    bad = [t for t in range(T) if rel_error(np.take(got, t, axis), np.take(ref, t, axis)) > tol]
    if 0 < len(bad) < T:
        ok = [t for t in range(T) if t not in bad]
        return WRONG_TIME_STEPS.format(bad=bad, ok=ok)
    return None


def shift_hint(got, ref, tol):
    """If ``got`` (N, T, ...) is ``ref`` shifted by one step in time, say so."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != np.shape(ref) or got.ndim < 2 or got.shape[1] < 2:
        return None
    if rel_error(got[:, 1:], ref[:, :-1]) < tol:
        return SHIFTED_LATE
    if rel_error(got[:, :-1], ref[:, 1:]) < tol:
        return SHIFTED_EARLY
    return None


def permutation_hint(got, make_ref, gates, tol, label):
    """If ``got`` equals the reference computed with the gate blocks read in another order, say so.

    make_ref(perm) returns the reference output when the weights' blocks are
    permuted so that block k is used as gate perm[k]'s (perm a tuple of gate
    names); ``label`` names the contract's order, e.g. "i, f, g, o".
    """
    got = np.asarray(got, dtype=np.float64)
    for perm in itertools.permutations(gates):
        if perm == tuple(gates):
            continue
        try:
            ref = make_ref(perm)
        except Exception:
            continue
        if got.shape == np.shape(ref) and rel_error(got, ref) < tol:
            return GATE_ORDER.format(order=", ".join(perm), label=label)
    return None


def permute_blocks(a, perm, gates):
    """Reorder the gate blocks of ``a`` (last axis) so that a model with the contract's order
    computes what a model reading block k as gate perm[k] computes with ``a``."""
    a = np.asarray(a)
    H = a.shape[-1] // len(gates)
    blocks = [None] * len(gates)
    for k, g in enumerate(perm):
        blocks[list(gates).index(g)] = a[..., k * H : (k + 1) * H]
    return np.concatenate(blocks, axis=-1)


# ---------------------------------------------------------------- planting mistakes in a torch model
def other_orders(gates):
    """Every order of the gate names ``gates`` except the contract's."""
    return [p for p in itertools.permutations(gates) if p != tuple(gates)]


def reorder_hook(perm, gates):
    """A gradient hook that packs a pre-activation's gradient (..., len(gates) * H), whose blocks are in the
    order ``gates``, in the order ``perm`` instead: a student's da assembled in the wrong order."""

    def hook(g):
        H = g.shape[-1] // len(gates)
        blocks = {k: g[..., n * H : (n + 1) * H] for n, k in enumerate(gates)}
        return require_torch().cat([blocks[k] for k in perm], dim=-1)

    return hook


def without_derivative(fn, v):
    """``fn(v)`` whose backward pass forgets ``fn``'s derivative (passes the gradient through unchanged)."""
    return fn(v).detach() + v - v.detach()


# ---------------------------------------------------------------- numerical gradients
FORWARD_IMPRECISE = hint(
    "common.forward_imprecise",
    "{what} matches torch autograd but not the numerical gradient of your {fwd_name} (relative error {err}): your "
    "{name} is right, fix {fwd_name}: it loses precision (float32 somewhere: dtype=np.float32 or .astype(np.float32), "
    "even if it returns float64) or computes a slightly different function than the contract's",
)


def numeric_grads(forward, args, outputs, upstream, which):
    """Centred numerical gradients of sum_k sum(outputs(forward(*args))[k] * upstream[k]) w.r.t. args[i].

    ``forward`` is the student's function (called through call_student);
    ``outputs`` picks the differentiated arrays from its return value;
    ``which`` the indices of args. The difference is taken per output entry
    before summing (less round-off than differencing a summed loss), and two
    step sizes are combined (Richardson: (4 D(h/2) - D(h)) / 3 cancels the
    h^2 error term), so that small gradient entries are accurate to ~1e-8.
    Returns a list of arrays in the order of ``which``.
    """
    args = [np.array(a, dtype=np.float64, copy=True) for a in args]
    df = np.concatenate([np.ravel(u) for u in upstream])
    grads = []
    for i in which:

        def f(v, i=i):
            a = list(args)
            a[i] = v
            return np.concatenate(
                [np.ravel(np.asarray(o, dtype=np.float64)) for o in outputs(call_student(forward, *a))]
            )

        coarse = eval_numerical_gradient_array(f, args[i].copy(), df, h=1e-4)
        fine = eval_numerical_gradient_array(f, args[i].copy(), df, h=5e-5)
        grads.append((4.0 * fine - coarse) / 3.0)
    return grads


def check_numeric(name, forward, fwd_name, args, outputs, upstream, whats, grads):
    """Each of ``grads`` (named ``whats``, the gradients of ``args`` in order) against the numerical
    gradient of the student's ``forward`` (its outputs picked by ``outputs``, weighted by ``upstream``).

    Called after ``grads`` matched torch autograd on the same data: a mismatch here is the forward's."""
    num = numeric_grads(forward, args, outputs, upstream, range(len(whats)))
    for what, got, ref in zip(whats, grads, num):
        numeric_close(name, fwd_name, what, got, ref)


def numeric_close(name, fwd_name, what, got, num):
    """``got`` (a gradient of ``name`` that already matched torch autograd) against ``num``, the numerical
    gradient of the student's ``fwd_name``: when they differ, the forward is what is wrong or imprecise."""
    try:
        assert_close(name, what, got, num, BACKWARD_TOL, f"the numerical gradient of your {fwd_name}")
    except AssertionError as e:
        err = str(e).split("relative error ", 1)[-1].split(" (worst", 1)[0]
        text = FORWARD_IMPRECISE.format(what=what, fwd_name=fwd_name, err=err, name=name)
        raise AssertionError(f"{name}: {text}") from None


# ---------------------------------------------------------------- data
def random_params(rng, kind, D, H):
    """Weights of one recurrent layer in the course's layout (not too saturated).

    rnn/lstm: (Wx (D, gH), Wh (H, gH), b (gH,)); gru: (Wx, Wh, bx, bh).
    """
    g = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    Wx = rng.normal(scale=1.0 / np.sqrt(D), size=(D, g * H))
    Wh = rng.normal(scale=1.0 / np.sqrt(H), size=(H, g * H))
    if kind == "gru":
        return Wx, Wh, rng.normal(scale=0.5, size=g * H), rng.normal(scale=0.5, size=g * H)
    return Wx, Wh, rng.normal(scale=0.5, size=g * H)


# ---------------------------------------------------------------- comparing a backward's gradients
GRADIENT_FLOAT32 = hint(
    "common.gradient_float32",
    "{what} has dtype {dtype}: {dtype_hint} (a {dtype} array in the forward's cache makes one here too)",
)
FLOAT32_PRECISION = hint(
    "common.float32_precision",
    "right to about 6 significant digits only, float32's precision: is an array of the forward's cache, "
    "or one made in the backward, float32 (dtype=np.float32, .astype(np.float32))?",
)
GRADIENT_ALL_ZEROS = hint(
    "common.gradient_all_zeros",
    "{what} is all zeros: is it computed (and returned) rather than left at its initial zeros?",
)
GRADIENTS_MIXED_UP = hint(
    "common.gradients_mixed_up", "{what} holds what {other} should: return the gradients in the order {order}"
)
DA_WRONG_BLOCKS = hint(
    "common.da_wrong_blocks", "the gradient on the pre-activations, da, is wrong: in the bias gradient {blocks}"
)
#: (units 4 and 6: a sequence's backward that takes the upstream gradient of the last step only)
ONLY_LAST_DH = hint(
    "common.only_last_dh",
    "only dh[:, T-1] was used: at every step add the upstream dh[:, t] to the gradient coming back from step t+1",
)
ONLY_FIRST_STEP = hint(
    "common.gradient_only_first_step",
    "{what} holds only the contribution of time step 0: accumulate it over all steps "
    "({what} += ... inside the loop, or one product over all steps)",
)
ONLY_LAST_STEP = hint(
    "common.gradient_only_last_step",
    "{what} holds only the contribution of the last time step: accumulate it over all steps "
    "({what} += ... inside the loop, or one product over all steps)",
)


def compare_grads(name, whats, grads, refs, shapes, upstream, explain):
    """Every gradient (shape, then values) against torch autograd; ``explain(i)`` the hint of a failing one.

    ``upstream`` is appended to each gradient's name in the message (e.g. " (upstream: dh_next only)").
    """
    for i, (what, got, r, shape) in enumerate(zip(whats, grads, refs, shapes)):
        assert_shape(name, what, got, shape)
        hint = first_hint(lambda w=what, g=got, r=r: precision_hint(w, g, r), lambda i=i: explain(i))
        close(name, f"{what}{upstream}", got, r, BACKWARD_TOL, "torch autograd", hint)


def precision_hint(what, got, ref):
    """On a failure only (a gradient in float32 that is within the tolerance is accepted): ``got`` is float32,
    or is wrong only in its 6th or 7th significant digit, float32's precision (no mistake in the maths is this
    small): say so, and where the float32 comes from (the forward's cache, which the check cannot see)."""
    dtype = low_precision(got)
    if dtype is not None:
        return GRADIENT_FLOAT32.format(what=what, dtype=dtype, dtype_hint=DTYPE_HINT)
    got = np.asarray(got, dtype=np.float64)
    if got.shape == np.shape(ref) and np.all(np.isfinite(got)) and rel_error(got, ref) < 1e-4:
        return FLOAT32_PRECISION
    return None


def mixup_hint(i, whats, grads, refs):
    """The hint when ``grads[i]`` is all zeros, or is exactly what another gradient should be (two
    returned in the wrong order); None otherwise. ``whats``: the gradients' names, in order."""
    got = np.asarray(grads[i], dtype=np.float64)
    if not np.any(got) and np.any(refs[i]):
        return GRADIENT_ALL_ZEROS.format(what=whats[i])
    for j, ref in enumerate(refs):
        if j != i and np.shape(ref) == got.shape and matches(got, ref) and not matches(refs[i], ref):
            return GRADIENTS_MIXED_UP.format(what=whats[i], other=whats[j], order=", ".join(whats))
    return None


def explainer(grads, refs, variants, candidates=None, gates=None, fallback=None, gated=(), whats=None):
    """``explain(i)``: the hint for the failing gradient ``grads[i]`` (``refs[i]`` the correct one).

    In order: a planted mistake (``variants``, see :func:`diagnose`) that every
    gradient matches; a typical wrong value of that gradient alone
    (``candidates(i)`` -> [(hint, array)]); which time steps are wrong (3-d
    gradients); which gate blocks (``gates``) are wrong, read from the gradient
    itself when it is one of the ``gated`` indices (weight and bias gradients,
    whose last axis is split in gate blocks), else from the last gated gradient
    (the bias's, the sum of da over the batch); ``fallback(i)``. With the
    gradients' names ``whats``, :func:`mixup_hint` comes before the time steps.
    """
    memo = {}

    def explain(i):
        if "v" not in memo:
            memo["v"] = diagnose(grads, variants)
        if memo["v"]:
            return memo["v"]
        for text, value in candidates(i) if candidates else ():
            if matches(grads[i], value):
                return text
        mixup = mixup_hint(i, whats, grads, refs) if whats else None
        if mixup:
            return mixup
        got = np.asarray(grads[i], dtype=np.float64)
        generic = time_hint(got, refs[i], BACKWARD_TOL) if got.ndim == 3 else None
        if generic is None and gates and gated:
            k = i if i in gated else gated[-1]
            blocks = block_hint(grads[k], refs[k], gates, BACKWARD_TOL)
            if blocks and k != i:
                blocks = DA_WRONG_BLOCKS.format(blocks=blocks)
            generic = blocks
        return generic or (fallback(i) if fallback else None)

    return explain


def accumulation_candidates(what, per_step, names):
    """Typical wrong weight gradients: only one time step's contribution (not summed over time).

    ``per_step``: a list over time steps of the weight gradients' contributions, in the order ``names``.
    """
    if what not in names or len(per_step) < 2:
        return []
    k = names.index(what)
    return [
        (ONLY_FIRST_STEP.format(what=what), per_step[0][k]),
        (ONLY_LAST_STEP.format(what=what), per_step[-1][k]),
    ]
