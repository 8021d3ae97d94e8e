"""Unit 10: the full runs behind the applications lecture (every task shape, offline data).

Seven applications, each with an order-blind (or naive) baseline and a
recurrent model, trained for a fixed number of optimisation steps (budgets in
steps, not seconds, so results do not depend on machine load) over several
seeds:

1. many-to-one, sentiment: bag-of-words logistic regression vs a GRU;
2. many-to-many aligned, tagging: unidirectional vs bidirectional LSTM;
3. one-to-many, melody generation: unigram/bigram vs an LSTM language model;
4. seq2seq, human dates -> ISO dates: bag-of-characters encoder vs GRU
   encoder-decoder vs the same with attention;
5. forecasting, yearly sunspots: persistence, seasonal naive, AR(9) vs an LSTM;
6. activity recognition, (200, 3) windows -> 12 classes: RNN vs LSTM vs GRU;
7. speech-like commands, spectrograms: mean-of-frames vs GRU vs bidirectional GRU.

It writes ``experiments/results/applications.json`` (a few tens of KB): the
settings and, per application, each model's metric per seed, plus small
things the lecture draws (confusion matrices, an attention map, forecasts,
generated melodies). Run from the repository root (most of the time goes to
the activity-recognition models on 200-step windows: 10-590 s per model and
seed, depending on the machine's load; ``--quick`` for a smoke test of a few
minutes; ``--add-seeds`` appends seeds to the saved runs of one application):

    python experiments/applications.py [--only sentiment,tagging,...] [--seeds N]
    python experiments/applications.py --only har --add-seeds 2 3

The lecture ``lectures/10_applications.ipynb`` runs short versions of the same
models live and shows these results next to them.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _runs import clipped_step, n_parameters
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course.datasets import synthetic

RESULTS = Path(__file__).resolve().parent / "results"
torch.set_num_threads(1)


# =========================================================================== shared helpers
def train(model, batch_fn, loss_fn, steps, lr=3e-3, clip=1.0, seed=0):
    """Adam with gradient clipping for ``steps`` steps; returns the list of training losses.

    batch_fn(rng) -> a batch (tuple); loss_fn(model, batch) -> scalar loss tensor.
    """
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        loss = loss_fn(model, batch_fn(rng))
        clipped_step(model, opt, loss, clip)
        losses.append(loss.item())
    model.eval()
    return losses


def sample_rows(*arrays, batch_size=64):
    """A batch_fn drawing ``batch_size`` random rows of each (torch) array."""
    n = len(arrays[0])

    def batch(rng):
        idx = torch.from_numpy(rng.integers(0, n, batch_size))  # the same rows of every array
        return tuple(a[idx] for a in arrays)

    return batch


def ce_loss(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(-1) == y).float().mean().item()


def confusion(y_true, y_pred, k):
    m = np.zeros((k, k), dtype=int)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m.tolist()


class LastStepClassifier(nn.Module):
    """(N, T) token ids or (N, T, D) features -> a recurrent layer -> logits (N, C) from the last step.

    ``cell`` is nn.RNN, nn.LSTM or nn.GRU; for tokens an embedding comes first.
    Bidirectional: the forward direction's last state and the backward direction's
    state at t = 0 (both have read the whole sequence), i.e. torch's h_n.
    """

    def __init__(self, cell, input_size, hidden_size, num_classes, vocab_size=None, num_layers=1, bidirectional=False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, input_size, padding_idx=0) if vocab_size else None
        self.rnn = cell(input_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional)
        if cell is nn.LSTM:  # forget-gate bias +1: gradients survive longer (unit 6)
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    p.data[hidden_size : 2 * hidden_size] += 1.0
        self.out = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x):
        if self.embed is not None:
            x = self.embed(x)
        _, h_n = self.rnn(x)
        if isinstance(h_n, tuple):  # LSTM: (h_n, c_n)
            h_n = h_n[0]
        last = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.rnn.bidirectional else h_n[-1]
        return self.out(last)


# =========================================================================== 1. sentiment
def bag_of_words(ids, vocab_size):
    """Word counts of left-padded ids (N, T) -> (N, V), the padding column dropped."""
    counts = np.zeros((len(ids), vocab_size))
    np.add.at(counts, (np.repeat(np.arange(len(ids)), ids.shape[1]), ids.ravel()), 1)
    return counts[:, 1:]


def run_sentiment(seed, steps):
    from sklearn.linear_model import LogisticRegression

    vocab = synthetic.sentiment_vocab()
    texts, y, kind = synthetic.sentiment_reviews(6000, rng=seed)
    ids = synthetic.encode_reviews(texts, vocab, length=12)
    tr, te = slice(0, 4000), slice(4000, None)
    bow = LogisticRegression(C=10.0, max_iter=2000).fit(bag_of_words(ids[tr], len(vocab)), y[tr])
    pred_bow = bow.predict(bag_of_words(ids[te], len(vocab)))
    torch.manual_seed(seed)
    model = LastStepClassifier(nn.GRU, 16, 32, 2, vocab_size=len(vocab))
    x, yt = torch.from_numpy(ids), torch.from_numpy(y)
    losses = train(model, sample_rows(x[tr], yt[tr]), ce_loss, steps, lr=1e-2, seed=seed)
    with torch.no_grad():
        pred_rnn = model(x[te]).argmax(-1).numpy()
    res = {"bag of words": pred_bow, "GRU": pred_rnn}
    out = {
        name: {
            "accuracy": float((p == y[te]).mean()),
            **{f"accuracy {k}": float((p == y[te])[kind[te] == k].mean()) for k in synthetic.REVIEW_KINDS},
            "confusion": confusion(y[te], p, 2),
        }
        for name, p in res.items()
    }
    out["final loss"] = float(np.mean(losses[-20:]))
    return out


# =========================================================================== 2. tagging
class Tagger(nn.Module):
    """Token ids (N, T), right-padded with 0, and lengths (N,) -> tag logits (N, T, K)."""

    def __init__(self, vocab_size, num_tags, embed=32, hidden=64, bidirectional=False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        # same width either way: a bidirectional layer has hidden/2 units per direction
        h = hidden // 2 if bidirectional else hidden
        self.rnn = nn.LSTM(embed, h, batch_first=True, bidirectional=bidirectional)
        self.out = nn.Linear(hidden, num_tags)

    def forward(self, x, lengths):
        # packing makes the backward direction start at each sentence's real last word
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        return self.out(h)


def tagging_data(n, seed, words=None):
    """Padded word ids (n, T), tag ids (n, T) with -100 on padding, lengths (n,), and the word list."""
    tokens, tags = synthetic.tagging_sentences(n, rng=seed)
    if words is None:
        words = ["<pad>", "<unk>"] + sorted({w for s in tokens for w in s})
    index = {w: i for i, w in enumerate(words)}
    tag_index = {t: i for i, t in enumerate(synthetic.TAGS)}
    T = max(len(s) for s in tokens)
    x = torch.zeros(n, T, dtype=torch.long)
    y = torch.full((n, T), -100, dtype=torch.long)
    for i, (s, t) in enumerate(zip(tokens, tags)):
        x[i, : len(s)] = torch.tensor([index.get(w, 1) for w in s])
        y[i, : len(s)] = torch.tensor([tag_index[g] for g in t])
    return x, y, torch.tensor([len(s) for s in tokens]), words, tags


def tag_loss(model, batch):
    x, y, lengths = batch
    return nn.functional.cross_entropy(model(x, lengths).flatten(0, 1), y.flatten(), ignore_index=-100)


def predict_tags(model, x, lengths):
    with torch.no_grad():
        pred = model(x, lengths).argmax(-1).numpy()
    return [[synthetic.TAGS[k] for k in row[:n]] for row, n in zip(pred, lengths.tolist())]


def run_tagging(seed, steps):
    x, y, lengths, words, _ = tagging_data(3000, seed)
    xt, _, lt, _, tags_t = tagging_data(1000, seed + 1000, words)
    out = {}
    for name, bi in [("LSTM", False), ("BiLSTM", True)]:
        torch.manual_seed(seed)
        model = Tagger(len(words), len(synthetic.TAGS), bidirectional=bi)
        train(model, sample_rows(x, y, lengths), tag_loss, steps, lr=1e-2, seed=seed)
        out[name] = synthetic.entity_f1(tags_t, predict_tags(model, xt, lt))
    return out


# =========================================================================== 3. melodies
class NoteLM(nn.Module):
    """Notes (N, T) -> logits (N, T, P) for the next note at every step; ``state`` for sampling."""

    def __init__(self, num_pitches, embed=16, hidden=64):
        super().__init__()
        self.embed = nn.Embedding(num_pitches, embed)
        self.rnn = nn.LSTM(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, num_pitches)

    def forward(self, x, state=None):
        h, state = self.rnn(self.embed(x), state)
        return self.out(h), state


def lm_loss(model, batch):
    (x,) = batch
    logits, _ = model(x[:, :-1])
    return nn.functional.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())


def sample_melody(model, seed_notes, length, temperature=1.0, top_k=None, generator=None):
    """Continue ``seed_notes`` (1-D) to ``length`` notes, sampling softmax(logits / temperature),
    restricted to the ``top_k`` most likely notes when given. Returns (length,) int64."""
    notes = list(seed_notes)
    with torch.no_grad():
        logits, state = model(torch.tensor([notes]))
        while len(notes) < length:
            z = logits[0, -1] / temperature
            if top_k is not None:
                z = torch.where(z >= torch.topk(z, top_k).values[-1], z, torch.tensor(-float("inf")))
            nxt = torch.multinomial(torch.softmax(z, -1), 1, generator=generator).item()
            notes.append(nxt)
            logits, state = model(torch.tensor([[nxt]]), state)
    return np.array(notes)


def valid_transitions(generated, train_notes):
    """Fraction of consecutive note pairs of ``generated`` (M, L) that occur in the training melodies."""
    seen = set(zip(train_notes[:, :-1].ravel().tolist(), train_notes[:, 1:].ravel().tolist()))
    pairs = list(zip(generated[:, :-1].ravel().tolist(), generated[:, 1:].ravel().tolist()))
    return float(np.mean([p in seen for p in pairs]))


def run_melody(seed, steps):
    P = synthetic.N_PITCHES
    notes = synthetic.melodies(2500, rng=seed)
    tr, te = notes[:2000], notes[2000:]
    # n-gram baselines (add-one smoothing), bits per note on the held-out melodies' next notes
    uni = np.bincount(tr[:, 1:].ravel(), minlength=P) + 1.0
    uni /= uni.sum()
    big = np.ones((P, P))
    np.add.at(big, (tr[:, :-1].ravel(), tr[:, 1:].ravel()), 1)
    big /= big.sum(1, keepdims=True)
    out = {
        "unigram": {"bits per note": float(-np.log2(uni[te[:, 1:]]).mean())},
        "bigram": {
            "bits per note": float(-np.log2(big[te[:, :-1], te[:, 1:]]).mean()),
            "next-note accuracy": float((big[te[:, :-1]].argmax(-1) == te[:, 1:]).mean()),
        },
    }
    torch.manual_seed(seed)
    model = NoteLM(P)
    train(model, sample_rows(torch.from_numpy(tr)), lm_loss, steps, lr=1e-2, seed=seed)
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(te[:, :-1]))
        ce = nn.functional.cross_entropy(logits.flatten(0, 1), torch.from_numpy(te[:, 1:]).flatten()).item()
        acc = (logits.argmax(-1).numpy() == te[:, 1:]).mean()
    out["LSTM"] = {"bits per note": ce / np.log(2), "next-note accuracy": float(acc)}
    gen = torch.Generator().manual_seed(seed)
    samples = {}
    for name, temp, k in [("T=0.5", 0.5, None), ("T=1", 1.0, None), ("T=2", 2.0, None), ("T=1, top-3", 1.0, 3)]:
        g = np.stack([sample_melody(model, te[i, :8], 32, temp, k, gen) for i in range(20)])
        samples[name] = {"valid transitions": valid_transitions(g[:, 7:], tr), "example": g[0].tolist()}
    rnd = np.random.default_rng(seed).integers(0, P, size=(20, 25))
    samples["uniform random"] = {"valid transitions": valid_transitions(rnd, tr), "example": rnd[0].tolist()}
    out["samples"] = samples
    return out


# =========================================================================== 4. dates (seq2seq)
DATE_IN = ["<pad>"] + sorted(set("abcdefghijklmnopqrstuvwxyz0123456789 ,."))
DATE_OUT = ["<start>"] + list("0123456789-")


def encode_dates(human, iso):
    """Human dates -> ids (N, S) right-padded with 0, lengths (N,); ISO dates -> ids (N, 10)."""
    S = max(len(h) for h in human)
    x = torch.zeros(len(human), S, dtype=torch.long)
    for i, h in enumerate(human):
        x[i, : len(h)] = torch.tensor([DATE_IN.index(c) for c in h])
    y = torch.tensor([[DATE_OUT.index(c) for c in s] for s in iso])
    return x, torch.tensor([len(h) for h in human]), y


class DateTranslator(nn.Module):
    """Encoder-decoder GRU: source ids (N, S) + lengths -> logits (N, 10, 12) of the ISO characters.

    ``encoder``: "gru" (read the characters in order) or "bag" (mean of the
    character embeddings: an order-blind encoder). ``attention``: the decoder
    also reads a softmax-weighted mix of the encoder states at every step
    (dot-product attention, Luong et al. 2015); ``self.last_attention``
    keeps the weights (N, 10, S) of the last call.
    """

    def __init__(self, hidden=64, embed=32, encoder="gru", attention=False):
        super().__init__()
        self.src_embed = nn.Embedding(len(DATE_IN), embed, padding_idx=0)
        self.encoder_kind, self.attention = encoder, attention
        self.encoder = nn.GRU(embed, hidden, batch_first=True) if encoder == "gru" else nn.Linear(embed, hidden)
        self.tgt_embed = nn.Embedding(len(DATE_OUT), embed)
        self.decoder = nn.GRU(embed + (hidden if attention else 0), hidden, batch_first=True)
        self.out = nn.Linear(hidden * (2 if attention else 1), len(DATE_OUT))

    def encode(self, x, lengths):
        e = self.src_embed(x)
        mask = x != 0
        if self.encoder_kind == "bag":
            h0 = torch.tanh(self.encoder((e * mask[..., None]).sum(1) / lengths[:, None]))
            return h0[:, None].expand(-1, x.shape[1], -1), h0, mask
        packed = pack_padded_sequence(e, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = self.encoder(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out, h_n[0], mask

    def step(self, y_prev, state, enc, mask, context):
        """One decoder step: previous character ids (N,) -> logits (N, 12), new state, context."""
        inp = self.tgt_embed(y_prev)[:, None]
        if self.attention:
            inp = torch.cat([inp, context[:, None]], -1)
        h, state = self.decoder(inp, state)
        h = h[:, 0]
        weights = None
        if self.attention:
            scores = torch.einsum("nh,nsh->ns", h, enc).masked_fill(~mask, -1e9)
            weights = torch.softmax(scores, -1)
            context = torch.einsum("ns,nsh->nh", weights, enc)
            h = torch.cat([h, context], -1)
        return self.out(h), state, context, weights

    def forward(self, x, lengths, y=None):
        """Teacher forcing when the targets ``y`` (N, 10) are given, greedy decoding otherwise."""
        enc, h, mask = self.encode(x, lengths)
        state, context = h[None].contiguous(), torch.zeros_like(h)
        y_prev = torch.zeros(len(x), dtype=torch.long)  # <start>
        logits, attn = [], []
        for t in range(10):
            z, state, context, w = self.step(y_prev, state, enc, mask, context)
            logits.append(z)
            attn.append(w)
            y_prev = y[:, t] if y is not None else z.argmax(-1)
        if self.attention:
            self.last_attention = torch.stack(attn, 1).detach()
        return torch.stack(logits, 1)


def seq2seq_loss(model, batch):
    x, lengths, y = batch
    return nn.functional.cross_entropy(model(x, lengths, y).flatten(0, 1), y.flatten())


def date_metrics(model, x, lengths, y):
    with torch.no_grad():
        pred = model(x, lengths).argmax(-1)
    return {
        "exact match": (pred == y).all(1).float().mean().item(),
        "character accuracy": (pred == y).float().mean().item(),
    }


def run_dates(seed, steps):
    x, lengths, y = encode_dates(*synthetic.date_pairs(10000, rng=seed))
    xt, lt, yt = encode_dates(*synthetic.date_pairs(1000, rng=seed + 1000))
    out = {}
    for name, enc, att in [
        ("bag of characters", "bag", False),
        ("GRU encoder-decoder", "gru", False),
        ("GRU + attention", "gru", True),
    ]:
        torch.manual_seed(seed)
        model = DateTranslator(encoder=enc, attention=att)
        train(model, sample_rows(x, lengths, y), seq2seq_loss, steps, lr=3e-3, seed=seed)
        out[name] = date_metrics(model, xt, lt, yt)
        if att:
            human, iso = synthetic.date_pairs(1, rng=12345)
            xa, la, _ = encode_dates(human, iso)
            model(xa, la)
            out["attention example"] = {
                "human": human[0],
                "weights": np.round(model.last_attention[0].numpy(), 3).tolist(),
            }
    return out


# =========================================================================== 5. sunspots
def ar_fit(series, p):
    """Least-squares AR(p) with intercept: coefficients (p + 1,) for [1, x_{t-p}, ..., x_{t-1}]."""
    X = np.stack([series[i : len(series) - p + i] for i in range(p)], 1)
    X = np.hstack([np.ones((len(X), 1)), X])
    return np.linalg.lstsq(X, series[p:], rcond=None)[0]


def forecast_paths(predict_next, series, start, horizon, window):
    """Recursive forecasts: for each origin t >= start, predict series[t..t+horizon-1] from series[:t].

    predict_next(histories (M, window)) -> (M,) next values. Returns (origins, horizon) forecasts.
    """
    origins = np.arange(start, len(series) - horizon + 1)
    hist = np.stack([series[t - window : t] for t in origins])
    preds = []
    for _ in range(horizon):
        nxt = predict_next(hist)
        preds.append(nxt)
        hist = np.hstack([hist[:, 1:], nxt[:, None]])
    return np.stack(preds, 1)


class Forecaster(nn.Module):
    """Histories (N, W) (scaled) -> next value (N,): an LSTM reads the window, a linear layer reads its last state."""

    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.LSTM(1, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        h, _ = self.rnn(x[..., None])
        return self.out(h[:, -1])[:, 0]


def mse_loss(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


SUNSPOT_SPLIT, WINDOW, HORIZON = 221, 20, 10  # train 1700-1920, test 1921-2008


def run_sunspots(seed, steps):
    _, s = synthetic.sunspots()
    split = SUNSPOT_SPLIT
    truth = np.stack([s[t : t + HORIZON] for t in range(split, len(s) - HORIZON + 1)])
    preds = {
        "persistence": forecast_paths(lambda h: h[:, -1], s, split, HORIZON, WINDOW),
        "seasonal naive (11 y)": forecast_paths(lambda h: h[:, -11], s, split, HORIZON, WINDOW),
    }
    coef = ar_fit(s[:split], 9)
    preds["AR(9)"] = forecast_paths(lambda h: coef[0] + h[:, -9:] @ coef[1:], s, split, HORIZON, WINDOW)
    scale = 100.0
    train_x = torch.tensor(np.stack([s[t - WINDOW : t] for t in range(WINDOW, split)]) / scale, dtype=torch.float32)
    train_y = torch.tensor(s[WINDOW:split] / scale, dtype=torch.float32)
    torch.manual_seed(seed)
    model = Forecaster()
    train(model, sample_rows(train_x, train_y, batch_size=32), mse_loss, steps, lr=3e-3, seed=seed)

    def lstm_next(h):
        with torch.no_grad():
            return np.clip(model(torch.tensor(h / scale, dtype=torch.float32)).numpy().astype(float) * scale, 0, None)

    preds["LSTM"] = forecast_paths(lstm_next, s, split, HORIZON, WINDOW)
    out = {name: {"rmse by horizon": np.sqrt(((p - truth) ** 2).mean(0)).tolist()} for name, p in preds.items()}
    out["one-step forecasts"] = {name: p[:, 0].tolist() for name, p in preds.items()}
    return out


# =========================================================================== 6. activity recognition
def keras_param_count(kind, D, H):
    """Keras's parameters of one SimpleRNN/LSTM/GRU(reset_after) layer: g*H*(D+H+1) (+ g*H for the GRU)."""
    g = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    return g * H * (D + H + 1) + (g * H if kind == "gru" else 0)


