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


def gru_forward(x, h0, Wx, Wh, bx, bh):
    hid = h0
    history, caches = [], []
    for x_t in np.moveaxis(x, 1, 0):
        hid, cc = gru_step_forward(x_t, hid, Wx, Wh, bx, bh)
        history.append(hid)
        caches.append(cc)
    return np.array(history).transpose(1, 0, 2), caches


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


def gru_step_forward_reset_before(x, h_prev, Wx, Wh, bx, bh):
    size = Wh.shape[0]
    in_part = np.matmul(x, Wx) + bx
    rg = np.exp(-np.logaddexp(0, -(in_part[:, :size] + np.matmul(h_prev, Wh[:, :size]) + bh[:size])))
    zg = np.exp(-np.logaddexp(0, -(in_part[:, size:2 * size] + np.matmul(h_prev, Wh[:, size:2 * size])
                                   + bh[size:2 * size])))
    rh = rg * h_prev
    ng = np.tanh(in_part[:, 2 * size:] + np.matmul(rh, Wh[:, 2 * size:]) + bh[2 * size:])
    h_next = zg * h_prev + (1 - zg) * ng
    return h_next, dict(x=x, h=h_prev, Wx=Wx, Wh=Wh, rg=rg, zg=zg, ng=ng, rh=rh)


def gru_step_backward_reset_before(dh_next, cache):
    C = cache
    size = C["Wh"].shape[0]
    dn_lin = dh_next * (1 - C["zg"]) * (1 - C["ng"] ** 2)
    dz_lin = dh_next * (C["h"] - C["ng"]) * C["zg"] * (1 - C["zg"])
    drh = np.matmul(dn_lin, C["Wh"][:, 2 * size:].T)
    dr_lin = drh * C["h"] * C["rg"] * (1 - C["rg"])
    d_in = np.concatenate([dr_lin, dz_lin, dn_lin], axis=1)
    dWx = np.matmul(C["x"].T, d_in)
    dWh = np.concatenate([np.matmul(C["h"].T, dr_lin), np.matmul(C["h"].T, dz_lin),
                          np.matmul(C["rh"].T, dn_lin)], axis=1)
    dx = np.matmul(d_in, C["Wx"].T)
    dh_prev = (C["zg"] * dh_next + drh * C["rg"] + np.matmul(dr_lin, C["Wh"][:, :size].T)
               + np.matmul(dz_lin, C["Wh"][:, size:2 * size].T))
    return dx, dh_prev, dWx, dWh, np.sum(d_in, axis=0), np.sum(d_in, axis=0)
