"""The second opinion on a grade: the tests re-run where student code cannot reach them.

nbgrader runs the tests in the same kernel as the student's code, so a submission can in
principle redefine what the tests use (``np.allclose``, the ``course`` checks, ``builtins``).
This module grades the same submission again with the roles split over processes:

* the **student processes** (sandboxed, see ``course.grading.sandbox``) execute the unit's
  setup cells (statement by statement: those that cannot import what is hidden are skipped)
  and the submission's *answer cells* only (each under the time limit per cell), and then
  serve calls to the functions they define. Graded **NumPy** functions run in a fork of the
  fork server's torch-free server (:mod:`course.grading.forkserver`: torch was never imported
  in it) in which torch, ``course.checks`` and ``course.interop`` are covered in its view of
  the file system (the sandbox's ``cover``) *and* refused by an audit hook (importing them,
  opening their files, starting processes, ``ctypes``), installed before any student code
  runs: no default argument, module attribute or ``gc`` walk can reach them. Graded
  **PyTorch** functions (those the notebook's metadata ``course.torch`` names: units 9 and 10)
  run in a second process, a fork of the server that has torch;
* the **checker process** (this one, the grading worker) executes the instructor's setup and
  test cells, hidden tests included, with each of the contract's graded names (the
  instructor's answer cells ``answer_NAME``; never a list the student process supplies) bound
  to a proxy that calls into a student process.

What crosses, in both directions, is plain data in a format of this module (no pickle): None,
bools, ints, floats, complex, str, bytes, lists, tuples, dicts, NumPy arrays and scalars of
numeric dtypes, torch tensors (dtype, shape, bytes, requires_grad) and torch modules as their
state (the module tree's torch.nn classes, constructor settings, parameters and buffers).
Decoding is bounded in size, nesting depth and item count, and linear in the bytes read (no
shared references). Anything else a student returns (a cache) stays there and travels as an
opaque reference. A module the student builds is mirrored here: its ``torch.nn`` layers are
rebuilt as real local modules from its state, and whatever is the student's own class runs
its ``forward`` in the student process. Gradients cross as vector-Jacobian products: a tensor
returned with ``requires_grad`` is attached to the checker's graph by a
``torch.autograd.Function`` whose backward asks the student process for
``torch.autograd.grad``. Inputs a student function changes in place are written back, so the
checks see it.

Checker-side functions handed to student code (the reference ``forward_fn`` of a generic
check) are called back here, bounded per test in number, in the size of their inputs
(relative to what the checker sent) and by the test's deadline. Every comparison happens in a
process the student's code never ran in; the grade of a test is the minimum of nbgrader's and
this verdict.
"""

import ast
import io
import os
import select
import struct
import sys
import time
import warnings
import weakref
from contextlib import redirect_stderr, redirect_stdout

import numpy as np

MAX_FRAME = 64 * 2**20  # bytes of one message
MAX_DEPTH = 48  # nesting of lists, tuples and dicts in one message
MAX_ITEMS = 2**20  # values in one message (an array counts as one)
MAX_NDIM = 32
MAX_BIGINT_BYTES = 4096
MAX_MODULES = 1000  # modules in one exported module tree
MAX_LAYERS = 16  # num_layers of a recurrent module that crosses
MAX_CALLBACKS = 1000  # calls of checker functions per test
MAX_CALLBACK_BYTES = 16 * 2**20  # the inputs of one callback, at most ...
CALLBACK_FACTOR = 8  # ... this many times what the checker sent in the test (plus CALLBACK_SLACK)
CALLBACK_SLACK = 256 * 2**10
MAX_MESSAGE_CHARS = 500

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


class StudentError(Exception):
    """The student's code raised, died or timed out; the message says which."""


class WireError(StudentError):
    """A message that breaks the rules of the wire format (too big, too deep, malformed)."""


# ------------------------------------------------------------------ wire format
_NUMPY_DTYPES = {
    np.dtype(t).str for t in ("?", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "c8", "c16")
}
_TORCH_DTYPES = (
    "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "complex64", "complex128"
)  # fmt: skip


