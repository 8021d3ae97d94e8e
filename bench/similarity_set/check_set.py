"""Run the course's checks on every author of the similarity evaluation set.

Each file holds answer-cell code only (no imports), so it is executed in a namespace that holds
what the notebook's setup cells define (``np``; unit 5 also ``rhos`` and ``states``). Correct
authors (A*.py) must pass every check; wrong authors (W*.py) must fail at least one.

    .venv/bin/python bench/similarity_set/check_set.py [UNIT ...]
"""

import sys
import traceback
from pathlib import Path

import numpy as np

from course.checks import bptt, deep, gru, lstm, rnn, vanishing

HERE = Path(__file__).resolve().parent


def _decay_check(ns):
    pred = ns["predicted"]
    for rho in ns["rhos"]:
        want = rho * np.sqrt(np.mean((1 - ns["states"][rho] ** 2) ** 2))
        assert abs(pred[rho] - want) < 1e-9 * max(1.0, abs(want)), f"predicted[{rho}] = {pred[rho]}, want {want}"


def _unit5_namespace():
    rng = np.random.default_rng(0)
    N, T, H = 4, 10, 8
    rhos = [0.5, 1.0, 1.5]
    states = {}
    for rho in rhos:
        Wh, h, hs = rng.normal(scale=rho / np.sqrt(H), size=(H, H)), np.zeros((N, H)), []
        for _ in range(T):
            h = np.tanh(h @ Wh + rng.normal(size=(N, H)))
            hs.append(h)
        states[rho] = np.stack(hs, axis=1)
    return {"np": np, "rhos": rhos, "states": states}


