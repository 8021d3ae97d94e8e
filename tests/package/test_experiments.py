"""Smoke tests of the experiment scripts' building blocks (experiments/*.py): the tasks, the models, the counts.

The scripts' full runs take minutes and are not run here; these tests check, in
about a second, that what the runs rely on is right.
"""

import argparse
import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import _runs  # noqa: E402
import adding_problem  # noqa: E402
import bidirectional_cost  # noqa: E402
import depth  # noqa: E402
import gru_memory  # noqa: E402
import indrnn_memory  # noqa: E402


def test_adding_batch_target_is_the_sum_of_the_two_marked_values():
    x, y = adding_problem.adding_batch(50, 20, torch.Generator().manual_seed(0))
    assert x.shape == (50, 20, 2) and y.shape == (50, 1)
    markers = x[..., 1]
    assert torch.equal(markers.sum(1), torch.full((50,), 2.0)), "exactly two markers per sequence"
    assert (markers[:, :10].sum(1) == 1).all(), "one marker in the first half"
    torch.testing.assert_close(y[:, 0], (x[..., 0] * markers).sum(1))


def test_indrnn_hand_written_backward_matches_autograd_of_the_loop():
    a = torch.randn(3, 6, 4, dtype=torch.float64, requires_grad=True)
    u = torch.empty(4, dtype=torch.float64).uniform_(-1.2, 1.2).requires_grad_()
    assert torch.autograd.gradcheck(indrnn_memory.IndRecurrence.apply, (a, u))

    h, hs = torch.zeros(3, 4, dtype=torch.float64), []
    for t in range(6):  # the definition, under autograd
        h = torch.relu(a[:, t] + u * h)
        hs.append(h)
    reference = torch.stack(hs, 1)
    torch.testing.assert_close(indrnn_memory.IndRecurrence.apply(a, u), reference)


def test_indrnn_constrain_clips_recurrent_weights_to_the_bound():
    T = 50
    model = indrnn_memory.IndRNNRegressor(T, hidden=8, layers=2)
    with torch.no_grad():
        model.layers[0].u.fill_(3.0)
        model.layers[1].u.fill_(-3.0)
    model.constrain()
    bound = 2 ** (1 / T)
    assert torch.allclose(model.layers[0].u, torch.full((8,), bound))
    assert torch.allclose(model.layers[1].u, torch.full((8,), -bound))
    assert model(torch.randn(5, T, 2)).shape == (5, 1)


def test_indrnn_last_layer_starts_able_to_keep_half_a_value_over_T_steps():
    T = 100
    u = indrnn_memory.IndRNNRegressor(T, hidden=256, layers=2).layers[-1].u.detach()
    assert (u >= 0.5 ** (1 / T)).all() and (u <= 2 ** (1 / T)).all()


def test_recall_batch_target_is_the_flagged_symbol():
    x, y = gru_memory.recall_batch(40, 12, torch.Generator().manual_seed(0))
    K = gru_memory.K
    assert x.shape == (40, 12, K + 1) and y.shape == (40,)
    assert torch.equal(x[..., :K].sum(-1), torch.ones(40, 12)), "one symbol per step"
    assert torch.equal(x[..., K].sum(1), torch.ones(40)), "one flag per sequence"
    flagged = x[..., K].argmax(1)
    assert torch.equal(x[torch.arange(40), flagged, :K].argmax(-1), y)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_parameter_formula_matches_torch_modules(kind):
    for H in (1, 7, 31):
        model = gru_memory.Classifier(kind, H)
        assert gru_memory.parameters(kind, H) == sum(p.numel() for p in model.parameters())


def test_equal_parameter_budget_gives_the_rnn_the_widest_state():
    hidden = {kind: gru_memory.hidden_for(kind, 4300) for kind in gru_memory.CELLS}
    assert hidden["rnn"] > hidden["gru"] > hidden["lstm"]
    for kind, H in hidden.items():
        assert abs(gru_memory.parameters(kind, H) - 4300) < 0.05 * 4300


def test_deep_lm_carries_its_state_across_chunks():
    model = depth.DeepLM(vocab_size=30, hidden=8, layers=3)
    x = torch.randint(0, 30, (4, 5))
    scores, state = model(x)
    assert scores.shape == (4, 5, 30)
    assert state[0].shape == (3, 4, 8), "one (h, c) per layer"
    again, _ = model(x, state)
    assert not torch.allclose(scores, again), "the second chunk must start from the carried state"


def test_bidirectional_cost_times_every_configuration():
    fns = bidirectional_cost.step_fns("gru", N=2, T=3, D=2, H=4)
    assert set(fns) == {f"gru {d} {w}" for d in ("uni", "bi") for w in ("forward", "train")}
    seconds = bidirectional_cost.time_calls(fns, repeats=2, warmup=1)
    assert all(s > 0 for s in seconds.values())


def test_adding_regressor_forget_bias_lands_in_the_forget_block():
    model = adding_problem.Regressor("lstm", hidden=4, forget_bias=1.0)
    fresh = nn.LSTM(2, 4, batch_first=True)  # PyTorch's init is within +-1/sqrt(H) = 0.5
    assert (model.rnn.bias_ih_l0[4:8] > 0.5).all(), "gate order i, f, g, o: rows H:2H are f"
    assert (fresh.bias_ih_l0.abs() <= 0.5).all()


