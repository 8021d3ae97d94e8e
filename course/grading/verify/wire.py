"""The verifier's wire format: what crosses between the checker and a student process, bounded.

What crosses, in both directions, is plain data in this format (no pickle): None, bools, ints,
floats, complex, str, bytes, lists, tuples, dicts, NumPy arrays and scalars of numeric dtypes,
torch tensors (dtype, shape, bytes, requires_grad) and torch modules as their state (the module
tree's torch.nn classes, constructor settings, parameters and buffers:
:mod:`~course.grading.verify.torch_bridge`). Decoding is bounded in size, nesting depth and item
count (the constants below), and linear in the bytes read (no shared references). Anything else
a side sends (a cache, a function) stays there and travels as an opaque reference, which the
other side holds as a :class:`Remote`; the table of those references is the :class:`Side` each
process implements.

A message is its length (8 bytes, little-endian) and one value: a one-byte tag and its payload.
"""

import os
import struct
import sys
from typing import Protocol

import numpy as np

from course.grading.processes import read_exact

MAX_FRAME = 64 * 2**20  # bytes of one message
MAX_DEPTH = 48  # nesting of lists, tuples and dicts in one message
MAX_ITEMS = 2**20  # values in one message (an array counts as one)
MAX_NDIM = 32
MAX_BIGINT_BYTES = 4096
MAX_MODULES = 1000  # modules in one exported module tree
MAX_LAYERS = 16  # num_layers of a recurrent module that crosses
MAX_MESSAGE_CHARS = 500  # an error's message, as it crosses and as a verdict


class StudentError(Exception):
    """The student's code raised, died or timed out; the message says which."""


class WireError(StudentError):
    """A message that breaks the rules of the wire format (too big, too deep, malformed)."""


class Side(Protocol):
    """What the codec asks of the process it runs in; both ends implement it.

    The checker's side is :class:`~course.grading.verify.checker.StudentProcess`, the student
    process's :class:`~course.grading.verify.student.Server`. An object that cannot cross by
    value stays on its side: ``register`` gives it the id it crosses as, and ``lookup`` turns an
    id that comes back into the object (a :class:`WireError` for an unknown id). ``is_remote``
    gives the id of an object of the *other* side (a :class:`Remote` of this link, or on the
    checker's side a mirror module), which crosses back as that reference, else None.
    ``call`` runs an object of the other side (what a :class:`Remote` does when called).

    A torch module crosses as its state (:mod:`~course.grading.verify.torch_bridge`), which is
    where the two sides differ: ``export_module`` gives a module's nodes (the checker sends
    ``torch.nn`` classes only, by value; the student registers each submodule, so the checker
    can name it back), ``build_module`` makes a module of nodes that came in (the checker
    mirrors the student's own classes; the student accepts ``torch.nn`` classes only).
    """

    def register(self, obj) -> int: ...

    def is_remote(self, obj) -> int | None: ...

    def lookup(self, rid: int) -> object: ...

    def call(self, rid: int, args, kwargs, module=None): ...

    def export_module(self, module) -> list: ...

    def build_module(self, nodes): ...


_NUMPY_DTYPES = {
    np.dtype(t).str for t in ("?", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "c8", "c16")
}
_TORCH_DTYPES = (
    "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "complex64", "complex128"
)  # fmt: skip


def _torch():
    """torch if this process has imported it (the NumPy student process never has)."""
    return sys.modules.get("torch")


class _Writer:
    """Encodes one message for ``side`` (a :class:`Side`); ``student``: whether this is the student process.

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
            nodes = self.side.export_module(obj)
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
            module = self.side.build_module(nodes)
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


def _recv_frame(fd, deadline=None):
    """One frame from ``fd`` by ``deadline`` (:func:`course.grading.processes.read_exact`: TimeoutError, EOFError)."""
    (n,) = struct.unpack("<Q", read_exact(fd, 8, deadline))
    if n > MAX_FRAME:
        raise WireError(f"the student's code sent {n} bytes, more than the limit of {MAX_FRAME}")
    return read_exact(fd, n, deadline)


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
