"""The second opinion on a grade: the tests re-run where student code cannot reach them.

nbgrader runs the tests in the same kernel as the student's code, so a
submission can in principle redefine what the tests use (``np.allclose``,
the ``course`` checks, ``builtins``). This module grades the same submission
again with the roles split over two processes:

* the **student process** (sandboxed, see ``course.grading.sandbox``) executes the
  unit's locked setup cells and the submission's *answer cells* only, and
  then serves calls to the functions they define;
* the **checker process** (this one, the grading worker) executes the
  instructor's setup and test cells, hidden tests included, with each
  graded function replaced by a proxy that calls into the student process.

Only plain data crosses between them (NumPy arrays, numbers, strings and
containers of them, rebuilt here with a restricted unpickler); anything else
the student returns (a cache) stays there and travels back as an opaque
reference. Checker-side functions handed to student code (the reference
``forward_fn`` of a generic check) are called back here. Every comparison
therefore happens in a process the student's code never ran in, and the
grade of a test is the minimum of nbgrader's and this verdict.
"""

import io
import json
import os
import pickle
import select
import struct
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import numpy as np

MAX_FRAME = 512 * 2**20


class StudentError(Exception):
    """The student's code raised, died or timed out; the message says which."""


# ------------------------------------------------------------------ wire format
class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):  # only builtin containers and scalars may cross
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def _send(fd, obj):
    data = pickle.dumps(obj, protocol=4)
    os.write(fd, struct.pack("<Q", len(data)))
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _recv_exact(fd, n, deadline=None):
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            import time

            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _recv(fd, deadline=None):
    (n,) = struct.unpack("<Q", _recv_exact(fd, 8, deadline))
    if n > MAX_FRAME:
        raise StudentError(f"the student's code sent {n} bytes, more than the limit of {MAX_FRAME}")
    return _SafeUnpickler(io.BytesIO(_recv_exact(fd, n, deadline))).load()


def _encode(obj, table):
    """Plain data by value; everything else by reference (an id into ``table``)."""
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return obj
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufc":
        return ("nd", obj.dtype.str, obj.shape, np.ascontiguousarray(obj).tobytes())
    if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
        return ("np", obj.dtype.str, obj.tobytes())
    if isinstance(obj, (list, tuple)):
        return ("list" if isinstance(obj, list) else "tuple", [_encode(x, table) for x in obj])
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        return ("dict", {k: _encode(v, table) for k, v in obj.items()})
    if isinstance(obj, Remote):
        return ("ref", obj._rid)
    table.append(obj)
    return ("obj", len(table) - 1, callable(obj))


def _decode(wire, table, make_remote):
    if not isinstance(wire, tuple):
        return wire
    tag = wire[0]
    if tag == "nd":
        return np.frombuffer(wire[3], dtype=np.dtype(wire[1])).reshape(wire[2]).copy()
    if tag == "np":
        return np.frombuffer(wire[2], dtype=np.dtype(wire[1]))[0]
    if tag in ("list", "tuple"):
        items = [_decode(x, table, make_remote) for x in wire[1]]
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        return {k: _decode(v, table, make_remote) for k, v in wire[1].items()}
    if tag == "ref":
        return table[wire[1]]
    if tag == "obj":
        return make_remote(wire[1], wire[2])
    raise StudentError(f"malformed message from the other process: {tag!r}")


