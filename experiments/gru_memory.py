"""Where each cell breaks: tanh RNN vs GRU vs LSTM on a recall task as the sequence grows (unit 7).

The task ("flagged recall"): a sequence of T random symbols out of K = 8
(one-hot), one of them flagged by an extra input channel at a random
position; at the end the model must name the flagged symbol. Every other
step is a distractor of the same alphabet, so the model must *decide* what
to store (the flag) and keep it while ignoring up to T - 1 later symbols.
Chance is 1/8.

The three models have (about) the same number of parameters
(``--params``, 4,300 by default), so the comparison is per parameter, not
per hidden unit: the tanh RNN gets the widest state. Each model trains at
each length T for at most ``--steps`` Adam steps (budget in steps, not
seconds), stopping once the test accuracy reaches 99 %. A model's sweep ends
at the first length where it is broken on every seed (accuracy below 50 %):
longer sequences are only harder, and the runs are the script's main cost.
The LSTM's
forget-gate bias starts at +1, as in ``adding_problem.py``; the GRU and the
RNN keep PyTorch's initialisation.

Writes ``experiments/results/gru_memory.json``: settings, and per model,
length and seed the hidden size, parameters, accuracy curve, final accuracy,
the first step at which the test accuracy reached 99 % (None: not within the
budget) and seconds.

Run from the repository root (a few minutes on 2 shared cores):

    python experiments/gru_memory.py
"""

import argparse
import time
from pathlib import Path

import torch
from _runs import batch_generator, clipped_step, n_parameters, settings_of, write_results
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results"
K = 8  # symbols
CELLS = {"rnn": (nn.RNN, 1), "gru": (nn.GRU, 3), "lstm": (nn.LSTM, 4)}  # class, gate blocks g


def recall_batch(n, T, generator):
    """n flagged-recall sequences: x (n, T, K + 1) float32, y (n,) int64 in [0, K).

    Channels 0..K-1 one-hot the symbol at each step, channel K flags the one
    step (uniform in [0, T)) whose symbol is the target.
    """
    symbols = torch.randint(0, K, (n, T), generator=generator)
    where = torch.randint(0, T, (n,), generator=generator)
    x = nn.functional.one_hot(symbols, K + 1).float()
    rows = torch.arange(n)
    x[rows, where, K] = 1.0
    return x, symbols[rows, where]


def parameters(kind, H, D=K + 1, out=K):
    """Parameters of a one-layer torch cell of hidden size H plus its (H -> out) read-out."""
    g = CELLS[kind][1]
    return g * H * (D + H + 2) + (H + 1) * out


def hidden_for(kind, budget):
    """The hidden size whose parameter count is closest to ``budget``."""
    return min(range(1, 1024), key=lambda H: abs(parameters(kind, H) - budget))


class Classifier(nn.Module):
    """One recurrent layer read out at the last step: (N, T, K + 1) -> (N, K) scores."""

    def __init__(self, kind, hidden, forget_bias=1.0):
        super().__init__()
        self.rnn = CELLS[kind][0](K + 1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, K)
        if kind == "lstm":
            with torch.no_grad():  # gate order i, f, g, o: the forget block is rows H:2H
                self.rnn.bias_ih_l0[hidden : 2 * hidden] += forget_bias

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def train(kind, hidden, T, steps, batch, lr, clip, eval_every, seed, target=0.99):
    """Adam on fresh batches until the test accuracy reaches ``target`` or ``steps`` run out.

    Returns (model, curve) with curve = [(step, test accuracy), ...].
    """
    torch.manual_seed(seed)
    gen = batch_generator(seed)
    x_test, y_test = recall_batch(1000, T, torch.Generator().manual_seed(12345 + T))
    model = Classifier(kind, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for step in range(1, steps + 1):
        x, y = recall_batch(batch, T, gen)
        loss = nn.functional.cross_entropy(model(x), y)
        clipped_step(model, opt, loss, clip)
        if step % eval_every == 0:
            with torch.no_grad():
                curve.append((step, float((model(x_test).argmax(-1) == y_test).float().mean())))
            if curve[-1][1] >= target:
                break
    return model, curve


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[5, 10, 20, 50, 100])
    p.add_argument("--params", type=int, default=4300, help="parameter budget of every model")
    p.add_argument("--steps", type=int, default=1500, help="step budget per run")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    results = {
        "task": "flagged recall",
        "symbols": K,
        "chance": 1 / K,
        "settings": settings_of(args),
        "torch_version": torch.__version__,
        "models": {},
    }
    for kind in CELLS:
        hidden = hidden_for(kind, args.params)
        runs = results["models"][kind] = {"hidden": hidden, "parameters": parameters(kind, hidden), "runs": []}
        for T in args.lengths:
            last = runs["runs"][-len(args.seeds) :]
            if last and all(r["final_accuracy"] < 0.5 for r in last):
                print(f"{kind}: broken at T={last[0]['T']} on every seed; longer sequences not run", flush=True)
                break
            for seed in args.seeds:
                t0 = time.perf_counter()
                model, curve = train(kind, hidden, T, args.steps, args.batch, args.lr, args.clip, args.eval_every, seed)
                assert n_parameters(model) == runs["parameters"]
                solved = curve[-1][0] if curve[-1][1] >= 0.99 else None
                runs["runs"].append(
                    {
                        "T": T,
                        "seed": seed,
                        "steps": [s for s, _ in curve],
                        "accuracy": [a for _, a in curve],
                        "final_accuracy": curve[-1][1],
                        "steps_to_99": solved,
                        "seconds": round(time.perf_counter() - t0, 1),
                    }
                )
                print(
                    f"{kind} (H={hidden}) T={T} seed {seed}: accuracy {curve[-1][1]:.3f}, "
                    f"99% at step {solved}, {time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
    write_results(args.out / "gru_memory.json", results)


if __name__ == "__main__":
    main()
