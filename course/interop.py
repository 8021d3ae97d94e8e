"""Copy weights between the course's NumPy arrays and ``torch.nn`` recurrent layers.

The course stores weights input-major, so a step is ``x @ Wx + h @ Wh + b``;
torch stores them output-major (``weight_ih`` is ``(gates*H, D)``). The gate
blocks are in the same order in both (RNN: one block; LSTM: i, f, g, o;
GRU: r, z, n), so a copy is a transpose:

=========  ==================================  =====================================
kind       course arrays                       torch parameters
=========  ==================================  =====================================
RNN        ``Wx (D, H), Wh (H, H), b (H,)``      ``weight_ih.T, weight_hh.T, bias_ih + bias_hh``
LSTM       ``Wx (D, 4H), Wh (H, 4H), b (4H,)``   ``weight_ih.T, weight_hh.T, bias_ih + bias_hh``
GRU        ``Wx (D, 3H), Wh (H, 3H), bx, bh``    ``weight_ih.T, weight_hh.T, bias_ih, bias_hh``
=========  ==================================  =====================================

RNN and LSTM add their two biases everywhere, so one ``b`` is enough; the GRU
multiplies ``bias_hh``'s n block by the reset gate, so it keeps both.

Layers and directions are addressed as torch names them: layer ``l`` and
direction 0 (forward) or 1 (backward, torch's ``_reverse`` suffix). Layer
``l > 0`` of a bidirectional module reads ``2H`` features (both directions
of the layer below, forward first).

:func:`torch_reference` runs a whole torch module with such arrays and returns
its outputs and gradients in the course's layout: the reference of the checks.

Example::

    lstm = torch.nn.LSTM(3, 5, batch_first=True, dtype=torch.float64)
    Wx, Wh, b = rnn_params_from_torch(lstm)          # (3, 20), (5, 20), (20,)
    load_into_torch(lstm, (Wx, 2 * Wh, b))            # and back

torch is optional for units 1-8 (``pip install -e .`` leaves it out), so it is imported
inside the functions: :func:`require_torch` raises :class:`TorchMissing` (one line naming
the install command) and :func:`optional_torch` lets a lecture's cell say what it would
show instead of failing.
"""

import numpy as np

from course.errors import CourseError

__all__ = [
    "INSTALL_TORCH",
    "TorchMissing",
    "require_torch",
    "optional_torch",
    "kind_of",
    "rnn_params_from_torch",
    "load_into_torch",
    "params_from_torch_all",
    "torch_reference",
]

#: What a student runs to get torch (units 9-10 and the lectures' live comparisons).
INSTALL_TORCH = 'pip install -e ".[torch]"'


class TorchMissing(CourseError, ImportError):
    """torch is needed and not installed; the message is one line naming :data:`INSTALL_TORCH`."""


def require_torch(what="this"):
    """The ``torch`` module, or :class:`TorchMissing` saying that ``what`` needs it and how to install it."""
    try:
        import torch
    except ImportError:
        raise TorchMissing(f"{what} needs torch, which is not installed: {INSTALL_TORCH}") from None
    return torch


def optional_torch(shows=None):
    """The ``torch`` module, or None after printing one line: what the cell would show, and how to install torch.

    shows: what the cell shows with torch, finishing "this cell would ...", e.g.
    ``"compare the loop with torch.nn.RNN (max difference about 1e-16)"``; None for a
    lecture's setup cell (the line then says that the torch cells will say what they show).
    A lecture's cell guards with it and goes on either way::

        torch = optional_torch("compare the loop with torch.nn.RNN (max difference about 1e-16)")
        if torch:
            ...
    """
    try:
        import torch
    except ImportError:
        would = f"this cell would {shows}" if shows else "the cells that use it say what they would show"
        print(f"torch is not installed: {would}; to run {'it' if shows else 'them'}: {INSTALL_TORCH}")
        return None
    return torch


