"""Checks of unit 8 (deep and bidirectional RNNs): the generic plumbing.

``bidirectional_forward/backward`` and ``stacked_forward/backward`` take the
layer's forward and backward functions as arguments. They are checked twice:

1. with forward/backward functions supplied by the check: one torch layer
   (``torch.nn.RNN/LSTM/GRU`` with copied weights) wrapped as NumPy
   functions with their own opaque caches, so the plumbing is tested
   independently of the student's recurrent layers; the expected result is
   the whole torch model (``bidirectional=True``, or layers chained);
2. with the student's own rnn/lstm/gru functions: a two-layer bidirectional
   model built from them (``stacked_forward`` over ``bidirectional_forward``)
   must equal ``torch.nn.{RNN,LSTM,GRU}(num_layers=2, bidirectional=True,
   batch_first=True)``, forward and every gradient.

Parameters of a direction are ``(h0, Wx, Wh, b)`` (GRU: ``(h0, Wx, Wh, bx,
bh)``) as in the layer functions' signatures; their gradients
``(dh0, dWx, dWh, db)`` / ``(dh0, dWx, dWh, dbx, dbh)``.
"""

import functools

import numpy as np

from course.checks._common import (
    all_match,
    assert_float64,
    close,
    diagnose,
    forward_first,
    matches,
    random_params,
    time_hint,
    torch_reference,
)
from course.checks.bptt import check_rnn_backward
from course.checks.gru import check_gru_backward, check_gru_forward
from course.checks.hints import hint
from course.checks.lstm import check_lstm_backward, check_lstm_forward
from course.checks.rnn import check_rnn_forward
from course.gradient_check import rel_error
from course.interop import INSTALL_TORCH
from course.references import evaluate_when_recording
from course.testing import BACKWARD_TOL, FORWARD_TOL, assert_shape, call_student, torch_allowed, unpack

