"""Checks of unit 10 (applications): a sentiment classifier built and trained with PyTorch.

The graded functions of this unit are PyTorch code (the NumPy units already
taught the maths), so these checks call them directly instead of through
``call_student``'s torch ban, except ``bag_of_words`` which is NumPy.

References: torch's one-hot counts (for ``bag_of_words``); the parameter
count of the requested architecture by formula,
``V*E + 4*H*(E + H + 2) + H*C + C``; the student's own embedding, LSTM and
linear modules composed by the check (so the model must read the LSTM's
state after the last word); and, for training, a bag-of-words logistic
regression (scikit-learn) on the same reviews, which the trained model must
beat on held-out reviews by a stated margin.
"""

import copy
import warnings

import numpy as np

from course.checks.hints import hint
from course.datasets import synthetic
from course.interop import require_torch
from course.testing import assert_close, assert_shape, call_student

# Unit 10's checks compare with live torch: where it is missing (the student's course of units 1-8),
# importing them says so in one line, with the install command.
torch = require_torch("the exercise of unit 10")
nn = torch.nn

REVIEW_LENGTH = 12  # words per encoded review (left-padded with 0)

# ---------------------------------------------------------------- hints: the model
NOT_A_MODULE = hint("applications.not_a_module", "build_sentiment_model must return a torch.nn.Module, got {type}")
LOGITS_NOT_A_TENSOR = hint(
    "applications.logits_not_a_tensor", "{name}: model(x) must return a tensor of logits (N, C), got {type}"
)
LOGITS_SHAPE = hint(
    "applications.logits_shape",
    "{name}: model(x) for x of shape {x_shape} returned shape {shape}, expected (N, num_classes) = {expected}",
)
LOGITS_NOT_FINITE = hint("applications.logits_not_finite", "{name}: model(x) returned NaN or inf")
PARAMETER_COUNT = hint(
    "applications.parameter_count",
    "{name}({V}, {E}, {H}, {C}) has {count} parameters, expected {want} = embedding V*E ({embedding}) "
    "+ LSTM 4H(E+H) + 8H ({lstm}) + linear H*C + C ({linear}); check the layer sizes",
)
MODULE_COUNT = hint("applications.module_count", "{name}: the model should hold exactly one nn.{kind}, found {count}")
EMBEDDING_SIZES = hint(
    "applications.embedding_sizes",
    "{name}: the embedding should be nn.Embedding({V}, {E}, padding_idx=0), got "
    "nn.Embedding({num_embeddings}, {embedding_dim}, padding_idx={padding_idx})",
)
LSTM_SIZES = hint(
    "applications.lstm_sizes", "{name}: the LSTM should be nn.LSTM({E}, {H}) with one layer, one direction"
)
NOT_THE_LAST_WORD = hint(
    "applications.not_the_last_word",
    "{name}: model(x) should be the linear layer applied to the LSTM's hidden state after the LAST "
    "word (x is left-padded, so the last word is x[:, -1]; the LSTM may run over the padding or "
    "skip it); max difference {difference:.3g}",
)
IGNORES_ORDER = hint(
    "applications.ignores_order",
    "{name}: reversing the words does not change the output: the model ignores order",
)
# ---------------------------------------------------------------- hints: training
DATA_MODIFIED = hint("applications.data_modified", "{name} modified data[{key!r}]; leave the data untouched")
LOSSES_NOT_A_LIST = hint(
    "applications.losses_not_a_list", "{name} must return a list of {steps} losses (one per step), got {got}"
)
LOSSES_NOT_NUMBERS = hint(
    "applications.losses_not_numbers", "{name}: the losses must be numbers (use loss.item()): {error}"
)
LOSSES_NOT_FINITE = hint("applications.losses_not_finite", "{name}: some losses are NaN or inf")
PARAMETERS_UNCHANGED = hint(
    "applications.parameters_unchanged",
    "{name}: the model's parameters did not change; train it in place (optimizer.step())",
)
LOSS_NOT_DOWN = hint(
    "applications.loss_not_down",
    "{name}: the training loss did not go down (median of the first 10 steps {first:.3f}, "
    "of the last 10 {last:.3f}); check the optimiser, lr and zero_grad",
)
FIRST_LOSS_NOT_LN2 = hint(
    "applications.first_loss_not_ln2",
    "{name}: the first losses ({first:.3f}) should be near ln 2 = 0.693 for two classes: "
    "use the cross-entropy of the logits, averaged over the batch (nn.functional.cross_entropy)",
)
NOT_REPRODUCIBLE = hint(
    "applications.not_reproducible",
    "{name}: two runs with the same seed gave different losses; draw the batches "
    "with a generator seeded by `seed` (e.g. torch.Generator().manual_seed(seed))",
)
SEED_IGNORED = hint(
    "applications.seed_ignored", "draw the batches with a generator seeded by `seed`, not by a constant"
)
BATCH_SIZE_IGNORED = hint("applications.batch_size_ignored", "draw `batch_size` rows per step")
LR_IGNORED = hint(
    "applications.lr_ignored",
    "`lr` was not used (these are the losses of lr=1e-2): Adam(model.parameters(), lr=lr)",
)
NO_ZERO_GRAD = hint(
    "applications.no_zero_grad",
    "the gradients pile up from step to step: call optimizer.zero_grad() before each backward()",
)
TRAINING_LOOP = hint(
    "applications.training_loop",
    "Adam(model.parameters(), lr=lr); per step: zero_grad, cross_entropy (mean), backward, step",
)
BELOW_BASELINE = hint(
    "applications.below_baseline",
    "train_sentiment_model: after {steps} steps the model's held-out accuracy is {accuracy:.1%}; it should "
    "reach {need:.1%} (the bag-of-words baseline gets {base:.1%}, the margin is {margin:.0%})",
)


