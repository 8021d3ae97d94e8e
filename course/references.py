"""Torch references, live where torch is installed, read back from saved files where it is not.

A check compares a student's function with what torch computes on the same inputs: a module with
copied weights, autograd. Units 1-8 are installed without torch (``pip install -e .``), so each such
reference is a function decorated with :func:`saved_reference`::

    @saved_reference
    def torch_rnn(x, h0, Wx, Wh, b_ih, b_hh):   # x (N, T, D), h0 (N, H) -> h (N, T, H)
        torch = require_torch(); ...; return out.numpy()

* **torch installed** (the grader, CI, ``.[torch]``): the function runs, as it always did.
* **torch missing**: the call is looked up among the calls saved in ``course/checks/saved/<unit>.npz``
  (the inputs and what torch returned), written by ``python -m course.instructor.saved_references`` from
  the visible tests of units 1-8 run with the solutions, one file per unit. Inputs equal to a saved call's (to
  :data:`INPUT_RTOL`: the same seeds and sizes, rounding aside) give its saved outputs. Inputs of a
  saved call's shapes but other values -- only a mistake passes them: a hint's variant not saved, a
  wrong call of a layer a check hands the student, which course.checks.deep then names -- give NaN of the
  saved outputs' shapes, which match nothing, as a wrong input's output would not match. Shapes never
  saved (a check called with sizes of one's own) raise :class:`NoSavedReference`, one line naming the install command.

A hint is computed only when a check fails; while the generator records (:func:`record`), the
check's hint machinery evaluates its variants on success too (:func:`evaluate_when_recording`), so
the variants' references are saved with the solution's. ``tests/package/test_saved_references.py``
recomputes every saved call with live torch (the files cannot drift from torch), test_without_torch.py
runs the answered exercises 1-8 without torch, and the hint tables run in both modes (hints the same).
Arguments and results are arrays, numbers, strings, None, and tuples, lists and dicts of them.
"""

import functools
import inspect
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from course.errors import CourseError
from course.interop import INSTALL_TORCH

#: Where the saved references lie: one ``.npz`` per unit, read together.
SAVED_DIR = Path(__file__).parent / "checks" / "saved"
#: Inputs within this relative tolerance (and :data:`INPUT_ATOL`) of a saved call's are that call.
INPUT_RTOL, INPUT_ATOL = 1e-9, 1e-12
#: ``COURSE_REFERENCES=saved`` reads the saved files even where torch is installed.
MODE_VARIABLE = "COURSE_REFERENCES"

_forced = []  # innermost last: "saved" inside use_saved()
_recorder = None  # the Recorder of record(), or None
_loaded = {}  # folder -> {(key, signature): [(leaves, output spec, arrays)]}


class NoSavedReference(CourseError):
    """torch is missing and no call of these shapes was saved; the message says how to install torch."""


def torch_installed():
    """Whether ``import torch`` succeeds here (a check's own frame: torch is not hidden from it)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def mode():
    """``"torch"`` (references computed live) or ``"saved"`` (read from the saved files)."""
    if _forced or os.environ.get(MODE_VARIABLE) == "saved":
        return "saved"
    return "torch" if torch_installed() else "saved"


@contextmanager
def use_saved():
    """Read the saved references for the duration, even where torch is installed (tests)."""
    _forced.append("saved")
    try:
        yield
    finally:
        _forced.pop()


# ---------------------------------------------------------------- encoding
def _encode(value, arrays):
    """A JSON-able spec of ``value``; its arrays appended to ``arrays`` and named by index."""
    if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, (np.floating, np.integer, np.bool_)):
        arrays.append(np.array(value))
        return {"a": len(arrays) - 1}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return {"f": float(value)} if not np.isfinite(value) else float(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return {"t": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"d": {k: _encode(v, arrays) for k, v in value.items()}}
    raise TypeError(f"a saved reference takes and returns arrays, numbers, strings and containers, not {type(value)}")


def _decode(spec, arrays, nan=False):
    """The value ``spec`` describes (arrays copied); with ``nan``, every float made NaN."""
    if isinstance(spec, dict):
        if "a" in spec:
            a = arrays[spec["a"]]
            return np.full(a.shape, np.nan) if nan else a.copy()
        if "f" in spec:
            return np.nan if nan else float(spec["f"])
        if "t" in spec:
            return tuple(_decode(v, arrays, nan) for v in spec["t"])
        return {k: _decode(v, arrays, nan) for k, v in spec["d"].items()}
    if isinstance(spec, list):
        return [_decode(v, arrays, nan) for v in spec]
    if isinstance(spec, float) and nan:
        return np.nan
    return spec


def _signature(spec, arrays, leaves):
    """``spec`` with every array and float replaced by its kind and shape (they are compared with a
    tolerance, collected in ``leaves``): calls of one signature differ only in their numbers."""
    if isinstance(spec, dict):
        if "a" in spec:
            a = arrays[spec["a"]]
            leaves.append(a)
            return ["array", a.dtype.kind, list(a.shape)]
        if "f" in spec:
            leaves.append(np.array(spec["f"]))
            return "float"
        return {k: _signature(v, arrays, leaves) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_signature(v, arrays, leaves) for v in spec]
    if isinstance(spec, float):
        leaves.append(np.array(spec))
        return "float"
    return spec


def _encoded(value):
    """(spec, arrays): ``value`` as :func:`_encode` writes it."""
    arrays = []
    return _encode(value, arrays), arrays


def _key_of(spec, arrays):
    """(signature as a string, the numbers compared with a tolerance)."""
    leaves = []
    return json.dumps(_signature(spec, arrays, leaves), sort_keys=True), leaves


def _same_numbers(a, b):
    return all(
        x.shape == y.shape
        and (np.array_equal(x, y) if x.dtype.kind not in "fc" else np.allclose(x, y, INPUT_RTOL, INPUT_ATOL, True))
        for x, y in zip(a, b)
    )


def _arguments(fn, args, kwargs):
    """The call's arguments by name, defaults filled in (a positional and a keyword call are one call)."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


