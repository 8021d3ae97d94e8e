# WRONG (on purpose): the update gate is used the other way round, h = z * n + (1 - z) * h_prev
# (the original paper's convention, not PyTorch's), consistently in forward and backward.
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    px = x @ Wx + bx
    ph = h_prev @ Wh + bh
    r = 1 / (1 + np.exp(-(px[:, :H] + ph[:, :H])))
    z = 1 / (1 + np.exp(-(px[:, H:2 * H] + ph[:, H:2 * H])))
    n = np.tanh(px[:, 2 * H:] + r * ph[:, 2 * H:])
    h = z * n + (1 - z) * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, ph[:, 2 * H:])


def gru_step_backward(dh_next, cache):
    x, h_prev, Wx, Wh, r, z, n, phn = cache
    dn = dh_next * z * (1 - n ** 2)
    dz = dh_next * (n - h_prev) * z * (1 - z)
    dr = dn * phn * r * (1 - r)
    dpx = np.concatenate([dr, dz, dn], axis=1)
    dph = np.concatenate([dr, dz, dn * r], axis=1)
    dh_prev = dh_next * (1 - z) + dph @ Wh.T
    return dpx @ Wx.T, dh_prev, x.T @ dpx, h_prev.T @ dph, dpx.sum(axis=0), dph.sum(axis=0)


def gru_forward(x, h0, Wx, Wh, bx, bh):
    hs, cs = [], []
    h = h0
    for t in range(x.shape[1]):
        h, c = gru_step_forward(x[:, t, :], h, Wx, Wh, bx, bh)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, axis=1), cs


def gru_backward(dh, cache):
    N, T, H = dh.shape
    dx = np.zeros((N, T, cache[0][0].shape[1]))
    dWx, dWh = np.zeros_like(cache[0][2]), np.zeros_like(cache[0][3])
    dbx, dbh = np.zeros(3 * H), np.zeros(3 * H)
    dnext = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx[:, t, :], dnext, a, bb, c, d = gru_step_backward(dh[:, t, :] + dnext, cache[t])
        dWx += a
        dWh += bb
        dbx += c
        dbh += d
    return dx, dnext, dWx, dWh, dbx, dbh


def gru_step_forward_reset_before(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    px = x @ Wx + bx
    r = 1 / (1 + np.exp(-(px[:, :H] + h_prev @ Wh[:, :H] + bh[:H])))
    z = 1 / (1 + np.exp(-(px[:, H:2 * H] + h_prev @ Wh[:, H:2 * H] + bh[H:2 * H])))
    rh = r * h_prev
    n = np.tanh(px[:, 2 * H:] + rh @ Wh[:, 2 * H:] + bh[2 * H:])
    return z * n + (1 - z) * h_prev, (x, h_prev, Wx, Wh, r, z, n, rh)


def gru_step_backward_reset_before(dh_next, cache):
    x, h_prev, Wx, Wh, r, z, n, rh = cache
    H = h_prev.shape[1]
    dn = dh_next * z * (1 - n ** 2)
    dz = dh_next * (n - h_prev) * z * (1 - z)
    drh = dn @ Wh[:, 2 * H:].T
    dr = drh * h_prev * r * (1 - r)
    dpx = np.concatenate([dr, dz, dn], axis=1)
    drz = dpx[:, :2 * H]
    dh_prev = dh_next * (1 - z) + drh * r + drz @ Wh[:, :2 * H].T
    dWh = np.concatenate([h_prev.T @ drz, rh.T @ dn], axis=1)
    return dpx @ Wx.T, dh_prev, x.T @ dpx, dWh, dpx.sum(axis=0), dpx.sum(axis=0)
