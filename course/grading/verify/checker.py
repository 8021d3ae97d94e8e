"""The checker's side of the verifier: the instructor's tests, run where student code never ran.

The **checker process** (this one, the grading worker) executes the instructor's setup and test
cells, hidden tests included, with each of the contract's graded names (the instructor's answer
cells ``answer_NAME``: :func:`course.grading.submission.graded_names`; never a list the student
process supplies) bound to a proxy that calls into a :class:`StudentProcess`. NumPy functions are
served by a student process in which torch, the checks and ``course.interop`` are out of reach
(:data:`FORBIDDEN_MODULES`, :func:`forbidden_paths`); PyTorch functions by a second one, which has torch.

Checker-side functions handed to student code (the reference ``forward_fn`` of a generic check)
are called back here, bounded per test in number, in the size of their inputs (relative to what
the checker sent) and by the test's deadline (the constants below). Every comparison happens in
a process the student's code never ran in.
"""

import io
import os
import time
import weakref
from contextlib import redirect_stderr, redirect_stdout

import numpy as np

from course.grading.processes import VERIFY_LOAD_MIN_TIMEOUT_S
from course.grading.verify.torch_bridge import (
    _MIRRORS,
    _attach_gradients,
    _update_module,
    _wire_tensors,
    build_module,
    export_module,
    substitute,
)
from course.grading.verify.wire import (
    MAX_MESSAGE_CHARS,
    Remote,
    StudentError,
    WireError,
    _as_exception,
    _frame,
    _Reader,
    _recv_frame,
    _torch,
    _write_all,
)

MAX_CALLBACKS = 1000  # calls of checker functions per test
MAX_CALLBACK_BYTES = 16 * 2**20  # the inputs of one callback, at most ...
CALLBACK_FACTOR = 8  # ... this many times what the checker sent in the test (plus CALLBACK_SLACK)
CALLBACK_SLACK = 256 * 2**10

#: Modules that a graded NumPy function must not reach (imports refused, files covered).
FORBIDDEN_MODULES = (
    "torch",
    "functorch",
    "torchgen",
    "torchvision",
    "torchaudio",
    "triton",
    "course.checks",
    "course.interop",
)


def forbidden_paths():
    """Folders and files a graded NumPy function must not see: torch's packages, the checks, interop."""
    import importlib.util

    paths = []
    for name in FORBIDDEN_MODULES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            paths += list(spec.submodule_search_locations)
        elif spec.origin and os.path.isfile(spec.origin):
            paths.append(spec.origin)
    return sorted({os.path.realpath(p) for p in paths})