def _torch():
    """torch if this process has imported it (the NumPy student process never has)."""
    return sys.modules.get("torch")


# The torch.nn classes that cross as state: name -> constructor settings read from the instance.
_RNN_SETTINGS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional")
_MODULE_CLASSES = {
    "Module": (),
    "Sequential": (),
    "ModuleList": (),
    "ModuleDict": (),
    "Identity": (),
    "Tanh": (),
    "Sigmoid": (),
    "ReLU": ("inplace",),
    "Dropout": ("p", "inplace"),
    "Flatten": ("start_dim", "end_dim"),
    "Linear": ("in_features", "out_features", "bias"),
    "Embedding": (
        "num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"
    ),
    "EmbeddingBag": (
        "num_embeddings", "embedding_dim", "max_norm", "norm_type", "scale_grad_by_freq", "mode", "sparse",
        "include_last_offset", "padding_idx",
    ),
    "RNN": (*_RNN_SETTINGS, "nonlinearity"),
    "LSTM": (*_RNN_SETTINGS, "proj_size"),
    "GRU": _RNN_SETTINGS,
    "RNNCell": ("input_size", "hidden_size", "bias", "nonlinearity"),
    "LSTMCell": ("input_size", "hidden_size", "bias"),
    "GRUCell": ("input_size", "hidden_size", "bias"),
}  # fmt: skip


def _nn_base(module):
    """(name, class) of the first torch.nn class of ``_MODULE_CLASSES`` that ``module``'s class derives from."""
    nn = _torch().nn
    for cls in type(module).__mro__:
        if cls.__name__ in _MODULE_CLASSES and getattr(nn, cls.__name__, None) is cls:
            return cls.__name__, cls
    raise ValueError(f"{type(module).__name__} is not a torch.nn.Module")


def _settings(module, base):
    out = {}
    for attr in _MODULE_CLASSES[base]:
        value = getattr(module, attr, None)
        if attr == "bias" and not isinstance(value, bool):  # Linear and cells store the tensor
            value = value is not None
        if isinstance(value, (list, tuple)):
            value = tuple(value)
        out[attr] = value
    return out


def _export_module(module, register, local):
    """The module tree as a list of nodes (path, rid, class, exact, settings, params, buffers, training).

    ``register(m)``: the id under which the other side may name ``m``; ``local``: the checker
    sending its own module by value (every class must then be one of ``_MODULE_CLASSES``).
    """
    nodes = []
    for path, m in module.named_modules():
        if len(nodes) >= MAX_MODULES:
            raise ValueError(f"the module has more than {MAX_MODULES} submodules")
        base, cls = _nn_base(m)
        exact = type(m) is cls
        if local and not exact:
            raise ValueError(f"a {type(m).__name__} cannot be sent to the student process (only torch.nn classes)")
        rid = -1 if register is None else register(m)
        nodes.append(
            (path, rid, base, exact, _settings(m, base), dict(m._parameters), dict(m._buffers), bool(m.training))
        )
    return nodes


def _plain_setting(value):
    if value is None or type(value) in (bool, float) or (type(value) is str and len(value) <= 20):
        return True
    if type(value) is int:
        return -(2**31) <= value < 2**31
    return type(value) is tuple and len(value) <= MAX_NDIM and all(type(v) is int and 0 <= v < 2**31 for v in value)


#: checker side: mirror module -> (StudentProcess, remote id); a copy is not a mirror
_MIRRORS = weakref.WeakKeyDictionary()
_MIRROR_CLASSES = {}


def _remote_forward(self, *args, **kwargs):
    entry = _MIRRORS.get(self)
    if entry is None:
        raise RuntimeError("a copy of the student's module cannot run: only the module itself runs, in its process")
    link, rid = entry
    return link.call(rid, args, kwargs, module=self)


def _mirror_class(base):
    """A subclass of torch.nn class ``base`` whose forward runs in the student process."""
    if base not in _MIRROR_CLASSES:
        _MIRROR_CLASSES[base] = type(f"Student{base.__name__}", (base,), {"forward": _remote_forward})
    return _MIRROR_CLASSES[base]


