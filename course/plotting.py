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


def draw_lstm_cell(ax=None):
    """A diagram of one LSTM step: the cell-state belt, the three sigmoid gates and the two tanh.

    Gate order and names as in the course's contract (i, f, g, o); c_t = f*c_prev + i*g,
    h_t = o*tanh(c_t). Returns the Axes.
    """
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 5.2))
    sigma_c, tanh_c, belt_c, op_c = "#f6b26b", "#93c47d", "#3d85c6", "white"

    def arrow(p, q, color="0.25", lw=1.6, style="-|>", rad=0.0):
        ax.add_patch(
            FancyArrowPatch(
                p,
                q,
                arrowstyle=style,
                mutation_scale=14,
                color=color,
                lw=lw,
                shrinkA=0,
                shrinkB=0,
                connectionstyle=f"arc3,rad={rad}",
            )
        )

    def layer(x, y, text, color):
        # a learned layer: affine map of [x_t, h_prev], then the nonlinearity written in the box
        ax.add_patch(FancyBboxPatch((x - 0.45, y - 0.3), 0.9, 0.6, boxstyle="round,pad=0.05", fc=color, ec="k"))
        ax.text(x, y, text, ha="center", va="center", fontsize=12)

    def op(x, y, text):
        # an elementwise operation (no weights)
        ax.add_patch(Circle((x, y), 0.27, fc=op_c, ec="k", zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=12, zorder=4)

    ax.add_patch(FancyBboxPatch((0.4, 0.3), 10.2, 5.4, boxstyle="round,pad=0.1", fc="#f3f3f3", ec="0.6"))
    # the belt: c_prev -> (x f) -> (+ i*g) -> c_t, no weight matrix and no squashing on the way
    ax.plot([-0.6, 2.73], [5, 5], color=belt_c, lw=4, solid_capstyle="butt")
    ax.plot([3.27, 5.73], [5, 5], color=belt_c, lw=4)
    arrow((6.27, 5), (11.6, 5), color=belt_c, lw=4)
    ax.text(-0.7, 5.25, "$c_{t-1}$", fontsize=13, ha="left", va="bottom", color=belt_c)
    ax.text(11.6, 5.25, "$c_t$", fontsize=13, ha="right", va="bottom", color=belt_c)
    ax.text(4.5, 5.25, "cell state: the belt", fontsize=9, ha="center", color=belt_c)
    op(3, 5, r"$\times$")
    op(6, 5, "+")
    ax.text(3.35, 4.55, r"$f \odot c_{t-1}$", fontsize=9)
    ax.text(6.35, 4.45, r"$+\, i \odot g$", fontsize=9)
    # inputs: h_prev from the left, x_t from below, one bus feeding all four layers
    ax.plot([-0.6, 8.0], [1.0, 1.0], color="0.25", lw=1.6)
    ax.text(-0.7, 1.15, "$h_{t-1}$", fontsize=13, ha="left", va="bottom")
    arrow((1.5, -0.6), (1.5, 1.0))
    ax.text(1.5, -0.7, "$x_t$", fontsize=13, ha="center", va="top")
    gates = [
        (3.0, r"$\sigma$", sigma_c, "forget\ngate $f$"),
        (4.6, r"$\sigma$", sigma_c, "input\ngate $i$"),
        (6.0, "tanh", tanh_c, "candidate\n$g$"),
        (8.0, r"$\sigma$", sigma_c, "output\ngate $o$"),
    ]
    for x, text, color, label in gates:
        arrow((x, 1.0), (x, 1.9))
        layer(x, 2.25, text, color)
        ax.text(x, 1.45, label, fontsize=8.5, ha="center", va="center", bbox=dict(fc="#f3f3f3", ec="none", pad=0.3))
    arrow((3.0, 2.6), (3.0, 4.73))  # f multiplies the belt
    op(6, 3.75, r"$\times$")  # i * g
    arrow((4.6, 2.6), (5.78, 3.6))
    arrow((6.0, 2.6), (6.0, 3.48))
    arrow((6.0, 4.02), (6.0, 4.73))
    # output: tanh of the new cell (no weights), gated by o
    arrow((9.2, 5), (9.2, 4.28))
    ax.add_patch(FancyBboxPatch((8.8, 3.72), 0.8, 0.5, boxstyle="round,pad=0.05", fc="white", ec=tanh_c, lw=2))
    ax.text(9.2, 3.97, "tanh", ha="center", va="center", fontsize=11)
    ax.text(9.75, 3.97, "no weights:\nsquashes $c_t$", fontsize=8, va="center")
    op(9.2, 2.25, r"$\times$")
    ax.text(9.45, 1.6, r"$o \odot \tanh(c_t)$", fontsize=9)
    arrow((8.45, 2.25), (8.93, 2.25))
    arrow((9.2, 3.67), (9.2, 2.52))
    ax.plot([9.2, 9.2, 10.3], [1.98, 1.0, 1.0], color="0.25", lw=1.6)
    arrow((10.3, 1.0), (11.6, 1.0))
    arrow((10.3, 1.0), (10.3, 6.3))
    ax.text(11.6, 1.15, "$h_t$", fontsize=13, ha="right", va="bottom")
    ax.text(10.4, 6.3, "$h_t$ (to the output\nand the next layer)", fontsize=9, va="top")
    ax.text(
        5.5,
        -0.35,
        r"$\sigma$, tanh boxes: a learned layer of $[x_t, h_{t-1}]$;  circles: elementwise",
        fontsize=8.5,
        ha="center",
        va="top",
        color="0.3",
    )
    ax.set(xlim=(-0.9, 12.2), ylim=(-1.1, 6.6), aspect="equal")
    ax.axis("off")
    return ax


# --- unit 7 (GRU) and the experiment figures of units 3, 7, 8 -------------------------------


def draw_gru_cell(ax=None):
    """Draw one GRU step, PyTorch's equations (the course's): gates r, z, candidate n.

    r = sigma(.), z = sigma(.), n = tanh(x W_xn + b_xn + r * (h_prev W_hn + b_hn)),
    h_t = (1 - z) * n + z * h_prev. Returns the Axes.
    """
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 5.2))
    sigma_c, tanh_c, state_c = "#f6b26b", "#93c47d", "#3d85c6"

    def arrow(p, q, color="0.25", lw=1.6, rad=0.0):
        ax.add_patch(
            FancyArrowPatch(
                p, q, arrowstyle="-|>", mutation_scale=14, color=color, lw=lw, shrinkA=0, shrinkB=0,
                connectionstyle=f"arc3,rad={rad}",
            )
        )  # fmt: skip

    def layer(x, y, text, color, width=0.9):
        ax.add_patch(FancyBboxPatch((x - width / 2, y - 0.3), width, 0.6, boxstyle="round,pad=0.05", fc=color, ec="k"))
        ax.text(x, y, text, ha="center", va="center", fontsize=11)

    def op(x, y, text):
        ax.add_patch(Circle((x, y), 0.27, fc="white", ec="k", zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=11, zorder=4)

    ax.add_patch(FancyBboxPatch((0.3, 0.3), 10.3, 5.4, boxstyle="round,pad=0.1", fc="#f3f3f3", ec="0.6"))
    # the state line: h_prev -> (x z) -> (+ (1 - z) n) -> h_t; the state is also the output
    ax.plot([-0.6, 2.13], [5, 5], color=state_c, lw=4, solid_capstyle="butt")
    ax.plot([2.67, 8.33], [5, 5], color=state_c, lw=4)
    arrow((8.87, 5), (11.6, 5), color=state_c, lw=4)
    ax.text(-0.7, 5.25, "$h_{t-1}$", fontsize=13, ha="left", va="bottom", color=state_c)
    ax.text(11.6, 5.25, "$h_t$", fontsize=13, ha="right", va="bottom", color=state_c)
    op(2.4, 5, r"$\times$")
    op(8.6, 5, "+")
    ax.text(2.75, 4.75, r"$z \odot h_{t-1}$: keep", fontsize=9, va="top")
    ax.text(5.5, 5.25, "hidden state (no separate cell)", fontsize=9, ha="center", va="bottom", color=state_c)
    # inputs: h_prev branches down to a bus that x_t joins
    ax.plot([0.7, 0.7, 8.6], [5, 1.0, 1.0], color="0.25", lw=1.6)
    arrow((1.4, -0.3), (1.4, 1.0))
    ax.text(1.4, -0.35, "$x_t$", fontsize=13, ha="center", va="top")
    boxes = [
        (2.4, r"$\sigma$", sigma_c, "update\ngate $z$", 0.9),
        (4.2, r"$\sigma$", sigma_c, "reset\ngate $r$", 0.9),
        (6.4, r"$h_{t-1} W_{h,n}$", "white", "$+\\,b_{h,n}$\n(linear)", 1.3),
        (8.6, "tanh", tanh_c, "candidate\n$n$", 0.9),
    ]
    for x, text, color, label, width in boxes:
        arrow((x, 1.0), (x, 1.9))
        layer(x, 2.25, text, color, width)
        ax.text(x, 1.45, label, fontsize=8.5, ha="center", va="center", bbox=dict(fc="#f3f3f3", ec="none", pad=0.3))
    # z: straight up to the keep-multiplier, and 1 - z across to the write-multiplier
    arrow((2.4, 2.6), (2.4, 4.73))
    ax.plot([2.4, 7.23], [4.2, 4.2], color="0.25", lw=1.6)
    op(7.5, 4.2, "1−")
    op(8.6, 3.75, r"$\times$")
    arrow((7.77, 4.1), (8.35, 3.87))
    ax.text(8.95, 3.75, r"$(1-z) \odot n$: write", fontsize=9, va="center")
    arrow((8.6, 2.6), (8.6, 3.48))
    arrow((8.6, 4.02), (8.6, 4.73))
    # r gates the hidden-side product inside the candidate
    op(6.4, 3.35, r"$\times$")
    arrow((4.2, 2.6), (6.13, 3.3), rad=-0.2)
    arrow((6.4, 2.6), (6.4, 3.08))
    arrow((6.67, 3.3), (8.15, 2.45), rad=-0.2)
    ax.text(6.75, 3.55, r"$r \odot (\cdot)$", fontsize=9)
    ax.text(
        5.5,
        -1.0,
        r"$\sigma$, tanh boxes: a learned layer of $[x_t, h_{t-1}]$ (tanh: of $x_t$ and the reset product);"
        "  circles: elementwise",
        fontsize=8.5,
        ha="center",
        va="top",
        color="0.3",
    )
    ax.set(xlim=(-0.9, 12.2), ylim=(-1.5, 6.2), aspect="equal")
    ax.axis("off")
    return ax


def plot_seed_band(ax, runs, x="steps", y="test_mse", label=None, color=None, logy=True):
    """Median over seeds with a min-max band. runs: a list of dicts holding equal-length lists
    ``runs[i][x]`` and ``runs[i][y]`` (one per seed, e.g. loaded from experiments/results/).
    Returns the line."""
    xs = np.asarray(runs[0][x])
    ys = np.array([r[y] for r in runs])
    (line,) = ax.plot(xs, np.median(ys, axis=0), color=color, label=label)
    ax.fill_between(xs, ys.min(axis=0), ys.max(axis=0), color=line.get_color(), alpha=0.2, lw=0)
    if logy:
        ax.set_yscale("log")
    return line
