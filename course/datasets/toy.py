"""Small datasets of the course, all generated or shipped offline.

Every loader takes a NumPy Generator (or a seed) so that a notebook run is
reproducible. Shapes are given as (N, D) inputs and (N,) integer labels.
"""

from pathlib import Path

import numpy as np


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def and_gate():
    """The four points of {0,1}^2 with AND labels: X (4, 2) float, y (4,) int."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return X, np.array([0, 0, 0, 1])


def or_gate():
    """The four points of {0,1}^2 with OR labels: X (4, 2), y (4,)."""
    X, _ = and_gate()
    return X, np.array([0, 1, 1, 1])


def xor_gate():
    """The four points of {0,1}^2 with XOR labels: X (4, 2), y (4,). Not linearly separable."""
    X, _ = and_gate()
    return X, np.array([0, 1, 1, 0])


def blobs(n=100, gap=3.0, rng=0):
    """Two Gaussian clouds in 2-D, linearly separable for gap >~ 3.

    Returns X (n, 2) and y (n,) in {0, 1}, shuffled; class 1 is centred at
    (gap/2, gap/2), class 0 at the opposite point.
    """
    rng = _rng(rng)
    y = rng.permutation(np.arange(n) % 2)
    centres = np.where(y[:, None] == 1, gap / 2, -gap / 2)
    return centres + rng.normal(size=(n, 2)), y


def noisy_xor(n=200, noise=0.15, rng=0):
    """XOR with noise: corners of the unit square jittered; X (n, 2), y (n,)."""
    rng = _rng(rng)
    corners = rng.integers(0, 2, size=(n, 2))
    return corners + noise * rng.normal(size=(n, 2)), (corners[:, 0] ^ corners[:, 1]).astype(int)


#: scikit-learn's 8x8 digits saved with NumPy (units 1-8 install without scikit-learn); its source and
#: licence (UCI, CC BY 4.0) in data/DIGITS_README.txt.
DIGITS = Path(__file__).parent / "data" / "digits.npz"


def digits(test_fraction=0.25, rng=0):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, shipped in the package).

    Returns X_train (N, 64), y_train (N,), X_test, y_test with pixels scaled
    to [0, 1]. The data are a copy of the UCI Optical Recognition of
    Handwritten Digits test set (CC BY 4.0), as scikit-learn bundles it (``load_digits``).
    """
    with np.load(DIGITS, allow_pickle=False) as d:
        X, y = d["images"].reshape(-1, 64) / 16.0, d["target"].astype(int)
    idx = _rng(rng).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = idx[:n_test], idx[n_test:]
    return X[train], y[train], X[test], y[test]
