def rnn_forward(x, h0, Wx, Wh, b):
    """Unroll the step over the time axis."""
    n_steps = x.shape[1]
    hidden = np.empty((x.shape[0], n_steps, h0.shape[1]))
    records = []
    current = h0
    for step in range(n_steps):
        current, rec = rnn_step_forward(x[:, step, :], current, Wx, Wh, b)
        hidden[:, step, :] = current
        records.append(rec)
    return hidden, records


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """One tanh step; the cache is a small record object."""
    h_next = np.tanh(x.dot(Wx) + h_prev.dot(Wh) + b)
    return h_next, StepRecord(x, h_prev, h_next, Wx, Wh)


class StepRecord:
    """What one step remembers for the way back."""

    def __init__(self, x, h_prev, h_next, Wx, Wh):
        self.x = x
        self.h_prev = h_prev
        self.h_next = h_next
        self.Wx = Wx
        self.Wh = Wh


def rnn_backward(dh, cache):
    """Walk back in time, summing the gradients of the shared weights."""
    records = cache
    n_steps = len(records)
    dx = np.zeros(dh.shape[:2] + (records[0].x.shape[1],))
    dWx = np.zeros_like(records[0].Wx)
    dWh = np.zeros_like(records[0].Wh)
    db = np.zeros(dWh.shape[1])
    from_future = np.zeros_like(dh[:, 0, :])
    for step in range(n_steps - 1, -1, -1):
        total = dh[:, step, :] + from_future  # output gradient plus gradient from step+1
        dx[:, step, :], from_future, gx, gh, gb = rnn_step_backward(total, records[step])
        dWx += gx
        dWh += gh
        db += gb
    return dx, from_future, dWx, dWh, db


def rnn_step_backward(dh_next, cache):
    """Backprop through tanh, then through the two affine maps."""
    delta = tanh_local_grad(cache.h_next) * dh_next
    dx = delta.dot(cache.Wx.T)
    dh_prev = delta.dot(cache.Wh.T)
    dWx = cache.x.T.dot(delta)
    dWh = cache.h_prev.T.dot(delta)
    db = delta.sum(0)
    return dx, dh_prev, dWx, dWh, db


def tanh_local_grad(t):
    return 1.0 - np.square(t)


def lstm_forward(x, h0, Wx, Wh, b):
    """Run the cell over time, starting from c0 = 0."""
    n_steps = x.shape[1]
    out = np.empty(x.shape[:2] + h0.shape[1:])
    records = []
    hid, cell = h0, np.zeros_like(h0)
    for step in range(n_steps):
        hid, cell, rec = lstm_step_forward(x[:, step, :], hid, cell, Wx, Wh, b)
        out[:, step, :] = hid
        records.append(rec)
    return out, records


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """LSTM cell; the cache is a LSTMStep record."""
    rec = LSTMStep()
    rec.x, rec.h_prev, rec.c_prev, rec.Wx, rec.Wh = x, h_prev, c_prev, Wx, Wh
    hidden = h_prev.shape[-1]
    pre = x.dot(Wx) + h_prev.dot(Wh) + b
    rec.input_gate = _logistic(pre[:, 0:hidden])
    rec.forget_gate = _logistic(pre[:, hidden:2 * hidden])
    rec.candidate = np.tanh(pre[:, 2 * hidden:3 * hidden])
    rec.output_gate = _logistic(pre[:, 3 * hidden:4 * hidden])
    c_next = rec.forget_gate * c_prev + rec.input_gate * rec.candidate
    rec.cell_tanh = np.tanh(c_next)
    h_next = rec.output_gate * rec.cell_tanh
    return h_next, c_next, rec


class LSTMStep:
    """Bag of the arrays one LSTM step needs on the way back."""