# ---------------------------------------------------------------- hints
# The check's reference layers, called by the student's plumbing with the wrong arguments.
LAYER_INPUT_WIDTH = hint(
    "deep.layer_input_width",
    "{where} got x of shape {x_shape} and h0 of shape {h0_shape} for Wx of shape {wx_shape}: does each layer "
    "read the hidden states of the layer below (and a bidirectional one both directions, 2H features)?",
)
LAYER_CALL_NOT_SAVED = hint(
    "deep.layer_call_not_saved",
    "{name} was called ({fn}) with numbers no correct answer gives it: without torch, the check knows its outputs "
    "only for the calls a correct answer makes; check what you pass it (reversed in time for the backward "
    "direction? that direction's parameters? the layer below's output?), or install torch to see its output: {install}",
)
LAYER_ARGUMENTS = hint("deep.layer_arguments", "{name} takes (x, params_f, params_b), got {count} arguments")
FOREIGN_CACHE = hint(
    "deep.foreign_cache",
    "{name} (backward_fn) got a cache that its forward_fn did not make: {kind}; "
    "pass each layer / direction the cache of its own forward",
)
BACKWARD_FN_DH_SHAPE = hint(
    "deep.backward_fn_dh_shape", "{name} (backward_fn) got dh of shape {shape}; its forward made h of shape {expected}"
)
# bidirectional_forward
FORWARD_DIRECTION = hint("deep.forward_direction", "the forward direction is forward_fn(x, *params_f)")
DIRECTIONS_SWAPPED = hint(
    "deep.directions_swapped",
    "the forward direction is forward_fn(x, *params_f); it looks like the backward direction: forward direction first",
)
OUTPUT_NOT_FLIPPED_BACK = hint(
    "deep.output_not_flipped_back",
    "flip the backward direction's output back in time, so that h[:, t, H:] is aligned with x[:, t]",
)
INPUT_NOT_REVERSED = hint(
    "deep.input_not_reversed",
    "the backward direction must read the sequence reversed in time: forward_fn(x[:, ::-1], *params_b)",
)
BATCH_REVERSED = hint(
    "deep.batch_reversed",
    "you reversed the batch axis (axis 0), not time: the backward direction reads x[:, ::-1] "
    "(np.flip(x, axis=1)), and its output is flipped back along axis 1",
)
FLIP_WITHOUT_AXIS = hint(
    "deep.flip_without_axis",
    "np.flip without an axis reverses every axis (batch, time and features); reverse time only: "
    "x[:, ::-1] or np.flip(x, axis=1)",
)
BACKWARD_DIRECTION = hint(
    "deep.backward_direction", "h[..., H:] is forward_fn(x reversed in time, *params_b)'s output, reversed back"
)
# bidirectional_backward: the mistakes planted in _bi_explainer's variants
DH_B_NOT_FLIPPED = hint(
    "deep.dh_b_not_flipped",
    "the backward direction's upstream gradient is dh[..., H:] flipped in time (dh[:, ::-1, H:]), "
    "like its input: it ran over x[:, ::-1]",
)
DX_NOT_SUMMED = hint(
    "deep.dx_not_summed",
    "dx must be the sum of both directions' dx (the backward direction's flipped back in time)",
)
DX_B_NOT_FLIPPED_BACK = hint(
    "deep.dx_b_not_flipped_back", "flip the backward direction's dx back in time before adding it"
)
CACHE_OF_OTHER_DIRECTION = hint(
    "deep.cache_of_other_direction",
    "the backward direction got the forward direction's cache: pass each direction the cache of its own forward",
)
GRADS_SWAPPED = hint("deep.grads_swapped", "grads_f and grads_b are swapped: grads_f belongs to params_f")
# stacked
STACKED_FORWARD = hint(
    "deep.stacked_forward", "layer l runs forward_fn(h of layer l - 1, *layers[l]); the first reads x"
)
LAYER_GRADS_REVERSED = hint(
    "deep.layer_grads_reversed",
    "{name}: layer_grads is ordered top layer first; layer_grads[0] must be the first (bottom) "
    "layer's gradients, in the order of `layers`: reverse the list you built on the way down",
)
STACKED_DX = hint("deep.stacked_dx", "the dx of layer l is the upstream dh of layer l - 1; dx is the first layer's")
# the student's own deep bidirectional model
LAYER_WRONG = hint("deep.layer_wrong", "fix it first (section 1: bring the {fn_name} that passes the tests of {unit})")
PLUMBING_WRONG = hint(
    "deep.plumbing_wrong",
    "a deep bidirectional model of your bidirectional_forward/backward (your {fname} and {bname} pass "
    "their own tests, so look at the bidirectional functions)",
)

_GRAD_NAMES = {
    "rnn": ("dh0", "dWx", "dWh", "db"),
    "lstm": ("dh0", "dWx", "dWh", "db"),
    "gru": ("dh0", "dWx", "dWh", "dbx", "dbh"),
}


# ---------------------------------------------------------------- reference layers the checks hand out
class _RefCache:
    """The reference layers' cache: opaque, copied by reference (it is immutable)."""

    def __init__(self, kind, bidirectional, x, params):
        self.kind, self.bidirectional, self.x, self.params = kind, bidirectional, x, params

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"<reference {'bidirectional ' if self.bidirectional else ''}{self.kind} cache>"


def _validate(where, x, params):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise AssertionError(f"{where} got x of shape {x.shape}; expected (N, T, D)")
    h0, Wx = np.asarray(params[0]), np.asarray(params[1])
    if Wx.shape[0] != x.shape[2] or h0.shape != (x.shape[0], np.shape(params[2])[0]):
        raise AssertionError(
            LAYER_INPUT_WIDTH.format(where=where, x_shape=x.shape, h0_shape=h0.shape, wx_shape=Wx.shape)
        )
    return x


def _torch(kind, x, layers, dh=None):
    """torch_reference of ``layers`` chained, each a sequence over directions of (h0, Wx, Wh, b...):
    x (N, T, D), dh (N, T, directions * H). The one form of every call, so that a student's call of a
    reference layer and a check's variant with the same numbers are the same saved call (tuples of float64)."""
    layers = [[tuple(np.asarray(a, dtype=np.float64) for a in p) for p in directions] for directions in layers]
    h0 = np.stack([p[0] for directions in layers for p in directions])
    return torch_reference(kind, x, [[p[1:] for p in directions] for directions in layers], h0=h0, dh=dh)