def _as_exception(name, message):
    """Re-raise a builtin exception type by name (checks may expect ValueError); else StudentError."""
    import builtins

    cls = getattr(builtins, str(name), None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls(message)
    return StudentError(f"{name}: {message}")


class Remote:
    """An object that lives in the other process (a cache, or a function)."""

    def __init__(self, link, rid, name=None):
        self._link, self._rid, self.__name__ = link, rid, name or f"object#{rid}"

    def __call__(self, *args, **kwargs):
        return self._link.call(self._rid, args, kwargs)

    def __deepcopy__(self, memo):  # tests copy inputs: a reference copies as itself
        return self

    def __repr__(self):
        return f"<{self.__name__} in the student process>"


# ------------------------------------------------------------------ checker side
class StudentProcess:
    """A sandboxed process that runs the answer cells and serves their functions."""

    def __init__(self, setup_cells, answer_cells, timeout, limits, workdir, hide=(), expose=(), forkserver=None):
        from course.grading import sandbox

        self.timeout = timeout
        self.deadline = float("inf")  # set per test: a test cell has `timeout` seconds in all
        self.names = []
        r1, w1 = os.pipe()  # checker -> student
        r2, w2 = os.pipe()  # student -> checker
        self.proc = None
        if forkserver is not None:  # a fork of a process that has imported numpy, torch, the checks
            self.proc = forkserver.spawn("serve", sandbox.command_args(limits, workdir, hide, expose), [r1, w2])
        if self.proc is None:
            env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
            serve = [sys.executable, "-m", "course.grading.verify", "--serve", str(r1), str(w2)]
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "course.grading.sandbox", *sandbox.command_args(limits, workdir, hide, expose)]
                + ["--", *serve],
                pass_fds=(r1, w2),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        os.close(r1)
        os.close(w2)

        self.wfd, self.rfd = w1, r2
        self.callbacks = []
        self.limits = limits
        # setup cells are the instructor's; answer cells the student's: each may fail on its own
        self.names = self._request(("load", setup_cells, answer_cells), timeout=max(60, timeout))

    def _request(self, msg, timeout):
        import time

        deadline = time.monotonic() + timeout
        try:
            _send(self.wfd, msg)
            while True:
                reply = _recv(self.rfd, deadline)
                if reply[0] == "ok":
                    return _decode(reply[1], self.callbacks, self._remote)
                if reply[0] == "err":
                    raise _as_exception(reply[1], reply[2])
                if reply[0] == "callback":  # student code calls a function of the checker
                    _, cid, args, kwargs = reply
                    fn = self.callbacks[cid]
                    try:
                        out = fn(
                            *_decode(args, self.callbacks, self._remote),
                            **_decode(kwargs, self.callbacks, self._remote),
                        )
                        _send(self.wfd, ("ok", _encode(out, self.callbacks)))
                    except Exception as e:
                        _send(self.wfd, ("err", type(e).__name__, str(e)[:500]))
        except TimeoutError:
            self.close()
            raise StudentError(f"timed out after {timeout:g} s") from None
        except (EOFError, BrokenPipeError, OSError):
            code = self.proc.poll()
            self.close()
            raise StudentError(f"the student's code ended the process (exit status {code})") from None

    def _remote(self, rid, is_callable):
        return Remote(self, rid)

    def _left(self):
        import time

        return max(0.01, min(self.timeout, self.deadline - time.monotonic()))

    def call(self, rid, args, kwargs):
        wire = ("call", rid, _encode(args, self.callbacks), _encode(kwargs, self.callbacks))
        return self._request(wire, self._left())

    def function(self, name):
        return Remote(self, self._request(("lookup", name), self._left()), name)

    def close(self):
        from course.grading import sandbox

        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        sandbox.kill_tree(self.proc.pid, self.limits)


