"""Saved torch references (course.references): the checks of units 1-8 where torch is not installed.

Every saved call equals what live torch computes now, and how a call is read back: equal inputs give
the saved outputs, other values of the same shapes NaN (they match nothing), shapes never saved one line
naming the install. The answered exercises of units 1-8 pass their visible tests on the saved files
alone in test_without_torch.py.
The hint tables (test_hints_*.py of units 1-8) run in both modes through the ``both_references`` fixture.
"""

import importlib

import numpy as np
import pytest

from course import references as R
from course.checks._common import close
from course.interop import INSTALL_TORCH
from course.units import units

from helpers import ROOT

UNITS = units(ROOT)[:8]
SAVED = sorted(R.SAVED_DIR.glob("*.npz"))


def reference_function(key):
    """The live function a saved call's key names (``module.qualname``)."""
    module, _, name = key.rpartition(".")
    fn = getattr(importlib.import_module(module), name)
    return getattr(fn, "live", fn)


def assert_same(got, saved, where):
    assert type(got) is type(saved) or isinstance(saved, (float, np.ndarray)), f"{where}: {type(got)} != {type(saved)}"
    if isinstance(saved, dict):
        assert got.keys() == saved.keys(), where
        for k in saved:
            assert_same(got[k], saved[k], f"{where}[{k!r}]")
    elif isinstance(saved, (list, tuple)):
        assert len(got) == len(saved), where
        for i, (g, s) in enumerate(zip(got, saved)):
            assert_same(g, s, f"{where}[{i}]")
    elif isinstance(saved, (np.ndarray, float)):
        assert np.shape(got) == np.shape(saved), f"{where}: shape {np.shape(got)} != {np.shape(saved)}"
        np.testing.assert_allclose(got, saved, rtol=1e-10, atol=1e-12, err_msg=where)
    else:
        assert got == saved, where


def test_units_1_to_8_each_have_their_saved_file():
    assert [p.stem for p in SAVED] == [u.id for u in UNITS], (
        "run python -m course.instructor.saved_references to write them"
    )


@pytest.mark.parametrize("path", SAVED, ids=lambda p: p.stem)
def test_every_saved_reference_equals_what_live_torch_computes_now(path):
    pytest.importorskip("torch", reason="the student's install (no torch) reads the saved files: nothing to compare")
    calls = R.saved_calls(path)
    assert calls, f"{path.name} saves no call"
    for n, (key, arguments, result) in enumerate(calls):
        assert_same(reference_function(key)(**arguments), result, f"{path.name}: call {n} of {key}")


# ---------------------------------------------------------------- how a call is read back
calls_made = []


@R.saved_reference
def doubled(x, scale=2.0, kind="plain"):
    """A stand-in reference: x (N, D) -> {"y": (N, D), "sums": (kind, [()])}."""
    calls_made.append(kind)
    return {"y": np.asarray(x) * scale, "sums": (kind, [float(np.sum(x))])}


@pytest.fixture
def live(monkeypatch):
    """``doubled`` needs no torch: where torch is missing (the student's install), it still runs live."""
    monkeypatch.setattr(R, "torch_installed", lambda: True)


@pytest.fixture
def saved_doubled(tmp_path, monkeypatch, live):
    """``doubled`` of a (2, 3) array recorded and saved into a folder of its own; yields the array."""
    monkeypatch.setattr(R, "SAVED_DIR", tmp_path)
    x = np.arange(6.0).reshape(2, 3) / 7
    with R.record() as recorder:
        doubled(x)
    recorder.save(tmp_path)
    calls_made.clear()
    with R.use_saved():
        yield x
    R._loaded.clear()


def test_a_saved_call_is_read_back_without_computing_it(saved_doubled):
    x = saved_doubled
    out = doubled(x, 2.0)  # the same call, written another way
    np.testing.assert_array_equal(out["y"], x * 2)
    assert out["sums"] == ("plain", [pytest.approx(np.sum(x))])
    assert calls_made == []


def test_inputs_equal_but_for_rounding_are_the_saved_call(saved_doubled):
    x = saved_doubled
    np.testing.assert_array_equal(doubled(x * (1 + 1e-15))["y"], x * 2)


def test_other_values_of_saved_shapes_give_nan_which_match_nothing(saved_doubled):
    out = doubled(saved_doubled + 1)
    assert out["y"].shape == (2, 3) and np.isnan(out["y"]).all()
    assert out["sums"][0] == "plain" and np.isnan(out["sums"][1][0])


def test_sizes_never_saved_say_in_one_line_how_to_install_torch(saved_doubled):
    with pytest.raises(R.NoSavedReference) as e:
        doubled(np.zeros((4, 3)))
    assert "\n" not in str(e.value) and str(e.value).endswith(INSTALL_TORCH)
    with pytest.raises(R.NoSavedReference):
        doubled(saved_doubled, kind="other")  # a string argument is part of the call


def test_while_recording_a_hint_computed_on_failure_only_is_computed_on_success_too(live):
    x = np.ones((2, 3))
    with R.record() as recorder:
        close("f", "y", x * 2, doubled(x)["y"], 1e-9, "doubled", hint=lambda: doubled(x, kind="hint") and None)
    assert [k for k, *_ in recorder.calls["references"]] == [doubled.key, doubled.key]
    calls_made.clear()
    close("f", "y", x * 2, doubled(x)["y"], 1e-9, "doubled", hint=lambda: doubled(x, kind="hint") and None)
    assert calls_made == ["plain"], "not recording: the hint is computed on failure only"
