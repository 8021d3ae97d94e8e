"""The checks of unit 9 accept correct implementations (any style) and reject wrong ones."""

import numpy as np
import pytest
import torch

from course.checks import pytorch as checks
from course.checks.hints import identify


def rejects(check, fn, hint_id, **kwargs):
    """``check(fn)`` fails, and its message gives the hint ``hint_id`` (None: a plain mismatch, no hint)."""
    with pytest.raises(AssertionError) as e:
        check(fn, **kwargs)
    found = identify(str(e.value))
    if hint_id is None:
        assert found == [], f"a hint ({found}) where the table expects none: add its id to the table\n{e.value}"
    else:
        assert hint_id in found, f"expected the hint {hint_id}, found {found}: {e.value}"


# ------------------------------------------------------------ recurrent_param_count
def count_ok(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    gates = {"rnn": 1, "lstm": 4, "gru": 3}
    if kind not in gates:
        raise ValueError(kind)
    if bias not in ("torch", "keras"):
        raise ValueError(bias)
    g, H, dirs = gates[kind], hidden_size, 2 if bidirectional else 1
    n_bias = 2 if bias == "torch" or kind == "gru" else 1
    total, D = 0, input_size
    for _ in range(num_layers):
        total += dirs * g * H * (D + H + n_bias)
        D = dirs * H
    return total


def count_loop(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):  # valid, other style
    table = {"rnn": 1, "lstm": 4, "gru": 3}
    if kind not in table or bias not in {"torch", "keras"}:
        raise ValueError("unknown kind or bias")
    biases = 2 if (bias == "torch" or kind == "gru") else 1
    first = table[kind] * (hidden_size * input_size + hidden_size * hidden_size + biases * hidden_size)
    inner = (2 if bidirectional else 1) * hidden_size
    rest = table[kind] * (hidden_size * inner + hidden_size * hidden_size + biases * hidden_size)
    n = first + (num_layers - 1) * rest
    return int(n * (2 if bidirectional else 1))


def count_numpy_int(*a, **k):
    return np.int64(count_ok(*a, **k))


def count_float(*a, **k):
    return float(count_ok(*a, **k))


def count_one_bias(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    return count_ok(kind, input_size, hidden_size, num_layers, bidirectional, "keras")


def count_keras_gru_one_bias(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    n = count_ok(kind, input_size, hidden_size, num_layers, bidirectional, bias)
    if kind == "gru" and bias == "keras":
        n -= 3 * hidden_size * num_layers * (2 if bidirectional else 1)
    return n


def count_layers_same_input(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    return num_layers * count_ok(kind, input_size, hidden_size, 1, bidirectional, bias)


def count_bidir_input_h(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    # upper layers read H (not 2H) inputs when bidirectional
    dirs = 2 if bidirectional else 1
    return count_ok(kind, input_size, hidden_size, 1, bidirectional, bias) + (num_layers - 1) * dirs * count_ok(
        kind, hidden_size, hidden_size, 1, False, bias
    )


def count_ignores_bidirectional(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    return count_ok(kind, input_size, hidden_size, num_layers, False, bias)


def count_gates_swapped(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    k = {"rnn": "rnn", "lstm": "gru", "gru": "lstm"}.get(kind, kind)
    return count_ok(k, input_size, hidden_size, num_layers, bidirectional, bias)


def count_keyerror(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    g = {"rnn": 1, "lstm": 4, "gru": 3}[kind]  # KeyError, not ValueError
    if bias not in ("torch", "keras"):
        raise ValueError(bias)
    return count_ok(kind, input_size, hidden_size, num_layers, bidirectional, bias) * g // g


def count_bias_unchecked(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    if kind not in ("rnn", "lstm", "gru"):
        raise ValueError(kind)
    return count_ok(kind, input_size, hidden_size, num_layers, bidirectional, "keras" if bias == "keras" else "torch")


def count_keywords_differ(kind, *args, **kwargs):  # wrong: a keyword argument changes the count
    return count_ok(kind, *args, **kwargs) + (1 if kwargs else 0)


def count_uni_layers_same_input(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    if bidirectional:  # right for bidirectional layers; unidirectional upper layers read input_size
        return count_ok(kind, input_size, hidden_size, num_layers, bidirectional, bias)
    return count_layers_same_input(kind, input_size, hidden_size, num_layers, bidirectional, bias)


def count_with_torch(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    """Valid: the contract forbids torch in units 1-8 only. A real module counted; Keras's one bias
    per gate (SimpleRNN, LSTM) is torch's second bias vector taken away."""
    classes = {"rnn": (torch.nn.RNN, 1), "lstm": (torch.nn.LSTM, 4), "gru": (torch.nn.GRU, 3)}
    if kind not in classes or bias not in ("torch", "keras"):
        raise ValueError(f"unknown kind {kind!r} or bias {bias!r}")
    cls, gates = classes[kind]
    module = cls(input_size, hidden_size, num_layers, bidirectional=bidirectional)
    n = sum(p.numel() for p in module.parameters())
    if bias == "keras" and kind != "gru":
        n -= num_layers * (2 if bidirectional else 1) * gates * hidden_size
    return n


def count_with_torch_keras_wrong(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias="torch"):
    return count_with_torch(kind, input_size, hidden_size, num_layers, bidirectional, "torch")


@pytest.mark.parametrize("fn", [count_ok, count_loop, count_with_torch])
def test_param_count_accepts(fn):
    checks.check_recurrent_param_count(fn)
    checks.check_recurrent_param_count_keras(fn)
    checks.check_recurrent_param_count_errors(fn)


@pytest.mark.parametrize(
    "fn,hint_id",
    [
        (count_numpy_int, "pytorch.count_not_int"),
        (count_float, "pytorch.count_not_int"),
        (count_one_bias, "pytorch.torch_count"),
        (count_keywords_differ, "pytorch.keywords_differ"),
        (count_layers_same_input, "pytorch.upper_layers_read_both_directions"),
        (count_bidir_input_h, "pytorch.upper_layers_read_both_directions"),
        (count_uni_layers_same_input, "pytorch.upper_layers_read_hidden_size"),
        (count_ignores_bidirectional, "pytorch.stacked_count"),
        (count_gates_swapped, "pytorch.torch_count"),
    ],
)
def test_param_count_rejects_torch_counts(fn, hint_id):
    rejects(checks.check_recurrent_param_count, fn, hint_id, input_sizes=(1, 3), hidden_sizes=(1, 4))


def test_a_wrong_stacked_count_names_the_module_it_differs_from():
    with pytest.raises(AssertionError) as e:
        checks.check_recurrent_param_count(count_layers_same_input, input_sizes=(1, 3), hidden_sizes=(1, 4))
    assert identify(str(e.value)) == ["pytorch.stacked_count", "pytorch.upper_layers_read_both_directions"]


@pytest.mark.parametrize(
    "fn,hint_id",
    [
        (count_numpy_int, "pytorch.count_not_int"),
        (count_keras_gru_one_bias, "pytorch.keras_layer_count"),
        (count_layers_same_input, "pytorch.keras_stacked_bidirectional"),
        (count_bidir_input_h, "pytorch.keras_stacked_bidirectional"),
        (count_uni_layers_same_input, "pytorch.keras_model_count"),
        (count_ignores_bidirectional, "pytorch.keras_layer_count"),
        (count_gates_swapped, "pytorch.keras_layer_count"),
        (count_with_torch_keras_wrong, "pytorch.keras_layer_count"),
    ],
)
def test_param_count_rejects_keras_counts(fn, hint_id):
    rejects(checks.check_recurrent_param_count_keras, fn, hint_id)


def test_param_count_keras_models_from_the_figures():
    # the published totals, with the Dense(32 -> 12) layer's 396 parameters
    for kind, total in [("rnn", 3628), ("lstm", 13324), ("gru", 10284)]:
        assert count_ok(kind, 3, 32, num_layers=2, bias="keras") + 396 == total


def count_always_raises(*args, **kwargs):  # wrong: a stub that raises ValueError for everything
    raise ValueError("not implemented")


@pytest.mark.parametrize(
    "fn,hint_id",
    [
        (count_keyerror, "pytorch.wrong_error"),
        (count_bias_unchecked, "pytorch.no_error"),
        (count_always_raises, "pytorch.valid_arguments_raised"),
        (count_gates_swapped, "pytorch.lstm_count"),
    ],
)
def test_param_count_rejects_wrong_errors(fn, hint_id):
    rejects(checks.check_recurrent_param_count_errors, fn, hint_id)


# ------------------------------------------------------------ masked_mean_loss
def masked_ok(losses, lengths):
    T = losses.shape[1]
    mask = torch.arange(T)[None, :] < lengths[:, None]
    return (losses * mask).sum() / mask.sum()


def masked_where(losses, lengths):  # valid: where + loop-built mask, float lengths sum
    mask = torch.zeros(losses.shape, dtype=torch.bool)
    for n, L in enumerate(lengths.tolist()):
        mask[n, :L] = True
    return torch.where(mask, losses, torch.zeros_like(losses)).sum() / lengths.sum().to(losses.dtype)


def masked_select(losses, lengths):  # valid: concatenate the valid slices
    return torch.cat([losses[n, :L] for n, L in enumerate(lengths.tolist())]).mean()


def masked_all(losses, lengths):  # wrong: padding counted
    return losses.mean()


def masked_per_sequence(losses, lengths):  # wrong: mean of per-sequence means
    return torch.stack([losses[n, :L].mean() for n, L in enumerate(lengths.tolist())]).mean()


def masked_divide_by_N(losses, lengths):  # wrong: temporal_softmax_loss's normalisation
    mask = torch.arange(losses.shape[1])[None, :] < lengths[:, None]
    return (losses * mask).sum() / losses.shape[0]


def masked_off_by_one(losses, lengths):  # wrong: drops the last valid token
    mask = torch.arange(losses.shape[1])[None, :] < (lengths[:, None] - 1)
    return (losses * mask).sum() / lengths.sum()


def masked_item(losses, lengths):  # wrong: no gradient
    return torch.tensor(masked_ok(losses, lengths).item(), dtype=losses.dtype)


def masked_detach(losses, lengths):  # wrong: no gradient, tensor kept
    return masked_ok(losses.detach(), lengths)


def masked_inplace(losses, lengths):  # wrong: zeroes the caller's padding
    mask = torch.arange(losses.shape[1])[None, :] < lengths[:, None]
    losses.data[~mask] = 0
    return losses.sum() / mask.sum()


def masked_shape1(losses, lengths):  # wrong: (1,) not 0-dim
    return masked_ok(losses, lengths).reshape(1)


def masked_numpy(losses, lengths):  # wrong: a float
    return float(masked_ok(losses, lengths))


@pytest.mark.parametrize("fn", [masked_ok, masked_where, masked_select])
def test_masked_accepts(fn):
    checks.check_masked_mean_loss(fn)
    checks.check_masked_mean_loss(fn, lengths=(1,), seed=1, kind="rnn")
    checks.check_masked_mean_loss(fn, lengths=(3, 3), seed=2)
    checks.check_masked_mean_loss(fn, lengths=(2, 6, 1, 4), T=8, V=7, D=3, H=5, seed=3, kind="rnn")


@pytest.mark.parametrize(
    "fn,hint_id",
    [
        (masked_all, None),
        (masked_per_sequence, None),
        (masked_divide_by_N, None),
        (masked_off_by_one, None),
        (masked_item, "pytorch.loss_no_grad"),
        (masked_detach, "pytorch.loss_no_grad"),
        (masked_inplace, "pytorch.input_modified"),
        (masked_shape1, "pytorch.loss_not_a_scalar"),
        (masked_numpy, "pytorch.loss_not_a_tensor"),
    ],
)
def test_masked_rejects(fn, hint_id):
    rejects(checks.check_masked_mean_loss, fn, hint_id)


# ------------------------------------------------------------ last_hidden_state
def last_ok(outputs, lengths):
    return outputs[torch.arange(outputs.shape[0]), lengths - 1]


def last_gather(outputs, lengths):  # valid: gather
    idx = (lengths - 1).view(-1, 1, 1).expand(-1, 1, outputs.shape[2])
    return outputs.gather(1, idx).squeeze(1)


def last_loop(outputs, lengths):  # valid: loop and stack
    return torch.stack([outputs[n, int(L) - 1] for n, L in enumerate(lengths)])


def last_final_step(outputs, lengths):  # wrong: last column, padding or not
    return outputs[:, -1]


def last_off_by_one(outputs, lengths):  # wrong: one step past the end
    return outputs[torch.arange(outputs.shape[0]), torch.clamp(lengths, max=outputs.shape[1] - 1)]


def last_max_len(outputs, lengths):  # wrong: max length for everyone
    return outputs[:, int(lengths.max()) - 1]


def last_detached(outputs, lengths):  # wrong: no gradient
    return last_ok(outputs, lengths).detach()


def last_transposed(outputs, lengths):  # wrong: (H, N)
    return last_ok(outputs, lengths).T


def last_inplace(outputs, lengths):  # wrong: modifies outputs
    out = last_ok(outputs, lengths).clone()
    outputs.data.zero_()
    return out


def last_numpy(outputs, lengths):  # wrong: a NumPy array
    return last_ok(outputs, lengths).detach().numpy()


@pytest.mark.parametrize("fn", [last_ok, last_gather, last_loop])
def test_last_accepts(fn):
    checks.check_last_hidden_state(fn)
    checks.check_last_hidden_state(fn, packed=True)
    checks.check_last_hidden_state(fn, lengths=(1,), D=1, H=1, seed=1, kind="rnn")
    checks.check_last_hidden_state(fn, lengths=(5, 2, 5, 1), T=6, D=3, H=4, seed=2)


@pytest.mark.parametrize(
    "fn,hint_id",
    [
        (last_final_step, None),
        (last_off_by_one, None),
        (last_max_len, None),
        (last_detached, "pytorch.state_no_grad"),
        (last_transposed, None),
        (last_inplace, "pytorch.input_modified"),
        (last_numpy, "pytorch.state_not_a_tensor"),
    ],
)
def test_last_rejects(fn, hint_id):
    rejects(checks.check_last_hidden_state, fn, hint_id, T=5)


def test_last_rejects_final_step_when_packed():
    with pytest.raises(AssertionError):
        checks.check_last_hidden_state(last_final_step, packed=True)