def run_har(seed, steps):
    X, y = synthetic.har_windows(2400, rng=seed)
    Xt, yt = synthetic.har_windows(1200, rng=seed + 1000)
    mean, std = X.reshape(-1, 3).mean(0), X.reshape(-1, 3).std(0)
    x, xt = torch.from_numpy((X - mean) / std), torch.from_numpy((Xt - mean) / std)
    out = {}
    for name, cell in [("RNN", nn.RNN), ("LSTM", nn.LSTM), ("GRU", nn.GRU)]:
        torch.manual_seed(seed)
        model = LastStepClassifier(cell, 3, 32, 12, num_layers=2)
        t0 = time.time()
        train(model, sample_rows(x, torch.from_numpy(y), batch_size=32), ce_loss, steps, lr=3e-3, seed=seed)
        with torch.no_grad():
            pred = model(xt).argmax(-1).numpy()
        out[name] = {
            "accuracy": float((pred == yt).mean()),
            "confusion": confusion(yt, pred, 12),
            "torch parameters": n_parameters(model),
            "keras parameters": keras_param_count(name.lower(), 3, 32)
            + keras_param_count(name.lower(), 32, 32)
            + 32 * 12
            + 12,
            "seconds": time.time() - t0,
        }
    return out


# =========================================================================== 7. speech-like commands
class MeanOfFrames(nn.Module):
    """Order-blind baseline: (N, T, F) -> average over time -> MLP -> logits (N, C)."""

    def __init__(self, F, C, hidden=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(F, hidden), nn.Tanh(), nn.Linear(hidden, C))

    def forward(self, x):
        return self.net(x.mean(1))


