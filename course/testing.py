"""How graded tests call a student's function and explain what is wrong.

Every check in ``course.checks`` goes through :func:`call_student`, which

* passes deep copies of the inputs and fails if the function changed them
  (the contract: graded functions never modify their inputs),
* makes torch unreachable during the call (graded NumPy functions teach the
  maths, so they must not call torch; for the grade, the verifier runs them where torch
  is not installed at all),
* silences floating-point warnings, because a test cell that writes to
  stderr scores 0 in nbgrader; the returned values are checked instead.

and through the ``assert_*`` helpers, whose AssertionError messages name the
function, the output and what to fix.

In a notebook the student reads that message first: imported in IPython, this module asks IPython
(its public ``set_custom_exc``) to show a check's verdict (an AssertionError, or the stub's
NotImplementedError, raised by ``course.checks`` or this module) as its message alone, and an
error raised in the student's own code with the checker's frames left out of the traceback
(:func:`show_without_checker_frames`); anything else keeps IPython's usual traceback.
"""

import copy
import sys
import types
import warnings
from contextlib import contextmanager

import numpy as np

from course.checks.hints import hint
from course.errors import CourseError
from course.gradient_check import rel_error
from course.references import evaluate_when_recording

FORWARD_TOL = 1e-7
BACKWARD_TOL = 1e-6

# The mistakes every check can name (course.checks.hints: each text with its id).
#: What a test says of the stub that a released exercise holds (a bare ``raise NotImplementedError()``).
NOT_IMPLEMENTED = hint("testing.not_implemented", "not implemented yet: write your code where it says YOUR CODE HERE")
USES_TORCH = hint("testing.uses_torch", "graded NumPy functions must not use torch ({how}); write it with NumPy")
MODIFIED_INPUT = hint(
    "testing.modified_input",
    "{name} modified its input `{arg}`; graded functions must return new arrays and leave their inputs untouched "
    "(x = x + ..., not x += ...; no list.pop, append or item assignment on what was passed in)",
)
WRONG_NUMBER_OF_OUTPUTS = hint("testing.wrong_number_of_outputs", "{name} must return {n} values {what}, got {got}")
RETURNED_NONE = hint("testing.returned_none", "{what} is None; did you forget to return it?")
NOT_NUMERIC = hint("testing.not_numeric", "{what} is not numeric ({type}): {error}")
WRONG_SHAPE = hint("testing.wrong_shape", "{what} has shape {shape}, expected {expected}")
NAN_OR_INF = hint("testing.nan_or_inf", "{what} contains NaN or inf (check for overflow, e.g. exp of large numbers)")
NOT_A_SCALAR = hint("testing.not_a_scalar", "{what} must be a scalar, got an array of shape {shape}")


class _NoTorch:
    """Stands in for torch (or anything from it) while a student's function runs."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        raise AssertionError(USES_TORCH.format(how=f"the function used `{self._name}.{attr}`"))

    def __call__(self, *args, **kwargs):
        raise AssertionError(USES_TORCH.format(how=f"the function called `{self._name}`"))


def _is_torch(value):
    if isinstance(value, types.ModuleType):
        return value.__name__.split(".")[0] == "torch"
    module = getattr(type(value), "__module__", "") or ""
    if module.split(".")[0] == "torch":
        return True
    module = getattr(value, "__module__", "") or ""
    return isinstance(module, str) and module.split(".")[0] == "torch"


class _RefuseTorch:
    """A finder first on ``sys.meta_path`` while a student's function runs: ``import torch`` fails.

    (torch's modules are taken out of ``sys.modules`` meanwhile, rather than set to None there:
    libraries that look for torch, as SciPy does with ``sys.modules["torch"]``, find it absent.)"""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(USES_TORCH.format(how="the function imported it"), name=name)
        return None


_HIDDEN = []  # what each torch_forbidden block in progress took out of sys.modules (innermost last)


def _hide_torch():
    _HIDDEN.append({k: sys.modules.pop(k) for k in _torch_modules() if sys.modules.get(k) is not None})
    sys.meta_path.insert(0, _RefuseTorch)


def _unhide_torch():
    sys.meta_path.remove(_RefuseTorch)
    sys.modules.update(_HIDDEN.pop())


@contextmanager
def torch_allowed():
    """torch back for the duration, inside a student's call: for a check's own reference layer
    that the student's function calls back (course.checks.deep hands such layers out)."""
    depth = len(_HIDDEN)
    for _ in range(depth):
        _unhide_torch()
    try:
        yield
    finally:
        for _ in range(depth):
            _hide_torch()


_torch_modules_seen = (None, ())  # (what sys.modules looked like, the torch modules in it)


def _torch_modules():
    """The names of torch's modules in ``sys.modules``, listed again only when it changed.

    (Called around every call of a student's function: scanning thousands of modules each
    time was most of a test's time.)"""
    global _torch_modules_seen
    state = (len(sys.modules), next(reversed(sys.modules), None))
    if _torch_modules_seen[0] != state:
        names = tuple(k for k in list(sys.modules) if k == "torch" or k.startswith("torch."))
        _torch_modules_seen = (state, names)
    return _torch_modules_seen[1]


