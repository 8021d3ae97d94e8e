"""The adding problem, as Le et al. (2015) and Arjovsky et al. (2016) use it: tanh RNN vs LSTM vs GRU.

(Hochreiter & Schmidhuber's 1997 original draws values from [-1, 1] and asks for 0.5 + (X1 + X2) / 4;
the version here, values from [0, 1] and the plain sum, is the one later papers benchmark.)

Each input sequence has two channels: values drawn uniformly from [0, 1], and
markers that are 1 at exactly two steps (one in each half of the sequence)
and 0 elsewhere. The target is the sum of the two marked values. Predicting
the mean (1.0) gives a mean squared error of Var(u1 + u2) = 2/12 ≈ 0.167:
a model below that has learnt to carry information across the sequence.

This is the full run behind units 6 and 7. It trains each model for a fixed
number of optimisation steps (budgets in steps, not seconds, so results do
not depend on machine load), evaluates on a fixed test set every
``--eval-every`` steps, and writes

* ``experiments/results/adding_problem.json``: the settings and, per model,
  the test-MSE learning curve and wall-clock time;
* ``experiments/results/adding_{lstm,rnn}.pt``: the trained LSTM and RNN
  state dicts (float32, tens of KB) that the lectures load to show gates,
  cell states and gradient norms;
* ``experiments/results/adding_lstm.npz``: the trained LSTM in the course's layout
  (``Wx (2, 4H), Wh (H, 4H), b (4H,)``, the read-out ``w_out (H,)``, ``b_out ()``), which exercise 6
  loads into the student's ``lstm_forward`` with NumPy alone (units 1-8 install without torch).

Run from the repository root (about 3 minutes on 2 cores):

    python experiments/adding_problem.py

With ``--seeds``, it instead trains the LSTM and the GRU once per seed, each
until its test MSE first falls below 0.01 (at most the ``--steps`` budget),
and writes ``experiments/results/adding_problem_seeds.json``: per model and
seed the first step below 0.01 (None: not within the budget), the curve and
the seconds. This backs "how many steps to leave the plateau" with more than
one seed (unit 7); the RNN, which never leaves it at T = 100, is skipped (a
budget of 0 steps skips a model). Runs of this mode add their seeds to the
file (same settings required), so seeds can run as separate processes:

    python experiments/adding_problem.py --seeds 0 1 2 --steps 0 6000 3000
    python experiments/adding_problem.py --seeds 1 --steps 0 0 3000   # one more GRU run, merged in

PyTorch (not our NumPy code) does the training: the same maths, but a
few-thousand-step run of a NumPy LSTM would take many minutes, and this
experiment is about what the architectures can learn, not how they are coded.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _runs import batch_generator, clipped_step, n_parameters, settings_of, write_results
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results"


def adding_batch(n, T, generator):
    """n adding-problem sequences of length T: x (n, T, 2) float32, y (n, 1) float32.

    One marker falls in the first half and one in the second half, so the
    model must remember a value for at least ~T/2 steps on average.
    """
    values = torch.rand(n, T, generator=generator)
    first = torch.randint(0, T // 2, (n,), generator=generator)
    second = torch.randint(T // 2, T, (n,), generator=generator)
    markers = torch.zeros(n, T)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)
    return x, y


class Regressor(nn.Module):
    """A one-layer recurrent network read out at the last step: (N, T, 2) -> (N, 1)."""

    def __init__(self, kind, hidden=64, forget_bias=1.0):
        super().__init__()
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.kind = kind
        self.rnn = cls(2, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        if kind == "lstm" and forget_bias:
            # A positive forget-gate bias starts the cell close to "remember
            # everything" (Gers et al. 2000; Jozefowicz et al. 2015). Gate order
            # i, f, g, o, so the forget block is rows H:2H.
            with torch.no_grad():
                self.rnn.bias_ih_l0[hidden : 2 * hidden] += forget_bias

    def forward(self, x):
        h, _ = self.rnn(x)
        return self.head(h[:, -1])


def train(kind, T, steps, batch, hidden, lr, clip, eval_every, seed, x_test, y_test, progress=True, stop_below=None):
    """Adam on fresh batches; returns (model, curve) with curve = [(step, test MSE), ...].

    With ``stop_below``, training stops at the first evaluation whose test MSE is below it.
    """
    torch.manual_seed(seed)
    gen = batch_generator(seed)
    model = Regressor(kind, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []

    def evaluate(step):
        with torch.no_grad():
            curve.append((step, float(nn.functional.mse_loss(model(x_test), y_test))))

    evaluate(0)
    iterator = range(1, steps + 1)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=kind, mininterval=2.0)
    for step in iterator:
        x, y = adding_batch(batch, T, gen)
        loss = nn.functional.mse_loss(model(x), y)
        clipped_step(model, opt, loss, clip)
        if step % eval_every == 0:
            evaluate(step)
            if stop_below is not None and curve[-1][1] < stop_below:
                break
    return model, curve


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--T", type=int, default=100)
    p.add_argument(
        "--steps",
        type=int,
        nargs=3,
        default=[6000, 6000, 3000],
        metavar=("RNN", "LSTM", "GRU"),
        help="training steps per model",
    )
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="steps-to-0.01 runs, one per seed")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    x_test, y_test = adding_batch(1000, args.T, torch.Generator().manual_seed(12345))
    baseline = float(((y_test - y_test.mean()) ** 2).mean())
    results = {
        "task": "adding problem",
        "settings": settings_of(args),
        "baseline_mse_test": baseline,
        "baseline_mse_theory": 2 / 12,
        "torch_version": torch.__version__,
        "models": {},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    if args.seeds is not None:
        return steps_to_threshold(args, results, x_test, y_test)
    for kind, steps in zip(["rnn", "lstm", "gru"], args.steps):
        t0 = time.perf_counter()
        model, curve = train(
            kind, args.T, steps, args.batch, args.hidden, args.lr, args.clip, args.eval_every, args.seed, x_test, y_test
        )
        seconds = time.perf_counter() - t0
        mses = [m for _, m in curve]
        below = next((s for s, m in curve if m < 0.01), None)
        results["models"][kind] = {
            "steps": [s for s, _ in curve],
            "test_mse": mses,
            "final_mse_median_last5": float(np.median(mses[-5:])),
            "first_step_below_0.01": below,
            "seconds": round(seconds, 1),
            "parameters": n_parameters(model),
        }
        print(
            f"{kind}: median test MSE of the last 5 evaluations {np.median(mses[-5:]):.4f}, "
            f"first below 0.01 at step {below}, {seconds:.0f} s"
        )
        if kind in ("rnn", "lstm"):
            torch.save(model.state_dict(), args.out / f"adding_{kind}.pt")
        if kind == "lstm":
            save_course_arrays(model.state_dict(), args.out / "adding_lstm.npz")
    write_results(args.out / "adding_problem.json", results)


def save_course_arrays(state, path):
    """The LSTM regressor's ``state`` dict (torch's layout) as the course's arrays, in ``path`` (.npz):
    Wx (2, 4H), Wh (H, 4H), b (4H,) (course.interop's copy rules), w_out (H,), b_out ()."""
    from course.interop import rnn_params_from_torch

    lstm = nn.LSTM(2, state["rnn.weight_hh_l0"].shape[1], batch_first=True, dtype=torch.float64)
    lstm.load_state_dict({k[len("rnn.") :]: v for k, v in state.items() if k.startswith("rnn.")})
    Wx, Wh, b = rnn_params_from_torch(lstm)
    w_out, b_out = state["head.weight"].double().numpy()[0], np.float64(state["head.bias"])
    np.savez_compressed(path, Wx=Wx, Wh=Wh, b=b, w_out=w_out, b_out=b_out)


def steps_to_threshold(args, results, x_test, y_test, threshold=0.01):
    """The ``--seeds`` mode: per seed, train the LSTM and the GRU until the test MSE < threshold."""
    results["threshold"] = threshold
    for kind, steps in zip(["rnn", "lstm", "gru"], args.steps):
        if steps == 0:
            continue
        runs = results["models"][kind] = {}
        for seed in args.seeds:
            t0 = time.perf_counter()
            model, curve = train(
                kind,
                args.T,
                steps,
                args.batch,
                args.hidden,
                args.lr,
                args.clip,
                args.eval_every,
                seed,
                x_test,
                y_test,
                progress=False,
                stop_below=threshold,
            )
            seconds = time.perf_counter() - t0
            below = curve[-1][0] if curve[-1][1] < threshold else None
            runs[str(seed)] = {
                "steps": [s for s, _ in curve],
                "test_mse": [m for _, m in curve],
                "first_step_below_0.01": below,
                "seconds": round(seconds, 1),
                "parameters": n_parameters(model),
            }
            print(f"{kind} seed {seed}: first test MSE below {threshold} at step {below}, {seconds:.0f} s", flush=True)
    merge_seed_results(args.out / "adding_problem_seeds.json", results)


def merge_seed_results(path, results):
    """Write ``results`` to ``path``, keeping the runs of other seeds/models already there
    (under a lock on its folder, so that parallel runs do not lose each other's results; not a lock
    file in /tmp, which another user's run would own)."""
    import fcntl
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        if path.exists():
            old = json.loads(path.read_text())
            same = ("T", "batch", "hidden", "lr", "clip", "eval_every")
            if any(old["settings"][k] != results["settings"][k] for k in same):
                raise SystemExit(f"{path} holds runs with other settings; move it away first")
            for kind, runs in old["models"].items():
                results["models"][kind] = {**runs, **results["models"].get(kind, {})}
        seeds = sorted({int(s) for runs in results["models"].values() for s in runs})
        results["settings"]["seeds"] = seeds
        write_results(path, results)
    finally:
        os.close(folder)  # (and with it the lock)


if __name__ == "__main__":
    main()
