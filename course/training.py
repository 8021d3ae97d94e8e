"""The course's one training loop for ``torch.nn`` models.

:func:`train` does what every later notebook needs and nothing more:
mini-batch steps with any ``torch.optim`` optimiser, gradient-norm clipping,
an optional learning-rate scheduler, evaluation on validation data every
``eval_every`` steps (or once per epoch), early stopping with the best
weights restored, a ``tqdm`` progress bar, and a loss plot. It returns a
history dict of plain Python lists (easy to save as JSON or plot).

Two ways to feed a model:

* **stateless** (default): a batch is ``(x, y)``; ``out = model(x)`` and
  ``loss = loss_fn(out, y)``. ``out`` may be anything ``loss_fn`` accepts.
* **stateful** (``stateful=True``, truncated back-propagation through time):
  ``out, state = model(x, state)``. The state (a tensor, a tuple of tensors
  such as an LSTM's ``(h, c)``, or ``None``) is carried from one batch to
  the next, so batch ``i + 1`` must continue batch ``i`` row by row (see
  :func:`course.datasets.human_numbers.stateful_batches`), and it is *detached*
  between batches: the forward pass sees the whole history, the backward
  pass stops at the chunk boundary. The state starts as ``None`` at each
  epoch and each evaluation.

Example::

    from course.training import train
    history = train(model, nn.functional.cross_entropy, train_batches, val_batches,
                    epochs=5, optimizer=torch.optim.Adam(model.parameters(), 1e-3),
                    clip=1.0, metrics={"accuracy": accuracy}, plot=True)
    history["val_loss"][-1], history["accuracy"][-1]

torch is imported where it is used, so :func:`plot_history` works without it.
"""

import math
import time

from course import device as default_device
from course.interop import require_torch

__all__ = ["train", "evaluate", "detach", "to_device", "accuracy"]


def detach(state):
    """``state`` cut from the graph: a tensor, or a tuple/list of tensors (``(h, c)``), or None."""
    if state is None:
        return None
    torch = require_torch("detach")
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach(s) for s in state)


def to_device(obj, device):
    """Tensors (possibly nested in tuples/lists/dicts) moved to ``device``; anything else as is."""
    torch = require_torch("to_device")
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    return obj


def accuracy(out, y):
    """Fraction of correct argmax predictions. out: (..., C) scores, y: (...) class ids."""
    return (out.argmax(dim=-1) == y).float().mean().item()


def _forward(model, x, state, stateful):
    if stateful:
        out, state = model(x, state)
        return out, state
    return model(x), None


def _batches(data):
    """A fresh iterable of batches: ``data`` itself, or ``data()`` when it is callable
    (so that each epoch can draw new random batches)."""
    return data() if callable(data) else data


def evaluate(model, loss_fn, data, metrics=None, stateful=False, device=None):
    """Mean loss and metrics of ``model`` on ``data`` (an iterable of ``(x, y)``), in eval mode.

    Means are weighted by each batch's number of targets (``y.numel()``), so
    a short last batch counts for what it holds. Returns ``{"loss": float,
    name: float for each metric}``; ``metrics`` maps a name to ``fn(out, y) -> float``.
    The model's train/eval mode is restored afterwards.
    """
    torch = require_torch("evaluate")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    metrics = metrics or {}
    totals, weight, state = {"loss": 0.0, **{k: 0.0 for k in metrics}}, 0, None
    with torch.no_grad():
        for x, y in _batches(data):
            x, y = to_device(x, device), to_device(y, device)
            out, state = _forward(model, x, state, stateful)
            n = y.numel() if isinstance(y, torch.Tensor) else 1
            totals["loss"] += float(loss_fn(out, y)) * n
            for k, fn in metrics.items():
                totals[k] += float(fn(out, y)) * n
            weight += n
    model.train(was_training)
    return {k: v / max(weight, 1) for k, v in totals.items()}


