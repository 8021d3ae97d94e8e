"""Plots the notebooks share: decision boundaries, loss curves."""

import matplotlib.pyplot as plt
import numpy as np


def plot_decision_boundary(ax, X, y, w=None, b=None, predict=None, title=None, resolution=200):
    """Scatter 2-D points coloured by label, with a classifier's regions.

    X: (N, 2), y: (N,) in {0, 1}. Either a linear classifier (w (2,), b) whose
    line w.x + b = 0 is drawn, or ``predict``: a function (M, 2) -> (M,) whose
    regions are shaded.
    """
    pad = 0.5
    x0, x1 = X[:, 0].min() - pad, X[:, 0].max() + pad
    y0, y1 = X[:, 1].min() - pad, X[:, 1].max() + pad
    if predict is None and w is not None:
        predict = lambda P: (P @ np.asarray(w) + b > 0).astype(int)  # noqa: E731
    if predict is not None:
        gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
        zz = np.asarray(predict(np.c_[gx.ravel(), gy.ravel()])).reshape(gx.shape)
        ax.contourf(gx, gy, zz, levels=[-0.5, 0.5, 1.5], colors=["#cfe2f3", "#f9d5c7"], alpha=0.8)
    if w is not None and abs(w[1]) > 1e-12:
        xs = np.array([x0, x1])
        ax.plot(xs, -(w[0] * xs + b) / w[1], "k-", lw=1.5)
    elif w is not None and abs(w[0]) > 1e-12:
        ax.axvline(-b / w[0], color="k", lw=1.5)
    ax.scatter(X[y == 0, 0], X[y == 0, 1], c="#1f77b4", marker="o", edgecolor="k", label="0")
    ax.scatter(X[y == 1, 0], X[y == 1, 1], c="#d62728", marker="s", edgecolor="k", label="1")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def plot_curves(curves, ax=None, xlabel="step", ylabel="loss", logy=False, title=None):
    """Line plot of named curves: ``curves`` maps a label to a sequence of values (or (x, y) pair)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for label, values in curves.items():
        if isinstance(values, tuple) and len(values) == 2:
            ax.plot(values[0], values[1], label=label)
        else:
            ax.plot(np.arange(1, len(values) + 1), values, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax
