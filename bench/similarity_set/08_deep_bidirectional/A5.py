def rnn_forward(x, h0, Wx, Wh, b):
    outputs = []
    cache = []
    prev = h0
    for x_t in np.moveaxis(x, 1, 0):  # iterate over time
        prev, step_cache = rnn_step_forward(x_t, prev, Wx, Wh, b)
        outputs.append(prev)
        cache.append(step_cache)
    return np.array(outputs).transpose(1, 0, 2), cache


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    z = np.matmul(x, Wx)
    z += np.matmul(h_prev, Wh)
    z += b
    hn = np.tanh(z)
    cache = dict(inp=x, prev=h_prev, nxt=hn, W_in=Wx, W_rec=Wh)
    return hn, cache


def rnn_backward(dh, cache):
    steps = len(cache)
    dxs = []
    totals = None
    running = np.zeros_like(dh[:, 0])
    for k in range(steps):
        t = steps - 1 - k
        out = rnn_step_backward(dh[:, t] + running, cache[t])
        dxs.insert(0, out[0])
        running = out[1]
        if totals is None:
            totals = list(out[2:])
        else:
            totals = [acc + new for acc, new in zip(totals, out[2:])]
    dWx, dWh, db = totals
    return np.stack(dxs, 1), running, dWx, dWh, db


def rnn_step_backward(dh_next, cache):
    dz = dh_next * (1 - cache["nxt"] ** 2)
    dx = np.matmul(dz, cache["W_in"].T)
    dWx = np.matmul(cache["inp"].T, dz)
    dh_prev = np.matmul(dz, cache["W_rec"].T)
    dWh = np.matmul(cache["prev"].T, dz)
    db = np.sum(dz, axis=0)
    return dx, dh_prev, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    cell = np.zeros_like(h0)
    hid = h0
    history, caches = [], []
    for x_t in np.moveaxis(x, 1, 0):
        hid, cell, cc = lstm_step_forward(x_t, hid, cell, Wx, Wh, b)
        history.append(hid)
        caches.append(cc)
    return np.array(history).transpose(1, 0, 2), caches


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


def gru_forward(x, h0, Wx, Wh, bx, bh):
    hid = h0
    history, caches = [], []
    for x_t in np.moveaxis(x, 1, 0):
        hid, cc = gru_step_forward(x_t, hid, Wx, Wh, bx, bh)
        history.append(hid)
        caches.append(cc)
    return np.array(history).transpose(1, 0, 2), caches


def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    size = Wh.shape[0]
    in_part = np.matmul(x, Wx) + bx
    rec_part = np.matmul(h_prev, Wh) + bh
    pieces_in = [in_part[:, j * size:(j + 1) * size] for j in range(3)]
    pieces_rec = [rec_part[:, j * size:(j + 1) * size] for j in range(3)]
    rg = np.exp(-np.logaddexp(0, -(pieces_in[0] + pieces_rec[0])))
    zg = np.exp(-np.logaddexp(0, -(pieces_in[1] + pieces_rec[1])))
    ng = np.tanh(pieces_in[2] + rg * pieces_rec[2])
    h_next = zg * h_prev + (1 - zg) * ng
    cache = dict(x=x, h=h_prev, Wx=Wx, Wh=Wh, rg=rg, zg=zg, ng=ng, hn_lin=pieces_rec[2])
    return h_next, cache


def gru_backward(dh, cache):
    steps = len(cache)
    dxs = []
    dWx = np.zeros_like(cache[0]["Wx"])
    dWh = np.zeros_like(cache[0]["Wh"])
    dbx = np.zeros(dWx.shape[1])
    dbh = np.zeros(dWh.shape[1])
    h_grad = np.zeros_like(dh[:, 0])
    for k in range(steps):
        t = steps - 1 - k
        dx_t, h_grad, a, bb, c1, c2 = gru_step_backward(dh[:, t] + h_grad, cache[t])
        dxs.insert(0, dx_t)
        dWx, dWh, dbx, dbh = dWx + a, dWh + bb, dbx + c1, dbh + c2
    return np.stack(dxs, 1), h_grad, dWx, dWh, dbx, dbh


def gru_step_backward(dh_next, cache):
    C = cache
    dzg = dh_next * (C["h"] - C["ng"])
    dng = dh_next * (1 - C["zg"])
    dn_lin = dng * (1 - C["ng"] ** 2)
    drg = dn_lin * C["hn_lin"]
    dr_lin = drg * C["rg"] * (1 - C["rg"])
    dz_lin = dzg * C["zg"] * (1 - C["zg"])
    d_in = np.concatenate([dr_lin, dz_lin, dn_lin], axis=1)
    d_rec = np.concatenate([dr_lin, dz_lin, dn_lin * C["rg"]], axis=1)
    dWx = np.matmul(C["x"].T, d_in)
    dWh = np.matmul(C["h"].T, d_rec)
    dbx = np.sum(d_in, axis=0)
    dbh = np.sum(d_rec, axis=0)
    dx = np.matmul(d_in, C["Wx"].T)
    dh_prev = np.matmul(d_rec, C["Wh"].T) + C["zg"] * dh_next
    return dx, dh_prev, dWx, dWh, dbx, dbh


def bidirectional_forward(x, forward_fn, params_f, params_b):
    T = x.shape[1]
    rev = np.arange(T - 1, -1, -1)
    out_fw, cache_fw = forward_fn(x, *params_f)
    out_bw, cache_bw = forward_fn(x[:, rev], *params_b)
    Hf = out_fw.shape[2]
    N = x.shape[0]
    h = np.empty((N, T, Hf + out_bw.shape[2]))
    h[:, :, :Hf] = out_fw
    h[:, :, Hf:] = out_bw[:, rev]
    cache = dict(fw=cache_fw, bw=cache_bw, Hf=Hf, rev=rev)
    return h, cache


def bidirectional_backward(dh, cache, backward_fn):
    Hf, rev = cache["Hf"], cache["rev"]
    res_fw = backward_fn(dh[:, :, :Hf], cache["fw"])
    res_bw = backward_fn(dh[:, rev, Hf:], cache["bw"])
    dx = res_fw[0] + res_bw[0][:, rev]
    grads_f = [g for g in res_fw[1:]]
    grads_b = [g for g in res_bw[1:]]
    return dx, grads_f, grads_b


def stacked_forward(x, forward_fn, layers):
    inputs = [x]
    caches = []
    for l in range(len(layers)):
        h, c = forward_fn(inputs[-1], *layers[l])
        inputs.append(h)
        caches.append(c)
    return inputs[-1], dict(caches=caches, n=len(layers))


def stacked_backward(dh_top, cache, backward_fn):
    n = cache["n"]
    layer_grads = []
    grad = dh_top
    for k in range(n):
        l = n - 1 - k
        res = backward_fn(grad, cache["caches"][l])
        grad = res[0]
        layer_grads = [res[1:]] + layer_grads
    return grad, layer_grads
