"""Benchmark: the course's NumPy LSTM (forward + backward) against torch.nn.LSTM on the CPU.

Not a test. The NumPy LSTM is the one of the unit 6 solution notebook: its
answer cells (nbgrader grade_id ``answer_*``) are executed here, so the code
has a single home. Both sides run forward and backward on the same problem
(B 64, T 100, D 32, H 128 by default), in the same dtype and with the same
number of threads (torch.set_num_threads and the BLAS threads of NumPy, via
threadpoolctl when it is installed, else the *_NUM_THREADS variables set
before NumPy is imported). Prints the median times and their ratio; the
target is NumPy / torch <= 2.5.

    python bench/lstm_numpy_vs_torch.py [--threads 1] [--dtype float32] [--repeats 7]
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--B", type=int, default=64)
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--D", type=int, default=32)
    p.add_argument("--H", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--repeats", type=int, default=7)
    return p.parse_args()


ARGS = _args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before NumPy and torch load their BLAS

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def load_answers(path):
    """The functions of a notebook's answer cells (nbgrader grade_id answer_*)."""
    ns = {"np": np}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("answer_"):
            exec(cell.source, ns)
    return ns


def median_time(fn, repeats):
    fn()  # warm-up (allocations, oneDNN kernels)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    a = ARGS
    torch.set_num_threads(a.threads)
    ns = load_answers(ROOT / "solutions" / "06_lstm" / "lstm.ipynb")
    lstm_forward, lstm_backward = ns["lstm_forward"], ns["lstm_backward"]
    dtype = np.dtype(a.dtype)
    tdtype = getattr(torch, a.dtype)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(a.B, a.T, a.D)).astype(dtype)
    h0 = np.zeros((a.B, a.H), dtype=dtype)
    Wx = (rng.normal(size=(a.D, 4 * a.H)) / np.sqrt(a.D)).astype(dtype)
    Wh = (rng.normal(size=(a.H, 4 * a.H)) / np.sqrt(a.H)).astype(dtype)
    b = np.zeros(4 * a.H, dtype=dtype)
    dh = rng.normal(size=(a.B, a.T, a.H)).astype(dtype)

    def numpy_step():
        h, cache = lstm_forward(x, h0, Wx, Wh, b)
        return h, lstm_backward(dh, cache)

    lstm = torch.nn.LSTM(a.D, a.H, batch_first=True, dtype=tdtype)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(Wx.T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(Wh.T.copy()))
        lstm.bias_ih_l0.zero_()
        lstm.bias_hh_l0.zero_()
    tx = torch.from_numpy(x).requires_grad_(True)
    th0 = torch.from_numpy(h0)[None].requires_grad_(True)
    tc0 = torch.zeros_like(th0)
    tdh = torch.from_numpy(dh)

    def torch_step():
        lstm.zero_grad()
        tx.grad = th0.grad = None
        out, _ = lstm(tx, (th0, tc0))
        out.backward(tdh)
        return out

    # same answer first (so we time the same computation)
    h, grads = numpy_step()
    out = torch_step()
    tol = 1e-3 if dtype == np.float32 else 1e-9
    err = float(np.max(np.abs(h - out.detach().numpy())))
    gerr = float(np.max(np.abs(grads[2] - lstm.weight_ih_l0.grad.numpy().T)) / max(1e-12, np.max(np.abs(grads[2]))))
    assert grads[0].dtype == dtype, f"the NumPy LSTM changed the dtype to {grads[0].dtype}"
    assert err < tol and gerr < tol, (err, gerr)

    t_np = median_time(numpy_step, a.repeats)
    t_torch = median_time(torch_step, a.repeats)
    print(
        f"LSTM forward + backward, B={a.B} T={a.T} D={a.D} H={a.H}, {a.dtype}, {a.threads} thread(s), "
        f"median of {a.repeats}"
    )
    print(f"  outputs agree to {err:.1e}; dWx to {gerr:.1e} (relative)")
    print(f"  NumPy (solution notebook): {1e3 * t_np:7.1f} ms")
    print(f"  torch.nn.LSTM (CPU):       {1e3 * t_torch:7.1f} ms")
    print(f"  ratio NumPy / torch:       {t_np / t_torch:7.2f}x  (target <= 2.5x)")
    return 0 if t_np / t_torch <= 2.5 else 1


if __name__ == "__main__":
    sys.exit(main())
