"""The digits of units 1-2 (course.datasets.toy.digits) are read from the package: no scikit-learn needed."""

import numpy as np
import pytest

from course.datasets import toy


def test_the_saved_digits_are_scikit_learns():
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    with np.load(toy.DIGITS) as saved:
        np.testing.assert_array_equal(saved["images"].reshape(-1, 64), d.data)
        np.testing.assert_array_equal(saved["target"], d.target)


def test_digits_splits_the_1797_images_into_train_and_test_scaled_to_0_1():
    X_train, y_train, X_test, y_test = toy.digits(test_fraction=0.25, rng=0)
    assert X_train.shape == (1348, 64) and X_test.shape == (449, 64)
    assert X_train.min() == 0 and X_train.max() == 1 and set(np.unique(y_test)) == set(range(10))
    assert y_train.dtype.kind == "i"