def _reviews(n, seed):
    """ids (n, 12) int64 tensor (left-padded), labels (n,) int64 tensor, kinds (n,)."""
    texts, y, kind = synthetic.sentiment_reviews(n, rng=seed)
    ids = synthetic.encode_reviews(texts, synthetic.sentiment_vocab(), length=REVIEW_LENGTH)
    return torch.from_numpy(ids), torch.from_numpy(y), kind


# ---------------------------------------------------------------- bag of words
def _torch_counts(ids, V):
    counts = nn.functional.one_hot(torch.as_tensor(ids), V).sum(1).double()
    counts[:, 0] = 0.0  # padding is not a word
    return counts.numpy()


def check_bag_of_words(bag_of_words, N=5, T=7, V=9, seed=0):
    """counts (N, V) of each id per row, column 0 (padding) all zeros, against torch one-hot sums."""
    name = "bag_of_words"
    # hand-worked: [0 0 3 1 3] -> one 1, two 3s; [2 2 2 2 2] -> five 2s
    ids = np.array([[0, 0, 3, 1, 3], [2, 2, 2, 2, 2]])
    got = call_student(bag_of_words, ids, 4)
    assert_close(
        name,
        "counts (hand-worked case [[0,0,3,1,3],[2,2,2,2,2]], V=4)",
        got,
        [[0, 1, 0, 2], [0, 0, 5, 0]],
        1e-12,
        "the hand-worked counts (padding id 0 is not counted)",
    )
    ids = np.random.default_rng(seed).integers(0, V, size=(N, T))
    got = call_student(bag_of_words, ids, V)
    assert_shape(name, "counts", got, (N, V))
    assert_close(name, "counts", got, _torch_counts(ids, V), 1e-12, "one-hot counts (torch)")


# ---------------------------------------------------------------- the model
def expected_param_count(V, E, H, C):
    """Embedding V*E + LSTM 4H(E + H) + 8H (torch's two biases) + Linear H*C + C."""
    return V * E + 4 * H * (E + H + 2) + H * C + C


def _build(build_sentiment_model, V, E, H, C, seed):
    torch.manual_seed(seed)
    model = build_sentiment_model(V, E, H, C)
    if not isinstance(model, nn.Module):
        raise AssertionError(NOT_A_MODULE.format(type=type(model).__name__))  # noqa: TRY004
    return model


