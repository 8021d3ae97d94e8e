def rnn_forward(x, h0, Wx, Wh, b):
    # vectorise the input projection once, only the recurrence needs a loop
    N, T, _ = x.shape
    xp = np.einsum("ntd,dh->nth", x, Wx) + b
    hs = np.zeros((N, T + 1, h0.shape[1]))
    hs[:, 0] = h0
    for t in range(T):
        hs[:, t + 1] = np.tanh(xp[:, t] + hs[:, t] @ Wh)
    return hs[:, 1:].copy(), [x, hs, Wx, Wh]


def rnn_backward(dh, cache):
    x, hs, Wx, Wh = cache
    N, T, H = dh.shape
    dA = np.zeros((N, T, H))
    g = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dA[:, t] = (dh[:, t] + g) * (1 - hs[:, t + 1] ** 2)
        g = dA[:, t] @ Wh.T
    dx = np.einsum("nth,dh->ntd", dA, Wx)
    dWx = np.einsum("ntd,nth->dh", x, dA)
    dWh = np.einsum("nti,ntj->ij", hs[:, :-1], dA)
    db = dA.sum((0, 1))
    return dx, g, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    hs = np.zeros((N, T, h0.shape[1]))
    h, c = h0, np.zeros(h0.shape)
    cs = []
    for t in range(T):
        h, c, k = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        hs[:, t] = h
        cs.append(k)
    return hs, cs


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    A = x @ Wx + h_prev @ Wh + b
    A[:, :2 * H] = 1 / (1 + np.exp(-A[:, :2 * H]))
    A[:, 3 * H:] = 1 / (1 + np.exp(-A[:, 3 * H:]))
    A[:, 2 * H:3 * H] = np.tanh(A[:, 2 * H:3 * H])
    i, f, g, o = A[:, :H], A[:, H:2 * H], A[:, 2 * H:3 * H], A[:, 3 * H:]
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c, [x, h_prev, c_prev, c, A, Wx, Wh]


def lstm_backward(dh, cache):
    N, T, H = dh.shape
    dx = np.zeros((N, T, cache[0][0].shape[1]))
    G = [0, 0, 0]
    dhn, dcn = np.zeros((N, H)), np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx[:, t], dhn, dcn, *g = lstm_step_backward(dh[:, t] + dhn, dcn, cache[t])
        G = [a + b for a, b in zip(G, g)]
    return (dx, dhn, *G)


def lstm_step_backward(dh_next, dc_next, cache):
    x, hp, cp, c, A, Wx, Wh = cache
    H = hp.shape[1]
    i, f, g, o = A[:, :H], A[:, H:2 * H], A[:, 2 * H:3 * H], A[:, 3 * H:]
    tc = np.tanh(c)
    dc = dc_next + dh_next * o * (1 - tc * tc)
    dA = np.empty_like(A)
    dA[:, :H] = dc * g * i * (1 - i)
    dA[:, H:2 * H] = dc * cp * f * (1 - f)
    dA[:, 2 * H:3 * H] = dc * i * (1 - g * g)
    dA[:, 3 * H:] = dh_next * tc * o * (1 - o)
    return dA @ Wx.T, dA @ Wh.T, dc * f, x.T @ dA, hp.T @ dA, dA.sum(0)


def gru_forward(x, h0, Wx, Wh, bx, bh):
    N, T, _ = x.shape
    hs = np.zeros((N, T, h0.shape[1]))
    h = h0
    cs = []
    for t in range(T):
        h, k = gru_step_forward(x[:, t], h, Wx, Wh, bx, bh)
        hs[:, t] = h
        cs.append(k)
    return hs, cs


def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    a = x @ Wx + bx
    u = h_prev @ Wh + bh
    rz = 1 / (1 + np.exp(-(a[:, :2 * H] + u[:, :2 * H])))
    r, z = rz[:, :H], rz[:, H:]
    n = np.tanh(a[:, 2 * H:] + r * u[:, 2 * H:])
    return n + z * (h_prev - n), [x, h_prev, Wx, Wh, rz, n, u[:, 2 * H:]]


def gru_backward(dh, cache):
    N, T, H = dh.shape
    dx = np.zeros((N, T, cache[0][0].shape[1]))
    G = [0, 0, 0, 0]
    g = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx[:, t], g, *gs = gru_step_backward(dh[:, t] + g, cache[t])
        G = [p + q for p, q in zip(G, gs)]
    return (dx, g, *G)


def gru_step_backward(dh_next, cache):
    x, hp, Wx, Wh, rz, n, un = cache
    H = hp.shape[1]
    r, z = rz[:, :H], rz[:, H:]
    dan = dh_next * (1 - z) * (1 - n * n)
    drz = np.hstack([dan * un, dh_next * (hp - n)]) * rz * (1 - rz)
    da = np.hstack([drz, dan])
    du = np.hstack([drz, dan * r])
    return da @ Wx.T, du @ Wh.T + dh_next * z, x.T @ da, hp.T @ du, da.sum(0), du.sum(0)


def bidirectional_forward(x, forward_fn, params_f, params_b):
    a, ca = forward_fn(x, *params_f)
    b, cb = forward_fn(x[:, ::-1], *params_b)
    return np.dstack([a, b[:, ::-1]]), [ca, cb, a.shape[-1]]


def bidirectional_backward(dh, cache, backward_fn):
    ca, cb, H = cache
    dxa, *ga = backward_fn(dh[..., :H], ca)
    dxb, *gb = backward_fn(dh[:, ::-1, H:], cb)
    return dxa + dxb[:, ::-1], ga, gb


def stacked_forward(x, forward_fn, layers):
    cs = []
    for p in layers:
        x, c = forward_fn(x, *p)
        cs.append(c)
    return x, cs


def stacked_backward(dh_top, cache, backward_fn):
    gs = []
    d = dh_top
    for c in cache[::-1]:
        d, *g = backward_fn(d, c)
        gs.insert(0, g)
    return d, gs