def _logistic(v):
    # stable for large |v|: exp of a non-positive number only
    out = np.empty_like(v)
    pos = v >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-v[pos]))
    e = np.exp(v[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def lstm_backward(dh, cache):
    """BPTT: both h and c carry gradient from the future; weights sum over steps."""
    records = cache
    dx = np.zeros(dh.shape[:2] + (records[0].x.shape[1],))
    dWx = np.zeros_like(records[0].Wx)
    dWh = np.zeros_like(records[0].Wh)
    db = np.zeros(dWh.shape[1])
    grad_h = np.zeros_like(dh[:, 0, :])
    grad_c = np.zeros_like(grad_h)
    for step in range(len(records) - 1, -1, -1):
        dx[:, step, :], grad_h, grad_c, gx, gh, gb = lstm_step_backward(
            dh[:, step, :] + grad_h, grad_c, records[step])
        dWx += gx
        dWh += gh
        db += gb
    return dx, grad_h, dWx, dWh, db


def lstm_step_backward(dh_next, dc_next, cache):
    """Chain rule through h = o*tanh(c), c = f*c_prev + i*g, then the affine map."""
    r = cache
    d_cell = dc_next + dh_next * r.output_gate * (1.0 - r.cell_tanh ** 2)
    d_pre_i = d_cell * r.candidate * r.input_gate * (1.0 - r.input_gate)
    d_pre_f = d_cell * r.c_prev * r.forget_gate * (1.0 - r.forget_gate)
    d_pre_g = d_cell * r.input_gate * (1.0 - r.candidate ** 2)
    d_pre_o = dh_next * r.cell_tanh * r.output_gate * (1.0 - r.output_gate)
    d_pre = np.concatenate((d_pre_i, d_pre_f, d_pre_g, d_pre_o), axis=-1)
    dx = d_pre.dot(r.Wx.T)
    dh_prev = d_pre.dot(r.Wh.T)
    dc_prev = d_cell * r.forget_gate
    dWx = r.x.T.dot(d_pre)
    dWh = r.h_prev.T.dot(d_pre)
    db = d_pre.sum(axis=0)
    return dx, dh_prev, dc_prev, dWx, dWh, db


def gru_forward(x, h0, Wx, Wh, bx, bh):
    """Unroll the cell; keep one GRUCache per step."""
    out = np.empty(x.shape[:2] + h0.shape[1:])
    records = []
    state = h0
    for step in range(x.shape[1]):
        state, rec = gru_step_forward(x[:, step, :], state, Wx, Wh, bx, bh)
        out[:, step, :] = state
        records.append(rec)
    return out, records


def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    """PyTorch's GRU cell; the cache is a GRUCache object."""
    k = h_prev.shape[-1]
    from_x = x.dot(Wx) + bx
    from_h = h_prev.dot(Wh) + bh
    c = GRUCache(x, h_prev, Wx, Wh)
    c.reset = _sig(from_x[:, :k] + from_h[:, :k])
    c.update = _sig(from_x[:, k:2 * k] + from_h[:, k:2 * k])
    c.h_cand_lin = from_h[:, 2 * k:]  # the part the reset gate multiplies
    c.new = np.tanh(from_x[:, 2 * k:] + c.reset * c.h_cand_lin)
    h_next = (1.0 - c.update) * c.new + c.update * h_prev
    return h_next, c


class GRUCache:
    def __init__(self, x, h_prev, Wx, Wh):
        self.x, self.h_prev, self.Wx, self.Wh = x, h_prev, Wx, Wh


def _sig(v):
    return 0.5 * (1.0 + np.tanh(0.5 * v))


def gru_backward(dh, cache):
    """BPTT over the records, summing the shared parameters' gradients."""
    records = cache
    first = records[0]
    dx = np.zeros(dh.shape[:2] + (first.x.shape[1],))
    totals = [np.zeros_like(first.Wx), np.zeros_like(first.Wh), np.zeros(first.Wx.shape[1]),
              np.zeros(first.Wh.shape[1])]
    future = np.zeros_like(dh[:, 0, :])
    for step in range(len(records) - 1, -1, -1):
        res = gru_step_backward(dh[:, step, :] + future, records[step])
        dx[:, step, :] = res[0]
        future = res[1]
        for acc, g in zip(totals, res[2:]):
            acc += g
    return (dx, future, *totals)


def gru_step_backward(dh_next, cache):
    """Reverse of gru_step_forward, gate by gate."""
    c = cache
    # through the interpolation h = (1 - z) n + z h_prev
    g_new = dh_next * (1.0 - c.update)
    g_update = dh_next * (c.h_prev - c.new)
    # through the tanh of the candidate
    g_new_pre = g_new * (1.0 - c.new ** 2)
    g_reset = g_new_pre * c.h_cand_lin
    # through the sigmoids
    g_reset_pre = g_reset * c.reset * (1.0 - c.reset)
    g_update_pre = g_update * c.update * (1.0 - c.update)
    g_from_x = np.concatenate((g_reset_pre, g_update_pre, g_new_pre), axis=-1)
    g_from_h = np.concatenate((g_reset_pre, g_update_pre, g_new_pre * c.reset), axis=-1)
    dx = g_from_x.dot(c.Wx.T)
    dh_prev = dh_next * c.update + g_from_h.dot(c.Wh.T)
    dWx = c.x.T.dot(g_from_x)
    dWh = c.h_prev.T.dot(g_from_h)
    dbx = g_from_x.sum(axis=0)
    dbh = g_from_h.sum(axis=0)
    return dx, dh_prev, dWx, dWh, dbx, dbh


def bidirectional_forward(x, forward_fn, params_f, params_b):
    """Run one direction on x and the other on x reversed in time, then align and concatenate."""
    forward_h, forward_cache = forward_fn(x, *params_f)
    reversed_h, backward_cache = forward_fn(reverse_time(x), *params_b)
    # reversed_h[:, s] has read x[:, T-1-s:], so flipping puts it at input position t
    h = np.concatenate((forward_h, reverse_time(reversed_h)), axis=-1)
    return h, BiCache(forward_cache, backward_cache, forward_h.shape[-1])


def reverse_time(a):
    return a[:, ::-1].copy()


class BiCache:
    def __init__(self, forward_cache, backward_cache, hidden):
        self.forward_cache = forward_cache
        self.backward_cache = backward_cache
        self.hidden = hidden


def bidirectional_backward(dh, cache, backward_fn):
    """Split the gradient, send each half through its direction, add the two dx."""
    hid = cache.hidden
    forward_out = backward_fn(dh[:, :, :hid], cache.forward_cache)
    backward_out = backward_fn(reverse_time(dh[:, :, hid:]), cache.backward_cache)
    dx = forward_out[0] + reverse_time(backward_out[0])
    return dx, tuple(forward_out[1:]), tuple(backward_out[1:])


def stacked_forward(x, forward_fn, layers):
    """Feed each layer's hidden states to the layer above."""
    layer_caches = []
    current = x
    for layer_params in layers:
        current, layer_cache = forward_fn(current, *layer_params)
        layer_caches.append(layer_cache)
    return current, layer_caches


def stacked_backward(dh_top, cache, backward_fn):
    """Top layer first; the dx of a layer is the dh of the layer below."""
    layer_caches = cache
    layer_grads = [None] * len(layer_caches)
    upstream = dh_top
    for depth in range(len(layer_caches) - 1, -1, -1):
        upstream, *grads = backward_fn(upstream, layer_caches[depth])
        layer_grads[depth] = tuple(grads)
    return upstream, layer_grads