def train(
    model,
    loss_fn,
    train_data,
    val_data=None,
    *,
    epochs=1,
    steps=None,
    optimizer=None,
    lr=1e-3,
    clip=None,
    scheduler=None,
    patience=None,
    eval_every=None,
    metrics=None,
    stateful=False,
    device=None,
    progress=True,
    plot=False,
    desc="training",
):
    """Train ``model`` and return its history.

    model: a ``torch.nn.Module``; ``model(x) -> out`` or, when ``stateful``,
        ``model(x, state) -> (out, state)`` (``state`` is None at the start).
    loss_fn: ``loss_fn(out, y) -> scalar tensor`` (e.g. a wrapper of
        ``nn.functional.cross_entropy`` that flattens (N, T, V) scores).
    train_data: an iterable of ``(x, y)`` batches (a list, a DataLoader,
        ``zip(x, y)`` of stacked batches...) or a function returning one;
        it is iterated once per epoch (``list(zip(...))`` rather than a
        one-shot ``zip``).
    val_data: like ``train_data`` (no function needed), or None.
    epochs: passes over ``train_data``; ``steps``: a budget of optimiser
        steps instead (``train_data`` is re-iterated as often as needed).
    optimizer: a ``torch.optim`` optimiser, default ``Adam(lr=lr)``.
    clip: max global gradient norm (``clip_grad_norm_``), or None.
    scheduler: a learning-rate scheduler stepped after every optimiser step
        (``OneCycleLR``, ``StepLR`` counted in steps, ...); a
        ``ReduceLROnPlateau`` is stepped with the validation loss instead.
    eval_every: evaluate every this many steps (default: at each epoch's end).
    patience: stop after this many evaluations without a new best
        validation loss, and restore the best weights (needs ``val_data``).
    metrics: ``{name: fn(out, y) -> float}`` computed on the validation data.
    stateful: carry the recurrent state across batches (truncated BPTT).
    device: where to train (default ``course.device()``: CUDA if present).
    progress: show a tqdm bar; plot: ``True`` draws the loss curves at the
        end, ``"live"`` redraws them at every evaluation (notebooks only).

    Returns a dict of lists, one item per evaluation: ``step``,
    ``train_loss`` (mean training loss since the previous evaluation),
    ``val_loss``, one list per metric, ``lr``; and ``best_step``,
    ``best_val_loss`` (None without ``val_data``), ``steps`` (done),
    ``stopped_early`` (bool), ``time_s``. The model keeps its last weights,
    or the best ones when ``patience`` is set.
    """
    from tqdm.auto import tqdm

    torch = require_torch("train")
    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    metrics = metrics or {}
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if patience is not None and val_data is None:
        raise ValueError("early stopping (patience) needs val_data")
    if steps is None:
        try:
            per_epoch = len(_batches(train_data))
        except TypeError:
            per_epoch = None
        total = per_epoch * epochs if per_epoch is not None else None
    else:
        total = steps

    history = {
        "step": [],
        "train_loss": [],
        "val_loss": [],
        **{k: [] for k in metrics},
        "lr": [],
        "best_step": None,
        "best_val_loss": math.inf,
        "steps": 0,
        "stopped_early": False,
        "time_s": 0.0,
    }
    best_state, bad_evals, since_eval = None, 0, []
    start = time.perf_counter()
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=True)

    def run_eval():
        nonlocal best_state, bad_evals
        history["step"].append(history["steps"])
        history["train_loss"].append(sum(since_eval) / max(len(since_eval), 1))
        history["lr"].append(optimizer.param_groups[0]["lr"])
        since_eval.clear()
        if val_data is None:
            history["val_loss"].append(None)
            for k in metrics:
                history[k].append(None)
        else:
            res = evaluate(model, loss_fn, val_data, metrics, stateful, device)
            history["val_loss"].append(res["loss"])
            for k in metrics:
                history[k].append(res[k])
            if plateau:
                scheduler.step(res["loss"])
            if res["loss"] < history["best_val_loss"]:
                history["best_val_loss"], history["best_step"], bad_evals = res["loss"], history["steps"], 0
                if patience is not None:
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad_evals += 1
        bar.set_postfix(
            {
                "train": f"{history['train_loss'][-1]:.4f}",
                **({"val": f"{history['val_loss'][-1]:.4f}"} if val_data is not None else {}),
            }
        )
        if plot == "live":
            _live_plot(history, metrics)
        return patience is not None and bad_evals >= patience

    model.train()
    stop, epoch = False, 0
    while not stop and (steps is not None or epoch < epochs):
        state, seen = None, 0  # each pass over the data starts from a zero state
        for x, y in _batches(train_data):
            x, y = to_device(x, device), to_device(y, device)
            out, state = _forward(model, x, detach(state), stateful)  # detach: truncated BPTT
            loss = loss_fn(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            if scheduler is not None and not plateau:
                scheduler.step()
            history["steps"] += 1
            seen += 1
            since_eval.append(loss.item())
            bar.update(1)
            if eval_every and history["steps"] % eval_every == 0 and run_eval():
                stop = history["stopped_early"] = True
            if steps is not None and history["steps"] >= steps:
                stop = True
            if stop:
                break
        if seen == 0:
            raise ValueError("train_data gave no batches (a one-shot iterator used up? pass a list)")
        epoch += 1
        if not eval_every and since_eval and not history["stopped_early"]:
            if run_eval():
                stop = history["stopped_early"] = True
    if since_eval and not history["stopped_early"]:  # steps after the last evaluation
        run_eval()
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history["time_s"] = time.perf_counter() - start
    if val_data is None:
        history["best_val_loss"] = None  # not inf: the history stays valid JSON
    if plot == "live":
        from IPython.display import clear_output

        clear_output(wait=True)
    if plot:
        plot_history(history, metrics if val_data is not None else ())
    return history


def plot_history(history, metrics=(), ax=None):
    """Training and validation loss against the step (and metrics on a second axis if any)."""
    import matplotlib.pyplot as plt

    from course.plotting import plot_curves

    steps = history["step"]
    curves = {"train loss": (steps, history["train_loss"])}
    if any(v is not None for v in history["val_loss"]):
        curves["validation loss"] = (steps, history["val_loss"])
    if metrics and ax is None:
        _, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
        plot_curves({k: (steps, history[k]) for k in metrics}, ax=ax2, ylabel="validation metric")
    ax = plot_curves(curves, ax=ax, ylabel="loss")
    if history.get("best_step") is not None:
        ax.axvline(history["best_step"], color="grey", ls=":", lw=1)
    plt.show()
    return ax


def _live_plot(history, metrics):
    from IPython.display import clear_output

    clear_output(wait=True)
    plot_history(history, metrics)
