"""Time torch's fused ``nn.LSTM`` against a Python loop over ``nn.LSTMCell``.

Both compute the same thing (one LSTM layer over a sequence) with the same
weights; the fused layer hands the whole sequence to cuDNN (GPU) or oneDNN
(CPU), the loop launches the kernels of one step at a time from Python.
Forward + backward of batch 64, T 100, input 32, hidden 128 by default,
on ``course.device()`` (CUDA when present). Prints both times (median of
``--repeats`` runs after warm-up) and their ratio.

    python bench/lstm_vs_lstmcell.py [--threads 1] [--repeats 20]
"""

import argparse
import statistics
import time

import torch
from torch import nn

import course


def lstm_fused(lstm, x):
    """x: (N, T, D) -> outputs (N, T, H) with nn.LSTM (batch_first)."""
    return lstm(x)[0]


def lstm_loop(cell, x):
    """The same with nn.LSTMCell, one step at a time: x (N, T, D) -> (N, T, H)."""
    N, T, _ = x.shape
    h = x.new_zeros(N, cell.hidden_size)
    c = x.new_zeros(N, cell.hidden_size)
    outputs = []
    for t in range(T):
        h, c = cell(x[:, t], (h, c))
        outputs.append(h)
    return torch.stack(outputs, dim=1)


def time_ms(fn, module, x, repeats, device):
    """Median milliseconds of forward + backward of ``fn(module, x).sum()``."""

    def once():
        module.zero_grad(set_to_none=True)
        fn(module, x).sum().backward()

    for _ in range(3):  # warm-up: kernel selection, allocator
        once()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        once()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--input", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = course.device()
    course.seed(0)
    lstm = nn.LSTM(args.input, args.hidden, batch_first=True).to(device)
    cell = nn.LSTMCell(args.input, args.hidden).to(device)
    with torch.no_grad():  # the same weights in both
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(lstm, name + "_l0"))
    x = torch.randn(args.batch, args.T, args.input, device=device, requires_grad=True)
    assert torch.allclose(lstm_fused(lstm, x), lstm_loop(cell, x), atol=1e-5)
    fused = time_ms(lstm_fused, lstm, x, args.repeats, device)
    loop = time_ms(lstm_loop, cell, x, args.repeats, device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"device: {name}; torch {torch.__version__}")
    print(
        f"batch {args.batch}, T {args.T}, input {args.input}, hidden {args.hidden}, forward + backward "
        f"(median of {args.repeats})"
    )
    print(f"nn.LSTM:            {fused:8.2f} ms")
    print(f"nn.LSTMCell loop:   {loop:8.2f} ms")
    print(f"ratio (loop/fused): {loop / fused:8.1f}x")


if __name__ == "__main__":
    main()
