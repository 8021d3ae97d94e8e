def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    hsz = Wh.shape[0]
    act = np.matmul(x, Wx) + np.matmul(h_prev, Wh) + b
    blocks = [act[:, k * hsz:(k + 1) * hsz] for k in range(4)]
    ig = np.exp(-np.logaddexp(0, -blocks[0]))
    fg = np.exp(-np.logaddexp(0, -blocks[1]))
    gg = np.tanh(blocks[2])
    og = np.exp(-np.logaddexp(0, -blocks[3]))
    c_next = c_prev * fg + gg * ig
    h_next = og * np.tanh(c_next)
    cache = dict(x=x, h=h_prev, c=c_prev, cn=c_next, ig=ig, fg=fg, gg=gg, og=og, Wx=Wx, Wh=Wh)
    return h_next, c_next, cache


def lstm_step_backward(dh_next, dc_next, cache):
    C = cache
    th = np.tanh(C["cn"])
    dog = dh_next * th
    dcn = dh_next * C["og"] * (1 - th ** 2) + dc_next
    dfg = dcn * C["c"]
    dig = dcn * C["gg"]
    dgg = dcn * C["ig"]
    grads_pre = [
        dig * C["ig"] * (1 - C["ig"]),
        dfg * C["fg"] * (1 - C["fg"]),
        dgg * (1 - C["gg"] ** 2),
        dog * C["og"] * (1 - C["og"]),
    ]
    dact = np.concatenate(grads_pre, axis=1)
    dWx = np.matmul(C["x"].T, dact)
    dWh = np.matmul(C["h"].T, dact)
    db = np.sum(dact, axis=0)
    dx = np.matmul(dact, C["Wx"].T)
    dh_prev = np.matmul(dact, C["Wh"].T)
    dc_prev = dcn * C["fg"]
    return dx, dh_prev, dc_prev, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    cell = np.zeros_like(h0)
    hid = h0
    history, caches = [], []
    for x_t in np.moveaxis(x, 1, 0):
        hid, cell, cc = lstm_step_forward(x_t, hid, cell, Wx, Wh, b)
        history.append(hid)
        caches.append(cc)
    return np.array(history).transpose(1, 0, 2), caches


def lstm_backward(dh, cache):
    steps = len(cache)
    dxs = []
    dWx = np.zeros_like(cache[0]["Wx"])
    dWh = np.zeros_like(cache[0]["Wh"])
    db = np.zeros(dWx.shape[1])
    h_grad = np.zeros_like(dh[:, 0])
    c_grad = np.zeros_like(h_grad)
    for k in range(steps):
        t = steps - 1 - k
        dx_t, h_grad, c_grad, a, bb, cc = lstm_step_backward(dh[:, t] + h_grad, c_grad, cache[t])
        dxs.insert(0, dx_t)
        dWx, dWh, db = dWx + a, dWh + bb, db + cc
    return np.stack(dxs, 1), h_grad, dWx, dWh, db
