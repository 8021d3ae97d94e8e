"""The student process's side of the verifier: run the answer cells, then serve their functions.

The **student processes** (sandboxed, see :mod:`course.grading.sandbox`) execute the unit's setup
cells (statement by statement: those that cannot import what is hidden are skipped) and the
submission's *answer cells* only (each under the time limit per cell), and then serve calls to
the functions they define (:func:`serve`). Graded **NumPy** functions run in a fork of the fork
server's torch-free server (:mod:`course.grading.forkserver`: torch was never imported in it) in
which torch, ``course.checks`` and ``course.interop`` are covered in its view of the file system
(the sandbox's ``cover``) *and* refused by an audit hook (importing them, opening their files,
starting processes, ``ctypes``: :func:`_install_guard`), installed before any student code runs:
no default argument, module attribute or ``gc`` walk can reach them. Graded **PyTorch**
functions (those the notebook's metadata ``course.torch`` names: units 9 and 10) run in a second
process, a fork of the server that has torch.
"""

import ast
import os
import sys
import warnings

import numpy as np

from course.grading.verify.torch_bridge import build_module, export_module, graph_of, substitute
from course.grading.verify.wire import (
    MAX_MESSAGE_CHARS,
    Remote,
    WireError,
    _as_exception,
    _frame,
    _Reader,
    _recv_frame,
    _torch,
    _write_all,
)


def _install_guard(forbidden):
    """An audit hook (it cannot be removed) that keeps the forbidden modules out of this process.

    Refuses importing them, opening their files (and ``os.open`` of relative paths, which an
    open folder could resolve anywhere), starting processes, and ``ctypes`` (which could undo
    all this).
    """
    modules = tuple(forbidden.get("modules", ()))
    roots = tuple(os.path.realpath(p) for p in forbidden.get("paths", ()))
    blocked = ("os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen",
               "pty.spawn", "os.startfile")  # fmt: skip

    def inside(path):
        try:
            path = os.fsdecode(path)
        except TypeError:
            return False
        full = os.path.realpath(os.path.join(os.getcwd(), path))
        return any(full == r or full.startswith(r.rstrip(os.sep) + os.sep) for r in roots)

    def hook(event, args):
        if event == "import":
            name = str(args[0])
            if any(name == m or name.startswith(m + ".") for m in modules) or (
                len(args) > 1 and isinstance(args[1], str) and inside(args[1])
            ):
                raise ImportError(f"graded NumPy functions must not use {name} (it is not available here)")
        elif event == "open":
            path, mode = args[0], args[1]
            if isinstance(path, int):
                return
            if mode is None and not os.path.isabs(os.fsdecode(path)):
                raise PermissionError("os.open of a relative path is not available to graded NumPy functions")
            if inside(path):
                raise PermissionError(f"{os.fsdecode(path)} is not available to graded NumPy functions")
        elif event in blocked or event.startswith("ctypes."):
            raise PermissionError(f"{event} is not available to graded NumPy functions")

    sys.addaudithook(hook)


class _CellTimeout(BaseException):
    """A cell ran past the time limit per cell (raised by SIGALRM)."""


def _stop_cell(signum, frame):
    raise _CellTimeout


def _run_cell(src, namespace, where, timeout):
    """Executes a cell statement by statement; a statement that fails (an import of something
    hidden, or what depends on it) is skipped, as are cells that do not parse. A cell that runs
    longer than ``timeout`` seconds is stopped there, as the kernel's cell would be."""
    import signal

    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        return
    if timeout:
        signal.signal(signal.SIGALRM, _stop_cell)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        for stmt in tree.body:
            try:
                exec(compile(ast.Module([stmt], type_ignores=[]), where, "exec"), namespace)
            except _CellTimeout:
                return
            except BaseException:  # noqa: BLE001, S110  (SystemExit too: the cell goes on, its tests decide)
                pass
    except _CellTimeout:  # (between two statements)
        return
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)


