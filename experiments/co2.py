"""Unit 10: forecasting a real seasonal series, the Mauna Loa CO2 record, against naive and AR baselines.

Data: monthly means of the weekly Mauna Loa CO2 record, March 1958 to December
2001 (:func:`course.datasets.co2.monthly`, shipped inside statsmodels, public
domain). Train on 1958-1990 (394 months), test on 1991-2001 (132 months).

From every origin t in the test period each model forecasts the next
``HORIZON`` = 24 months recursively (it feeds its own forecasts back), using
only values before t. Models:

* persistence: x(t+h) = x(t);
* seasonal persistence: the value one year earlier, x(t+h-12) (two years
  earlier for h > 12: the last observed value of that calendar month);
* seasonal persistence plus drift: x(t+h-12) + x(t-1) - x(t-13), the value a
  year earlier plus the last observed year-on-year change;
* AR(24) on the monthly differences d(t) = x(t) - x(t-1), least squares with
  an intercept (the intercept is the trend; 24 lags cover two yearly cycles),
  forecasts summed back into levels;
* LSTM on the same differences (scaled by their training standard
  deviation): a window of 36 differences -> the next one, hidden 32, Adam,
  gradient clipping, a fixed budget of steps, several seeds.

Metric: RMSE (ppmv) of the forecasts against the observed values, per horizon.
Writes ``experiments/results/co2.json`` (RMSE per model, horizon and seed, the
one-step forecasts of seed 0, settings, seconds). Run from the repository root
(139 s in all, 16-37 s per LSTM, measured on a heavily shared machine):

    python experiments/co2.py [--seeds 5] [--steps 1000]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _runs import write_results
from applications import Forecaster, ar_fit, forecast_paths, mse_loss, sample_rows, train

from course.datasets import co2

RESULTS = Path(__file__).resolve().parent / "results"
SPLIT_YEAR, WINDOW, HORIZON, P_AR = 1991, 36, 24, 24
torch.set_num_threads(1)


def seasonal_next(h):
    """Seasonal persistence as a one-step rule: the value 12 months before the next one."""
    return h[:, -12]


def seasonal_drift_next(h):
    """Seasonal persistence plus the last year-on-year change: x(t-12) + x(t-1) - x(t-13)."""
    return h[:, -12] + h[:, -1] - h[:, -13]


def level_paths(predict_next_diff, x, split):
    """Recursive forecasts of the levels from forecasts of the differences.

    predict_next_diff(diff histories (M, WINDOW)) -> (M,) next differences. Returns
    (origins, HORIZON) levels x(t), ..., x(t + HORIZON - 1) forecast from x[:t]."""
    d = np.concatenate([[np.nan], np.diff(x)])  # d[t] = x[t] - x[t-1]
    steps = forecast_paths(predict_next_diff, d, split, HORIZON, WINDOW)  # (origins, HORIZON)
    last = x[split - 1 : len(x) - HORIZON]  # x(t-1) at each origin t
    return last[:, None] + np.cumsum(steps, axis=1)


def run(seed, steps, x, split):
    """RMSE by horizon of every model for one seed (the baselines do not depend on it)."""
    truth = np.stack([x[t : t + HORIZON] for t in range(split, len(x) - HORIZON + 1)])
    d = np.diff(x[:split])  # training differences, d[i] = x[i+1] - x[i]
    preds = {
        "persistence": forecast_paths(lambda h: h[:, -1], x, split, HORIZON, WINDOW),
        "seasonal persistence": forecast_paths(seasonal_next, x, split, HORIZON, WINDOW),
        "seasonal persistence + drift": forecast_paths(seasonal_drift_next, x, split, HORIZON, WINDOW),
    }
    coef = ar_fit(d, P_AR)
    preds[f"AR({P_AR}) on differences"] = level_paths(lambda h: coef[0] + h[:, -P_AR:] @ coef[1:], x, split)

    scale = d.std()
    wx = torch.tensor(np.stack([d[i - WINDOW : i] for i in range(WINDOW, len(d))]) / scale, dtype=torch.float32)
    wy = torch.tensor(d[WINDOW:] / scale, dtype=torch.float32)
    torch.manual_seed(seed)
    model = Forecaster(hidden=32)
    t0 = time.time()
    losses = train(model, sample_rows(wx, wy, batch_size=32), mse_loss, steps, lr=3e-3, seed=seed)
    seconds = time.time() - t0

    def lstm_next(h):
        with torch.no_grad():
            return model(torch.tensor(h / scale, dtype=torch.float32)).numpy().astype(float) * scale

    preds["LSTM on differences"] = level_paths(lstm_next, x, split)
    out = {
        name: {"rmse by horizon": np.sqrt(((p - truth) ** 2).mean(0)).round(4).tolist()} for name, p in preds.items()
    }
    out["LSTM on differences"].update(
        {"final training loss": round(float(np.mean(losses[-50:])), 4), "seconds": round(seconds, 1)}
    )
    out["one-step forecasts"] = {name: p[:, 0].round(3).tolist() for name, p in preds.items()}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1000, help="LSTM training steps (batch 32)")
    ap.add_argument("--out", type=Path, default=RESULTS / "co2.json")
    args = ap.parse_args(argv)
    t, x = co2.monthly()
    split = int(np.searchsorted(t, SPLIT_YEAR))
    t0 = time.time()
    runs = [run(seed, args.steps, x, split) for seed in range(args.seeds)]
    results = {
        "task": "Mauna Loa CO2, monthly means, recursive forecasts 1..24 months ahead",
        "data": "statsmodels.datasets.co2 (weekly, public domain), monthly means; "
        f"{co2.months_interpolated()} months without a measured week interpolated",
        "train": [float(t[0]), float(t[split - 1])],
        "test": [float(t[split]), float(t[-1])],
        "train_months": split,
        "test_months": len(x) - split,
        "window": WINDOW,
        "horizon": HORIZON,
        "ar_order": P_AR,
        "steps": args.steps,
        "seeds": args.seeds,
        "torch_version": torch.__version__,
        "seconds": round(time.time() - t0, 1),
        "runs": runs,
    }
    for name in runs[0]:
        if name != "one-step forecasts":
            r = np.array([run[name]["rmse by horizon"] for run in runs])
            print(
                f"{name:28s} RMSE h=1 {r[:, 0].mean():.3f} ± {r[:, 0].std():.3f}   h=12 {r[:, 11].mean():.3f} ± "
                f"{r[:, 11].std():.3f}   h=24 {r[:, 23].mean():.3f} ± {r[:, 23].std():.3f}"
            )
    write_results(args.out, results, f" ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
