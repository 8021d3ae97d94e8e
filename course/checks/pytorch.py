"""Checks of unit 9 (recurrent models in PyTorch).

* ``recurrent_param_count`` (plain arithmetic; torch may be used, as the contract allows
  outside units 1-8, so it is called directly): against the
  ``numel()`` of real ``torch.nn.RNN/LSTM/GRU`` modules, and against Keras's
  published model summaries and hand derivations for ``bias="keras"``.
* ``masked_mean_loss`` and ``last_hidden_state`` are *PyTorch* functions
  (torch tensors in and out, gradients must flow), so they are called
  directly, not through :func:`course.testing.call_student` (which hides
  torch); :func:`_call_torch` does the rest of its job (inputs compared
  before and after, warnings silenced). The independent reference is running
  every sequence *alone*, unpadded, through a ``torch.nn.GRU``/``RNN`` with
  the same weights: no padding, no mask, nothing to get wrong.
"""

import warnings

import numpy as np

from course.checks.hints import hint
from course.interop import require_torch
from course.testing import BACKWARD_TOL, FORWARD_TOL, assert_close

# Unit 9's checks compare with live torch: where it is missing (the student's course of units 1-8),
# importing them says so in one line, with the install command.
torch = require_torch("the exercise of unit 9")

_CLASSES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}

# ---------------------------------------------------------------- hints: recurrent_param_count
COUNT_NOT_INT = hint(
    "pytorch.count_not_int", "{name}({shown}) returned {type} {out!r}; it must return a Python int (use int(...))"
)
TORCH_COUNT = hint(
    "pytorch.torch_count",
    "{name}({shown}) = {got}, but torch.nn.{kind}(3, 5) has {ref} "
    "parameters (PyTorch has two bias vectors, bias_ih and bias_hh)",
)
KEYWORDS_DIFFER = hint("pytorch.keywords_differ", "{name}({shown}) = {got}, expected {ref} as for the defaults")
STACKED_COUNT = hint(
    "pytorch.stacked_count",
    "{name}({shown}) = {got}, but torch.nn.{kind}({D}, {H}, num_layers={L}, bidirectional={bi}) has {ref} parameters",
)
UPPER_LAYERS_READ_BOTH = hint(
    "pytorch.upper_layers_read_both_directions",
    "(layers above the first read both directions: 2 * hidden_size inputs)",
)
UPPER_LAYERS_READ_H = hint(
    "pytorch.upper_layers_read_hidden_size", "(layers above the first read hidden_size inputs, not input_size)"
)
KERAS_LAYER_COUNT = hint(
    "pytorch.keras_layer_count",
    "{name}({shown}) = {got}, but Keras's {bidirectional}{kind} layer has {ref} parameters (Keras: one bias "
    "vector per gate for SimpleRNN and LSTM, two for GRU with reset_after=True)",
)
KERAS_STACKED_BIDIRECTIONAL = hint(
    "pytorch.keras_stacked_bidirectional",
    "{name}({shown}) = {got}, but two stacked Keras Bidirectional(LSTM(32)) layers on 3 "
    "inputs have 9,216 + 24,832 = 34,048 parameters (the second reads 2 * 32 inputs)",
)
KERAS_MODEL_COUNT = hint(
    "pytorch.keras_model_count",
    "{name}: (200, 3) -> {layer}(32) -> {layer}(32) -> Dense(12) has {total:,} parameters in "
    "Keras's summary; your count {what} gives {value} + {dense} (Dense) = {sum:,}",
)
VALID_ARGUMENTS_RAISED = hint(
    "pytorch.valid_arguments_raised",
    "{name}('lstm', 3, 5) raised {type}: {error}; valid arguments must "
    "give a count (ValueError is only for an unknown kind or bias)",
)
LSTM_COUNT = hint("pytorch.lstm_count", "{name}({shown}) = {got}, but torch.nn.LSTM(3, 5) has {ref} parameters")
WRONG_ERROR = hint("pytorch.wrong_error", "{name} with {what} must raise ValueError, it raised {type}: {error}")
NO_ERROR = hint("pytorch.no_error", "{name} with {what} must raise ValueError, it returned {out!r}")
# ---------------------------------------------------------------- hints: the torch functions
INPUT_MODIFIED = hint(
    "pytorch.input_modified",
    "{name} modified its input `{input}`; return a new tensor and leave the inputs "
    "untouched (no in-place ops such as `[...] = 0`, `+=`, `.zero_()`)",
)
LOSS_NOT_A_TENSOR = hint(
    "pytorch.loss_not_a_tensor",
    "{name} must return a torch tensor (a 0-dim one), got {type}; keep it a tensor so that loss.backward() works",
)
LOSS_NOT_A_SCALAR = hint("pytorch.loss_not_a_scalar", "{name} must return a scalar (0-dim) tensor, got shape {shape}")
LOSS_NO_GRAD = hint(
    "pytorch.loss_no_grad",
    "{name}: the result does not require grad, so no gradient can flow back "
    "(did you use .item(), .detach(), .numpy() or torch.no_grad()?)",
)
STATE_NOT_A_TENSOR = hint("pytorch.state_not_a_tensor", "{name} must return a torch tensor, got {type}")
STATE_NO_GRAD = hint(
    "pytorch.state_no_grad", "{name}: the result does not require grad (did you use .detach() or NumPy?)"
)