def _build_module(nodes, link=None):
    """A module from ``_export_module`` nodes: torch.nn classes rebuilt from their settings and state.

    ``link`` (checker side): the student process the nodes come from; a node of a student's own
    class becomes a mirror whose forward runs there. Without ``link`` every node must be a
    torch.nn class.
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(nodes, list) or not nodes or len(nodes) > MAX_MODULES:
        raise WireError("malformed module")
    built = {}
    for node in nodes:
        if not (isinstance(node, tuple) and len(node) == 8):
            raise WireError("malformed module node")
        path, rid, base, exact, settings, params, buffers, training = node
        if not (
            isinstance(path, str)
            and type(rid) is int
            and base in _MODULE_CLASSES
            and isinstance(exact, bool)
            and isinstance(settings, dict)
            and set(settings) == set(_MODULE_CLASSES[base])
            and all(_plain_setting(v) for v in settings.values())
            and isinstance(params, dict)
            and isinstance(buffers, dict)
            and all(v is None or isinstance(v, torch.Tensor) for v in [*params.values(), *buffers.values()])
            and isinstance(training, bool)
        ):
            raise WireError(f"malformed module node {str(path)[:80]!r}")
        if type(settings.get("num_layers", 1)) is int and not 0 < settings.get("num_layers", 1) <= MAX_LAYERS:
            raise WireError(f"a recurrent module of more than {MAX_LAYERS} layers")
        parent, _, name = path.rpartition(".")
        if (path == "") != (not built) or (
            path and (parent not in built or not name or name in built[parent]._modules)
        ):
            raise WireError(f"malformed module tree at {path[:80]!r}")
        cls = getattr(nn, base)
        if not exact:
            if link is None:
                raise WireError(f"only torch.nn modules may be sent, not a subclass of nn.{base}")
            cls = _mirror_class(cls)
        try:
            # on the meta device: nothing is allocated (sizes come from the other side) and no random draws
            with torch.device("meta"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = cls(**settings)
            for what, ours, theirs in (("parameters", m._parameters, params), ("buffers", m._buffers, buffers)):
                shapes = {k: None if t is None else tuple(t.shape) for k, t in ours.items()}
                if shapes != {k: None if t is None else tuple(t.shape) for k, t in theirs.items()}:
                    raise ValueError(f"its {what} do not match those of nn.{base} with its settings")
            for pname, value in params.items():
                setattr(m, pname, None if value is None else nn.Parameter(value.detach(), value.requires_grad))
            for bname, value in buffers.items():
                m._buffers[bname] = None if value is None else value.detach()
        except Exception as e:  # noqa: BLE001  (settings come from the other process)
            raise WireError(f"the module nn.{base} at {path or 'the top'!r} cannot be rebuilt: {e}"[:500]) from None
        m.training = training
        if path:
            built[parent].add_module(name, m)
        built[path] = m
        if link is not None and rid >= 0:
            _MIRRORS[m] = (link, rid)
            link.mirrors[rid] = m
    return built[""]


def _update_module(root, nodes):
    """Give ``root`` (a mirror, or a module sent by value) the parameters, buffers and modes of ``nodes``."""
    torch = _torch()
    mods = dict(root.named_modules())
    for node in nodes if isinstance(nodes, list) else ():
        if not (isinstance(node, tuple) and len(node) == 8 and node[0] in mods):
            continue
        path, _, _, _, _, params, buffers, training = node
        m = mods[path]
        for pname, value in params.items() if isinstance(params, dict) else ():
            p = m._parameters.get(pname)
            if p is not None and isinstance(value, torch.Tensor):
                p.data = value.detach()
        for bname, value in buffers.items() if isinstance(buffers, dict) else ():
            if bname in m._buffers and isinstance(value, torch.Tensor):
                m._buffers[bname] = value.detach()
        if isinstance(training, bool):
            m.training = training


class _Writer:
    """Encodes one message. ``side`` provides ``register(obj) -> id`` and ``is_remote(obj) -> id or None``.

    Records what it sent by value that may come back changed: ``tensors`` (arrays and
    tensors, in order) and ``modules`` (modules sent by value); ``mirrors``: mirror modules
    named by reference.
    """

    def __init__(self, side, student):
        self.side, self.student = side, student
        self.chunks, self.items = [], 0
        self.tensors, self.modules, self.mirrors = [], [], []

    def bytes(self):
        return b"".join(self.chunks)

    def put(self, obj, depth=0, record=True):
        self.items += 1
        if self.items > MAX_ITEMS:
            raise ValueError(f"more than {MAX_ITEMS} values in one message")
        if depth > MAX_DEPTH:
            raise ValueError(f"data nested more than {MAX_DEPTH} levels deep")
        w = self.chunks.append
        torch = _torch()
        if obj is None:
            return w(b"N")
        if obj is True or obj is False:
            return w(b"T" if obj else b"F")
        if isinstance(obj, np.generic):  # before float: np.float64 is a float subclass
            if obj.dtype.str in _NUMPY_DTYPES:
                raw = obj.tobytes()
                return w(b"g" + self._str(obj.dtype.str) + struct.pack("<I", len(raw)) + raw)
        elif isinstance(obj, bool):  # (np.bool_ is not a bool)
            return w(b"T" if obj else b"F")
        elif isinstance(obj, int):  # int subclasses (IntEnum) cross as plain ints
            value = int.__int__(obj)
            if -(2**63) <= value < 2**63:
                return w(b"i" + struct.pack("<q", value))
            raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            if len(raw) > MAX_BIGINT_BYTES:
                raise ValueError("an integer too large to send")
            return w(b"I" + struct.pack("<I", len(raw)) + raw)
        elif isinstance(obj, float):
            return w(b"f" + struct.pack("<d", float.__float__(obj)))
        elif isinstance(obj, complex):
            return w(b"c" + struct.pack("<dd", obj.real, obj.imag))
        elif isinstance(obj, str):
            return w(b"s" + self._str(str.__str__(obj)))
        elif isinstance(obj, (bytes, bytearray)):
            raw = bytes(obj) if type(obj) is not bytes else obj
            return w(b"y" + struct.pack("<Q", len(raw)) + raw)
        elif isinstance(obj, np.ndarray):
            native = obj.dtype.newbyteorder("=") if obj.dtype.byteorder not in "=|" else obj.dtype
            if native.str in _NUMPY_DTYPES and obj.ndim <= MAX_NDIM:
                arr = np.asarray(obj, dtype=native, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
                if record:
                    self.tensors.append(obj)
                raw = arr.tobytes()
                return w(b"a" + self._str(native.str) + self._shape(arr.shape) + struct.pack("<Q", len(raw)) + raw)
        elif torch is not None and isinstance(obj, torch.Tensor):
            dtype = str(obj.dtype).removeprefix("torch.")
            if dtype in _TORCH_DTYPES and obj.layout == torch.strided and obj.dim() <= MAX_NDIM:
                t = obj.detach().to("cpu").contiguous()
                raw = t.numpy().tobytes() if t.numel() else b""
                if record:
                    self.tensors.append(obj)
                flag = b"\x01" if obj.requires_grad else b"\x00"
                return w(
                    b"X" + self._str(dtype) + self._shape(tuple(t.shape)) + flag + struct.pack("<Q", len(raw)) + raw
                )
        elif isinstance(obj, (list, tuple)):  # namedtuples and list subclasses cross as plain ones
            w((b"l" if isinstance(obj, list) else b"t") + struct.pack("<I", len(obj)))
            for x in obj:
                self.put(x, depth + 1, record)
            return None
        elif isinstance(obj, dict) and all(type(k) in (str, int) for k in obj):
            w(b"d" + struct.pack("<I", len(obj)))
            for k, v in obj.items():
                self.put(k, depth + 1, record)
                self.put(v, depth + 1, record)
            return None
        rid = self.side.is_remote(obj)
        if rid is not None:  # an object of the other side, named back
            if torch is not None and isinstance(obj, torch.nn.Module):
                self.mirrors.append(obj)
            return w(b"r" + struct.pack("<q", rid))
        if torch is not None and isinstance(obj, torch.nn.Module):
            register = self.side.register if self.student else None
            nodes = _export_module(obj, register, local=not self.student)
            if not self.student:
                self.modules.append(obj)
            w(b"M")
            return self.put(nodes, depth + 1, record=False)
        rid = self.side.register(obj)  # anything else stays here: the other side gets a reference
        return w(b"o" + struct.pack("<q?", rid, callable(obj)))

    @staticmethod
    def _str(s):
        raw = s.encode("utf-8", "surrogatepass")
        return struct.pack("<I", len(raw)) + raw

    @staticmethod
    def _shape(shape):
        return struct.pack(f"<B{len(shape)}q", len(shape), *shape)


class _Reader:
    """Decodes one message, bounded: every length is checked against the bytes left, depth and
    item count are limited, arrays and tensors are rebuilt from numeric dtypes only.

    Records the arrays and tensors it made (``tensors``, in order) and the modules the message
    carried (``modules``: by value; ``refs``: named by reference).
    """

    def __init__(self, data, side, student):
        self.data, self.pos, self.items = memoryview(data), 0, 0
        self.side, self.student = side, student
        self.tensors, self.modules, self.refs = [], [], []

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise WireError("malformed message (truncated)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def text(self):
        (n,) = self.unpack("<I")
        try:
            return str(self.take(n), "utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise WireError("malformed message (text)") from None

    def shape(self):
        (ndim,) = self.unpack("<B")
        if ndim > MAX_NDIM:
            raise WireError("malformed message (too many dimensions)")
        shape = self.unpack(f"<{ndim}q")
        if any(d < 0 for d in shape):
            raise WireError("malformed message (negative dimension)")
        return shape

    def raw_for(self, shape, itemsize):
        (n,) = self.unpack("<Q")
        if n != int(np.prod(shape, dtype=object)) * itemsize:
            raise WireError("malformed message (array size)")
        return self.take(n)

    def message(self):
        try:
            value = self.value(0, True)
        except WireError:
            raise
        except (ValueError, TypeError, OverflowError, MemoryError, struct.error) as e:
            raise WireError(f"malformed message ({type(e).__name__})") from None
        if self.pos != len(self.data):
            raise WireError("malformed message (trailing bytes)")
        return value

    def value(self, depth, record):
        self.items += 1
        if self.items > MAX_ITEMS:
            raise WireError(f"the message holds more than {MAX_ITEMS} values")
        if depth > MAX_DEPTH:
            raise WireError(f"the message is nested more than {MAX_DEPTH} levels deep")
        tag = bytes(self.take(1))
        if tag == b"N":
            return None
        if tag in (b"T", b"F"):
            return tag == b"T"
        if tag == b"i":
            return self.unpack("<q")[0]
        if tag == b"I":
            (n,) = self.unpack("<I")
            if n > MAX_BIGINT_BYTES:
                raise WireError("malformed message (integer too large)")
            return int.from_bytes(self.take(n), "little", signed=True)
        if tag == b"f":
            return self.unpack("<d")[0]
        if tag == b"c":
            return complex(*self.unpack("<dd"))
        if tag == b"s":
            return self.text()
        if tag == b"y":
            (n,) = self.unpack("<Q")
            return bytes(self.take(n))
        if tag in (b"l", b"t"):
            (n,) = self.unpack("<I")
            if n > len(self.data) - self.pos:  # every item takes at least a byte
                raise WireError("malformed message (length)")
            items = [self.value(depth + 1, record) for _ in range(n)]
            return items if tag == b"l" else tuple(items)
        if tag == b"d":
            (n,) = self.unpack("<I")
            if 2 * n > len(self.data) - self.pos:
                raise WireError("malformed message (length)")
            out = {}
            for _ in range(n):
                k = self.value(depth + 1, record)
                if type(k) not in (str, int):
                    raise WireError("malformed message (dict key)")
                out[k] = self.value(depth + 1, record)
            return out
        if tag in (b"g", b"a"):
            dtype = self.text()
            if dtype not in _NUMPY_DTYPES:
                raise WireError(f"refused an array of dtype {dtype[:20]!r}")
            dt = np.dtype(dtype)
            if tag == b"g":
                (n,) = self.unpack("<I")
                if n != dt.itemsize:
                    raise WireError("malformed message (scalar size)")
                return np.frombuffer(self.take(n), dtype=dt)[0]
            shape = self.shape()
            arr = np.frombuffer(self.raw_for(shape, dt.itemsize), dtype=dt).reshape(shape).copy()
            if record:
                self.tensors.append(arr)
            return arr
        if tag == b"X":
            return self.tensor(record)
        if tag == b"r":
            (rid,) = self.unpack("<q")
            obj = self.side.lookup(rid)
            torch = _torch()
            if torch is not None and isinstance(obj, torch.nn.Module):
                self.refs.append((rid, obj))
            return obj
        if tag == b"o":
            rid, is_callable = self.unpack("<q?")
            return Remote(self.side, rid, callable_=is_callable)
        if tag == b"M":
            if _torch() is None:
                import torch  # noqa: F401  (the NumPy student process cannot: its audit hook refuses)
            nodes = self.value(depth + 1, False)
            module = _build_module(nodes, link=None if self.student else self.side)
            if self.student:
                self.modules.append(module)
            return module
        raise WireError(f"malformed message (tag {tag!r})")

    def tensor(self, record):
        dtype = self.text()
        if dtype not in _TORCH_DTYPES:
            raise WireError(f"refused a tensor of dtype {dtype[:20]!r}")
        import torch

        shape = self.shape()
        (flag,) = self.unpack("<B")
        tdtype = getattr(torch, dtype)
        itemsize = torch.empty((), dtype=tdtype).element_size()
        raw = self.raw_for(shape, itemsize)
        np_dtype = torch.empty((), dtype=tdtype).numpy().dtype
        t = torch.from_numpy(np.frombuffer(raw, dtype=np_dtype).reshape(shape).copy())
        if flag and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_(True)
        if record:
            self.tensors.append(t)
        return t


def _frame(side, msg, student):
    """(bytes of ``msg`` with its length prefix, the writer that made them)."""
    writer = _Writer(side, student)
    writer.put(msg)
    data = writer.bytes()
    if len(data) > MAX_FRAME:
        raise ValueError(f"a message of {len(data)} bytes, more than the limit of {MAX_FRAME}")
    return struct.pack("<Q", len(data)) + data, writer


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _recv_exact(fd, n, deadline=None):
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _recv_frame(fd, deadline=None):
    (n,) = struct.unpack("<Q", _recv_exact(fd, 8, deadline))
    if n > MAX_FRAME:
        raise WireError(f"the student's code sent {n} bytes, more than the limit of {MAX_FRAME}")
    return _recv_exact(fd, n, deadline)


def _as_exception(name, message):
    """Re-raise a builtin exception type by name (checks may expect ValueError); else StudentError."""
    import builtins

    name, message = str(name)[:100], str(message)[:MAX_MESSAGE_CHARS]
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls(message)
    return StudentError(f"{name}: {message}")


class Remote:
    """An object that lives in the other process (a cache, or a function)."""

    #: (course.testing: the torch rule is the other process's, not this one's)
    course_runs_elsewhere = True

    def __init__(self, link, rid, name=None, callable_=True):
        self._link, self._rid, self.__name__ = link, rid, name or f"object#{rid}"

    def __call__(self, *args, **kwargs):
        return self._link.call(self._rid, args, kwargs)

    def __deepcopy__(self, memo):  # tests copy inputs: a reference copies as itself
        return self

    def __repr__(self):
        return f"<{self.__name__} in the student process>"


def _substitute(value, mapping, depth=0):
    """``value`` with the tensors of ``mapping`` (id -> tensor) replaced (lists, tuples, dicts)."""
    if id(value) in mapping:
        return mapping[id(value)]
    if depth < MAX_DEPTH and isinstance(value, (list, tuple)):
        items = [_substitute(v, mapping, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if depth < MAX_DEPTH and isinstance(value, dict):
        return {k: _substitute(v, mapping, depth + 1) for k, v in value.items()}
    return value


def _attach_gradients(link, hid, outputs, inputs):
    """``outputs`` (tensors from the student process) attached to the graph of ``inputs``: their
    backward asks the student process for the vector-Jacobian product."""
    import torch

    class _RemoteGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *tensors):
            return tuple(o.clone() for o in outputs)

        @staticmethod
        def backward(ctx, *grads):
            got = link.vjp(hid, list(grads))
            if not isinstance(got, list) or len(got) != len(inputs):
                raise StudentError("the student process answered a gradient request with something else")
            out = []
            for g, x in zip(got, inputs):
                if g is not None and (not isinstance(g, torch.Tensor) or tuple(g.shape) != tuple(x.shape)):
                    raise StudentError("the student process answered a gradient of the wrong shape")
                out.append(None if g is None else g.to(x.dtype))
            return tuple(out)

    return _RemoteGrad.apply(*inputs)


# ------------------------------------------------------------------ checker side
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
        reply = self._request(load, timeout=max(60, timeout * (cells + 1)))[0]
        if not (isinstance(reply, list) and all(isinstance(n, str) for n in reply)):
            raise StudentError("the student process answered the cells with something else")
        self.names = reply if wanted is None else [n for n in wanted if n in reply]

    # -- what the wire format asks of a side
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
        return _substitute(value, {id(o): a for o, a in zip(outs, attached)})

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


def contract_names(source_nb):
    """The graded names of an instructor notebook: its answer cells ``answer_NAME``."""
    from course.grading.submission import cells_by_role, grade_id

    return [
        gid[len("answer_") :]
        for c in cells_by_role(source_nb, "answer")
        if (gid := grade_id(c) or "").startswith("answer_")
    ]


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
    else its answer cells' ``answer_NAME``) and which of them are PyTorch functions
    (``metadata.course.torch``; the rest are NumPy functions). ``forkserver``: a
    :class:`course.grading.forkserver.ForkServer` to start the PyTorch student process from.
    """
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
    graded = list(graded_names) if graded_names is not None else contract_names(source_nb)
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