def test_the_saved_lstm_arrays_of_exercise_6_are_the_trained_lstm():
    """experiments/results/adding_lstm.npz (read with NumPy alone by exercise 6) holds the .pt's weights."""
    import numpy as np

    from course.interop import load_into_torch

    state = torch.load(adding_problem.RESULTS / "adding_lstm.pt")
    saved = np.load(adding_problem.RESULTS / "adding_lstm.npz")
    model = adding_problem.Regressor("lstm", hidden=saved["Wh"].shape[0]).double()
    model.load_state_dict(state)
    load_into_torch(model.rnn, (saved["Wx"], saved["Wh"], saved["b"]))  # bias_hh is zero after this
    x = torch.rand(3, 7, 2, dtype=torch.float64)
    with torch.no_grad():
        want = adding_problem.Regressor("lstm", hidden=saved["Wh"].shape[0]).double()
        want.load_state_dict(state)
        np.testing.assert_allclose(model.rnn(x)[0].numpy(), want.rnn(x)[0].numpy(), rtol=1e-6, atol=1e-7)
        head = model.head.weight.double().numpy()[0]
    np.testing.assert_allclose(saved["w_out"], head)
    assert float(saved["b_out"]) == pytest.approx(float(state["head.bias"]))


def test_seed_runs_merge_into_one_results_file(tmp_path):
    path = tmp_path / "adding_problem_seeds.json"
    settings = dict(T=10, batch=4, hidden=3, lr=1e-3, clip=1.0, eval_every=5)
    adding_problem.merge_seed_results(path, {"settings": {**settings}, "models": {"gru": {"0": {"x": 1}}}})
    adding_problem.merge_seed_results(path, {"settings": {**settings}, "models": {"gru": {"2": {"x": 2}}}})
    merged = json.loads(path.read_text())
    assert merged["models"]["gru"] == {"0": {"x": 1}, "2": {"x": 2}}
    assert merged["settings"]["seeds"] == [0, 2]
    with pytest.raises(SystemExit, match="other settings"):
        adding_problem.merge_seed_results(path, {"settings": {**settings, "T": 20}, "models": {}})


def test_runs_settings_and_results_file(tmp_path, capsys):
    args = argparse.Namespace(steps=3, data=Path("a/b"), seeds=[0, 1], out=tmp_path)
    assert _runs.settings_of(args) == {"steps": 3, "data": "a/b", "seeds": [0, 1]}, "paths as text, out left out"
    path = _runs.write_results(tmp_path / "new" / "x.json", {"settings": _runs.settings_of(args)}, " (1 s)")
    assert path.read_text() == json.dumps({"settings": {"steps": 3, "data": "a/b", "seeds": [0, 1]}}, indent=1) + "\n"
    assert capsys.readouterr().out == f"wrote {path} (1 s)\n"


def test_runs_clipped_step_moves_by_the_clipped_gradient():
    model = nn.Linear(3, 1, bias=False)
    w = model.weight.detach().clone()
    loss = 100.0 * model(torch.ones(1, 3)).sum()  # gradient 100 * (1, 1, 1): norm 173
    _runs.clipped_step(model, torch.optim.SGD(model.parameters(), lr=1.0), loss, clip=1.0)
    torch.testing.assert_close(w - model.weight.detach(), torch.full((1, 3), 3**-0.5))
    assert _runs.n_parameters(model) == 3


# ---------------------------------------------------------------- unit 11: experiments/linear_recurrences.py
def test_the_experiments_scans_equal_their_loops_in_numpy_and_torch():
    import linear_recurrences as lr
    import numpy as np

    rng = np.random.default_rng(0)
    for T in (1, 2, 5, 16, 33):
        a, b, h0 = rng.uniform(0.3, 1.0, (2, T, 3)), rng.normal(size=(2, T, 3)), rng.normal(size=(2, 3))
        np.testing.assert_allclose(lr.scan_numpy(a, b, h0), lr.loop_numpy(a, b, h0), rtol=1e-12, atol=1e-12)
        ta, tb, th0 = (torch.tensor(v) for v in (a, b, h0))
        torch.testing.assert_close(lr.scan_torch(ta, tb, th0), lr.loop_torch(ta, tb, th0))


def test_the_experiments_mingru_layer_is_the_recurrence_of_its_definition():
    import linear_recurrences as lr

    torch.manual_seed(0)
    layer = lr.MinGRU(3, 4).double()
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    pre_z, h_tilde = layer.gate(x).chunk(2, dim=-1)
    z, h, hs = torch.sigmoid(pre_z), torch.zeros(2, 4, dtype=torch.float64), []
    for t in range(7):
        h = (1 - z[:, t]) * h + z[:, t] * h_tilde[:, t]
        hs.append(h)
    torch.testing.assert_close(layer(x), torch.stack(hs, 1))


@pytest.mark.parametrize("kind", ["mingru", "gru", "lstm"])
def test_the_compared_models_have_about_the_same_number_of_parameters(kind):
    import linear_recurrences as lr

    model = lr.Regressor(kind, lr.hidden_for(kind, 4600))
    assert abs(_runs.n_parameters(model) - 4600) / 4600 < 0.05
    assert model(torch.randn(3, 10, 2)).shape == (3, 1)


def test_attention_memory_grows_quadratically_and_the_recurrences_linearly():
    import linear_recurrences as lr

    rows = lr.memory([256, 1024])["rows"]
    attention = rows[1]["attention_bytes"] / rows[0]["attention_bytes"]
    recurrence = rows[1]["mingru_bytes"] / rows[0]["mingru_bytes"]
    assert attention > 12 and recurrence < 6, (attention, recurrence)  # x4 in T: about x16 and x4
