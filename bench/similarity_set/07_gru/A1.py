def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    gx = x @ Wx + bx
    gh = h_prev @ Wh + bh
    r = sigmoid(gx[:, :H] + gh[:, :H])
    z = sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
    h_next = (1 - z) * n + z * h_prev
    cache = (x, h_prev, Wx, Wh, r, z, n, gh)
    return h_next, cache


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def gru_step_backward(dh_next, cache):
    x, h_prev, Wx, Wh, r, z, n, gh = cache
    H = h_prev.shape[1]
    dn = dh_next * (1 - z)
    dz = dh_next * (h_prev - n)
    dh_prev = dh_next * z
    dn_pre = dn * (1 - n ** 2)
    dr = dn_pre * gh[:, 2 * H:]
    dr_pre = dr * r * (1 - r)
    dz_pre = dz * z * (1 - z)
    dgx = np.hstack([dr_pre, dz_pre, dn_pre])
    dgh = np.hstack([dr_pre, dz_pre, dn_pre * r])
    dx = dgx @ Wx.T
    dWx = x.T @ dgx
    dbx = dgx.sum(axis=0)
    dh_prev = dh_prev + dgh @ Wh.T
    dWh = h_prev.T @ dgh
    dbh = dgh.sum(axis=0)
    return dx, dh_prev, dWx, dWh, dbx, dbh


def gru_forward(x, h0, Wx, Wh, bx, bh):
    N, T, D = x.shape
    H = h0.shape[1]
    h = np.zeros((N, T, H))
    caches = []
    prev = h0
    for t in range(T):
        prev, c = gru_step_forward(x[:, t, :], prev, Wx, Wh, bx, bh)
        h[:, t, :] = prev
        caches.append(c)
    return h, caches


def gru_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    dWx = np.zeros((D, 3 * H))
    dWh = np.zeros((H, 3 * H))
    dbx = np.zeros(3 * H)
    dbh = np.zeros(3 * H)
    dh_prev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx_t, dh_prev, dWx_t, dWh_t, dbx_t, dbh_t = gru_step_backward(dh[:, t, :] + dh_prev, cache[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        dbx += dbx_t
        dbh += dbh_t
    return dx, dh_prev, dWx, dWh, dbx, dbh


def gru_step_forward_reset_before(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    gx = x @ Wx + bx
    rz = sigmoid(gx[:, :2 * H] + h_prev @ Wh[:, :2 * H] + bh[:2 * H])
    r, z = rz[:, :H], rz[:, H:]
    rh = r * h_prev
    n = np.tanh(gx[:, 2 * H:] + rh @ Wh[:, 2 * H:] + bh[2 * H:])
    h_next = (1 - z) * n + z * h_prev
    return h_next, (x, h_prev, Wx, Wh, r, z, n, rh)


def gru_step_backward_reset_before(dh_next, cache):
    x, h_prev, Wx, Wh, r, z, n, rh = cache
    H = h_prev.shape[1]
    dn_pre = dh_next * (1 - z) * (1 - n ** 2)
    dz_pre = dh_next * (h_prev - n) * z * (1 - z)
    drh = dn_pre @ Wh[:, 2 * H:].T
    dr_pre = drh * h_prev * r * (1 - r)
    dgx = np.hstack([dr_pre, dz_pre, dn_pre])
    dx = dgx @ Wx.T
    dWx = x.T @ dgx
    dbx = dgx.sum(axis=0)
    drz = np.hstack([dr_pre, dz_pre])
    dh_prev = dh_next * z + drh * r + drz @ Wh[:, :2 * H].T
    dWh = np.hstack([h_prev.T @ drz, rh.T @ dn_pre])
    dbh = dgx.sum(axis=0)
    return dx, dh_prev, dWx, dWh, dbx, dbh
