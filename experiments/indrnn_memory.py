"""IndRNN vs tanh RNN on the adding problem (unit 3): does an element-wise recurrence remember?

The independently recurrent network (Li et al., CVPR 2018) replaces the
recurrent matrix by a vector, h_t = relu(x_t W_x + b + u * h_{t-1}). Over
k steps a unit's gradient is multiplied by u_j^k (times relu's 0/1), so
bounding |u_j| bounds how fast it can explode or vanish. Following the
paper's adding-problem setup (its authors' code: two layers, relu, small
input weights), with sequence length T:

* every |u_j| is clipped to at most 2^(1/T) after each optimiser step, so
  a gradient can grow at most 2x over the whole sequence;
* u of the first layer starts uniform in [0, 2^(1/T)], u of the last layer
  in [2^(-1/T), 2^(1/T)]: its units start able to keep at least half of a
  value across all T steps;
* input weights start N(0, 0.01^2) (the paper: 0.001; 0.01 learned faster
  here in the short budget).

The comparison is a tanh RNN (``torch.nn.RNN``) of the same depth and width.
Both train on the adding problem of ``adding_problem.py`` (T = 100 by
default: the two marked values are on average ~T/2 steps apart) with Adam,
gradient clipping and a budget in steps (the learning rate drops 10x for the
last fifth), for each seed. Writes ``experiments/results/indrnn_memory.json``:
settings, per model and seed the test-MSE curve, the final MSE (median of
the last 5 evaluations), parameters and seconds, and the trained IndRNN's
recurrent weights u (per layer, seed 0).

Run from the repository root (about 3-5 minutes on 2 shared cores):

    python experiments/indrnn_memory.py
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import batch_generator, clipped_step, n_parameters, settings_of, write_results  # noqa: E402
from adding_problem import adding_batch  # noqa: E402  (the task's one home)

RESULTS = Path(__file__).resolve().parent / "results"


class IndRecurrence(torch.autograd.Function):
    """h_t = relu(a_t + u * h_{t-1}), h_0 = 0, with a hand-written backward.

    a: (N, T, H) input projections, u: (H,) -> h: (N, T, H). The same maths as
    a Python loop under autograd (a test checks it against one) in about a
    third of the time, because the backward does one fused update per step.
    """

    @staticmethod
    def forward(ctx, a, u):
        N, T, H = a.shape
        h = torch.empty_like(a)
        prev = a.new_zeros(N, H)
        for t in range(T):
            prev = torch.relu(torch.addcmul(a[:, t], u, prev))
            h[:, t] = prev
        ctx.save_for_backward(h, u)
        return h

    @staticmethod
    def backward(ctx, dh):
        h, u = ctx.saved_tensors
        active = h > 0  # relu'(.) is 1 where the output is positive
        da = torch.empty_like(dh)
        g = dh.new_zeros(dh.shape[0], dh.shape[2])
        for t in range(dh.shape[1] - 1, -1, -1):
            g = (dh[:, t] + g * u) * active[:, t]  # gradient w.r.t. the pre-activation at t
            da[:, t] = g
        du = (da[:, 1:] * h[:, :-1]).sum((0, 1))
        return da, du


class IndRNNLayer(nn.Module):
    """One IndRNN layer: (N, T, D) -> (N, T, H); ``u`` (H,) is the recurrent weight vector."""

    def __init__(self, D, H, u_init, input_std):
        super().__init__()
        self.inp = nn.Linear(D, H)
        nn.init.normal_(self.inp.weight, std=input_std)
        nn.init.zeros_(self.inp.bias)
        self.u = nn.Parameter(torch.empty(H).uniform_(*u_init))

    def forward(self, x):
        return IndRecurrence.apply(self.inp(x), self.u)


class IndRNNRegressor(nn.Module):
    """Stacked IndRNN read out at the last step: (N, T, D) -> (N, 1), |u| <= 2^(1/T)."""

    def __init__(self, T, D=2, hidden=64, layers=2, input_std=0.01):
        super().__init__()
        self.u_max = 2 ** (1 / T)
        inits = [(0.0, self.u_max)] * (layers - 1) + [(2 ** (-1 / T), self.u_max)]
        self.layers = nn.ModuleList(
            IndRNNLayer(D if i == 0 else hidden, hidden, inits[i], input_std) for i in range(layers)
        )
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.head(x[:, -1])

    @torch.no_grad()
    def constrain(self):
        """Clip every recurrent weight to [-2^(1/T), 2^(1/T)] (after each optimiser step)."""
        for layer in self.layers:
            layer.u.clamp_(-self.u_max, self.u_max)


class TanhRegressor(nn.Module):
    """Stacked ``torch.nn.RNN`` (tanh) read out at the last step: (N, T, D) -> (N, 1)."""

    def __init__(self, D=2, hidden=64, layers=2):
        super().__init__()
        self.rnn = nn.RNN(D, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def train(model, T, steps, batch, lr, clip, eval_every, seed, x_test, y_test, decay_at=0.8):
    """Adam on fresh adding batches; lr x0.1 after ``decay_at`` of the steps. Returns [(step, test MSE)]."""
    gen = batch_generator(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(decay_at * steps)], gamma=0.1)
    curve = []

    def evaluate(step):
        with torch.no_grad():
            curve.append((step, float(nn.functional.mse_loss(model(x_test), y_test))))

    evaluate(0)
    for step in range(1, steps + 1):
        x, y = adding_batch(batch, T, gen)
        loss = nn.functional.mse_loss(model(x), y)
        clipped_step(model, opt, loss, clip)
        sched.step()
        if hasattr(model, "constrain"):
            model.constrain()
        if step % eval_every == 0:
            evaluate(step)
    return curve


def make_model(kind, T, hidden, layers):
    return (
        IndRNNRegressor(T, hidden=hidden, layers=layers)
        if kind == "indrnn"
        else TanhRegressor(hidden=hidden, layers=layers)
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    x_test, y_test = adding_batch(1000, args.T, torch.Generator().manual_seed(12345))
    results = {
        "task": "adding problem, IndRNN vs tanh RNN",
        "settings": settings_of(args),
        "u_max": 2 ** (1 / args.T),
        "baseline_mse_test": float(((y_test - y_test.mean()) ** 2).mean()),
        "torch_version": torch.__version__,
        "models": {"indrnn": {}, "rnn": {}},
    }
    for seed in args.seeds:
        for kind in ("indrnn", "rnn"):
            torch.manual_seed(seed)
            model = make_model(kind, args.T, args.hidden, args.layers)
            t0 = time.perf_counter()
            curve = train(
                model, args.T, args.steps, args.batch, args.lr, args.clip, args.eval_every, seed, x_test, y_test
            )
            seconds = time.perf_counter() - t0
            mses = [m for _, m in curve]
            run = {
                "steps": [s for s, _ in curve],
                "test_mse": mses,
                "final_mse_median_last5": float(np.median(mses[-5:])),
                "seconds": round(seconds, 1),
                "parameters": n_parameters(model),
            }
            if kind == "indrnn" and seed == args.seeds[0]:
                results["u_trained"] = [layer.u.detach().tolist() for layer in model.layers]
            results["models"][kind][str(seed)] = run
            print(
                f"{kind} seed {seed}: final test MSE {run['final_mse_median_last5']:.4f}, {seconds:.0f} s", flush=True
            )
    write_results(args.out / "indrnn_memory.json", results)


if __name__ == "__main__":
    main()