class Server:
    """The student process's end of the link: its :class:`~course.grading.verify.wire.Side` (the
    table of objects the checker may name, and ``call`` for calling the checker back) and the
    requests it answers: load cells, then lookups, calls and gradient requests.

    ``rfd``, ``wfd``: the pipes from and to the checker.
    """

    def __init__(self, rfd, wfd):
        self.rfd, self.wfd = rfd, wfd
        self.namespace = {"__name__": "__main__"}
        self.guarded = False
        self.objects, self.ids, self.graphs, self.graph_count = [], {}, {}, 0

    # -- the wire's Side
    def register(self, obj):
        if id(obj) not in self.ids:
            self.objects.append(obj)
            self.ids[id(obj)] = len(self.objects) - 1
        return self.ids[id(obj)]

    def is_remote(self, obj):
        return obj._rid if isinstance(obj, Remote) and obj._link is self else None

    def lookup(self, rid):
        if not 0 <= rid < len(self.objects):
            raise WireError("unknown reference")
        return self.objects[rid]

    def export_module(self, module):
        return export_module(module, self.register, local=False)

    def build_module(self, nodes):
        return build_module(nodes)

    def call(self, rid, args, kwargs, module=None):  # a checker function, called by student code
        self.send(("callback", Remote(self, rid), list(args), dict(kwargs)))
        while True:  # the checker's function may call student functions meanwhile: serve those
            msg, reader = self.receive()
            if msg[0] == "ok":
                return msg[1]
            if msg[0] == "err":
                raise _as_exception(msg[1], msg[2])
            self.send(self.handle(msg, reader))

    # -- messages
    def send(self, msg):
        try:
            data, _ = _frame(self, msg, student=True)
        except (ValueError, RecursionError, TypeError) as e:  # what the student returned cannot cross
            data, _ = _frame(self, ("err", "StudentError", f"the result cannot be sent to the checker: {e}"), True)
        _write_all(self.wfd, data)

    def receive(self):
        reader = _Reader(_recv_frame(self.rfd), self, student=True)
        return reader.message(), reader

    def serve(self):
        """Answers requests until the checker closes the pipe."""
        while True:
            try:
                msg, reader = self.receive()
            except EOFError:
                return
            except WireError as e:
                self.send(("err", "StudentError", str(e)))
                continue
            self.send(self.handle(msg, reader))

    def handle(self, msg, reader):
        """The reply to request ``msg``: ("ok", value, extras) or ("err", exception name, message)."""
        try:
            return self._handle(msg, reader)
        except BaseException as e:  # noqa: BLE001  (SystemExit, KeyboardInterrupt too: report, keep serving)
            try:
                text = str(e)[:MAX_MESSAGE_CHARS]
            except BaseException:  # noqa: BLE001
                text = "(an exception whose message cannot be shown)"
            return ("err", type(e).__name__, text)

    def _handle(self, msg, reader):
        if msg[0] == "load":
            return self._load(msg)
        if msg[0] == "lookup":
            fn = self.namespace.get(msg[1])
            if not callable(fn):
                raise NameError(f"name {msg[1]!r} is not defined")
            return ("ok", self.register(fn), {})
        if msg[0] == "call":
            return self._call(msg, reader)
        if msg[0] == "vjp":
            return self._vjp(msg)
        return ("err", "StudentError", f"unknown request {str(msg[0])[:50]!r}")

    # -- requests
    def _load(self, msg):
        """Runs the cells (the guard first, for a NumPy unit); replies with the callables ``wanted``."""
        _, setup_cells, answer_cells, wanted, forbidden, cell_timeout = msg
        namespace = self.namespace
        if forbidden and not self.guarded:
            _install_guard(forbidden)
            self.guarded = True
        for src in setup_cells:  # (the instructor's: bounded by the load's deadline only)
            _run_cell(src, namespace, "<setup>", None)
        defined_before = {k: namespace[k] for k in namespace}
        for src in answer_cells:
            _run_cell(src, namespace, "<answer>", cell_timeout)
        if wanted is None:  # (for tests) every function the answers define
            wanted = [k for k in namespace if not k.startswith("_") and namespace[k] is not defined_before.get(k)]
        return ("ok", sorted(k for k in wanted if callable(namespace.get(k))), {})

    def _call(self, msg, reader):
        """Calls a student function; the extras say what it changed in place and how to reach its graph."""
        torch = _torch()
        _, rid, args, kwargs, opts = msg
        fn = self.lookup(rid)
        if opts.get("fresh"):
            self.graphs.clear()
        for r, training in opts.get("modes", {}).items():
            self.lookup(r).training = bool(training)
        inputs = reader.tensors
        pristine = [
            x.detach().clone() if torch is not None and isinstance(x, torch.Tensor) else x.copy() for x in inputs
        ]
        if torch is not None:  # tensors that require grad: leaves here, the function gets copies it may change
            inputs = [x.clone() if isinstance(x, torch.Tensor) and x.requires_grad else x for x in inputs]
            swap = {id(a): b for a, b in zip(reader.tensors, inputs) if a is not b}
            args, kwargs = substitute(args, swap), substitute(kwargs, swap)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if torch is not None and "rng" in opts:
                torch.set_rng_state(opts["rng"])
            if torch is not None:
                with torch.set_grad_enabled(bool(opts.get("grad", True))):
                    out = fn(*args, **kwargs)
            else:
                out = fn(*args, **kwargs)
        extras = {"changed": _changed(pristine, inputs)}
        if torch is not None:
            touched = [(("ref", r), m) for r, m in reader.refs]
            touched += [(("local", i), m) for i, m in enumerate(reader.modules)]
            if isinstance(fn, torch.nn.Module):
                touched.append((("ref", rid), fn))
            extras["modules"] = [(k, i, export_module(m, self.register, False)) for (k, i), m in touched]
            leaves = [x for x in reader.tensors if isinstance(x, torch.Tensor) and x.requires_grad]
            extras.update(graph_of(self, out, leaves))
        return ("ok", out, extras)

    def _vjp(self, msg):
        """The gradients of a kept graph's inputs for the checker's gradients of its outputs."""
        torch = _torch()
        _, hid, grads = msg
        leaves, outs = self.graphs[hid]
        grads = [torch.zeros_like(o) if g is None else g.to(o.dtype) for g, o in zip(grads, outs)]
        got = torch.autograd.grad(outs, leaves, grads, retain_graph=True, allow_unused=True)
        return ("ok", [None if g is None else g.detach() for g in got], {})


def serve(rfd, wfd):
    """Loop of the student process (:class:`Server`), started by the fork server.

    A "load" with forbidden modules installs the audit hook (:func:`_install_guard`) before the
    first cell runs.
    """
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115  (student prints must not reach the pipe)
    Server(rfd, wfd).serve()


def _changed(pristine, inputs):
    """[(index, new value)] of the inputs a call changed in place."""
    torch = _torch()
    out = []
    for i, (before, now) in enumerate(zip(pristine, inputs)):
        if torch is not None and isinstance(now, torch.Tensor):
            now = now.detach()
            a, b = now.cpu().numpy(), before.cpu().numpy()
        else:
            a, b = now, before
        if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            out.append((i, now))
    return out
