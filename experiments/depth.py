"""Does stacking help? 1, 2 and 3 LSTM layers on Human Numbers (unit 8), with time per epoch.

Human Numbers (:mod:`course.datasets.human_numbers`) is a next-token task with
a hierarchy in it: "... nine thousand nine hundred ninety nine . ..." asks the
model to know, at every word, whether it is in the thousands, the hundreds
or the tens and units of a number, and which number comes next. The same
language model (embedding -> LSTM with L layers of ``--hidden`` units ->
linear read-out) is trained with L = 1, 2, 3, statefully (truncated BPTT,
:func:`course.training.train`), Adam with a one-cycle schedule, gradient
clipping, the same budget in epochs (= steps) and the same seeds.

Validation accuracy is reported overall and on the tokens that do *not*
follow a "." (a number's first word, its thousands digit, can only be right
on the validation stream, 8,001-9,999, by copying the previous number's
digit: "nine thousand" never occurs in training, which makes that part of
the score depend on the seed; see ``human_numbers.py``).

Writes ``experiments/results/depth.json``: settings, and per depth and seed
the parameters, the validation curve (per epoch), final accuracies, the
training seconds per epoch (the model's train steps only) and total seconds.

Run from the repository root (a few minutes on 2 shared cores):

    python experiments/depth.py
"""

import argparse
import time
from pathlib import Path

import torch
from _runs import n_parameters, settings_of, write_results
from torch import nn

from course.datasets.human_numbers import VOCAB, load, stateful_batches
from course.training import accuracy, train

RESULTS = Path(__file__).resolve().parent / "results"


class DeepLM(nn.Module):
    """Embedding -> ``layers``-layer LSTM -> linear; ``forward(x (N, T), state) -> (scores (N, T, V), state)``."""

    def __init__(self, vocab_size, hidden, layers):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden)
        self.rnn = nn.LSTM(hidden, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


def lm_loss(scores, y):
    """Mean cross-entropy over every token. scores: (N, T, V), y: (N, T)."""
    return nn.functional.cross_entropy(scores.flatten(0, 1), y.flatten())


@torch.no_grad()
def accuracy_not_after_dot(model, x, y):
    """Validation accuracy on the tokens whose input is not "." (stateful pass). x, y: (B, N, T)."""
    model.eval()
    dot = VOCAB.index(".")
    state, right, total = None, 0, 0
    for xb, yb in zip(x, y):
        scores, state = model(xb, state)
        keep = xb != dot
        right += int((scores.argmax(-1) == yb)[keep].sum())
        total += int(keep.sum())
    return right / total


def run(layers, data, epochs, hidden, batch, seq_len, lr, clip, seed, progress=False):
    """Train one depth; returns a dict of results (curve, accuracies, seconds)."""
    torch.manual_seed(seed)
    x_train, y_train = stateful_batches(data["train"], batch, seq_len)
    x_val, y_val = stateful_batches(data["valid"], batch, seq_len)
    model = DeepLM(len(VOCAB), hidden, layers)
    steps = epochs * len(x_train)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0 = time.perf_counter()
    history = train(
        model,
        lm_loss,
        list(zip(x_train, y_train)),
        list(zip(x_val, y_val)),
        steps=steps,
        optimizer=opt,
        scheduler=sched,
        clip=clip,
        eval_every=len(x_train),
        stateful=True,
        metrics={"accuracy": accuracy},
        device="cpu",
        progress=progress,
        desc=f"{layers} layer(s)",
    )
    seconds = time.perf_counter() - t0
    # time per epoch of the training steps alone: one more epoch, timed, without evaluation
    model.train()
    t1, state = time.perf_counter(), None
    for xb, yb in zip(x_train, y_train):
        scores, state = model(xb, state)
        state = tuple(s.detach() for s in state)
        loss = lm_loss(scores, yb)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    epoch_seconds = time.perf_counter() - t1  # (no optimiser step: the trained model is kept as is)
    return {
        "layers": layers,
        "seed": seed,
        "parameters": n_parameters(model),
        "epoch": list(range(1, len(history["accuracy"]) + 1)),
        "val_accuracy": [round(a, 4) for a in history["accuracy"]],
        "final_val_accuracy": round(history["accuracy"][-1], 4),
        "final_val_accuracy_not_after_dot": round(accuracy_not_after_dot(model, x_val, y_val), 4),
        "train_seconds_per_epoch": round(epoch_seconds, 2),
        "seconds": round(seconds, 1),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    data = load()
    results = {
        "task": "Human Numbers, LSTM depth",
        "settings": settings_of(args),
        "torch_version": torch.__version__,
        "runs": [],
    }
    for seed in args.seeds:
        for layers in args.layers:
            r = run(layers, data, args.epochs, args.hidden, args.batch, args.seq_len, args.lr, args.clip, seed)
            results["runs"].append(r)
            print(
                f"{layers} layer(s), seed {seed}: val accuracy {r['final_val_accuracy']:.3f} "
                f"(not after '.': {r['final_val_accuracy_not_after_dot']:.3f}), "
                f"{r['train_seconds_per_epoch']:.2f} s per training epoch, {r['seconds']:.0f} s",
                flush=True,
            )
    write_results(args.out / "depth.json", results)


if __name__ == "__main__":
    main()