CHECKS = {
    "04_bptt": lambda f: [
        lambda: rnn.check_rnn_step_forward(f["rnn_step_forward"]),
        lambda: rnn.check_rnn_forward(f["rnn_forward"]),
        lambda: bptt.check_rnn_step_backward(f["rnn_step_forward"], f["rnn_step_backward"]),
        lambda: bptt.check_rnn_step_backward(f["rnn_step_forward"], f["rnn_step_backward"], numeric=True),
        lambda: bptt.check_rnn_backward(f["rnn_forward"], f["rnn_backward"]),
        lambda: bptt.check_rnn_backward(f["rnn_forward"], f["rnn_backward"], N=1, T=1, D=2, H=3, seed=5),
        lambda: bptt.check_rnn_backward(f["rnn_forward"], f["rnn_backward"], numeric=True),
        lambda: bptt.check_temporal_softmax_loss(f["temporal_softmax_loss"]),
        lambda: bptt.check_temporal_softmax_loss(f["temporal_softmax_loss"], N=2, T=3, V=4, seed=7, mask="none"),
        lambda: bptt.check_temporal_softmax_loss(f["temporal_softmax_loss"], N=3, T=5, V=4, seed=3, scale=300.0),
        lambda: bptt.check_temporal_softmax_loss(f["temporal_softmax_loss"], numeric=True),
        lambda: bptt.check_bigram_model(f["bigram_model"]),
        lambda: bptt.check_bigram_model(f["bigram_model"], n_tokens=200, V=9, alpha=0.3, seed=2),
        lambda: bptt.check_softmax_temperature(f["softmax_temperature"]),
        lambda: bptt.check_softmax_temperature(f["softmax_temperature"], shape=(7,), temperature=2.5, seed=1),
        lambda: bptt.check_softmax_temperature(
            f["softmax_temperature"], shape=(4, 6), temperature=0.3, seed=4, scale=100.0
        ),
    ],
    "05_vanishing_gradients": lambda f: [
        lambda: vanishing.check_rnn_jacobian(f["rnn_jacobian"]),
        lambda: vanishing.check_rnn_jacobian_chain(f["rnn_jacobian"]),
        lambda: vanishing.check_clip_grad_norm(f["clip_grad_norm"]),
        lambda: vanishing.check_clip_grad_norm(f["clip_grad_norm"], max_norm=100.0, seed=3),
        lambda: vanishing.check_clip_grad_norm_edge_cases(f["clip_grad_norm"]),
        lambda: _decay_check(f),
    ],
    "06_lstm": lambda f: [
        lambda: lstm.check_lstm_step_forward(f["lstm_step_forward"]),
        lambda: lstm.check_lstm_step_backward(f["lstm_step_forward"], f["lstm_step_backward"]),
        lambda: lstm.check_lstm_step_backward(f["lstm_step_forward"], f["lstm_step_backward"], numeric=True),
        lambda: lstm.check_lstm_forward(f["lstm_forward"]),
        lambda: lstm.check_lstm_backward(f["lstm_forward"], f["lstm_backward"]),
        lambda: lstm.check_lstm_backward(f["lstm_forward"], f["lstm_backward"], numeric=True),
    ],
    "07_gru": lambda f: [
        lambda: gru.check_gru_step_forward(f["gru_step_forward"]),
        lambda: gru.check_gru_step_backward(f["gru_step_forward"], f["gru_step_backward"]),
        lambda: gru.check_gru_step_backward(f["gru_step_forward"], f["gru_step_backward"], numeric=True),
        lambda: gru.check_gru_forward(f["gru_forward"]),
        lambda: gru.check_gru_backward(f["gru_forward"], f["gru_backward"]),
        lambda: gru.check_gru_backward(f["gru_forward"], f["gru_backward"], numeric=True),
        lambda: gru.check_gru_reset_before(f["gru_step_forward_reset_before"], f["gru_step_backward_reset_before"]),
    ],
    "08_deep_bidirectional": lambda f: (
        [
            lambda: rnn.check_rnn_forward(f["rnn_forward"]),
            lambda: bptt.check_rnn_backward(f["rnn_forward"], f["rnn_backward"]),
            lambda: lstm.check_lstm_forward(f["lstm_forward"]),
            lambda: lstm.check_lstm_backward(f["lstm_forward"], f["lstm_backward"]),
            lambda: gru.check_gru_forward(f["gru_forward"]),
            lambda: gru.check_gru_backward(f["gru_forward"], f["gru_backward"]),
            lambda: deep.check_bidirectional_forward(f["bidirectional_forward"]),
            lambda: deep.check_bidirectional_forward(f["bidirectional_forward"], kind="lstm"),
            lambda: deep.check_bidirectional_backward(f["bidirectional_forward"], f["bidirectional_backward"]),
            lambda: deep.check_bidirectional_backward(
                f["bidirectional_forward"], f["bidirectional_backward"], kind="gru"
            ),
            lambda: deep.check_stacked_forward(f["stacked_forward"]),
            lambda: deep.check_stacked_backward(f["stacked_forward"], f["stacked_backward"]),
            lambda: deep.check_stacked_backward(
                f["stacked_forward"], f["stacked_backward"], D=4, hidden=(4, 4, 4), seed=4
            ),
        ]
        + [
            lambda kind=kind, fw=fw, bw=bw: deep.check_deep_bidirectional(
                f["stacked_forward"], f["bidirectional_forward"], f["bidirectional_backward"], f[fw], f[bw], kind
            )
            for kind, fw, bw in (
                ("rnn", "rnn_forward", "rnn_backward"),
                ("lstm", "lstm_forward", "lstm_backward"),
                ("gru", "gru_forward", "gru_backward"),
            )
        ]
    ),
}


def run_file(unit, path):
    """Return the number of failed checks of one author's file (a failure to run counts as one)."""
    ns = _unit5_namespace() if unit.startswith("05") else {"np": np}
    try:
        exec(compile(path.read_text(), str(path), "exec"), ns)
        checks = CHECKS[unit](ns)
    except Exception:
        traceback.print_exc(limit=2)
        return 1
    failed = 0
    for check in checks:
        try:
            check()
        except Exception as exc:  # a check failing is the expected outcome for W*.py
            failed += 1
            first = str(exc).splitlines()[0] if str(exc) else ""
            print(f"  {path.name}: {type(exc).__name__}: {first[:150]}")
    return failed


def main(units):
    ok = True
    for unit in units or sorted(CHECKS):
        for path in sorted((HERE / unit).glob("*.py")):
            failed = run_file(unit, path)
            wrong = path.name.startswith("W")
            good = (failed > 0) if wrong else (failed == 0)
            ok &= good
            verdict = (
                ("fails as intended" if failed else "PASSES (should fail)")
                if wrong
                else ("passes" if not failed else "FAILS")
            )
            print(f"{unit}/{path.name}: {failed} failed check(s): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