def _logits(name, model, x, N, C):
    with torch.no_grad():
        out = model(x)
    if not isinstance(out, torch.Tensor):
        raise AssertionError(LOGITS_NOT_A_TENSOR.format(name=name, type=type(out).__name__))  # noqa: TRY004
    if tuple(out.shape) != (N, C):
        raise AssertionError(
            LOGITS_SHAPE.format(name=name, x_shape=tuple(x.shape), shape=tuple(out.shape), expected=(N, C))
        )
    if not torch.isfinite(out).all():
        raise AssertionError(LOGITS_NOT_FINITE.format(name=name))
    return out


def check_build_sentiment_model(build_sentiment_model, V=29, E=16, H=32, C=2, seed=0):
    """The model's parameter count (formula) and its output shape (N, C) on several (N, T)."""
    name = "build_sentiment_model"
    model = _build(build_sentiment_model, V, E, H, C, seed)
    count = sum(p.numel() for p in model.parameters())
    want = expected_param_count(V, E, H, C)
    if count != want:
        sizes = dict(V=V, E=E, H=H, C=C, embedding=V * E, lstm=4 * H * (E + H + 2), linear=H * C + C)
        raise AssertionError(PARAMETER_COUNT.format(name=name, count=count, want=want, **sizes))
    rng = np.random.default_rng(seed)
    for N, T in [(5, 7), (1, 1), (3, REVIEW_LENGTH)]:
        x = torch.from_numpy(rng.integers(1, V, size=(N, T)))
        _logits(name, model, x, N, C)


def _one(name, model, kind):
    found = [m for m in model.modules() if isinstance(m, kind)]
    if len(found) != 1:
        raise AssertionError(MODULE_COUNT.format(name=name, kind=kind.__name__, count=len(found)))
    return found[0]


def _last_state(lstm, e):
    """The hidden state of ``lstm`` after the last step of ``e (N, T, E)`` (batch first), (N, H)."""
    h, _ = lstm(e if lstm.batch_first else e.transpose(0, 1))
    return h[:, -1] if lstm.batch_first else h[-1]


def check_sentiment_model_reads_in_order(build_sentiment_model, V=29, E=16, H=32, C=2, seed=0):
    """model(x) == Linear(LSTM(Embedding(x)) at the last step), with the student's own modules;
    and, as a consequence, reversing the words changes the output (a bag of words would not)."""
    name = "build_sentiment_model"
    model = _build(build_sentiment_model, V, E, H, C, seed)
    emb, lstm, lin = _one(name, model, nn.Embedding), _one(name, model, nn.LSTM), _one(name, model, nn.Linear)
    if (emb.num_embeddings, emb.embedding_dim) != (V, E) or emb.padding_idx != 0:
        got = dict(num_embeddings=emb.num_embeddings, embedding_dim=emb.embedding_dim, padding_idx=emb.padding_idx)
        raise AssertionError(EMBEDDING_SIZES.format(name=name, V=V, E=E, **got))
    if (lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bidirectional) != (E, H, 1, False):
        raise AssertionError(LSTM_SIZES.format(name=name, E=E, H=H))
    rng = np.random.default_rng(seed + 1)
    N, T = 6, 9
    x = torch.from_numpy(rng.integers(1, V, size=(N, T)))
    x[:2, :3] = 0  # left padding on two rows
    out = _logits(name, model, x, N, C)
    with torch.no_grad():
        e = emb(x)
        ref = lin(_last_state(lstm, e))
        # the other reading of "after the last word": the left padding skipped (packed sequences)
        starts = (x != 0).int().argmax(1).tolist()
        skipped = torch.cat([lin(_last_state(lstm, e[n : n + 1, s:])) for n, s in enumerate(starts)])
    if not any(torch.allclose(out, r, rtol=1e-4, atol=1e-5) for r in (ref, skipped)):
        raise AssertionError(NOT_THE_LAST_WORD.format(name=name, difference=(out - ref).abs().max().item()))
    flipped = _logits(name, model, x.flip(1), N, C)
    if torch.allclose(out, flipped, atol=1e-7):
        raise AssertionError(IGNORES_ORDER.format(name=name))


