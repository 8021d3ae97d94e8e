"""The torch bridge: torch modules and autograd across the verifier's two processes.

A module crosses as its state (:func:`export_module`: the tree of its ``torch.nn`` classes,
their constructor settings, parameters, buffers and modes). A module the student builds is
mirrored in the checker: its ``torch.nn`` layers are rebuilt as real local modules from its state
(on the meta device, then given the tensors that crossed), and whatever is the student's own
class becomes a *mirror* whose ``forward`` runs in the student process. Gradients cross as
vector-Jacobian products: a tensor returned with ``requires_grad`` is attached to the checker's
graph by a ``torch.autograd.Function`` whose backward asks the student process for
``torch.autograd.grad`` (the student keeps the graph: :func:`graph_of`). Inputs a student function
changes in place, and the modules it was given, are written back, so the checks see it.

Nothing here imports torch: it is used only where the process has imported it (the NumPy
student process never has).
"""

import warnings
import weakref

from course.grading.verify.wire import (
    _TORCH_DTYPES,
    MAX_DEPTH,
    MAX_LAYERS,
    MAX_MODULES,
    MAX_NDIM,
    StudentError,
    WireError,
    _torch,
)

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


def export_module(module, register, local):
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


def build_module(nodes, link=None):
    """A module from ``export_module`` nodes: torch.nn classes rebuilt from their settings and state.

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


def substitute(value, mapping, depth=0):
    """``value`` with the tensors of ``mapping`` (id -> tensor) replaced (lists, tuples, dicts)."""
    if id(value) in mapping:
        return mapping[id(value)]
    if depth < MAX_DEPTH and isinstance(value, (list, tuple)):
        items = [substitute(v, mapping, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if depth < MAX_DEPTH and isinstance(value, dict):
        return {k: substitute(v, mapping, depth + 1) for k, v in value.items()}
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


def graph_of(side, out, leaves):
    """Keeps the graph from ``leaves`` (the inputs that require grad) to the output's tensors that
    require grad, for the checker's gradient requests; returns its extras for the reply."""
    outs = [t for t in _wire_tensors(out) if t.requires_grad]
    if not outs:
        return {}
    hid = side.graph_count
    side.graph_count += 1
    side.graphs[hid] = (leaves, outs)
    return {"graph": hid, "outputs": len(outs), "leaves": len(leaves)}
