"""The checks of unit 10 (applications) accept correct models and loops (any style) and reject wrong ones.

The graded functions are PyTorch code; the wrong versions below are mistakes a
student could make, and each check must fail on them with an AssertionError.
Kept short (a few seconds): training checks run with few steps.
"""

import re

import numpy as np
import pytest
import torch
from torch import nn

from course.checks import applications as chk
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


torch.set_num_threads(1)


# ------------------------------------------------------------ bag of words
def bow_ok(ids, vocab_size):
    counts = np.zeros((len(ids), vocab_size))
    np.add.at(counts, (np.repeat(np.arange(len(ids)), ids.shape[1]), ids.ravel()), 1.0)
    counts[:, 0] = 0
    return counts


def bow_loop(ids, vocab_size):  # valid: loops, integer counts
    out = np.zeros((len(ids), vocab_size), dtype=np.int64)
    for n, row in enumerate(ids):
        for i in row:
            if i != 0:
                out[n, i] += 1
    return out


def bow_counts_padding(ids, vocab_size):
    counts = np.zeros((len(ids), vocab_size))
    np.add.at(counts, (np.repeat(np.arange(len(ids)), ids.shape[1]), ids.ravel()), 1.0)
    return counts


def bow_presence(ids, vocab_size):
    return (bow_ok(ids, vocab_size) > 0).astype(float)


def bow_drops_padding_column(ids, vocab_size):
    return bow_ok(ids, vocab_size)[:, 1:]


def bow_modifies(ids, vocab_size):
    ids[ids == 0] = 0  # writes into the input (same values: caught only as a write if values change)
    ids += 0
    ids[:, 0] = 0
    return bow_ok(ids, vocab_size)


def bow_torch(ids, vocab_size):
    return torch.nn.functional.one_hot(torch.as_tensor(ids), vocab_size).sum(1).numpy()


@pytest.mark.parametrize("fn", [bow_ok, bow_loop])
def test_bag_of_words_accepts(fn):
    chk.check_bag_of_words(fn)
    chk.check_bag_of_words(fn, N=1, T=1, V=2, seed=1)


@pytest.mark.parametrize(
    "fn,hint_id",
    [
        (bow_counts_padding, None),
        (bow_presence, None),
        (bow_drops_padding_column, "testing.wrong_shape"),
        (bow_modifies, "testing.modified_input"),
        (bow_torch, "testing.uses_torch"),
    ],
)
def test_bag_of_words_rejects(fn, hint_id):
    rejects(chk.check_bag_of_words, fn, hint_id)


# ------------------------------------------------------------ models
class _Model(nn.Module):
    def __init__(self, V, E, H, C, cell=nn.LSTM, read="last", padding_idx=0, batch_first=True, pool=None):
        super().__init__()
        self.embed = nn.Embedding(V, E, padding_idx=padding_idx)
        self.rnn = cell(E, H, batch_first=batch_first)
        self.out = nn.Linear(H, C)
        self.read, self.pool, self.batch_first = read, pool, batch_first

    def forward(self, x):
        e = self.embed(x)
        if self.pool == "mean":  # order-blind: the LSTM's input weights on the mean embedding
            return self.out(torch.tanh(e.mean(1) @ self.rnn.weight_ih_l0[: self.out.in_features].T))
        if not self.batch_first:
            h, state = self.rnn(e.transpose(0, 1))
            h = h.transpose(0, 1)
        else:
            h, state = self.rnn(e)
        if self.read == "h_n":
            return self.out(state[0][-1])
        return self.out(h[:, -1] if self.read == "last" else h[:, 0])


def build_ok(V, E=16, H=32, C=2):
    return _Model(V, E, H, C)


def build_h_n_time_major(V, E=16, H=32, C=2):  # valid: h_n, batch_first=False with transposes
    return _Model(V, E, H, C, read="h_n", batch_first=False)


def build_sequential_style(V, E=16, H=32, C=2):  # valid: a different module layout
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Embedding(V, E, padding_idx=0), nn.LSTM(E, H, batch_first=True)])
            self.head = nn.Sequential(nn.Linear(H, C))

        def forward(self, x):
            return self.head(self.layers[1](self.layers[0](x))[1][0][0])

    return Net()


def build_skips_padding(V, E=16, H=32, C=2):  # valid: each review's own words only, no left padding
    class Net(_Model):
        def forward(self, x):
            e = self.embed(x)
            starts = (x != 0).int().argmax(1).tolist()  # the first word of each row
            return torch.cat([self.out(self.rnn(e[n : n + 1, s:])[0][:, -1]) for n, s in enumerate(starts)])

    return Net(V, E, H, C)