# ---------------------------------------------------------------- training
def _probe_model(V, C=2):
    """A small fast model that is not the student's (mean of word embeddings -> linear), to check
    that the training function works with any classifier. It learns the `plain` reviews quickly.

    Built from torch.nn layers only (EmbeddingBag's mean leaves out padding id 0), so that it can
    be handed to a training function that runs in another process as its layers and weights."""
    return nn.Sequential(nn.EmbeddingBag(V, 8, mode="mean", padding_idx=0), nn.Linear(8, C))


def _train(train_sentiment_model, model, data, **kw):
    name = "train_sentiment_model"
    before = {k: v.clone() for k, v in data.items()}
    with warnings.catch_warnings():  # noise (float() of a tensor that requires grad) is not a mistake
        warnings.simplefilter("ignore")
        losses = train_sentiment_model(model, data, **kw)
    for k, v in data.items():
        if not torch.equal(v, before[k]):
            raise AssertionError(DATA_MODIFIED.format(name=name, key=k))
    if not isinstance(losses, (list, tuple)) or len(losses) != kw["steps"]:
        kind = type(losses).__name__
        got = f"{kind} of length {len(losses)}" if hasattr(losses, "__len__") else kind
        raise AssertionError(LOSSES_NOT_A_LIST.format(name=name, steps=kw["steps"], got=got))
    try:
        losses = np.array([float(v) for v in losses])
    except (TypeError, ValueError) as err:
        raise AssertionError(LOSSES_NOT_NUMBERS.format(name=name, error=err)) from None
    if not np.all(np.isfinite(losses)):
        raise AssertionError(LOSSES_NOT_FINITE.format(name=name))
    return losses


def check_train_sentiment_model(train_sentiment_model, steps=60, seed=0):
    """Trains a probe model (not the student's) on `plain` reviews: returns one loss per step, the loss
    goes down, parameters change, the data stay as they were, the same seed gives the same run and
    another seed or batch size another; then the losses step by step where they are known
    (:func:`_check_training_steps`: lr, zero_grad and the mean cross-entropy)."""
    name = "train_sentiment_model"
    x, y, kind = _reviews(2000, seed)
    plain = torch.from_numpy(kind == "plain")
    x, y = x[plain], y[plain]
    V = len(synthetic.sentiment_vocab())
    data = {"x_train": x, "y_train": y}
    torch.manual_seed(seed)
    probe = _probe_model(V)
    start = copy.deepcopy(probe)
    kw = {"steps": steps, "batch_size": 32, "lr": 1e-2, "seed": seed}
    losses = _train(train_sentiment_model, probe, data, **kw)
    if all(torch.equal(a, b) for a, b in zip(probe.parameters(), start.parameters())):
        raise AssertionError(PARAMETERS_UNCHANGED.format(name=name))
    first, last = np.median(losses[:10]), np.median(losses[-10:])
    if not last < 0.85 * first:
        raise AssertionError(LOSS_NOT_DOWN.format(name=name, first=first, last=last))
    if abs(first - np.log(2)) > 0.3:
        raise AssertionError(FIRST_LOSS_NOT_LN2.format(name=name, first=first))
    again = _train(train_sentiment_model, copy.deepcopy(start), data, **kw)
    if not np.allclose(losses, again, rtol=1e-4, atol=1e-6):
        raise AssertionError(NOT_REPRODUCIBLE.format(name=name))
    for changed, fix in [({"seed": seed + 1}, SEED_IGNORED), ({"batch_size": 8}, BATCH_SIZE_IGNORED)]:
        other = _train(train_sentiment_model, copy.deepcopy(start), data, **{**kw, **changed})
        if np.allclose(losses, other, rtol=1e-6, atol=1e-9):
            setting = ", ".join(f"{k}={v}" for k, v in changed.items())
            raise AssertionError(f"{name}: {setting} gave the very same losses as {kw}; {fix}")
    _check_training_steps(train_sentiment_model, V, seed)


