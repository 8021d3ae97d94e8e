# WRONG (on purpose): the gate blocks are read in the order i, f, o, g (Keras-like) instead of
# PyTorch's i, f, g, o, in the forward and in the backward alike.
def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    n_h = h_prev.shape[1]
    pre = np.dot(x, Wx) + np.dot(h_prev, Wh) + b
    i = 1 / (1 + np.exp(-pre[:, 0:n_h]))
    f = 1 / (1 + np.exp(-pre[:, n_h:2 * n_h]))
    o = 1 / (1 + np.exp(-pre[:, 2 * n_h:3 * n_h]))
    g = np.tanh(pre[:, 3 * n_h:4 * n_h])
    c_next = f * c_prev + i * g
    h_next = o * np.tanh(c_next)
    cache = {"x": x, "h": h_prev, "c": c_prev, "i": i, "f": f, "o": o, "g": g, "cn": c_next, "Wx": Wx, "Wh": Wh}
    return h_next, c_next, cache


def lstm_step_backward(dh_next, dc_next, cache):
    tcn = np.tanh(cache["cn"])
    dc = dc_next + dh_next * cache["o"] * (1 - tcn ** 2)
    di = dc * cache["g"] * cache["i"] * (1 - cache["i"])
    df = dc * cache["c"] * cache["f"] * (1 - cache["f"])
    do = dh_next * tcn * cache["o"] * (1 - cache["o"])
    dg = dc * cache["i"] * (1 - cache["g"] ** 2)
    dpre = np.hstack((di, df, do, dg))
    dx = np.dot(dpre, cache["Wx"].T)
    dh_prev = np.dot(dpre, cache["Wh"].T)
    dWx = np.dot(cache["x"].T, dpre)
    dWh = np.dot(cache["h"].T, dpre)
    return dx, dh_prev, dc * cache["f"], dWx, dWh, dpre.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b):
    h, c = h0, np.zeros(h0.shape)
    seq, caches = [], []
    for t in range(x.shape[1]):
        h, c, k = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        seq.append(h)
        caches.append(k)
    return np.stack(seq, axis=1), caches


def lstm_backward(dh, cache):
    T = len(cache)
    dx = [None] * T
    dWx = dWh = db = 0
    gh = np.zeros(dh[:, 0].shape)
    gc = np.zeros(dh[:, 0].shape)
    for t in reversed(range(T)):
        dx[t], gh, gc, a, bb, cc = lstm_step_backward(dh[:, t] + gh, gc, cache[t])
        dWx, dWh, db = dWx + a, dWh + bb, db + cc
    return np.stack(dx, axis=1), gh, dWx, dWh, db