def _not_nan(name, fn, out):
    """``out``; a NaN in it is the saved references' answer to a call no correct answer makes (torch gives
    numbers for any finite input): say so, rather than let the student's output read as an overflow."""
    if np.isnan(out).any():
        raise AssertionError(LAYER_CALL_NOT_SAVED.format(name=name, fn=fn, install=INSTALL_TORCH))
    return out


def reference_layer(kind, bidirectional=False):
    """``(forward_fn, backward_fn)`` of one torch layer, with NumPy arrays in and out.

    Unidirectional: ``forward_fn(x, h0, Wx, Wh, b...) -> (h, cache)``,
    ``backward_fn(dh, cache) -> (dx, dh0, dWx, dWh, db...)``, like the
    course's rnn/lstm/gru_forward/backward (LSTM: zero initial cell).
    Bidirectional: ``forward_fn(x, params_f, params_b) -> (h (N, T, 2H), cache)``,
    ``backward_fn(dh, cache) -> (dx, grads_f, grads_b)``.
    """
    name = f"the check's {'bidirectional ' if bidirectional else ''}{kind.upper()} layer"

    def forward_fn(x, *params):
        directions = params if bidirectional else (params,)
        if bidirectional and len(params) != 2:
            raise AssertionError(LAYER_ARGUMENTS.format(name=name, count=len(params) + 1))
        x = _validate(f"{name} (forward_fn)", x, directions[0])
        with torch_allowed():
            h = _not_nan(name, "forward_fn", _torch(kind, x, [directions])["h"])
        return h, _RefCache(kind, bidirectional, x.copy(), directions)

    def backward_fn(dh, cache):
        if not isinstance(cache, _RefCache) or cache.kind != kind or cache.bidirectional != bidirectional:
            raise AssertionError(FOREIGN_CACHE.format(name=name, kind=type(cache).__name__))
        dirs = len(cache.params)
        H = np.shape(cache.params[0][2])[0]
        dh = np.asarray(dh, dtype=np.float64)
        if dh.shape != (cache.x.shape[0], cache.x.shape[1], dirs * H):
            expected = (cache.x.shape[0], cache.x.shape[1], dirs * H)
            raise AssertionError(BACKWARD_FN_DH_SHAPE.format(name=name, shape=dh.shape, expected=expected))
        with torch_allowed():
            r = _torch(kind, cache.x, [cache.params], dh=dh)
        _not_nan(name, "backward_fn", r["dx"])
        grads = [(r["dh0"][d], *r["grads"][0][d]) for d in range(dirs)]
        return (r["dx"], *grads) if bidirectional else (r["dx"], *grads[0])

    return forward_fn, backward_fn


def _call(name, fn, *args, returns):
    """``fn(*args)`` through call_student, unpacked as ``returns`` (e.g. "(h, cache)"); a complaint of a
    reference layer it called is prefixed with ``name``, the student's function's."""
    try:
        out = call_student(fn, *args)
    except AssertionError as e:
        if str(e).startswith("the check's"):
            raise AssertionError(f"{name}: {e}") from None
        raise
    return unpack(name, out, returns.count(",") + 1, returns)


def _direction(rng, kind, N, D, H):
    return (rng.normal(scale=0.5, size=(N, H)), *random_params(rng, kind, D, H))


# ---------------------------------------------------------------- bidirectional
def _bi_data(kind, N, T, D, H, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, T, D))
    return rng, x, _direction(rng, kind, N, D, H), _direction(rng, kind, N, D, H)