def _adam_on_one_review(model, x1, y1, steps, lr, zero_grad=True, batch=8):
    """The losses of the contract's loop where every batch is ``batch`` copies of review ``x1 (1, T)``:
    Adam(lr), each step's gradient alone (zero_grad), cross-entropy (mean), one loss per step."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xb, yb = x1.repeat(batch, 1), y1.repeat(batch)
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(xb), yb)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def _check_training_steps(train_sentiment_model, V, seed, steps=20, lr=3e-2, batch_size=8):
    """Every row of the training set is the same review: then every batch is the same whatever rows
    a loop draws, and the losses of any correct loop are those of :func:`_adam_on_one_review`, step
    by step. (The probe's weights are small, so its gradient norm stays below 1: clipping at 1,
    which the contract neither asks for nor forbids, changes nothing.)"""
    name = "train_sentiment_model"
    x, y, _ = _reviews(1, seed)
    data = {"x_train": x.repeat(40, 1), "y_train": y.repeat(40)}
    torch.manual_seed(seed)
    probe = _probe_model(V)
    with torch.no_grad():
        probe[0].weight.mul_(0.1)
        probe[1].weight.mul_(0.5)
    kw = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed}
    losses = _train(train_sentiment_model, copy.deepcopy(probe), data, **kw)
    ref = _adam_on_one_review(copy.deepcopy(probe), x, y, steps, lr, batch=batch_size)
    if np.allclose(losses, ref, rtol=1e-4, atol=1e-6):
        return
    variants = [(LR_IGNORED, dict(lr=1e-2)), (NO_ZERO_GRAD, dict(zero_grad=False))]
    explanation = TRAINING_LOOP
    for text, change in variants:
        if np.allclose(
            losses,
            _adam_on_one_review(copy.deepcopy(probe), x, y, steps, batch=batch_size, **{"lr": lr, **change}),
            rtol=1e-4,
            atol=1e-6,
        ):
            explanation = text
            break
    worst = int(np.argmax(np.abs(losses - ref)))
    raise AssertionError(  # not a hint: the verdict; the hint that follows it names the mistake
        f"{name}: on a training set whose {len(data['y_train'])} rows are all one review, every batch is "
        f"the same, so the losses are known step by step ({kw}); step {worst} gave {losses[worst]:.6f}, "
        f"expected {ref[worst]:.6f}\n  hint: {explanation}"
    )


def bag_of_words_accuracy(x_train, y_train, x_test, y_test):
    """Held-out accuracy of a logistic regression on word counts (scikit-learn): the order-blind baseline."""
    from sklearn.linear_model import LogisticRegression

    V = len(synthetic.sentiment_vocab())
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(_torch_counts(x_train, V), y_train.numpy())
    return float((clf.predict(_torch_counts(x_test, V)) == y_test.numpy()).mean())


def check_sentiment_beats_baseline(
    build_sentiment_model, train_sentiment_model, steps=200, seed=0, margin=0.25, n_train=2000, n_test=1000
):
    """The student's model, trained by the student's loop for ``steps`` steps (batch 64, lr 1e-2),
    reaches a held-out accuracy at least ``margin`` above the bag-of-words baseline and at least 0.85."""
    x, y, _ = _reviews(n_train + n_test, seed)
    xtr, ytr, xte, yte = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    base = bag_of_words_accuracy(xtr, ytr, xte, yte)
    model = _build(build_sentiment_model, len(synthetic.sentiment_vocab()), 16, 32, 2, seed)
    _train(
        train_sentiment_model, model, {"x_train": xtr, "y_train": ytr}, steps=steps, batch_size=64, lr=1e-2, seed=seed
    )
    with torch.no_grad():
        acc = (model.eval()(xte).argmax(-1) == yte).float().mean().item()
    need = max(0.85, base + margin)
    if acc < need:
        raise AssertionError(BELOW_BASELINE.format(steps=steps, accuracy=acc, need=need, base=base, margin=margin))
    return acc, base
