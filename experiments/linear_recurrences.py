"""Linear recurrences after Transformers (unit 11): the scan's speed, memory against attention, minGRU.

Three measurements, each a section of ``experiments/results/linear_recurrences.json``:

* ``scan``: the recurrence h_t = a_t * h_{t-1} + b_t for growing T, computed by a loop over t and by
  Hillis-Steele's scan (log2 T rounds on whole arrays), in NumPy and in torch (on the GPU too when
  one is present): median seconds of ``--repeats`` runs, for a narrow state (N = 1, H = 16: each
  step is little work, so the loop's cost is Python's per step) and a wide one (N = 16, H = 64).
  The ratio loop / scan is the figure to read: both are timed in the same run, on the same machine.
* ``memory``: the peak memory (tracemalloc, NumPy float64) of one causal attention layer
  (softmax(Q K^T) V, N = 1, d = 64), which holds a T x T matrix, against the minGRU recurrence of
  the same width, which holds (T, H) arrays: quadratic against linear in T.
* ``adding``: minGRU (Feng et al. 2024) against torch's GRU and LSTM on the adding problem of
  units 6 and 7 (``adding_problem.adding_batch``: T = ``--T``), with about the same number of
  parameters (``--params``), the same batches, ``--steps`` Adam steps, ``--seeds`` seeds: the test
  MSE curve; and the seconds per 100 steps of each, timed in turns (``step_times``). minGRU is two
  stacked layers, as Feng et al. stack them (one layer of it on two inputs has 6H parameters: equal
  to the GRU's count only at H ~ 700), trained with its parallel scan in torch.

Run from the repository root (several minutes on 2 shared cores):

    python experiments/linear_recurrences.py
"""

import argparse
import json
import math
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from _runs import batch_generator, clipped_step, n_parameters, settings_of, write_results
from adding_problem import adding_batch
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------- the recurrence, two ways, two libraries
def loop_numpy(a, b, h0):
    h, out = h0, np.empty_like(b)
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out[:, t] = h
    return out


def scan_numpy(a, b, h0):
    A, B, d = a, b, 1
    while d < a.shape[1]:  # Hillis-Steele: S_t <- S_{t-d} . S_t for t >= d
        A, B = (
            np.concatenate([A[:, :d], A[:, d:] * A[:, :-d]], axis=1),
            np.concatenate([B[:, :d], A[:, d:] * B[:, :-d] + B[:, d:]], axis=1),
        )
        d *= 2
    return A * h0[:, None] + B


def loop_torch(a, b, h0):
    h, out = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


def scan_torch(a, b, h0):
    A, B, d = a, b, 1
    while d < a.shape[1]:
        A, B = (
            torch.cat([A[:, :d], A[:, d:] * A[:, :-d]], dim=1),
            torch.cat([B[:, :d], A[:, d:] * B[:, :-d] + B[:, d:]], dim=1),
        )
        d *= 2
    return A * h0[:, None] + B


def _median_seconds(fn, repeats, sync=lambda: None):
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _timed_row(T, N, H, repeats, devices, rng):
    a, b, h0 = rng.uniform(0.3, 1.0, (N, T, H)), rng.normal(size=(N, T, H)), rng.normal(size=(N, H))
    assert np.allclose(loop_numpy(a, b, h0), scan_numpy(a, b, h0))
    row = {
        "T": T,
        "numpy_loop_s": _median_seconds(lambda: loop_numpy(a, b, h0), repeats),
        "numpy_scan_s": _median_seconds(lambda: scan_numpy(a, b, h0), repeats),
    }
    for dev in devices:
        ta, tb, th0 = (torch.tensor(v, device=dev) for v in (a, b, h0))
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
        row[f"torch_{dev}_loop_s"] = _median_seconds(lambda: loop_torch(ta, tb, th0), repeats, sync)  # noqa: B023
        row[f"torch_{dev}_scan_s"] = _median_seconds(lambda: scan_torch(ta, tb, th0), repeats, sync)  # noqa: B023
    return row