# ---------------------------------------------------------------- parameter counting
def _quietly(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with warnings silenced (a test cell's stderr scores 0); torch is not
    hidden: recurrent_param_count may use it (its arguments are ints and strings: nothing to protect)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _count(name, fn, *args, **kwargs):
    out = _quietly(fn, *args, **kwargs)
    shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    if type(out) is not int:
        raise AssertionError(COUNT_NOT_INT.format(name=name, shown=shown, type=type(out).__name__, out=out))
    return out, shown


def check_recurrent_param_count(
    recurrent_param_count,
    kinds=("rnn", "lstm", "gru"),
    input_sizes=(1, 3, 10),
    hidden_sizes=(1, 4, 32),
    layers=(1, 2, 3),
    directions=(False, True),
):
    """bias="torch" (the default) against ``sum(p.numel() for p in torch.nn.X(...).parameters())``."""
    name = "recurrent_param_count"
    # the defaults (num_layers=1, bidirectional=False, bias="torch") and keyword names
    for kind in kinds:
        ref = sum(p.numel() for p in _CLASSES[kind](3, 5).parameters())
        got, shown = _count(name, recurrent_param_count, kind, 3, 5)
        if got != ref:
            raise AssertionError(TORCH_COUNT.format(name=name, shown=shown, got=got, kind=kind.upper(), ref=ref))
        got, shown = _count(
            name,
            recurrent_param_count,
            kind,
            input_size=3,
            hidden_size=5,
            num_layers=1,
            bidirectional=False,
            bias="torch",
        )
        if got != ref:
            raise AssertionError(KEYWORDS_DIFFER.format(name=name, shown=shown, got=got, ref=ref))
    for kind in kinds:
        for D in input_sizes:
            for H in hidden_sizes:
                for L in layers:
                    for bi in directions:
                        module = _CLASSES[kind](D, H, num_layers=L, bidirectional=bi)
                        ref = sum(p.numel() for p in module.parameters())
                        got, shown = _count(name, recurrent_param_count, kind, D, H, num_layers=L, bidirectional=bi)
                        if got != ref:
                            message = STACKED_COUNT.format(
                                name=name, shown=shown, got=got, kind=kind.upper(), D=D, H=H, L=L, bi=bi, ref=ref
                            )
                            if L > 1:
                                message += " " + (UPPER_LAYERS_READ_BOTH if bi else UPPER_LAYERS_READ_H)
                            raise AssertionError(message)


# Keras figures: the human-activity-recognition lecture's model summaries
# (windows (200, 3) -> two recurrent layers of 32 -> Dense(12)) and hand
# derivations g * H * (D + H + k), k = 1 bias per gate (2 for GRU reset_after=True).
_DENSE_32_12 = 32 * 12 + 12  # 396
_KERAS_LAYERS = [  # (kind, input_size, hidden_size, bidirectional, parameters)
    ("rnn", 3, 32, False, 1152),
    ("rnn", 32, 32, False, 2080),
    ("lstm", 3, 32, False, 4608),
    ("lstm", 32, 32, False, 8320),
    ("gru", 3, 32, False, 3552),
    ("gru", 32, 32, False, 6336),
    ("rnn", 1, 1, False, 3),
    ("lstm", 1, 1, False, 12),
    ("gru", 1, 1, False, 12),
    ("rnn", 3, 32, True, 2304),
    ("lstm", 3, 32, True, 9216),
]
_KERAS_MODELS = [("rnn", "SimpleRNN", 3628), ("lstm", "LSTM", 13324), ("gru", "GRU", 10284)]


def check_recurrent_param_count_keras(recurrent_param_count):
    """bias="keras" against Keras's summaries: 3,628 (SimpleRNN), 13,324 (LSTM), 10,284 (GRU)."""
    name = "recurrent_param_count"
    for kind, D, H, bi, ref in _KERAS_LAYERS:
        got, shown = _count(name, recurrent_param_count, kind, D, H, num_layers=1, bidirectional=bi, bias="keras")
        if got != ref:
            bidirectional = "Bidirectional " if bi else ""
            raise AssertionError(
                KERAS_LAYER_COUNT.format(
                    name=name, shown=shown, got=got, bidirectional=bidirectional, kind=kind.upper(), ref=ref
                )
            )
    # Bidirectional(LSTM(32, return_sequences=True)) -> Bidirectional(LSTM(32)) on 3 inputs:
    # 2 * 4 * 32 * (3 + 32 + 1) + 2 * 4 * 32 * (64 + 32 + 1) = 9,216 + 24,832
    got, shown = _count(name, recurrent_param_count, "lstm", 3, 32, num_layers=2, bidirectional=True, bias="keras")
    if got != 34048:
        raise AssertionError(KERAS_STACKED_BIDIRECTIONAL.format(name=name, shown=shown, got=got))
    for kind, layer, total in _KERAS_MODELS:
        two = [_count(name, recurrent_param_count, kind, D, 32, bias="keras")[0] for D in (3, 32)]
        stacked, shown = _count(name, recurrent_param_count, kind, 3, 32, num_layers=2, bias="keras")
        for what, value in [("layer by layer", sum(two)), (f"as {shown}", stacked)]:
            if value + _DENSE_32_12 != total:
                raise AssertionError(
                    KERAS_MODEL_COUNT.format(
                        name=name,
                        layer=layer,
                        total=total,
                        what=what,
                        value=value,
                        dense=_DENSE_32_12,
                        sum=value + _DENSE_32_12,
                    )
                )


def check_recurrent_param_count_errors(recurrent_param_count):
    """ValueError for an unknown ``kind`` or ``bias``."""
    name = "recurrent_param_count"
    ref = sum(p.numel() for p in torch.nn.LSTM(3, 5).parameters())  # valid arguments must still work
    try:
        got, shown = _count(name, recurrent_param_count, "lstm", 3, 5)
    except AssertionError:
        raise
    except Exception as e:  # noqa: BLE001
        raise AssertionError(VALID_ARGUMENTS_RAISED.format(name=name, type=type(e).__name__, error=e)) from None
    if got != ref:
        raise AssertionError(LSTM_COUNT.format(name=name, shown=shown, got=got, ref=ref))
    for args, kwargs, what in [
        (("transformer", 3, 5), {}, "kind='transformer'"),
        (("lstm", 3, 5), {"bias": "tensorflow"}, "bias='tensorflow'"),
        (("gru", 3, 5), {"bias": None}, "bias=None"),
    ]:
        try:
            out = _quietly(recurrent_param_count, *args, **kwargs)
        except ValueError:
            continue
        except Exception as e:  # noqa: BLE001 - any other error is the wrong one
            raise AssertionError(WRONG_ERROR.format(name=name, what=what, type=type(e).__name__, error=e)) from None
        raise AssertionError(NO_ERROR.format(name=name, what=what, out=out))


# ---------------------------------------------------------------- torch functions
def _call_torch(name, fn, **inputs):
    """``fn(**inputs)`` with warnings silenced; fails if it changed an input tensor."""
    before = {k: v.detach().clone() for k, v in inputs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(*inputs.values())
    for k, v in inputs.items():
        if v.shape != before[k].shape or not torch.equal(v.detach(), before[k]):
            raise AssertionError(INPUT_MODIFIED.format(name=name, input=k))
    return out


def _padded_batch(lengths, T, D, rng):
    """Random sequences of the given lengths, and the same padded to T with *garbage*.

    The padding gets large random values, so that anything that reads it is
    wrong by a lot. Returns (list of (L_n, D) arrays, (N, T, D) padded array).
    """
    seqs = [rng.normal(size=(L, D)) for L in lengths]
    padded = 10.0 * rng.normal(size=(len(lengths), T, D))
    for n, s in enumerate(seqs):
        padded[n, : len(s)] = s
    return seqs, padded


def _module(kind, D, H, seed):
    torch.manual_seed(seed)
    return _CLASSES[kind](D, H, batch_first=True, dtype=torch.float64)


def _grads(params):
    return [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]


def _as_lengths(lengths):
    return torch.tensor(list(lengths), dtype=torch.int64)


def _check_scalar_tensor(name, out):
    if not isinstance(out, torch.Tensor):
        raise AssertionError(LOSS_NOT_A_TENSOR.format(name=name, type=type(out).__name__))
    if out.dim() != 0:
        raise AssertionError(LOSS_NOT_A_SCALAR.format(name=name, shape=tuple(out.shape)))
    if not out.requires_grad:
        raise AssertionError(LOSS_NO_GRAD.format(name=name))


def check_masked_mean_loss(masked_mean_loss, lengths=(5, 2, 4), T=None, V=4, D=2, H=3, kind="gru", seed=0):
    """Mean of the valid per-token losses of a padded batch, and its gradient.

    A GRU/RNN with a linear read-out is run on a garbage-padded batch; its
    per-token cross-entropies (N, T) and ``lengths`` go to the student's
    function. Reference: each sequence run alone (no padding), its token
    losses summed, divided by the number of tokens; gradients of the
    module's parameters by autograd through both, and
    d(loss)/d(losses) = 1/sum(lengths) on valid tokens, 0 on padding.
    """
    name = "masked_mean_loss"
    # hand-worked: (1 + 2 + 4) / 3 tokens
    hand = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64, requires_grad=True)
    out = _call_torch(name, masked_mean_loss, losses=hand, lengths=_as_lengths([2, 1]))
    _check_scalar_tensor(name, out)
    assert_close(
        name,
        "the loss (hand-worked: losses [[1, 2, 3], [4, 5, 6]], lengths [2, 1])",
        out.detach().numpy(),
        7.0 / 3.0,
        FORWARD_TOL,
        "(1 + 2 + 4) / 3",
    )

    rng = np.random.default_rng(seed)
    T = T or max(lengths)
    seqs, padded = _padded_batch(lengths, T, D, rng)
    targets = rng.integers(0, V, size=(len(lengths), T))
    rnn = _module(kind, D, H, seed)
    torch.manual_seed(seed + 1)
    head = torch.nn.Linear(H, V, dtype=torch.float64)
    params = list(rnn.parameters()) + list(head.parameters())

    # reference: every sequence alone
    total = 0.0
    for n, s in enumerate(seqs):
        out_n, _ = rnn(torch.tensor(s[None]))
        total = total + torch.nn.functional.cross_entropy(
            head(out_n[0]), torch.tensor(targets[n, : len(s)]), reduction="sum"
        )
    ref = total / sum(lengths)
    ref.backward()
    ref_grads = _grads(params)
    for p in params:
        p.grad = None

    # the student's function on the padded batch
    out_pad, _ = rnn(torch.tensor(padded))
    losses = torch.nn.functional.cross_entropy(
        head(out_pad).transpose(1, 2), torch.tensor(targets), reduction="none"
    )  # (N, T)
    losses.retain_grad()
    out = _call_torch(name, masked_mean_loss, losses=losses, lengths=_as_lengths(lengths))
    _check_scalar_tensor(name, out)
    assert_close(
        name,
        "the loss",
        out.detach().numpy(),
        ref.item(),
        FORWARD_TOL,
        f"the mean token loss of each sequence run alone through torch.nn.{kind.upper()}",
    )
    out.backward()
    weight = np.zeros((len(lengths), T))
    for n, L in enumerate(lengths):
        weight[n, :L] = 1.0 / sum(lengths)
    assert_close(
        name,
        "d(loss)/d(losses)",
        losses.grad.numpy(),
        weight,
        BACKWARD_TOL,
        "1 / (number of valid tokens) on valid tokens and 0 on padding",
    )
    for p_name, g, r in zip(
        [n for n, _ in rnn.named_parameters()] + ["head.weight", "head.bias"], _grads(params), ref_grads
    ):
        assert_close(
            name,
            f"the gradient of {p_name}",
            g.numpy(),
            r.numpy(),
            BACKWARD_TOL,
            "autograd through each sequence alone",
        )


def check_last_hidden_state(last_hidden_state, lengths=(4, 1, 3), T=None, D=2, H=3, kind="gru", seed=0, packed=False):
    """outputs[n, lengths[n] - 1] for a padded batch-first output (N, T, H), and its gradient.

    Reference: the final hidden state h_n of each sequence run alone. With
    ``packed`` the outputs come from pack_padded_sequence/pad_packed_sequence
    (zeros in the padding, T = max(lengths)); otherwise from running the
    module on the garbage-padded batch (the padding's outputs are garbage).
    """
    name = "last_hidden_state"
    rng = np.random.default_rng(seed)
    T = T or max(lengths)
    seqs, padded = _padded_batch(lengths, T, D, rng)
    G = rng.normal(size=(len(lengths), H))  # upstream gradient on the result
    rnn = _module(kind, D, H, seed)
    params = list(rnn.parameters())

    ref = []
    for s in seqs:
        _, h_n = rnn(torch.tensor(s[None]))
        ref.append(h_n[0, 0])
    ref = torch.stack(ref)
    (ref * torch.tensor(G)).sum().backward()
    ref_grads = _grads(params)
    for p in params:
        p.grad = None

    lens = _as_lengths(lengths)
    if packed:
        pack = torch.nn.utils.rnn.pack_padded_sequence(
            torch.tensor(padded), lens, batch_first=True, enforce_sorted=False
        )
        outputs, _ = torch.nn.utils.rnn.pad_packed_sequence(rnn(pack)[0], batch_first=True, total_length=T)
    else:
        outputs, _ = rnn(torch.tensor(padded))
    outputs.retain_grad()
    out = _call_torch(name, last_hidden_state, outputs=outputs, lengths=lens)
    if not isinstance(out, torch.Tensor):
        raise AssertionError(STATE_NOT_A_TENSOR.format(name=name, type=type(out).__name__))
    where = "padded with zeros by pad_packed_sequence" if packed else "padded with garbage"  # not a hint: a label
    assert_close(
        name,
        f"the result (outputs {where})",
        out.detach().numpy(),
        ref.detach().numpy(),
        FORWARD_TOL,
        f"h_n of each sequence run alone through torch.nn.{kind.upper()} "
        "(the last *valid* step of sequence n is lengths[n] - 1)",
    )
    if not out.requires_grad:
        raise AssertionError(STATE_NO_GRAD.format(name=name))
    (out * torch.tensor(G)).sum().backward()
    expected = np.zeros((len(lengths), T, H))
    for n, L in enumerate(lengths):
        expected[n, L - 1] = G[n]
    assert_close(
        name,
        "d(result)/d(outputs)",
        outputs.grad.numpy(),
        expected,
        BACKWARD_TOL,
        "the upstream gradient at [n, lengths[n] - 1] and 0 elsewhere",
    )
    for p_name, g, r in zip([n for n, _ in rnn.named_parameters()], _grads(params), ref_grads):
        assert_close(
            name,
            f"the gradient of {p_name}",
            g.numpy(),
            r.numpy(),
            BACKWARD_TOL,
            "autograd through each sequence alone",
        )