@contextmanager
def torch_forbidden(fn):
    """Hide torch from ``fn`` (and the helpers in its module) for the duration.

    Names bound to torch objects in ``fn.__globals__``, in its default arguments and in its
    closure are replaced by a sentinel that raises, and ``import torch`` fails inside the block.
    This tells a student early, in the notebook, that a NumPy function must not use torch; it
    cannot stop a determined one (the kernel runs the student's code), so the grade relies on the
    verifier, which runs graded NumPy functions in a process without torch
    (:mod:`course.grading.verify`). A function whose type says it runs in another process
    (``course_runs_elsewhere``: the verifier's proxies) is left alone: nothing of it runs here.
    """
    if getattr(type(fn), "course_runs_elsewhere", False):
        yield
        return
    namespace = getattr(fn, "__globals__", {})
    saved_globals = {k: v for k, v in list(namespace.items()) if _is_torch(v)}
    defaults, kwdefaults = getattr(fn, "__defaults__", None), getattr(fn, "__kwdefaults__", None)
    cells = [c for c in getattr(fn, "__closure__", None) or () if _is_torch(_cell_value(c))]
    saved_cells = [c.cell_contents for c in cells]
    hidden = False
    try:
        for k in saved_globals:
            namespace[k] = _NoTorch(k)
        if defaults and any(_is_torch(d) for d in defaults):
            fn.__defaults__ = tuple(_NoTorch("a default argument") if _is_torch(d) else d for d in defaults)
        if kwdefaults and any(_is_torch(d) for d in kwdefaults.values()):
            fn.__kwdefaults__ = {k: _NoTorch(k) if _is_torch(d) else d for k, d in kwdefaults.items()}
        for c in cells:
            c.cell_contents = _NoTorch("a variable of an enclosing function")
        _hide_torch()
        hidden = True
        yield
    finally:
        if hidden:
            _unhide_torch()
        namespace.update(saved_globals)
        for c, value in zip(cells, saved_cells):
            c.cell_contents = value
        if defaults is not None and getattr(fn, "__defaults__", None) is not defaults:
            fn.__defaults__ = defaults
        if kwdefaults is not None and getattr(fn, "__kwdefaults__", None) is not kwdefaults:
            fn.__kwdefaults__ = kwdefaults


def _cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _same(a, b, depth=0):
    """True when ``b`` still equals ``a``, a deep copy taken before the call: arrays exactly (NaN
    equal to NaN), containers item by item, plain objects (a cache class) by their attributes;
    what cannot be compared, or lies deeper than 32 levels, is not checked."""
    if depth > 32:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], depth + 1) for k in a)
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN
    if type(a) is type(b) and type(a).__eq__ is object.__eq__:
        # a plain object: == would compare identities, and a copy is never the original
        if hasattr(a, "__dict__") and hasattr(b, "__dict__"):
            return _same(vars(a), vars(b), depth + 1)
        return True
    try:
        return bool(a == b)
    except Exception:
        return True  # objects we cannot compare (callables, arrays inside) are not checked


class _NotCopied:
    """Stands in for an input that cannot be deep-copied (a generator in a cache): not checked."""


def _copy(value):
    try:
        return copy.deepcopy(value)
    except Exception:
        return _NotCopied