class StudentProcess:
    """A sandboxed process that runs the answer cells and serves their functions.

    ``numpy_only``: a child of the fork server's torch-free server, in which torch, the checks
    and ``course.interop`` are covered (added to ``hide``) and refused by an audit hook.
    Otherwise a child of ``forkserver`` itself (torch already imported).
    ``names``: the graded names wanted; :attr:`names` are those the answers define as callables.
    """

    def __init__(
        self,
        setup_cells,
        answer_cells,
        timeout,
        limits,
        workdir,
        hide=(),
        expose=(),
        forkserver=None,
        names=None,
        numpy_only=False,
    ):
        from course.grading import sandbox

        self.timeout = timeout
        self.deadline = float("inf")  # set per test: a test cell has `timeout` seconds in all
        self.names, self.numpy_only = [], numpy_only
        self.objects, self._ids = [], {}  # this side's objects the student process may name (callbacks)
        self.mirrors = weakref.WeakValueDictionary()  # remote id -> mirror module
        self.begin_test(float("inf"))
        forbid = forbidden_paths() if numpy_only else []
        args = sandbox.command_args(limits, workdir, hide, expose, cover=forbid)  # out of its view too
        r1, w1 = os.pipe()  # checker -> student
        r2, w2 = os.pipe()  # student -> checker
        # the one way to start a sandboxed process: a fork of the worker's fork server (which has
        # imported numpy, torch, the checks) or of its torch-free server
        spawn = forkserver.spawn if forkserver is not None else None
        self.proc = spawn("serve", args, [r1, w2], numpy_only=numpy_only) if spawn is not None else None
        if self.proc is None:
            for fd in (r1, w1, r2, w2):
                os.close(fd)
            raise StudentError("the sandbox for the student's code could not be started")
        os.close(r1)
        os.close(w2)

        self.wfd, self.rfd = w1, r2
        self.limits = limits
        forbidden = {"modules": list(FORBIDDEN_MODULES), "paths": forbid} if numpy_only else None
        wanted = None if names is None else list(names)
        # setup cells are the instructor's; answer cells the student's: each may fail on its own
        cells = len(setup_cells) + len(answer_cells)
        load = ("load", setup_cells, answer_cells, wanted, forbidden, float(timeout))
        reply = self._request(load, timeout=max(VERIFY_LOAD_MIN_TIMEOUT_S, timeout * (cells + 1)))[0]
        if not (isinstance(reply, list) and all(isinstance(n, str) for n in reply)):
            raise StudentError("the student process answered the cells with something else")
        self.names = reply if wanted is None else [n for n in wanted if n in reply]

    # -- the wire's Side (course.grading.verify.wire.Side)
    def register(self, obj):
        key = id(obj)
        if key not in self._ids:
            self.objects.append(obj)
            self._ids[key] = len(self.objects) - 1
        return self._ids[key]

    def is_remote(self, obj):
        if isinstance(obj, Remote) and obj._link is self:
            return obj._rid
        entry = _MIRRORS.get(obj) if _torch() is not None and isinstance(obj, _torch().nn.Module) else None
        return entry[1] if entry is not None and entry[0] is self else None

    def lookup(self, rid):
        if not 0 <= rid < len(self.objects):
            raise WireError("malformed message (unknown reference)")
        return self.objects[rid]

    def export_module(self, module):
        return export_module(module, None, local=True)

    def build_module(self, nodes):
        return build_module(nodes, link=self)

    # -- requests
    def begin_test(self, deadline):
        """A new test: its deadline, and the budget of callbacks its student code may make."""
        self.deadline, self.sent_bytes, self.callbacks, self.fresh = deadline, 0, 0, True

    def _send(self, msg):
        data, writer = _frame(self, msg, student=False)
        self.sent_bytes += len(data)
        _write_all(self.wfd, data)
        return writer

    def _request(self, msg, timeout):
        """Sends ``msg``; serves callbacks until the answer; returns (value, extras, writer, reader)."""
        deadline = min(time.monotonic() + timeout, self.deadline)
        try:
            writer = self._send(msg)
            while True:
                data = _recv_frame(self.rfd, deadline)
                reader = _Reader(data, self, student=False)
                reply = reader.message()
                if not isinstance(reply, tuple) or not reply or not isinstance(reply[0], str):
                    raise WireError("malformed reply")
                if reply[0] == "ok" and len(reply) == 3 and isinstance(reply[2], dict):
                    return reply[1], reply[2], writer, reader
                if reply[0] == "err" and len(reply) == 3:
                    error = _as_exception(reply[1], reply[2])  # (raised below: it may be an OSError)
                    break
                if reply[0] == "callback" and len(reply) == 4:
                    self._callback(reply, len(data), deadline)
                    continue
                raise WireError("malformed reply")
        except TimeoutError:
            self.close()
            raise StudentError(f"timed out after {timeout:g} s") from None
        except WireError as e:
            self.close()
            raise StudentError(str(e)) from None
        except (EOFError, BrokenPipeError, OSError):
            code = self.proc.poll()
            self.close()
            raise StudentError(f"the student's code ended the process (exit status {code})") from None
        raise error

    def _callback(self, reply, size, deadline):
        """Student code calls a function of the checker (a reference layer): bounded, then run here."""
        _, fn, args, kwargs = reply
        self.callbacks += 1
        allowed = min(MAX_CALLBACK_BYTES, CALLBACK_FACTOR * self.sent_bytes + CALLBACK_SLACK)
        if self.callbacks > MAX_CALLBACKS:
            raise StudentError(f"the student's code called the check's functions more than {MAX_CALLBACKS} times")
        if size > allowed:
            raise StudentError(
                f"the student's code called a function of the check with {size} bytes of inputs, more than "
                f"{CALLBACK_FACTOR} times what the test gave it ({allowed} bytes): the limit of a reference callback"
            )
        if time.monotonic() >= deadline:
            raise TimeoutError
        if not (callable(fn) and not isinstance(fn, Remote) and isinstance(args, list) and isinstance(kwargs, dict)):
            raise WireError("malformed callback")
        try:
            out = fn(*args, **{str(k): v for k, v in kwargs.items()})
            self._send(("ok", out, {}))
        except StudentError:
            raise
        except Exception as e:  # noqa: BLE001  (the reference complains about the student's inputs)
            self._send(("err", type(e).__name__, str(e)[:MAX_MESSAGE_CHARS]))

    def _left(self):
        return max(0.01, min(self.timeout, self.deadline - time.monotonic()))

    def call(self, rid, args, kwargs, module=None):
        """Calls object ``rid`` of the student process; torch state crosses as described in the module's docstring."""
        torch = _torch()
        opts = {"fresh": self.fresh}
        self.fresh = False
        if torch is not None and not self.numpy_only:
            opts["grad"] = torch.is_grad_enabled()
            opts["rng"] = torch.get_rng_state()  # the same draws as in the kernel (never taken back)
        msg = ["call", rid, list(args), dict(kwargs), opts]
        modes = {}  # train() / eval() of the mirrors involved, which the student's modules must follow
        for m in [module, *args, *kwargs.values()]:
            if torch is not None and isinstance(m, torch.nn.Module):
                modes.update({r: s.training for s in m.modules() if (r := self.is_remote(s)) is not None})
        opts["modes"] = modes
        value, extras, writer, reader = self._request(tuple(msg), self._left())
        self._write_back(extras, writer)
        return self._with_gradients(value, extras, writer, reader)

    def _write_back(self, extras, writer):
        """Inputs the student's function changed in place, and the new state of the modules it was given."""
        torch = _torch()
        for item in extras.get("changed", []) if isinstance(extras.get("changed"), list) else ():
            if not (isinstance(item, tuple) and len(item) == 2 and type(item[0]) is int):
                continue
            i, new = item
            if not 0 <= i < len(writer.tensors):
                continue
            old = writer.tensors[i]
            if isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and old.flags.writeable:
                if old.shape == new.shape:
                    old[...] = new
            elif torch is not None and isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor):
                with torch.no_grad():
                    if old.shape == new.shape:
                        old.copy_(new.to(old.dtype))
                    else:
                        old.data = new.to(old.dtype)
        for item in extras.get("modules", []) if isinstance(extras.get("modules"), list) else ():
            if not (isinstance(item, tuple) and len(item) == 3 and type(item[1]) is int):
                continue
            kind, i, nodes = item
            target = None
            if kind == "local" and 0 <= i < len(writer.modules):
                target = writer.modules[i]
            elif kind == "ref":
                target = self.mirrors.get(i)
            if target is not None:
                _update_module(target, nodes)

    def _with_gradients(self, value, extras, writer, reader):
        """Tensors returned with requires_grad joined to the checker's graph (see :func:`_attach_gradients`)."""
        torch = _torch()
        hid = extras.get("graph")
        if torch is None or type(hid) is not int:
            return value
        outs = [t for t in _wire_tensors(value) if t.requires_grad]
        ins = [t for t in writer.tensors if isinstance(t, torch.Tensor) and t.requires_grad]
        if not outs or len(outs) != extras.get("outputs") or len(ins) != extras.get("leaves"):
            raise StudentError("the student process described its gradients wrongly")
        for t in outs:
            t.requires_grad_(False)
        if not ins or not torch.is_grad_enabled():
            for t in outs:
                t.requires_grad_(True)  # (it requires grad there; there is no graph of ours to join)
            return value
        attached = _attach_gradients(self, hid, outs, ins)
        return substitute(value, {id(o): a for o, a in zip(outs, attached)})

    def vjp(self, hid, grads):
        """Gradients of the inputs of graph ``hid`` for ``grads`` on its outputs, computed in the student process."""
        return self._request(("vjp", hid, grads), self._left())[0]

    def function(self, name):
        rid = self._request(("lookup", name), self._left())[0]
        if type(rid) is not int:
            raise StudentError(f"the student process answered the lookup of {name} with something else")
        return Remote(self, rid, name)

    def close(self):
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.proc.kill()  # the fork server ends the whole sandbox
        self.proc.wait()


