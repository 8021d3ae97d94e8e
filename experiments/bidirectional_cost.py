"""What a bidirectional layer costs: time of a unidirectional vs a bidirectional torch LSTM / GRU.

A bidirectional layer runs two recurrences, so it does twice the arithmetic
of a unidirectional one; whether it takes twice the *time* depends on the
kernels. This script times, on the machine that runs it, one training step
(forward, backward through a sum of the outputs) and one forward pass of
``nn.LSTM`` and ``nn.GRU`` with and without ``bidirectional=True``, at the
same input, hidden size and sequence length. The configurations are
interleaved (one call of each in turn, ``--repeats`` rounds) so that changes
in the machine's load hit all of them alike; the median of the rounds is
kept. It writes ``experiments/results/bidirectional_cost.json``: the
settings, the median milliseconds per call of each configuration, and the
ratios bidirectional / unidirectional.

Run from the repository root (well under a minute):

    python experiments/bidirectional_cost.py
"""

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from _runs import settings_of, write_results
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results"


def time_calls(fns, repeats, warmup=3):
    """Median seconds per call of each function in ``fns`` ({name: fn}), calls interleaved."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def step_fns(kind, N, T, D, H, seed=0):
    """Functions doing one forward pass and one forward + backward step, uni- and bidirectional.

    x: (N, T, D); the module's output is (N, T, H) or (N, T, 2H).
    Returns {"<kind> <uni|bi> <forward|train>": fn}.
    """
    torch.manual_seed(seed)
    cls = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]
    x = torch.randn(N, T, D)
    fns = {}
    for bidirectional in (False, True):
        module = cls(D, H, batch_first=True, bidirectional=bidirectional)
        tag = f"{kind} {'bi' if bidirectional else 'uni'}"

        def forward(module=module):
            with torch.no_grad():
                module(x)

        def train(module=module):
            module.zero_grad()
            module(x)[0].sum().backward()

        fns[f"{tag} forward"] = forward
        fns[f"{tag} train"] = train
    return fns


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--N", type=int, default=64, help="batch size")
    p.add_argument("--T", type=int, default=100, help="sequence length")
    p.add_argument("--D", type=int, default=32, help="input size")
    p.add_argument("--H", type=int, default=128, help="hidden size per direction")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    ms = {}
    for kind in ("lstm", "gru"):
        fns = step_fns(kind, args.N, args.T, args.D, args.H)
        ms.update({name: 1000 * s for name, s in time_calls(fns, args.repeats).items()})
    ratios = {
        f"{kind} {what}": ms[f"{kind} bi {what}"] / ms[f"{kind} uni {what}"]
        for kind in ("lstm", "gru")
        for what in ("forward", "train")
    }
    results = {
        "task": "bidirectional cost",
        "settings": settings_of(args),
        "torch_version": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "machine": platform.machine(),
        "ms_per_call_median": {k: round(v, 3) for k, v in ms.items()},
        "ratio_bi_over_uni": {k: round(v, 3) for k, v in ratios.items()},
    }
    for name, v in ms.items():
        print(f"{name:>20}: {v:8.2f} ms")
    for name, r in ratios.items():
        print(f"bidirectional / unidirectional, {name}: {r:.2f}x")
    write_results(args.out / "bidirectional_cost.json", results)


if __name__ == "__main__":
    main()