def build_gru(V, E=16, H=32, C=2):
    return _Model(V, E, H, C, cell=nn.GRU)


def build_first_step(V, E=16, H=32, C=2):
    return _Model(V, E, H, C, read="first")


def build_no_padding_idx(V, E=16, H=32, C=2):
    return _Model(V, E, H, C, padding_idx=None)


def build_swapped_sizes(V, E=16, H=32, C=2):
    return _Model(V, H, E, C)


def build_mean_pool(V, E=16, H=32, C=2):
    return _Model(V, E, H, C, pool="mean")


def build_class(V, E=16, H=32, C=2):
    return _Model


def build_bidirectional(V, E=16, H=32, C=2):
    m = _Model(V, E, H // 2, C)
    m.rnn = nn.LSTM(E, H // 2, batch_first=True, bidirectional=True)
    m.out = nn.Linear(H, C)
    return m


def build_returns_state(V, E=16, H=32, C=2):  # wrong: (logits, h) instead of the logits
    class Net(_Model):
        def forward(self, x):
            h, _ = self.rnn(self.embed(x))
            return self.out(h[:, -1]), h

    return Net(V, E, H, C)


def build_every_step(V, E=16, H=32, C=2):  # wrong: logits (N, T, C) of every step
    class Net(_Model):
        def forward(self, x):
            return self.out(self.rnn(self.embed(x))[0])

    return Net(V, E, H, C)


def build_nan(V, E=16, H=32, C=2):  # wrong: logits of NaN (log of a negative number)
    class Net(_Model):
        def forward(self, x):
            return torch.log(-super().forward(x).abs() - 1)

    return Net(V, E, H, C)


def build_deaf(V, E=16, H=32, C=2):  # wrong: the LSTM's input weights are zero, so the words change nothing
    m = _Model(V, E, H, C)
    with torch.no_grad():
        m.rnn.weight_ih_l0.zero_()
    return m


def build_two_layers(V, E=16, H=32, C=2):
    m = _Model(V, E, H, C)
    m.rnn = nn.LSTM(E, H, batch_first=True, num_layers=2)
    return m


@pytest.mark.parametrize("fn", [build_ok, build_h_n_time_major, build_sequential_style, build_skips_padding])
def test_build_accepts(fn):
    chk.check_build_sentiment_model(fn)
    chk.check_build_sentiment_model(fn, V=2, E=1, H=1, C=2, seed=2)
    chk.check_sentiment_model_reads_in_order(fn)
    chk.check_sentiment_model_reads_in_order(fn, V=7, E=3, H=5, C=4, seed=1)


@pytest.mark.parametrize(
    "fn,hint_id",
    [
        (build_gru, "applications.parameter_count"),
        (build_swapped_sizes, "applications.parameter_count"),
        (build_class, "applications.not_a_module"),
        (build_two_layers, "applications.parameter_count"),
        (build_returns_state, "applications.logits_not_a_tensor"),
        (build_every_step, "applications.logits_shape"),
        (build_nan, "applications.logits_not_finite"),
    ],
)
def test_build_rejects_wrong_parameter_count(fn, hint_id):
    rejects(chk.check_build_sentiment_model, fn, hint_id, V=7, E=3, H=5, C=4)


@pytest.mark.parametrize(
    "fn,hint_id",
    [
        (build_first_step, "applications.not_the_last_word"),
        (build_no_padding_idx, "applications.embedding_sizes"),
        (build_mean_pool, "applications.not_the_last_word"),
        (build_bidirectional, "applications.lstm_sizes"),
        (build_gru, "applications.module_count"),
        (build_two_layers, "applications.lstm_sizes"),
        (build_deaf, "applications.ignores_order"),
    ],
)
def test_order_check_rejects(fn, hint_id):
    rejects(chk.check_sentiment_model_reads_in_order, fn, hint_id, V=7, E=3, H=4, C=4)


# ------------------------------------------------------------ training loops
def train_ok(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    x, y = data["x_train"], data["y_train"]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def train_epochs_numpy_rng(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    """Valid: shuffled epochs from a NumPy generator, tensors as losses, clipping."""
    x, y = data["x_train"], data["y_train"]
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses, order = [], []
    while len(losses) < steps:
        if len(order) < batch_size:
            order = list(rng.permutation(len(x)))
        idx, order = torch.tensor(order[:batch_size]), order[batch_size:]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.detach())
    return losses


def train_no_step(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    x, y = data["x_train"], data["y_train"]
    return [nn.functional.cross_entropy(model(x[:batch_size]), y[:batch_size]).item() for _ in range(steps)]


def train_unseeded(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    x, y = data["x_train"], data["y_train"]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,))  # global RNG: not reproducible
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def train_one_loss(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    return train_ok(model, data, steps, batch_size, lr, seed)[-1]


def train_modifies_data(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    data["y_train"][:5] = 1 - data["y_train"][:5]
    return train_ok(model, data, steps, batch_size, lr, seed)


def train_no_zero_grad(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    x, y = data["x_train"], data["y_train"]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()  # gradients pile up, and plain SGD at this lr barely moves
        opt.step()
        losses.append(loss.item())
    return losses


def train_tiny_lr(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    return train_ok(model, data, steps, batch_size, 1e-5, seed)


def train_nan_losses(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    return [float("nan")] * steps


def train_loss_names(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    return ["loss"] * steps


def train_variant(bug):
    """train_ok with one contract term broken (the audit's loop: each of these had full marks)."""

    def train(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
        x, y = data["x_train"], data["y_train"]
        gen = torch.Generator().manual_seed(0 if bug == "constant seed" else seed)
        betas = (0.5, 0.9) if bug == "other betas" else (0.9, 0.999)  # the contract says Adam: its default betas
        opt = torch.optim.Adam(model.parameters(), lr=1e-2 if bug == "lr ignored" else lr, betas=betas)
        losses = []
        for _ in range(steps):
            idx = torch.randint(0, len(x), (32 if bug == "batch size ignored" else batch_size,), generator=gen)
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx], reduction="sum" if bug == "sum" else "mean")
            if bug != "no zero_grad":
                opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    return train


def train_zero_grad_after_step(model, data, steps=300, batch_size=64, lr=1e-2, seed=0):
    """Valid: the gradients cleared after each step instead of before."""
    x, y = data["x_train"], data["y_train"]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.randperm(len(x), generator=gen)[:batch_size]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize(
    "bug,words,hint_id",
    [
        ("lr ignored", "`lr` was not used", "applications.lr_ignored"),
        ("no zero_grad", "the gradients pile up from step to step", "applications.no_zero_grad"),
        (
            "sum",
            "should be near ln 2 = 0.693 for two classes: use the cross-entropy of the logits, averaged",
            "applications.first_loss_not_ln2",
        ),
        ("constant seed", "seed=1 gave the very same losses", "applications.seed_ignored"),
        ("batch size ignored", "batch_size=8 gave the very same losses", "applications.batch_size_ignored"),
        ("other betas", "per step: zero_grad, cross_entropy (mean), backward, step", "applications.training_loop"),
    ],
)
def test_train_names_the_broken_contract_term(bug, words, hint_id):
    with pytest.raises(AssertionError, match=re.escape(words)) as e:
        chk.check_train_sentiment_model(train_variant(bug), steps=60)
    assert hint_id in identify(str(e.value)), str(e.value)


@pytest.mark.parametrize("fn", [train_ok, train_epochs_numpy_rng, train_zero_grad_after_step])
def test_train_accepts(fn):
    chk.check_train_sentiment_model(fn, steps=60)


@pytest.mark.parametrize(
    "fn,hint_id",
    [
        (train_no_step, "applications.parameters_unchanged"),
        (train_unseeded, "applications.not_reproducible"),
        (train_one_loss, "applications.losses_not_a_list"),
        (train_modifies_data, "applications.data_modified"),
        (train_tiny_lr, "applications.loss_not_down"),
        (train_no_zero_grad, "applications.loss_not_down"),
        (train_nan_losses, "applications.losses_not_finite"),
        (train_loss_names, "applications.losses_not_numbers"),
    ],
)
def test_train_rejects(fn, hint_id):
    rejects(chk.check_train_sentiment_model, fn, hint_id, steps=60)


def test_trained_model_beats_the_baseline():
    acc, base = chk.check_sentiment_beats_baseline(build_ok, train_ok, steps=150, n_train=1000, n_test=500)
    assert acc > 0.9 and base < 0.65


def test_an_order_blind_model_does_not_beat_the_baseline():
    with pytest.raises(AssertionError, match="bag-of-words baseline") as e:
        chk.check_sentiment_beats_baseline(build_mean_pool, train_ok, steps=150, n_train=1000, n_test=500)
    assert identify(str(e.value)) == ["applications.below_baseline"]


def test_parameter_formula_matches_torch():
    for V, E, H, C in [(29, 16, 32, 2), (2, 1, 1, 2), (7, 3, 5, 4)]:
        assert chk.expected_param_count(V, E, H, C) == sum(p.numel() for p in build_ok(V, E, H, C).parameters())
