# WRONG (on purpose): bidirectional_forward leaves the backward direction's states in reversed time
# order (h[:, t, H:] is the state after reading x[:, T-1-t:], not aligned with position t); the
# backward pass matches that forward (it feeds dh[..., H:] to the reversed direction unflipped).
def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    hs = np.zeros((N, T, h0.shape[1]))
    h = h0
    for t in range(T):
        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)
        hs[:, t] = h
    return hs, (x, h0, Wx, Wh, hs)


def rnn_backward(dh, cache):
    x, h0, Wx, Wh, hs = cache
    N, T, H = dh.shape
    prev = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    carry = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        da = (dh[:, t] + carry) * (1 - hs[:, t] ** 2)
        dx[:, t] = da @ Wx.T
        dWx += x[:, t].T @ da
        dWh += prev[:, t].T @ da
        db += da.sum(axis=0)
        carry = da @ Wh.T
    return dx, carry, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = h0.shape[1]
    h, c = h0, np.zeros((N, H))
    hs = np.zeros((N, T, H))
    steps = []
    for t in range(T):
        a = x[:, t] @ Wx + h @ Wh + b
        i = 1 / (1 + np.exp(-a[:, :H]))
        f = 1 / (1 + np.exp(-a[:, H:2 * H]))
        g = np.tanh(a[:, 2 * H:3 * H])
        o = 1 / (1 + np.exp(-a[:, 3 * H:]))
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        steps.append((x[:, t], h, c, i, f, g, o, c_new))
        h, c = h_new, c_new
        hs[:, t] = h
    return hs, (steps, Wx, Wh)


def lstm_backward(dh, cache):
    steps, Wx, Wh = cache
    N, T, H = dh.shape
    dx = np.zeros((N, T, Wx.shape[0]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H)
    dh_c, dc_c = np.zeros((N, H)), np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        xt, hp, cp, i, f, g, o, cn = steps[t]
        tc = np.tanh(cn)
        dht = dh[:, t] + dh_c
        dc = dc_c + dht * o * (1 - tc ** 2)
        da = np.concatenate([dc * g * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - g ** 2),
                             dht * tc * o * (1 - o)], axis=1)
        dx[:, t] = da @ Wx.T
        dWx += xt.T @ da
        dWh += hp.T @ da
        db += da.sum(axis=0)
        dh_c = da @ Wh.T
        dc_c = dc * f
    return dx, dh_c, dWx, dWh, db


def gru_forward(x, h0, Wx, Wh, bx, bh):
    N, T, D = x.shape
    H = h0.shape[1]
    h = h0
    hs = np.zeros((N, T, H))
    steps = []
    for t in range(T):
        ax = x[:, t] @ Wx + bx
        ah = h @ Wh + bh
        r = 1 / (1 + np.exp(-(ax[:, :H] + ah[:, :H])))
        z = 1 / (1 + np.exp(-(ax[:, H:2 * H] + ah[:, H:2 * H])))
        n = np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])
        steps.append((x[:, t], h, r, z, n, ah[:, 2 * H:]))
        h = (1 - z) * n + z * h
        hs[:, t] = h
    return hs, (steps, Wx, Wh)


def gru_backward(dh, cache):
    steps, Wx, Wh = cache
    N, T, H = dh.shape
    dx = np.zeros((N, T, Wx.shape[0]))
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    dbx, dbh = np.zeros(3 * H), np.zeros(3 * H)
    carry = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        xt, hp, r, z, n, ahn = steps[t]
        d = dh[:, t] + carry
        dn = d * (1 - z) * (1 - n ** 2)
        dz = d * (hp - n) * z * (1 - z)
        dr = dn * ahn * r * (1 - r)
        dax = np.concatenate([dr, dz, dn], axis=1)
        dah = np.concatenate([dr, dz, dn * r], axis=1)
        dx[:, t] = dax @ Wx.T
        dWx += xt.T @ dax
        dWh += hp.T @ dah
        dbx += dax.sum(axis=0)
        dbh += dah.sum(axis=0)
        carry = d * z + dah @ Wh.T
    return dx, carry, dWx, dWh, dbx, dbh


def bidirectional_forward(x, forward_fn, params_f, params_b):
    hf, cf = forward_fn(x, *params_f)
    hb, cb = forward_fn(x[:, ::-1], *params_b)
    return np.concatenate([hf, hb], axis=-1), (cf, cb, hf.shape[-1])


def bidirectional_backward(dh, cache, backward_fn):
    cf, cb, H = cache
    rf = backward_fn(dh[:, :, :H], cf)
    rb = backward_fn(dh[:, :, H:], cb)
    return rf[0] + rb[0][:, ::-1], tuple(rf[1:]), tuple(rb[1:])


def stacked_forward(x, forward_fn, layers):
    caches = []
    out = x
    for params in layers:
        out, cache = forward_fn(out, *params)
        caches.append(cache)
    return out, caches


def stacked_backward(dh_top, cache, backward_fn):
    grads = [None] * len(cache)
    d = dh_top
    for l in range(len(cache) - 1, -1, -1):
        r = backward_fn(d, cache[l])
        d = r[0]
        grads[l] = tuple(r[1:])
    return d, grads