def check_bidirectional_forward(bidirectional_forward, N=2, T=5, D=3, H=4, seed=0, kind="rnn"):
    """h (N, T, 2H) with the check's ``kind`` layer as forward_fn, against torch's bidirectional layer."""
    name = "bidirectional_forward"
    _, x, pf, pb = _bi_data(kind, N, T, D, H, seed)
    fwd, _ = reference_layer(kind)
    out = _call(name, bidirectional_forward, x, fwd, pf, pb, returns="(h, cache)")
    h = assert_shape(name, "h", assert_float64(name, "h", out[0]), (N, T, 2 * H))
    ref = _torch(kind, x, [(pf, pb)])["h"]
    direction = f"direction; forward_fn: the check's {kind.upper()} layer)"  # not a hint: what is compared
    torch_name = f"torch.nn.{kind.upper()}(bidirectional=True)"
    # saved too: the layer's call of a student whose forward direction reads x reversed, or whose backward
    # direction takes params_f (without torch, a call not saved returns NaN, which names no mistake)
    evaluate_when_recording(lambda: _torch(kind, x[:, ::-1], [(pf,)]))

    def forward_hint():
        return DIRECTIONS_SWAPPED if rel_error(h[..., :H], ref[..., H:]) < FORWARD_TOL else FORWARD_DIRECTION

    close(name, f"h[..., :H] (the forward {direction}", h[..., :H], ref[..., :H], FORWARD_TOL, torch_name, forward_hint)

    def backward_direction(xx):
        return _torch(kind, xx, [(pb,)])["h"]

    def explain():
        got = h[..., H:]
        if rel_error(got, ref[:, ::-1, H:]) < FORWARD_TOL:
            return OUTPUT_NOT_FLIPPED_BACK
        if rel_error(got, backward_direction(x)) < FORWARD_TOL:
            return INPUT_NOT_REVERSED
        batch = backward_direction(x[::-1])
        if matches(got, batch[::-1], FORWARD_TOL) or matches(got, batch, FORWARD_TOL):
            return BATCH_REVERSED
        if matches(got, np.flip(backward_direction(np.flip(x))), FORWARD_TOL):
            return FLIP_WITHOUT_AXIS
        return BACKWARD_DIRECTION

    close(name, f"h[..., H:] (the backward {direction}", h[..., H:], ref[..., H:], FORWARD_TOL, torch_name, explain)


def _compare_direction_grads(name, kind, label, got, ref_dh0, ref_grads, shapes, explain=None):
    names = _GRAD_NAMES[kind]
    got = unpack(name, got, len(names), f"in {label} (the tuple backward_fn returns after dx: {', '.join(names)})")
    for what, g, r, shape in zip(names, got, (ref_dh0, *ref_grads), shapes):
        assert_shape(name, f"{label} {what}", g, shape)
        close(name, f"{label} {what}", g, r, BACKWARD_TOL, "torch autograd", explain)


def _shapes(kind, N, D, H):
    k = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    return ((N, H), (D, k * H), (H, k * H), (k * H,), (k * H,))


def check_bidirectional_backward(bidirectional_forward, bidirectional_backward, N=2, T=5, D=3, H=4, seed=0, kind="rnn"):
    """(dx, grads_f, grads_b) with the check's ``kind`` layer as forward_fn/backward_fn, against torch autograd."""
    name = "bidirectional_backward"
    rng, x, pf, pb = _bi_data(kind, N, T, D, H, seed)
    dh = rng.normal(size=(N, T, 2 * H))
    fwd, bwd = reference_layer(kind)
    out = _call("bidirectional_forward", bidirectional_forward, x, fwd, pf, pb, returns="(h, cache)")
    forward_first(name, "bidirectional_forward", lambda: assert_float64("bidirectional_forward", "h", out[0]))
    dx, grads_f, grads_b = _call(name, bidirectional_backward, dh, out[1], bwd, returns="(dx, grads_f, grads_b)")
    ref = _torch(kind, x, [(pf, pb)], dh=dh)
    shapes = _shapes(kind, N, D, H)
    explain = _bi_explainer(kind, x, pf, pb, dh, (dx, grads_f, grads_b), ref)
    assert_shape(name, "dx", dx, (N, T, D))
    close(
        name,
        f"dx (backward_fn: the check's {kind.upper()} layer)",
        dx,
        ref["dx"],
        BACKWARD_TOL,
        "torch autograd",
        explain,
    )
    _compare_direction_grads(name, kind, "grads_f", grads_f, ref["dh0"][0], ref["grads"][0][0], shapes, explain)
    _compare_direction_grads(name, kind, "grads_b", grads_b, ref["dh0"][1], ref["grads"][0][1], shapes, explain)