def verify(
    source_nb,
    submission_nb,
    timeout,
    limits,
    workdir,
    hide=(),
    expose=(),
    only=None,
    forkserver=None,
    graded_names=None,
):
    """Grade ``submission_nb`` against ``source_nb`` out of process.

    Returns ``{grade_id: None (passed) or "reason"}`` for every test cell of the source (those
    in ``only``, when given). Both notebooks are nbformat dicts; only the *source* says what is
    what: its setup, answer and test cells (by grade_id), its graded names (``graded_names``,
    else :func:`course.grading.submission.graded_names`) and which of them are PyTorch functions
    (``metadata.course.torch``; the rest are NumPy functions). ``forkserver``: a
    :class:`course.grading.forkserver.ForkServer` to start the PyTorch student process from.
    """
    from course.grading import submission
    from course.grading.submission import cells_by_role, grade_id, source_text

    setup = [source_text(c) for c in cells_by_role(source_nb, "setup")]
    tests = [(grade_id(c), source_text(c)) for c in cells_by_role(source_nb, "test")]
    tests = [(gid, src) for gid, src in tests if only is None or gid in only]
    answers = {grade_id(c): None for c in cells_by_role(source_nb, "answer")}
    for cell in submission_nb.get("cells", []):
        gid = grade_id(cell) if isinstance(cell, dict) else None
        if gid in answers and cell.get("cell_type") == "code" and answers[gid] is None:
            answers[gid] = source_text(cell)
    answer_cells = [src for src in answers.values() if src]
    graded = list(graded_names) if graded_names is not None else submission.graded_names(source_nb)
    meta = source_nb.get("metadata", {}).get("course", {})
    torch_names = set(meta.get("torch", [])) if isinstance(meta, dict) else set()
    kinds = {"numpy": [n for n in graded if n not in torch_names], "torch": [n for n in graded if n in torch_names]}

    verdicts, students, failed = {}, {}, {}
    try:
        for gid, test_src in tests:
            try:
                for kind, names in kinds.items():  # (re)start after a crash or a timeout in an earlier test
                    if names and kind not in students:
                        if len(failed.get(kind, ())) >= 2:  # its cells cannot be loaded: do not try for every test
                            raise StudentError(failed[kind][-1])
                        try:
                            folder = f"{workdir}-{kind}" if kind == "torch" else workdir
                            students[kind] = StudentProcess(
                                setup, answer_cells, timeout, limits, folder, hide, expose, forkserver,
                                names=names, numpy_only=kind == "numpy",
                            )  # fmt: skip
                        except StudentError as e:
                            failed.setdefault(kind, []).append(str(e))
                            raise
                namespace = {"__name__": "__verify__"}
                with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                    for src in setup:
                        exec(compile(src, "<setup>", "exec"), namespace)
                    for student in students.values():
                        student.begin_test(time.monotonic() + timeout)  # (for the lookups)
                        for name in student.names:  # only the contract's names, never the student's list
                            namespace[name] = student.function(name)
                    deadline = time.monotonic() + timeout  # the test cell's time, as in the kernel
                    for student in students.values():
                        student.begin_test(deadline)
                    exec(compile(test_src, f"<test {gid}>", "exec"), namespace)
                verdicts[gid] = None
            except StudentError as e:
                verdicts[gid] = str(e)[:MAX_MESSAGE_CHARS]
            except BaseException as e:  # AssertionError from a check, or whatever the test raised
                verdicts[gid] = f"{type(e).__name__}: {e}".strip()[:MAX_MESSAGE_CHARS]
            for kind, student in list(students.items()):
                if student.proc.poll() is not None:
                    student.close()
                    del students[kind]
    finally:
        for student in students.values():
            student.close()
    return verdicts