def kind_of(module):
    """``"rnn"``, ``"lstm"`` or ``"gru"`` for a ``torch.nn.RNN/LSTM/GRU`` (or a cell of one)."""
    torch = require_torch("kind_of")
    if isinstance(module, (torch.nn.LSTM, torch.nn.LSTMCell)):
        return "lstm"
    if isinstance(module, (torch.nn.GRU, torch.nn.GRUCell)):
        return "gru"
    if isinstance(module, (torch.nn.RNN, torch.nn.RNNCell)):
        return "rnn"
    raise TypeError(f"expected a torch.nn.RNN, LSTM or GRU (or cell), got {type(module).__name__}")


def _names(module, layer, direction):
    torch = require_torch("course.interop")
    if isinstance(module, (torch.nn.RNNCell, torch.nn.LSTMCell, torch.nn.GRUCell)):
        if layer != 0 or direction != 0:
            raise ValueError("a cell has a single layer and direction")
        return "weight_ih", "weight_hh", "bias_ih", "bias_hh"
    if layer >= module.num_layers:
        raise ValueError(f"layer {layer} out of range: the module has {module.num_layers} layer(s)")
    if direction not in (0, 1) or (direction == 1 and not module.bidirectional):
        raise ValueError(f"direction {direction} out of range (0 forward, 1 backward when bidirectional)")
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTMs with proj_size are not supported")
    suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
    return tuple(n + suffix for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def _np(t):
    import torch  # a tensor exists, so torch does

    return t.detach().cpu().to(torch.float64).numpy().copy()


def rnn_params_from_torch(module, layer=0, direction=0):
    """The course's arrays (float64 copies) for one layer and direction of ``module``.

    Returns ``(Wx, Wh, b)`` for RNN and LSTM, with ``b = bias_ih + bias_hh``,
    and ``(Wx, Wh, bx, bh)`` for GRU. A module built with ``bias=False``
    gives zero biases.
    """
    kind = kind_of(module)
    w_ih, w_hh, b_ih, b_hh = _names(module, layer, direction)
    Wx, Wh = _np(getattr(module, w_ih)).T.copy(), _np(getattr(module, w_hh)).T.copy()
    G = Wh.shape[1]
    bx = _np(getattr(module, b_ih)) if getattr(module, b_ih, None) is not None else np.zeros(G)
    bh = _np(getattr(module, b_hh)) if getattr(module, b_hh, None) is not None else np.zeros(G)
    if kind == "gru":
        return Wx, Wh, bx, bh
    return Wx, Wh, bx + bh


def load_into_torch(module, params, layer=0, direction=0):
    """Copy the course's arrays into one layer and direction of ``module`` (in place).

    ``params`` is ``(Wx, Wh, b)`` for RNN and LSTM (``b`` goes into
    ``bias_ih``, zeros into ``bias_hh``) or ``(Wx, Wh, bx, bh)`` for GRU.
    Extra trailing items are not allowed; shapes must match the module's.
    Values are cast to the module's dtype. Returns ``module``.
    """
    torch = require_torch("load_into_torch")
    kind = kind_of(module)
    params = tuple(params)
    want = 4 if kind == "gru" else 3
    if len(params) != want:
        what = "(Wx, Wh, bx, bh)" if kind == "gru" else "(Wx, Wh, b)"
        raise ValueError(f"a {kind.upper()} layer takes {want} arrays {what}, got {len(params)}")
    w_ih, w_hh, b_ih, b_hh = _names(module, layer, direction)
    Wx, Wh = (np.asarray(p, dtype=np.float64) for p in params[:2])
    if kind == "gru":
        bx, bh = (np.asarray(p, dtype=np.float64) for p in params[2:])
    else:
        bx = np.asarray(params[2], dtype=np.float64)
        bh = np.zeros_like(bx)
    with torch.no_grad():
        for name, value in [(w_ih, Wx.T), (w_hh, Wh.T), (b_ih, bx), (b_hh, bh)]:
            p = getattr(module, name, None)
            if p is None:
                if np.any(value != 0):
                    raise ValueError(f"the module has no {name} (bias=False) but the bias given is not zero")
                continue
            if tuple(p.shape) != value.shape:
                raise ValueError(
                    f"{name}: shape {tuple(p.shape)} in the module, got {value.shape} "
                    "(course arrays are input-major: Wx (D, gates*H), Wh (H, gates*H))"
                )
            p.copy_(torch.as_tensor(np.ascontiguousarray(value), dtype=p.dtype))
    return module


def params_from_torch_all(module):
    """Every layer's arrays: a list over layers of ``[direction 0, direction 1]`` lists
    (one item when not bidirectional), each the tuple :func:`rnn_params_from_torch` returns."""
    dirs = 2 if module.bidirectional else 1
    return [[rnn_params_from_torch(module, l, d) for d in range(dirs)] for l in range(module.num_layers)]


def torch_reference(kind, x, layers, h0=None, c0=None, dh=None, dc_n=None):
    """Run ``torch.nn.{RNN,LSTM,GRU}`` (float64, batch_first) with the course's arrays.

    kind: ``"rnn"``, ``"lstm"`` or ``"gru"``; x: (N, T, D).
    layers: a list over layers of a list over directions (1 or 2 items) of
    the tuples :func:`load_into_torch` takes: ``[[(Wx, Wh, b)]]`` is a
    one-layer unidirectional RNN/LSTM. Every layer has the same H (torch's rule).
    h0, c0: (L * directions, N, H) initial states (torch's layout), zeros if None.
    dh: (N, T, directions * H) upstream gradient on the output; dc_n: (L *
    directions, N, H) upstream gradient on the final cell state (LSTM).

    Returns a dict of NumPy arrays: ``h`` (N, T, directions * H), ``h_n``,
    ``c_n`` (LSTM) and, when ``dh`` or ``dc_n`` is given, the gradients of
    ``sum(h * dh) + sum(c_n * dc_n)``: ``dx``, ``dh0``, ``dc0`` (LSTM) and
    ``grads``, shaped like ``layers`` with the course's gradient tuples
    ``(dWx, dWh, db)`` or ``(dWx, dWh, dbx, dbh)`` (GRU).
    This is the independent reference of the course's checks and lectures.
    """
    torch = require_torch("torch_reference")
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    x = np.array(x, dtype=np.float64)  # copies (np.array does): torch refuses negative strides
    N, T, D = x.shape
    L, dirs = len(layers), len(layers[0])
    H = np.shape(layers[0][0][1])[0]
    module = cls(D, H, num_layers=L, bidirectional=dirs == 2, batch_first=True, dtype=torch.float64)
    for l, directions in enumerate(layers):
        for d, params in enumerate(directions):
            load_into_torch(module, params, l, d)
    tx = torch.tensor(x, requires_grad=True)
    th0 = torch.tensor(np.zeros((L * dirs, N, H)) if h0 is None else np.array(h0, dtype=np.float64), requires_grad=True)
    if kind == "lstm":
        tc0 = torch.tensor(
            np.zeros((L * dirs, N, H)) if c0 is None else np.array(c0, dtype=np.float64), requires_grad=True
        )
        out, (h_n, c_n) = module(tx, (th0, tc0))
    else:
        out, h_n = module(tx, th0)
    result = {"h": out.detach().numpy().copy(), "h_n": h_n.detach().numpy().copy()}
    if kind == "lstm":
        result["c_n"] = c_n.detach().numpy().copy()
    if dh is None and dc_n is None:
        return result
    loss = 0.0
    if dh is not None:
        loss = loss + (out * torch.tensor(np.array(dh, dtype=np.float64))).sum()
    if dc_n is not None:
        loss = loss + (c_n * torch.tensor(np.array(dc_n, dtype=np.float64))).sum()
    module.zero_grad()
    loss.backward()
    result["dx"] = tx.grad.numpy().copy()
    result["dh0"] = th0.grad.numpy().copy()
    if kind == "lstm":
        result["dc0"] = tc0.grad.numpy().copy()
    grads = []
    for l in range(L):
        per_dir = []
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = _names(module, l, d)
            g = [_np(getattr(module, n).grad) for n in (w_ih, w_hh, b_ih, b_hh)]
            # b = bias_ih + bias_hh, so db equals either bias's gradient
            per_dir.append(
                (g[0].T.copy(), g[1].T.copy(), g[2], g[3]) if kind == "gru" else (g[0].T.copy(), g[1].T.copy(), g[2])
            )
        grads.append(per_dir)
    result["grads"] = grads
    return result
