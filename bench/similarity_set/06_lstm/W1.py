# WRONG (on purpose): dc_prev is returned without the forget-gate factor (dc instead of dc * f).
def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    s = x @ Wx + h_prev @ Wh + b
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))
    i, f, o = sig(s[:, :H]), sig(s[:, H:2 * H]), sig(s[:, 3 * H:])
    g = np.tanh(s[:, 2 * H:3 * H])
    c_next = f * c_prev + i * g
    h_next = o * np.tanh(c_next)
    return h_next, c_next, (x, h_prev, c_prev, c_next, i, f, g, o, Wx, Wh)


def lstm_step_backward(dh_next, dc_next, cache):
    x, h_prev, c_prev, c_next, i, f, g, o, Wx, Wh = cache
    t = np.tanh(c_next)
    dc = dc_next + dh_next * o * (1 - t ** 2)
    ds = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                         dh_next * t * o * (1 - o)], axis=1)
    return ds @ Wx.T, ds @ Wh.T, dc, x.T @ ds, h_prev.T @ ds, ds.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    out = np.zeros((N, T, h0.shape[1]))
    h, c = h0, np.zeros_like(h0)
    cache = []
    for t in range(T):
        h, c, ct = lstm_step_forward(x[:, t, :], h, c, Wx, Wh, b)
        out[:, t, :] = h
        cache.append(ct)
    return out, cache


def lstm_backward(dh, cache):
    N, T, H = dh.shape
    dx = np.zeros((N, T, cache[0][0].shape[1]))
    dWx, dWh, db = np.zeros_like(cache[0][8]), np.zeros_like(cache[0][9]), np.zeros(4 * H)
    dhp, dcp = np.zeros((N, H)), np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx[:, t, :], dhp, dcp, a, bb, cc = lstm_step_backward(dh[:, t, :] + dhp, dcp, cache[t])
        dWx += a
        dWh += bb
        db += cc
    return dx, dhp, dWx, dWh, db
