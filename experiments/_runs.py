"""What every experiment script does the same way: seeding, one optimiser step, the results file.

The scripts in ``experiments/`` differ in their tasks, models and loops (each
keeps its own, to be read on its own); they share the small pieces below,
so that a run's settings, parameter count and results file mean the same
thing in every ``experiments/results/*.json`` that the lectures read.

Import it as the scripts import each other (``experiments/`` is on
``sys.path`` when a script runs, and the tests put it there):

    from _runs import clipped_step, settings_of, write_results
"""

import json
from pathlib import Path

import torch
from torch import nn


def batch_generator(seed):
    """The random generator of one run's training batches: seeded with ``seed + 1000``.

    The model's initialisation draws from torch's global generator (seeded
    with ``seed`` by the script); the batches get a stream of their own, so
    that at the same seed every model (RNN, LSTM, GRU: each draws a different
    number of initial weights) trains on the very same batches.
    """
    return torch.Generator().manual_seed(seed + 1000)


def clipped_step(model, optimizer, loss, clip):
    """One optimiser step on the scalar tensor ``loss``, its gradient clipped to norm ``clip``.

    The norm is that of all of ``model``'s gradients taken together (one
    vector), so clipping shortens the step without turning it.
    """
    optimizer.zero_grad()  # gradients accumulate in .grad: clear the previous step's
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()


def n_parameters(model):
    """The number of trainable numbers in ``model``.

    ``model.parameters()`` yields a shared tensor once, so tied weights (an
    embedding reused as the read-out) count once.
    """
    return sum(p.numel() for p in model.parameters())


def settings_of(args):
    """The command-line settings of a run as a JSON-able dict, for the results file's ``settings``.

    Paths become strings; ``out`` (where the results go) is left out: it says
    nothing about the run, and a rerun elsewhere should give the same file.
    """
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"}


def write_results(path, results, note=""):
    """Write ``results`` to ``path`` as JSON (indent 1, final newline), making its folder; say so.

    Prints ``wrote <path><note>``; returns ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {path}{note}")
    return path