# ------------------------------------------------------------------ student side
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


def _serve(rfd, wfd):
    """Loop of the student process: load cells, then answer lookups, calls and gradient requests.

    A "load" with forbidden modules installs the audit hook (:func:`_install_guard`) before the
    first cell runs.
    """
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115  (student prints must not reach the pipe)
    namespace = {"__name__": "__main__"}
    guarded = False

    class Side:
        """This side's table of objects the checker may name, and the link for calling it back."""

        def __init__(self):
            self.objects, self.ids, self.graphs, self.graph_count = [], {}, {}, 0

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

        def call(self, rid, args, kwargs, module=None):  # a checker function, called by student code
            send(("callback", Remote(self, rid), list(args), dict(kwargs)))
            while True:  # the checker's function may call student functions meanwhile: serve those
                msg, reader = receive()
                if msg[0] == "ok":
                    return msg[1]
                if msg[0] == "err":
                    raise _as_exception(msg[1], msg[2])
                send(handle(msg, reader))

    side = Side()

    def send(msg):
        try:
            data, _ = _frame(side, msg, student=True)
        except (ValueError, RecursionError, TypeError) as e:  # what the student returned cannot cross
            data, _ = _frame(side, ("err", "StudentError", f"the result cannot be sent to the checker: {e}"), True)
        _write_all(wfd, data)

    def receive():
        reader = _Reader(_recv_frame(rfd), side, student=True)
        return reader.message(), reader

    def handle(msg, reader):
        try:
            return _handle(msg, reader)
        except BaseException as e:  # noqa: BLE001  (SystemExit, KeyboardInterrupt too: report, keep serving)
            try:
                text = str(e)[:MAX_MESSAGE_CHARS]
            except BaseException:  # noqa: BLE001
                text = "(an exception whose message cannot be shown)"
            return ("err", type(e).__name__, text)

    def _handle(msg, reader):
        nonlocal guarded
        torch = _torch()
        if msg[0] == "load":
            _, setup_cells, answer_cells, wanted, forbidden, cell_timeout = msg
            if forbidden and not guarded:
                _install_guard(forbidden)
                guarded = True
            for src in setup_cells:  # (the instructor's: bounded by the load's deadline only)
                _run_cell(src, namespace, "<setup>", None)
            defined_before = {k: namespace[k] for k in namespace}
            for src in answer_cells:
                _run_cell(src, namespace, "<answer>", cell_timeout)
            if wanted is None:  # (for tests) every function the answers define
                wanted = [k for k in namespace if not k.startswith("_") and namespace[k] is not defined_before.get(k)]
            return ("ok", sorted(k for k in wanted if callable(namespace.get(k))), {})
        if msg[0] == "lookup":
            fn = namespace.get(msg[1])
            if not callable(fn):
                raise NameError(f"name {msg[1]!r} is not defined")
            return ("ok", side.register(fn), {})
        if msg[0] == "call":
            _, rid, args, kwargs, opts = msg
            fn = side.lookup(rid)
            if opts.get("fresh"):
                side.graphs.clear()
            for r, training in opts.get("modes", {}).items():
                side.lookup(r).training = bool(training)
            inputs = reader.tensors
            pristine = [
                x.detach().clone() if torch is not None and isinstance(x, torch.Tensor) else x.copy() for x in inputs
            ]
            if torch is not None:  # tensors that require grad: leaves here, the function gets copies it may change
                inputs = [x.clone() if isinstance(x, torch.Tensor) and x.requires_grad else x for x in inputs]
                swap = {id(a): b for a, b in zip(reader.tensors, inputs) if a is not b}
                args, kwargs = _substitute(args, swap), _substitute(kwargs, swap)
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
                extras["modules"] = [(k, i, _export_module(m, side.register, False)) for (k, i), m in touched]
                leaves = [x for x in reader.tensors if isinstance(x, torch.Tensor) and x.requires_grad]
                extras.update(_graph(side, out, leaves))
            return ("ok", out, extras)
        if msg[0] == "vjp":
            _, hid, grads = msg
            leaves, outs = side.graphs[hid]
            grads = [torch.zeros_like(o) if g is None else g.to(o.dtype) for g, o in zip(grads, outs)]
            got = torch.autograd.grad(outs, leaves, grads, retain_graph=True, allow_unused=True)
            return ("ok", [None if g is None else g.detach() for g in got], {})
        return ("err", "StudentError", f"unknown request {str(msg[0])[:50]!r}")

    while True:
        try:
            msg, reader = receive()
        except EOFError:
            return
        except WireError as e:
            send(("err", "StudentError", str(e)))
            continue
        send(handle(msg, reader))


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


