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
