"""course.training.train: steps, clipping, schedules, early stopping, stateful TBPTT (fast, CPU)."""

import math

import pytest
import torch
from torch import nn

from course.training import detach, evaluate, train


def _regression(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]])


def _batches(x, y, size=16):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def test_train_fits_a_linear_model():
    torch.manual_seed(0)
    x, y = _regression()
    model = nn.Linear(3, 1)
    hist = train(
        model, nn.functional.mse_loss, _batches(x, y), _batches(x, y), epochs=20, lr=0.1, device="cpu", progress=False
    )
    assert hist["steps"] == 20 * 4
    assert len(hist["val_loss"]) == 20 and hist["step"][-1] == 80
    assert hist["val_loss"][-1] < 0.01 < hist["val_loss"][0]
    assert hist["best_step"] is not None and hist["time_s"] > 0


def test_step_budget_eval_every_and_scheduler():
    torch.manual_seed(0)
    x, y = _regression()
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    hist = train(
        model,
        nn.functional.mse_loss,
        _batches(x, y),
        _batches(x, y),
        steps=25,
        eval_every=10,
        optimizer=opt,
        scheduler=sched,
        device="cpu",
        progress=False,
    )
    assert hist["steps"] == 25
    assert hist["step"] == [10, 20, 25]  # the tail after the last evaluation is evaluated
    assert hist["lr"] == pytest.approx([0.05, 0.025, 0.025])


def test_clip_bounds_the_update():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    x, y = torch.ones(1, 1), torch.full((1, 1), 1000.0)  # gradient -2000
    train(
        model,
        nn.functional.mse_loss,
        [(x, y)],
        epochs=1,
        clip=1.0,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        device="cpu",
        progress=False,
    )
    assert model.weight.item() == pytest.approx(0.5)  # the clipped gradient has norm 1


def test_early_stopping_restores_the_best_weights():
    torch.manual_seed(0)
    x, y = _regression()
    model = nn.Linear(3, 1)
    # a learning rate that diverges: the first evaluations are the best ones
    hist = train(
        model,
        nn.functional.mse_loss,
        _batches(x, y),
        _batches(x, y),
        epochs=50,
        patience=3,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.5),
        device="cpu",
        progress=False,
    )
    assert hist["stopped_early"] and len(hist["val_loss"]) < 50
    best = evaluate(model, nn.functional.mse_loss, _batches(x, y))["loss"]
    assert best == pytest.approx(hist["best_val_loss"])
    assert math.isfinite(best) and best == min(hist["val_loss"])
    with pytest.raises(ValueError):
        train(model, nn.functional.mse_loss, _batches(x, y), epochs=1, patience=2, progress=False)


class _Counter(nn.Module):
    """A stateful model that records the states it is given: (N, T, 1) -> (N, T, 1)."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(1, 2, batch_first=True)
        self.out = nn.Linear(2, 1)
        self.seen = []

    def forward(self, x, state=None):
        self.seen.append(None if state is None else (state.requires_grad, state.grad_fn))
        h, state = self.rnn(x, state)
        return self.out(h), state


def test_stateful_carries_and_detaches_the_state():
    torch.manual_seed(0)
    batches = [(torch.randn(2, 3, 1), torch.randn(2, 3, 1)) for _ in range(3)]
    model = _Counter()
    train(model, nn.functional.mse_loss, batches, batches, epochs=2, stateful=True, device="cpu", progress=False)
    # per epoch: 3 training batches (None, then a carried, detached state) + 3 validation batches
    train_seen = model.seen[:3] + model.seen[6:9]
    assert train_seen[0] is None and train_seen[3] is None  # a fresh state at each epoch
    for s in train_seen[1:3] + train_seen[4:6]:
        assert s == (False, None)  # carried, cut from the graph
    assert model.seen[3] is None  # validation starts fresh too


def test_detach_nested_states():
    h = torch.ones(1, requires_grad=True) * 2
    c = torch.ones(1, requires_grad=True) * 3
    dh, dc = detach((h, c))
    assert not dh.requires_grad and not dc.requires_grad and detach(None) is None
    assert isinstance(detach([h, c]), list)


def test_metrics_and_callable_data():
    torch.manual_seed(0)
    x = torch.randn(40, 2)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(2, 2)

    def acc(out, y):
        return (out.argmax(-1) == y).float().mean().item()

    hist = train(
        model,
        nn.functional.cross_entropy,
        lambda: _batches(x, y, 8),
        [(x, y)],
        epochs=10,
        lr=0.1,
        metrics={"accuracy": acc},
        device="cpu",
        progress=False,
    )
    assert len(hist["accuracy"]) == 10 and hist["accuracy"][-1] > 0.9