def _uni(kind, p, x, dh):
    """dx and (dh0, dWx, ...) of one direction with parameters ``p`` = (h0, Wx, ...) (torch autograd)."""
    r = _torch(kind, x, [(p,)], dh=dh)
    return r["dx"], (r["dh0"][0], *r["grads"][0][0])


def _flat(out):
    """A nested (dx, grads_f, grads_b) or list of gradient tuples, flattened to a list of arrays (None if ragged)."""
    if not isinstance(out, (list, tuple)):
        return None if out is None else [out]
    parts = [_flat(o) for o in out]
    return None if None in parts else [a for part in parts for a in part]


def _bi_explainer(kind, x, pf, pb, dh, got, ref):
    """The hint for a wrong bidirectional_backward: the known mistakes, computed with torch, that the
    student's whole (dx, grads_f, grads_b) matches; else what dx alone says."""
    H = np.shape(pf[0])[1]

    def variants():
        fx, fg = _uni(kind, pf, x, dh[..., :H])
        bx, bg = _uni(kind, pb, x[:, ::-1], dh[:, ::-1, H:])
        ux, ug = _uni(kind, pb, x[:, ::-1], dh[..., H:])
        cx, cg = _uni(kind, pf, x, dh[:, ::-1, H:])
        return [
            (DH_B_NOT_FLIPPED, (fx + ux[:, ::-1], fg, ug)),
            (DX_NOT_SUMMED, (fx, fg, bg)),
            (DX_B_NOT_FLIPPED_BACK, (fx + bx, fg, bg)),
            (CACHE_OF_OTHER_DIRECTION, (fx + cx[:, ::-1], fg, cg)),
            (GRADS_SWAPPED, (fx + bx[:, ::-1], bg, fg)),
        ]

    @functools.cache  # one hint for every comparison of the check
    def explain():
        found = diagnose(_flat(got), lambda: [(text, _flat(refs)) for text, refs in variants()])
        return found or time_hint(got[0], ref["dx"], BACKWARD_TOL)

    return explain


# ---------------------------------------------------------------- stacked
def _stack_data(kind, N, T, D, hidden, seed, bidirectional):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, T, D))
    layers, d_in = [], D
    for H in hidden:
        layer = tuple(_direction(rng, kind, N, d_in, H) for _ in ("fb" if bidirectional else "f"))
        layers.append(layer if bidirectional else layer[0])
        d_in = len(layer) * H
    return rng, x, layers


def _stack_ref(kind, x, layers, bidirectional, dh_top=None):
    """Torch layers chained one after the other (hidden sizes may differ): (h_top, dx, layer grads)."""
    hs, inp = [], x
    for p in layers:
        directions = p if bidirectional else (p,)
        h = _torch(kind, inp, [directions])["h"]
        hs.append(inp)
        inp = h
    if dh_top is None:
        return inp, None, None
    grads, dh = [None] * len(layers), dh_top
    for l in reversed(range(len(layers))):
        directions = layers[l] if bidirectional else (layers[l],)
        r = _torch(kind, hs[l], [directions], dh=dh)
        per = [(r["dh0"][d], *r["grads"][0][d]) for d in range(len(directions))]
        grads[l] = per if bidirectional else per[0]
        dh = r["dx"]
    return inp, dh, grads


def _record_known_mistakes(kind, x, layers, bidirectional, dh_top=None):
    """While recording, the layer calls of two known mistakes (possible with equal sizes): every layer reads
    x, and every layer's backward_fn gets dh_top. Saved, they give numbers without torch, and the check its
    hint, as with torch (other calls a correct answer never makes say so: LAYER_CALL_NOT_SAVED)."""

    def calls():
        inp = x
        for p in layers:
            directions = p if bidirectional else (p,)
            _torch(kind, x, [directions])
            if dh_top is not None:
                _torch(kind, inp, [directions], dh=dh_top)
            inp = _torch(kind, inp, [directions])["h"]

    evaluate_when_recording(calls)