def call_student(fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` as a graded test does.

    Returns what ``fn`` returns. Raises AssertionError when ``fn`` modifies
    an input or uses torch, NotImplementedError(":data:`NOT_IMPLEMENTED`") for the released stub's
    bare ``raise NotImplementedError()``; any other exception of ``fn`` propagates.
    """
    name = getattr(fn, "__name__", "the function")
    originals = list(args) + list(kwargs.values())
    copies = [_copy(v) for v in originals]
    code = getattr(fn, "__code__", None)
    argnames = list(code.co_varnames[: code.co_argcount]) if code else []
    try:
        with torch_forbidden(fn), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = fn(*args, **kwargs)
    except NotImplementedError as e:
        if e.args:  # the student's own message: theirs to read, with their traceback
            raise
        raise NotImplementedError(f"{name}: {NOT_IMPLEMENTED}") from None
    names = [argnames[i] if i < len(argnames) else f"argument {i + 1}" for i in range(len(args))]
    names += list(kwargs)
    for arg, before, after in zip(names, copies, originals):
        if before is not _NotCopied and not _same(before, after):
            raise AssertionError(MODIFIED_INPUT.format(name=name, arg=arg))
    return out


def unpack(name, out, n, what):
    """Check that ``out`` is a tuple/list of ``n`` items (``what`` names them)."""
    if not isinstance(out, (tuple, list)) or len(out) != n:
        got = f"a {type(out).__name__} of length {len(out)}" if isinstance(out, (tuple, list)) else type(out).__name__
        raise AssertionError(WRONG_NUMBER_OF_OUTPUTS.format(name=name, n=n, what=what, got=got))
    return out


def as_array(name, what, value):
    """``value`` as a float64 array, or an AssertionError naming the output."""
    if value is None:
        raise AssertionError(f"{name}: {RETURNED_NONE.format(what=what)}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise AssertionError(f"{name}: {NOT_NUMERIC.format(what=what, type=type(value).__name__, error=e)}") from None
    return arr


def assert_shape(name, what, value, shape):
    arr = as_array(name, what, value)
    if arr.shape != tuple(shape):
        raise AssertionError(f"{name}: {WRONG_SHAPE.format(what=what, shape=arr.shape, expected=tuple(shape))}")
    return arr


def assert_close(name, what, actual, expected, tol, reference="the reference"):
    """Shape, finiteness and relative error of ``actual`` against ``expected``."""
    expected = np.asarray(expected, dtype=np.float64)
    arr = assert_shape(name, what, actual, expected.shape)
    if not np.all(np.isfinite(arr)):
        raise AssertionError(f"{name}: {NAN_OR_INF.format(what=what)}")
    err = rel_error(arr, expected)
    if err > tol:
        worst = (
            np.unravel_index(
                np.argmax(np.abs(arr - expected) / np.maximum(1e-8, np.abs(arr) + np.abs(expected))), arr.shape
            )
            if arr.ndim
            else ()
        )
        # not a hint: where the values differ most (the verdict's detail)
        at = f" (worst at index {tuple(int(i) for i in worst)}: got {arr[worst]:.6g}, expected {expected[worst]:.6g})"
        raise AssertionError(  # not a hint: the verdict; a hint after it names the mistake
            f"{name}: {what} does not match {reference}: relative error {err:.2e} > tolerance {tol:.0e}{at}"
        )
    return err


def assert_scalar(name, what, value):
    """``value`` is a Python or 0-d NumPy number; returns it as a float."""
    if np.ndim(value) != 0:
        raise AssertionError(f"{name}: {NOT_A_SCALAR.format(what=what, shape=np.shape(value))}")
    return float(as_array(name, what, value))


def hint_for(actual, candidates):
    """A message suffix naming the first of ``candidates`` [(description, array)] that ``actual`` matches.

    Checks compute a few typical wrong answers (a transposed weight, a
    missing bias) with the reference; when the student's output equals one of
    them, the failure message says which mistake it looks like.
    """
    actual = np.asarray(actual, dtype=np.float64)
    for what, value in candidates:
        value = np.asarray(value, dtype=np.float64)
        if actual.shape == value.shape and np.all(np.isfinite(actual)) and rel_error(actual, value) < 1e-6:
            return f"; it looks like {what}"
    return ""


def assert_close_or_hint(name, what, actual, expected, tol, reference, candidates=()):
    """:func:`assert_close`, whose message adds :func:`hint_for` ``candidates``.

    ``candidates`` may be a function returning them: it is called only on failure (and while the
    saved references are recorded: :func:`course.references.evaluate_when_recording`).
    """
    evaluate_when_recording(candidates)
    try:
        assert_close(name, what, actual, expected, tol, reference)
    except AssertionError as e:
        if callable(candidates):
            candidates = candidates()
        hint = hint_for(actual, candidates) if np.shape(actual) == np.shape(expected) else ""
        raise AssertionError(str(e) + hint) from None


# In a notebook: the verdict first, without the checker's frames.

#: The modules whose frames a student never needs to read: the checks and what they call here.
CHECKER_MODULES = ("course.checks", "course.testing", "course.gradient_check", "course.references", "course.interop")


def _checker_frame(frame):
    name = frame.f_globals.get("__name__") or ""
    return any(name == m or name.startswith(m + ".") for m in CHECKER_MODULES)


def _frames(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def without_checker_frames(tb):
    """The traceback ``tb`` without the frames of :data:`CHECKER_MODULES` (a new chain; ``tb`` is kept)."""
    kept = [t for t in _frames(tb) if not _checker_frame(t.tb_frame)]
    out = None
    for t in reversed(kept):
        out = types.TracebackType(out, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return out


def show_without_checker_frames(shell, etype, value, tb, tb_offset=None):
    """IPython's handler (``shell.set_custom_exc``) of an exception in a cell.

    A check's verdict (AssertionError or NotImplementedError raised in a checker frame, or a CourseError
    there: a check called without torch at sizes never saved, the checks of units 9-11 imported without
    torch) shows as ``Type: message`` alone; an error
    raised in the student's code called by a check shows its traceback without the checker's frames;
    anything else (a failure inside a library) shows IPython's usual one."""
    frames = list(_frames(tb))
    raised_in_checker = bool(frames) and _checker_frame(frames[-1].tb_frame)
    if raised_in_checker and issubclass(etype, (AssertionError, NotImplementedError, CourseError)):
        sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # %debug still works
        shell._showtraceback(etype, value, shell.InteractiveTB.get_exception_only(etype, value))
        return
    if not raised_in_checker and any(_checker_frame(t.tb_frame) for t in frames):
        tb = without_checker_frames(tb)
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)


def _install_in_ipython():
    """Registers :func:`show_without_checker_frames` with the running IPython, unless another
    handler is registered there already (a user's own: left alone)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return
    if not shell.custom_exceptions:  # ours once registered: a second import changes nothing
        shell.set_custom_exc((Exception,), show_without_checker_frames)


_install_in_ipython()