def verify(source_nb, submission_nb, timeout, limits, workdir, hide=(), expose=(), only=None, forkserver=None):
    """Grade ``submission_nb`` against ``source_nb`` out of process.

    Returns ``{grade_id: None (passed) or "reason"}`` for every test cell of
    the source (those in ``only``, when given). Both notebooks are nbformat
    dicts. ``forkserver``: a :class:`course.grading.forkserver.ForkServer` to start the
    student process from (else a new Python process).
    """

    def text(cell):
        src = cell.get("source", "")
        return src if isinstance(src, str) else "".join(src)

    setup, answers, tests = [], {}, []
    for cell in source_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code":
            continue
        if meta.get("grade"):
            if only is None or meta["grade_id"] in only:
                tests.append((meta["grade_id"], text(cell)))
        elif meta.get("locked"):
            setup.append(text(cell))
        elif meta.get("solution"):
            answers[meta["grade_id"]] = None
    for cell in submission_nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("cell_type") == "code" and gid in answers and answers[gid] is None:
            answers[gid] = text(cell)
    answer_cells = [src for src in answers.values() if src]

    verdicts, student = {}, None
    for gid, test_src in tests:
        try:
            if student is None:  # (re)start after a crash or a timeout in an earlier test
                student = StudentProcess(setup, answer_cells, timeout, limits, workdir, hide, expose, forkserver)
            import time

            student.deadline = time.monotonic() + timeout
            namespace = {"__name__": "__verify__"}
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                for src in setup:
                    exec(compile(src, "<setup>", "exec"), namespace)
                for name in student.names:
                    namespace[name] = student.function(name)
                exec(compile(test_src, f"<test {gid}>", "exec"), namespace)
            verdicts[gid] = None
        except StudentError as e:
            verdicts[gid] = str(e)
            if student is not None and student.proc.poll() is not None:
                student = None
        except BaseException as e:  # AssertionError from a check, or whatever the test raised
            verdicts[gid] = f"{type(e).__name__}: {e}".strip()[:500]
            if student is not None and student.proc.poll() is not None:
                student.close()
                student = None
    if student is not None:
        student.close()
    return verdicts


# ------------------------------------------------------------------ student side
def _serve(rfd, wfd):
    """Loop of the student process: load cells, then answer lookups and calls."""
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115  (student prints must not reach the pipe)
    objects, namespace = [], {"__name__": "__main__"}

    class CheckerLink:
        """Calls back into the checker: its reference functions, handed to student code."""

        def call(self, rid, args, kwargs):
            _send(wfd, ("callback", rid, _encode(args, objects), _encode(kwargs, objects)))
            while True:  # the checker's function may call student functions meanwhile: serve those
                msg = _recv(rfd)
                if msg[0] == "ok":
                    return _decode(msg[1], objects, remote)
                if msg[0] == "err":
                    raise _as_exception(msg[1], msg[2])
                _send(wfd, handle(msg))

    link = CheckerLink()

    def remote(rid, is_callable):
        return Remote(link, rid)

    import warnings

    from course.testing import torch_forbidden

    def handle(msg):
        try:
            if msg[0] == "load":
                for src in msg[1]:
                    exec(compile(src, "<setup>", "exec"), namespace)
                defined_before = set(namespace)
                for src in msg[2]:
                    try:
                        exec(compile(src, "<answer>", "exec"), namespace)
                    except Exception:
                        pass  # a broken answer cell: its functions stay undefined, their tests fail
                names = sorted(
                    k for k in set(namespace) - defined_before if callable(namespace[k]) and not k.startswith("_")
                )
                return ("ok", names)
            if msg[0] == "lookup":
                fn = namespace.get(msg[1])
                if not callable(fn):
                    raise NameError(f"name {msg[1]!r} is not defined")
                objects.append(fn)
                return ("ok", len(objects) - 1)
            if msg[0] == "call":
                fn = objects[msg[1]]
                args = _decode(msg[2], objects, remote)
                kwargs = _decode(msg[3], objects, remote)
                with torch_forbidden(fn), warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    out = fn(*args, **kwargs)
                return ("ok", _encode(out, objects))
            return ("err", "StudentError", f"unknown request {msg[0]!r}")
        except BaseException as e:  # noqa: BLE001  (SystemExit, KeyboardInterrupt too: report, keep serving)
            return ("err", type(e).__name__, str(e)[:500])

    while True:
        try:
            msg = _recv(rfd)
        except EOFError:
            return
        _send(wfd, handle(msg))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        _serve(int(sys.argv[2]), int(sys.argv[3]))
    else:
        print(json.dumps({"usage": "python -m course.grading.verify --serve RFD WFD"}))