def check_stacked_forward(stacked_forward, N=2, T=4, D=3, hidden=(5, 4), seed=0, kind="rnn", bidirectional=False):
    """h_top of layers of the check's ``kind`` layer (hidden sizes ``hidden``) against torch layers chained."""
    name = "stacked_forward"
    _, x, layers = _stack_data(kind, N, T, D, hidden, seed, bidirectional)
    fwd, _ = reference_layer(kind, bidirectional)
    out = _call(name, stacked_forward, x, fwd, layers, returns="(h_top, cache)")
    H_top = (2 if bidirectional else 1) * hidden[-1]
    h = assert_shape(name, "h_top", assert_float64(name, "h_top", out[0]), (N, T, H_top))
    ref, _, _ = _stack_ref(kind, x, layers, bidirectional)
    _record_known_mistakes(kind, x, layers, bidirectional)
    what = f"h_top ({len(hidden)} {'bidirectional ' if bidirectional else ''}{kind.upper()} layers of the check)"
    close(name, what, h, ref, FORWARD_TOL, f"torch.nn.{kind.upper()} layers chained", lambda: STACKED_FORWARD)


def check_stacked_backward(
    stacked_forward, stacked_backward, N=2, T=4, D=3, hidden=(5, 4), seed=0, kind="rnn", bidirectional=False
):
    """(dx, layer_grads) through layers of the check's ``kind`` layer, against torch autograd."""
    name = "stacked_backward"
    rng, x, layers = _stack_data(kind, N, T, D, hidden, seed, bidirectional)
    fwd, bwd = reference_layer(kind, bidirectional)
    H_top = (2 if bidirectional else 1) * hidden[-1]
    dh_top = rng.normal(size=(N, T, H_top))
    out = _call("stacked_forward", stacked_forward, x, fwd, layers, returns="(h_top, cache)")
    forward_first(name, "stacked_forward", lambda: assert_float64("stacked_forward", "h_top", out[0]))
    dx, layer_grads = _call(name, stacked_backward, dh_top, out[1], bwd, returns="(dx, layer_grads)")
    _, ref_dx, ref_grads = _stack_ref(kind, x, layers, bidirectional, dh_top)
    _record_known_mistakes(kind, x, layers, bidirectional, dh_top)
    layer_grads = unpack(name, layer_grads, len(layers), f"in layer_grads (one item per layer, {len(layers)})")
    flat, flat_ref = _flat(list(layer_grads)), _flat(ref_grads)
    if len(layers) > 1 and flat is not None and not all_match(flat, flat_ref):
        if all_match(_flat(list(layer_grads)[::-1]), flat_ref):
            raise AssertionError(LAYER_GRADS_REVERSED.format(name=name))
    assert_shape(name, "dx", dx, x.shape)
    close(name, "dx", dx, ref_dx, BACKWARD_TOL, "torch autograd", lambda: STACKED_DX)
    d_in = D
    for l, (got, ref) in enumerate(zip(layer_grads, ref_grads)):
        shapes = _shapes(kind, N, d_in, hidden[l])
        if bidirectional:
            got = unpack(name, got, 2, f"in layer_grads[{l}] (grads_f, grads_b)")
            for d, label in enumerate(("grads_f", "grads_b")):
                _compare_direction_grads(name, kind, f"layer_grads[{l}] {label}", got[d], ref[d][0], ref[d][1:], shapes)
        else:
            _compare_direction_grads(name, kind, f"layer_grads[{l}]", got, ref[0], ref[1:], shapes)
        d_in = (2 if bidirectional else 1) * hidden[l]


# ---------------------------------------------------------------- the student's own deep bidirectional model
_LAYER_CHECKS = {
    "rnn": (check_rnn_forward, check_rnn_backward, "units 3 and 4"),
    "lstm": (check_lstm_forward, check_lstm_backward, "unit 6"),
    "gru": (check_gru_forward, check_gru_backward, "unit 7"),
}


