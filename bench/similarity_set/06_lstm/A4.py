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


def lstm_backward(dh, cache):
    N, T, H = dh.shape
    dx = np.zeros((N, T, cache[0][0].shape[1]))
    G = [0, 0, 0]
    dhn, dcn = np.zeros((N, H)), np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx[:, t], dhn, dcn, *g = lstm_step_backward(dh[:, t] + dhn, dcn, cache[t])
        G = [a + b for a, b in zip(G, g)]
    return (dx, dhn, *G)
