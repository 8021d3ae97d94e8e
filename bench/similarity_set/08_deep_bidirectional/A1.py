def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = h0.shape[1]
    h = np.zeros((N, T, H))
    caches = []
    h_prev = h0
    for t in range(T):
        h_prev, c = rnn_step_forward(x[:, t, :], h_prev, Wx, Wh, b)
        h[:, t, :] = h_prev
        caches.append(c)
    return h, caches


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    a = x @ Wx + h_prev @ Wh + b
    h_next = np.tanh(a)
    cache = (x, h_prev, Wx, Wh, h_next)
    return h_next, cache


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    dWx = np.zeros((D, H))
    dWh = np.zeros((H, H))
    db = np.zeros(H)
    dh_prev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx_t, dh_prev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dh_prev, cache[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dh0 = dh_prev
    return dx, dh0, dWx, dWh, db


def rnn_step_backward(dh_next, cache):
    x, h_prev, Wx, Wh, h_next = cache
    da = dh_next * (1 - h_next ** 2)
    dx = da @ Wx.T
    dh_prev = da @ Wh.T
    dWx = x.T @ da
    dWh = h_prev.T @ da
    db = da.sum(axis=0)
    return dx, dh_prev, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = h0.shape[1]
    h = np.zeros((N, T, H))
    prev_h = h0
    prev_c = np.zeros((N, H))
    caches = []
    for t in range(T):
        prev_h, prev_c, cache_t = lstm_step_forward(x[:, t, :], prev_h, prev_c, Wx, Wh, b)
        h[:, t, :] = prev_h
        caches.append(cache_t)
    return h, caches


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    c_next = f * c_prev + i * g
    tc = np.tanh(c_next)
    h_next = o * tc
    cache = (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tc)
    return h_next, c_next, cache


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    dWx = np.zeros((D, 4 * H))
    dWh = np.zeros((H, 4 * H))
    db = np.zeros(4 * H)
    dh_prev = np.zeros((N, H))
    dc_prev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx_t, dh_prev, dc_prev, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t, :] + dh_prev, dc_prev, cache[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dh_prev, dWx, dWh, db


def lstm_step_backward(dh_next, dc_next, cache):
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tc = cache
    do = dh_next * tc
    dc = dc_next + dh_next * o * (1 - tc ** 2)
    df = dc * c_prev
    di = dc * g
    dg = dc * i
    dc_prev = dc * f
    da = np.hstack([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)])
    dx = da @ Wx.T
    dh_prev = da @ Wh.T
    dWx = x.T @ da
    dWh = h_prev.T @ da
    db = da.sum(axis=0)
    return dx, dh_prev, dc_prev, dWx, dWh, db


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


def bidirectional_forward(x, forward_fn, params_f, params_b):
    h_f, cache_f = forward_fn(x, *params_f)
    h_b_rev, cache_b = forward_fn(x[:, ::-1, :], *params_b)
    h_b = h_b_rev[:, ::-1, :]
    h = np.concatenate([h_f, h_b], axis=2)
    cache = (cache_f, cache_b, h_f.shape[2])
    return h, cache


def bidirectional_backward(dh, cache, backward_fn):
    cache_f, cache_b, H = cache
    dh_f = dh[:, :, :H]
    dh_b = dh[:, :, H:]
    out_f = backward_fn(dh_f, cache_f)
    out_b = backward_fn(dh_b[:, ::-1, :], cache_b)
    dx = out_f[0] + out_b[0][:, ::-1, :]
    grads_f = tuple(out_f[1:])
    grads_b = tuple(out_b[1:])
    return dx, grads_f, grads_b


def stacked_forward(x, forward_fn, layers):
    caches = []
    h = x
    for params in layers:
        h, c = forward_fn(h, *params)
        caches.append(c)
    return h, caches


def stacked_backward(dh_top, cache, backward_fn):
    L = len(cache)
    layer_grads = [None] * L
    dh = dh_top
    for l in reversed(range(L)):
        out = backward_fn(dh, cache[l])
        dh = out[0]
        layer_grads[l] = tuple(out[1:])
    dx = dh
    return dx, layer_grads
