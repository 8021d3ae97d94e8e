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


def gru_step_forward_reset_before(x, h_prev, Wx, Wh, bx, bh):
    """Cho et al.'s variant: the reset gate scales h_prev before the product with Wh_n."""
    k = h_prev.shape[-1]
    from_x = x.dot(Wx) + bx
    c = GRUCache(x, h_prev, Wx, Wh)
    gates = _sig(from_x[:, :2 * k] + h_prev.dot(Wh[:, :2 * k]) + bh[:2 * k])
    c.reset, c.update = gates[:, :k], gates[:, k:]
    c.reset_h = c.reset * h_prev
    c.new = np.tanh(from_x[:, 2 * k:] + c.reset_h.dot(Wh[:, 2 * k:]) + bh[2 * k:])
    h_next = (1.0 - c.update) * c.new + c.update * h_prev
    return h_next, c


def gru_step_backward_reset_before(dh_next, cache):
    """Same as gru_step_backward except the path through r * h_prev."""
    c = cache
    k = c.h_prev.shape[-1]
    g_new_pre = dh_next * (1.0 - c.update) * (1.0 - c.new ** 2)
    g_update_pre = dh_next * (c.h_prev - c.new) * c.update * (1.0 - c.update)
    g_reset_h = g_new_pre.dot(c.Wh[:, 2 * k:].T)
    g_reset_pre = g_reset_h * c.h_prev * c.reset * (1.0 - c.reset)
    g_gates = np.concatenate((g_reset_pre, g_update_pre), axis=-1)
    g_from_x = np.concatenate((g_gates, g_new_pre), axis=-1)
    dx = g_from_x.dot(c.Wx.T)
    dh_prev = dh_next * c.update + g_reset_h * c.reset + g_gates.dot(c.Wh[:, :2 * k].T)
    dWx = c.x.T.dot(g_from_x)
    dWh = np.concatenate((c.h_prev.T.dot(g_gates), c.reset_h.T.dot(g_new_pre)), axis=-1)
    dbx = g_from_x.sum(axis=0)
    dbh = g_from_x.sum(axis=0)
    return dx, dh_prev, dWx, dWh, dbx, dbh