def run_speech(seed, steps):
    X, y = synthetic.speech_commands(2000, rng=seed)
    Xt, yt = synthetic.speech_commands(600, rng=seed + 1000)
    mean, std = X.mean((0, 1)), X.std((0, 1))
    x, xt = torch.from_numpy((X - mean) / std), torch.from_numpy((Xt - mean) / std)
    out = {}
    for name, make in [
        ("mean of frames", lambda: MeanOfFrames(32, 10)),
        ("GRU", lambda: LastStepClassifier(nn.GRU, 32, 64, 10)),
        ("BiGRU", lambda: LastStepClassifier(nn.GRU, 32, 64, 10, bidirectional=True)),
    ]:
        torch.manual_seed(seed)
        model = make()
        train(model, sample_rows(x, torch.from_numpy(y)), ce_loss, steps, lr=3e-3, seed=seed)
        with torch.no_grad():
            pred = model(xt).argmax(-1).numpy()
        out[name] = {"accuracy": float((pred == yt).mean()), "confusion": confusion(yt, pred, 10)}
    return out


# =========================================================================== main
# name: (run function, training steps per model, seeds)
APPS = {
    "sentiment": (run_sentiment, 300, 3),
    "tagging": (run_tagging, 400, 3),
    "melody": (run_melody, 600, 3),
    "dates": (run_dates, 1200, 3),
    "sunspots": (run_sunspots, 1000, 3),
    "har": (run_har, 600, 4),
    "speech": (run_speech, 500, 3),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=",".join(APPS), help="comma-separated applications to run")
    ap.add_argument("--seeds", type=int, default=None, help="override the number of seeds of every application")
    ap.add_argument("--quick", action="store_true", help="a tenth of the steps, one seed (smoke test)")
    ap.add_argument(
        "--add-seeds",
        type=int,
        nargs="+",
        default=None,
        help="run only these seeds and append them to the runs already saved (e.g. --only har --add-seeds 2 3)",
    )
    ap.add_argument("--out", default=str(RESULTS / "applications.json"))
    args = ap.parse_args()
    path = Path(args.out)
    results = json.loads(path.read_text()) if path.exists() else {}
    for name in args.only.split(","):
        fn, steps, seeds = APPS[name]
        seeds = 1 if args.quick else (args.seeds or seeds)
        steps = steps // 10 if args.quick else steps
        t0 = time.time()
        if args.add_seeds:
            old = results[name]
            assert old["steps"] == steps and old["seeds"] == len(old["runs"]), "appended seeds need the same budget"
            assert min(args.add_seeds) >= len(old["runs"]), "seeds 0..n-1 are saved; add seeds from n on"
            runs = old["runs"] + [fn(seed, steps) for seed in args.add_seeds]
            seconds = old["seconds"] + time.time() - t0
        else:
            runs = [fn(seed, steps) for seed in range(seeds)]
            seconds = time.time() - t0
        results[name] = {"steps": steps, "seeds": len(runs), "seconds": round(seconds, 1), "runs": runs}
        print(f"{name}: {time.time() - t0:.0f} s", json.dumps(runs[0], default=str)[:600], flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