def _check_layer_first(kind, forward_fn, backward_fn):
    """The student's layer alone, forward then backward, with the checks of its own unit: a deep model
    made of a broken layer fails whatever the plumbing, so the broken function is named first."""
    check_forward, check_backward, unit = _LAYER_CHECKS[kind]
    for fn, run in (
        (forward_fn, lambda: check_forward(forward_fn)),
        (backward_fn, lambda: check_backward(forward_fn, backward_fn)),
    ):
        fn_name = getattr(fn, "__name__", "the layer function")
        try:
            run()
        except AssertionError as e:
            # the layer's own message stays outside the hint's text: identify() reads the hints in it too
            model = f"the deep bidirectional {kind.upper()} model"
            text = LAYER_WRONG.format(fn_name=fn_name, unit=unit)
            raise AssertionError(f"{model}: your {fn_name} is wrong ({e}); {text}") from None


def check_deep_bidirectional(
    stacked_forward,
    bidirectional_forward,
    bidirectional_backward,
    forward_fn,
    backward_fn,
    kind,
    N=2,
    T=4,
    D=3,
    H=4,
    num_layers=2,
    seed=0,
):
    """A deep bidirectional model made of the student's functions against
    torch.nn.{RNN,LSTM,GRU}(num_layers, bidirectional=True, batch_first=True): h and every gradient.

    Forward: ``stacked_forward(x, bidirectional_forward, layers)`` with
    ``layers[l] = (forward_fn, params_f, params_b)``, so that each layer runs
    ``bidirectional_forward(h, forward_fn, params_f, params_b)``. Gradients:
    the layers one after the other, ``bidirectional_forward`` up and
    ``bidirectional_backward(dh, cache, backward_fn)`` down. (No function of
    the check is handed to the student's code here, so this also runs where
    the student's functions live in another process, as in ``course.grading.verify``.)
    ``stacked_backward`` itself is checked by :func:`check_stacked_backward`.
    """
    fname = getattr(forward_fn, "__name__", "forward_fn")
    _check_layer_first(kind, forward_fn, backward_fn)
    bname = getattr(backward_fn, "__name__", "backward_fn")
    name = PLUMBING_WRONG.format(fname=fname, bname=bname)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, T, D))
    layers = [tuple(_direction(rng, kind, N, D if l == 0 else 2 * H, H) for _ in "fb") for l in range(num_layers)]
    dh_top = rng.normal(size=(N, T, 2 * H))
    ref = _torch(kind, x, layers, dh=dh_top)
    torch_name = f"torch.nn.{kind.upper()}(num_layers={num_layers}, bidirectional=True)"  # not a hint: a reference

    model = [(forward_fn, pf, pb) for pf, pb in layers]
    out = _call("stacked_forward", stacked_forward, x, bidirectional_forward, model, returns="(h_top, cache)")
    stacked = f"stacked_forward(x, bidirectional_forward, layers) with {fname}"  # not a hint: the call's name
    h = assert_shape(stacked, "h_top", out[0], (N, T, 2 * H))
    close(stacked, "h_top", h, ref["h"], FORWARD_TOL, torch_name)

    h, caches = x, []
    for pf, pb in layers:
        h, cache = _call("bidirectional_forward", bidirectional_forward, h, forward_fn, pf, pb, returns="(h, cache)")
        caches.append(cache)
    close(name, "h_top", h, ref["h"], FORWARD_TOL, torch_name)
    dh = dh_top
    for l in reversed(range(num_layers)):
        dh, grads_f, grads_b = _call(
            "bidirectional_backward",
            bidirectional_backward,
            dh,
            caches[l],
            backward_fn,
            returns="(dx, grads_f, grads_b)",
        )
        shapes = _shapes(kind, N, D if l == 0 else 2 * H, H)
        for d, (label, got) in enumerate((("grads_f", grads_f), ("grads_b", grads_b))):
            _compare_direction_grads(
                name, kind, f"layer {l} {label}", got, ref["dh0"][2 * l + d], ref["grads"][l][d], shapes
            )
    close(name, "dx", dh, ref["dx"], BACKWARD_TOL, "torch autograd")