# ---------------------------------------------------------------- recording
class Recorder:
    """The calls made while recording, per group (a unit: the file they are saved in).

    ``group`` names the group the calls made now belong to (the generator sets it to each unit's id)."""

    def __init__(self, group="references"):
        self.calls, self.group = {}, group

    def add(self, key, arguments, result):
        args = _encoded(arguments)
        sig, leaves = _key_of(*args)
        calls = self.calls.setdefault(self.group, [])
        if not any(k == key and s == sig and _same_numbers(leaves, other) for k, s, other, _, _ in calls):
            calls.append((key, sig, leaves, args, _encoded(result)))

    def save(self, folder=SAVED_DIR):
        """Write one ``<group>.npz`` per group into ``folder``; returns {group: number of calls}."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        counts = {}
        for module, calls in sorted(self.calls.items()):
            packed, index = {}, []
            for key, _, _, (spec, arrays), (out, out_arrays) in calls:
                index.append(
                    {
                        "fn": key,
                        "args": spec,
                        "out": out,
                        "args_arrays": [_pack(a, packed) for a in arrays],
                        "out_arrays": [_pack(a, packed) for a in out_arrays],
                    }  # fmt: skip
                )
            flat = {f"data_{dtype}": np.concatenate(parts) for dtype, (parts, _) in packed.items()}
            np.savez_compressed(folder / f"{module}.npz", index=np.array(json.dumps(index)), **flat)
            counts[module] = len(calls)
        _loaded.clear()
        return counts


def _pack(array, packed):
    """Append ``array`` to the flat buffer of its dtype in ``packed`` ({dtype: (parts, size)});
    returns [dtype, offset, shape]."""
    dtype = array.dtype.str.lstrip("<>|=")
    parts, size = packed.get(dtype, ([], 0))
    packed[dtype] = (parts + [array.ravel()], size + array.size)
    return [dtype, size, list(array.shape)]


def _unpack(where, flat):
    dtype, offset, shape = where
    size = int(np.prod(shape, dtype=np.int64))
    return flat[f"data_{dtype}"][offset : offset + size].reshape(shape)


@contextmanager
def record():
    """Collect every live call of a saved reference made meanwhile; yields the :class:`Recorder`."""
    global _recorder
    previous, _recorder = _recorder, Recorder()
    try:
        yield _recorder
    finally:
        _recorder = previous


def evaluate_when_recording(*lazy):
    """While recording, call each of ``lazy`` (a check's hint or variants, otherwise computed on failure
    only), so the references they use are saved too; what they return or raise is of no interest here."""
    if _recorder is None:
        return
    for fn in lazy:
        if callable(fn):
            try:
                fn()
            except Exception:  # noqa: BLE001 -- a hint computed for a correct answer may not apply to it
                pass


# ---------------------------------------------------------------- reading back
def _entries(path):
    """The calls saved in the file ``path``, encoded: (key, (spec, arrays) of the arguments, of the result)."""
    with np.load(path, allow_pickle=False) as data:
        index = json.loads(str(data["index"]))
        flat = {name: data[name] for name in data.files if name != "index"}
    for entry in index:
        args = [_unpack(w, flat) for w in entry["args_arrays"]]
        out = [_unpack(w, flat) for w in entry["out_arrays"]]
        yield entry["fn"], (entry["args"], args), (entry["out"], out)


def saved_calls(path):
    """The calls saved in the file ``path``: a list of (key, arguments, result), decoded."""
    return [(key, _decode(*args), _decode(*out)) for key, args, out in _entries(path)]


def _table():
    """{(key, signature): [(numbers, result spec, result arrays)]} of every saved file, read once."""
    if SAVED_DIR not in _loaded:
        table = {}
        for path in sorted(SAVED_DIR.glob("*.npz")):
            for key, args, out in _entries(path):
                sig, leaves = _key_of(*args)
                table.setdefault((key, sig), []).append((leaves, *out))
        _loaded[SAVED_DIR] = table
    return _loaded[SAVED_DIR]


def _look_up(key, arguments):
    sig, leaves = _key_of(*_encoded(arguments))
    calls = _table().get((key, sig))
    if not calls:
        raise NoSavedReference(
            f"{key.rsplit('.', 1)[-1]}: without torch, the checks know the sizes of the visible tests only "
            f"(no saved torch reference for these); to check other sizes, install torch: {INSTALL_TORCH}"
        )
    for saved, out, out_arrays in calls:
        if _same_numbers(leaves, saved):
            return _decode(out, out_arrays)
    return _decode(calls[0][1], calls[0][2], nan=True)


def saved_reference(fn):
    """Decorate a reference function computed with torch: live where torch is installed, else read back.

    Its arguments and result are NumPy arrays, numbers, strings, None, and tuples, lists and dicts of
    them (a callable argument cannot be saved: name it with a string)."""
    key = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def reference(*args, **kwargs):
        arguments = _arguments(fn, args, kwargs)
        if mode() == "saved":
            return _look_up(key, arguments)
        result = fn(**arguments)
        if _recorder is not None:
            _recorder.add(key, arguments, result)
        return result

    reference.live = fn
    reference.key = key
    return reference