def scan_timing(lengths, repeats, widths=((1, 16), (16, 64)), seed=0):
    """{"devices", "widths": [{"N", "H", "rows": [{"T", "<lib>_<loop|scan>_s", ...}]}]}."""
    rng = np.random.default_rng(seed)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out = {"devices": devices, "widths": []}
    for N, H in widths:
        rows = []
        for T in lengths:
            rows.append(_timed_row(T, N, H, repeats, devices, rng))
            print(f"scan N={N} H={H} T={T}: " + ", ".join(f"{k} {v:.2e}" for k, v in rows[-1].items() if k != "T"))
        out["widths"].append({"N": N, "H": H, "rows": rows})
    return out


# ---------------------------------------------------------------- memory: attention against a recurrence
def attention_numpy(x, Wq, Wk, Wv):
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    scores = q @ k.T / math.sqrt(q.shape[1])  # (T, T): what makes attention quadratic
    scores = np.where(np.tril(np.ones(scores.shape, dtype=bool)), scores, -np.inf)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ v


def mingru_numpy(x, Wz, Wh):
    z = 1 / (1 + np.exp(-(x @ Wz)))
    return scan_numpy((1 - z)[None], (z * (x @ Wh))[None], np.zeros((1, Wz.shape[1])))[0]


def _peak_bytes(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def memory(lengths, d=64, seed=0):
    rng = np.random.default_rng(seed)
    W = [rng.normal(scale=d**-0.5, size=(d, d)) for _ in range(3)]
    rows = []
    for T in lengths:
        x = rng.normal(size=(T, d))
        rows.append(
            {
                "T": T,
                "attention_bytes": _peak_bytes(lambda x=x: attention_numpy(x, *W)),
                "mingru_bytes": _peak_bytes(lambda x=x: mingru_numpy(x, W[0], W[1])),
            }
        )
        print(f"memory T={T}: attention {rows[-1]['attention_bytes']:,} B, minGRU {rows[-1]['mingru_bytes']:,} B")
    return {"d": d, "rows": rows}


# ---------------------------------------------------------------- minGRU against GRU and LSTM on the adding problem
class MinGRU(nn.Module):
    """One minGRU layer (Feng et al. 2024): z = sigmoid(x Wz + bz), h~ = x Wh + bh, h = (1 - z) h + z h~,
    by the scan; (N, T, D) -> (N, T, H), starting from h0 = 0."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.gate = nn.Linear(input_size, 2 * hidden_size)  # [z pre-activation | h~]

    def forward(self, x):
        pre_z, h_tilde = self.gate(x).chunk(2, dim=-1)
        z = torch.sigmoid(pre_z)
        h0 = x.new_zeros(x.shape[0], self.hidden_size)
        return scan_torch(1 - z, z * h_tilde, h0)


class Regressor(nn.Module):
    """A recurrent model read out at the last step: (N, T, 2) -> (N, 1); minGRU has two layers."""

    def __init__(self, kind, hidden):
        super().__init__()
        self.kind = kind
        if kind == "mingru":  # two layers, the second reading the first's states
            self.rnn = nn.Sequential(MinGRU(2, hidden), MinGRU(hidden, hidden))
        else:
            self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[kind](2, hidden, batch_first=True)
        if kind == "lstm":  # the forget-gate bias at +1, as in adding_problem.py
            with torch.no_grad():
                self.rnn.bias_ih_l0[hidden : 2 * hidden].fill_(1.0)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        h = self.rnn(x) if self.kind == "mingru" else self.rnn(x)[0]
        return self.head(h[:, -1])


def hidden_for(kind, params):
    """The hidden size whose model has the parameter count closest to ``params``."""
    return min(range(1, 4096), key=lambda H: abs(n_parameters(_shape_only(kind, H)) - params))


def _shape_only(kind, H):
    g = {"gru": 3, "lstm": 4}.get(kind)
    if g is None:  # two minGRU layers, Linear(2, 2H) and Linear(H, 2H), + the head Linear(H, 1)
        return _Count(2 * (2 * H + H) + 2 * (H * H + H) + H + 1)
    return _Count(g * (2 * H + H * H + 2 * H) + H + 1)


class _Count:
    def __init__(self, n):
        self.n = n

    def parameters(self):
        return [torch.empty(self.n)]


def train(kind, hidden, args, seed, x_test, y_test):
    torch.manual_seed(seed)
    model = Regressor(kind, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = batch_generator(seed)
    curve, start = [], time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = adding_batch(args.batch, args.T, gen)
        clipped_step(model, opt, nn.functional.mse_loss(model(x), y), args.clip)
        if step % args.eval_every == 0:
            with torch.no_grad():
                curve.append([step, float(nn.functional.mse_loss(model(x_test), y_test))])
    seconds = time.perf_counter() - start
    return {
        "hidden": hidden,
        "parameters": n_parameters(model),
        "curve": curve,
        "final_mse": statistics.median(m for _, m in curve[-3:]),
        "seconds": seconds,
        "seconds_per_100_steps": 100 * seconds / args.steps,
    }


def step_times(args, rounds=5, steps=20):
    """Seconds per 100 training steps of each model, timed in turns (model after model, ``rounds``
    times) so that a change of the machine's load touches all three alike; the median of the rounds.
    The training runs' own ``seconds_per_100_steps`` are not comparable: they ran at different times."""
    gen = torch.Generator().manual_seed(0)
    batches = [adding_batch(args.batch, args.T, gen) for _ in range(steps)]
    models = {}
    for kind in ("mingru", "gru", "lstm"):
        torch.manual_seed(0)
        model = Regressor(kind, hidden_for(kind, args.params))
        models[kind] = (model, torch.optim.Adam(model.parameters(), lr=args.lr))
    times = {kind: [] for kind in models}
    for _ in range(rounds):
        for kind, (model, opt) in models.items():
            start = time.perf_counter()
            for x, y in batches:
                clipped_step(model, opt, nn.functional.mse_loss(model(x), y), args.clip)
            times[kind].append(100 * (time.perf_counter() - start) / steps)
    out = {kind: statistics.median(ts) for kind, ts in times.items()}
    print("seconds per 100 steps, timed in turns: " + ", ".join(f"{k} {v:.2f}" for k, v in out.items()))
    return out


def adding(args):
    x_test, y_test = adding_batch(1000, args.T, torch.Generator().manual_seed(12345))
    out = {"baseline_mse": float(((y_test - y_test.mean()) ** 2).mean()), "models": {}}
    for kind in ("mingru", "gru", "lstm"):
        hidden = hidden_for(kind, args.params)
        runs = []
        for seed in args.seeds:
            runs.append(train(kind, hidden, args, seed, x_test, y_test))
            r = runs[-1]
            per_100 = r["seconds_per_100_steps"]
            print(f"adding {kind} H={hidden} seed {seed}: MSE {r['final_mse']:.4f}, {per_100:.2f} s per 100 steps")
        out["models"][kind] = runs
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 256, 1024, 4096])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--T", type=int, default=100, help="the adding problem's sequence length")
    p.add_argument("--params", type=int, default=4600, help="parameters of each model (about)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS / "linear_recurrences.json")
    p.add_argument(
        "--only",
        nargs="+",
        choices=("scan", "memory", "step_times"),
        help="measure only these again, into the existing --out (the training runs are kept)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    if args.only:
        results = json.loads(args.out.read_text())
        if "scan" in args.only:
            results["scan"] = scan_timing(args.lengths, args.repeats)
        if "memory" in args.only:
            results["memory"] = memory(args.lengths)
        if "step_times" in args.only:
            results["adding"]["step_times"] = step_times(args)
        write_results(args.out, results)
        return
    results = {
        "settings": settings_of(args),
        "torch_version": torch.__version__,
        "scan": scan_timing(args.lengths, args.repeats),
        "memory": memory(args.lengths),
        "adding": adding(args),
    }
    results["adding"]["step_times"] = step_times(args)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
