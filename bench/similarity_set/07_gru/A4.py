def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    a = x @ Wx + bx
    u = h_prev @ Wh + bh
    rz = 1 / (1 + np.exp(-(a[:, :2 * H] + u[:, :2 * H])))
    r, z = rz[:, :H], rz[:, H:]
    n = np.tanh(a[:, 2 * H:] + r * u[:, 2 * H:])
    return n + z * (h_prev - n), [x, h_prev, Wx, Wh, rz, n, u[:, 2 * H:]]


def gru_step_backward(dh_next, cache):
    x, hp, Wx, Wh, rz, n, un = cache
    H = hp.shape[1]
    r, z = rz[:, :H], rz[:, H:]
    dan = dh_next * (1 - z) * (1 - n * n)
    drz = np.hstack([dan * un, dh_next * (hp - n)]) * rz * (1 - rz)
    da = np.hstack([drz, dan])
    du = np.hstack([drz, dan * r])
    return da @ Wx.T, du @ Wh.T + dh_next * z, x.T @ da, hp.T @ du, da.sum(0), du.sum(0)


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


def gru_backward(dh, cache):
    N, T, H = dh.shape
    dx = np.zeros((N, T, cache[0][0].shape[1]))
    G = [0, 0, 0, 0]
    g = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx[:, t], g, *gs = gru_step_backward(dh[:, t] + g, cache[t])
        G = [p + q for p, q in zip(G, gs)]
    return (dx, g, *G)


def gru_step_forward_reset_before(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    a = x @ Wx + bx
    rz = 1 / (1 + np.exp(-(a[:, :2 * H] + h_prev @ Wh[:, :2 * H] + bh[:2 * H])))
    rh = rz[:, :H] * h_prev
    n = np.tanh(a[:, 2 * H:] + rh @ Wh[:, 2 * H:] + bh[2 * H:])
    z = rz[:, H:]
    return n + z * (h_prev - n), [x, h_prev, Wx, Wh, rz, n, rh]


def gru_step_backward_reset_before(dh_next, cache):
    x, hp, Wx, Wh, rz, n, rh = cache
    H = hp.shape[1]
    r, z = rz[:, :H], rz[:, H:]
    dan = dh_next * (1 - z) * (1 - n * n)
    drh = dan @ Wh[:, 2 * H:].T
    drz = np.hstack([drh * hp, dh_next * (hp - n)]) * rz * (1 - rz)
    da = np.hstack([drz, dan])
    dWh = np.hstack([hp.T @ drz, rh.T @ dan])
    dhp = dh_next * z + drh * r + drz @ Wh[:, :2 * H].T
    return da @ Wx.T, dhp, x.T @ da, dWh, da.sum(0), da.sum(0)