def _crosses_as_tensor(t):
    """Whether the writer sends tensor ``t`` as a tensor (else as an opaque reference)."""
    return str(t.dtype).removeprefix("torch.") in _TORCH_DTYPES and t.layout == _torch().strided and t.dim() <= MAX_NDIM


def _wire_tensors(value, depth=0):
    """The tensors of ``value`` (lists, tuples, dicts with str/int keys) in the order they cross."""
    torch = _torch()
    if isinstance(value, torch.Tensor):
        return [value] if _crosses_as_tensor(value) else []
    out = []
    if depth < MAX_DEPTH and isinstance(value, (list, tuple)):
        for x in value:
            out += _wire_tensors(x, depth + 1)
    elif depth < MAX_DEPTH and isinstance(value, dict) and all(type(k) in (str, int) for k in value):
        for x in value.values():
            out += _wire_tensors(x, depth + 1)
    return out


def _graph(side, out, leaves):
    """Keeps the graph from ``leaves`` (the inputs that require grad) to the output's tensors that
    require grad, for the checker's gradient requests; returns its extras for the reply."""
    outs = [t for t in _wire_tensors(out) if t.requires_grad]
    if not outs:
        return {}
    hid = side.graph_count
    side.graph_count += 1
    side.graphs[hid] = (leaves, outs)
    return {"graph": hid, "outputs": len(outs), "leaves": len(leaves)}
