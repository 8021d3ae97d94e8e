# WRONG (on purpose): in gru_step_backward the reset gate's factor is left out of the hidden-side
# gradient of the candidate block (dWh, dbh and dh_prev use dn instead of dn * r);
# gru_backward returns the gradient of h[:, 0] as dh0 (one step short: step 0's backward is skipped).
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    n_h = h_prev.shape[1]
    xs = np.dot(x, Wx) + bx
    hs = np.dot(h_prev, Wh) + bh
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))
    r = sig(xs[:, :n_h] + hs[:, :n_h])
    z = sig(xs[:, n_h:2 * n_h] + hs[:, n_h:2 * n_h])
    n = np.tanh(xs[:, 2 * n_h:] + r * hs[:, 2 * n_h:])
    h_next = (1 - z) * n + z * h_prev
    return h_next, {"x": x, "hp": h_prev, "Wx": Wx, "Wh": Wh, "r": r, "z": z, "n": n, "hsn": hs[:, 2 * n_h:]}


def gru_step_backward(dh_next, cache):
    r, z, n = cache["r"], cache["z"], cache["n"]
    dn = dh_next * (1 - z) * (1 - n ** 2)
    dz = dh_next * (cache["hp"] - n) * z * (1 - z)
    dr = dn * cache["hsn"] * r * (1 - r)
    d_x = np.hstack((dr, dz, dn))
    d_h = np.hstack((dr, dz, dn))
    dx = np.dot(d_x, cache["Wx"].T)
    dh_prev = np.dot(d_h, cache["Wh"].T) + dh_next * z
    return dx, dh_prev, np.dot(cache["x"].T, d_x), np.dot(cache["hp"].T, d_h), d_x.sum(0), d_h.sum(0)


def gru_forward(x, h0, Wx, Wh, bx, bh):
    T = x.shape[1]
    H_out = np.zeros((x.shape[0], T, h0.shape[1]))
    caches = []
    h = h0
    for i in range(T):
        h, c = gru_step_forward(x[:, i], h, Wx, Wh, bx, bh)
        H_out[:, i] = h
        caches.append(c)
    return H_out, caches


def gru_backward(dh, cache):
    T = len(cache)
    dxs = [np.zeros_like(cache[0]["x"]) for _ in range(T)]
    dWx = np.zeros_like(cache[0]["Wx"])
    dWh = np.zeros_like(cache[0]["Wh"])
    dbx = np.zeros(dWx.shape[1])
    dbh = np.zeros(dWh.shape[1])
    g = np.zeros_like(dh[:, 0])
    for i in range(T - 1, 0, -1):
        dxs[i], g, a, b, c, d = gru_step_backward(dh[:, i] + g, cache[i])
        dWx += a
        dWh += b
        dbx += c
        dbh += d
    return np.stack(dxs, axis=1), dh[:, 0] + g, dWx, dWh, dbx, dbh


def gru_step_forward_reset_before(x, h_prev, Wx, Wh, bx, bh):
    n_h = h_prev.shape[1]
    xs = np.dot(x, Wx) + bx
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))
    r = sig(xs[:, :n_h] + np.dot(h_prev, Wh[:, :n_h]) + bh[:n_h])
    z = sig(xs[:, n_h:2 * n_h] + np.dot(h_prev, Wh[:, n_h:2 * n_h]) + bh[n_h:2 * n_h])
    rh = r * h_prev
    n = np.tanh(xs[:, 2 * n_h:] + np.dot(rh, Wh[:, 2 * n_h:]) + bh[2 * n_h:])
    return (1 - z) * n + z * h_prev, {"x": x, "hp": h_prev, "Wx": Wx, "Wh": Wh, "r": r, "z": z, "n": n, "rh": rh}


def gru_step_backward_reset_before(dh_next, cache):
    r, z, n, hp, Wh = cache["r"], cache["z"], cache["n"], cache["hp"], cache["Wh"]
    n_h = hp.shape[1]
    dn = dh_next * (1 - z) * (1 - n ** 2)
    dz = dh_next * (hp - n) * z * (1 - z)
    drh = np.dot(dn, Wh[:, 2 * n_h:].T)
    dr = drh * hp * r * (1 - r)
    d_x = np.hstack((dr, dz, dn))
    dWh = np.hstack((np.dot(hp.T, dr), np.dot(hp.T, dz), np.dot(cache["rh"].T, dn)))
    dh_prev = dh_next * z + drh * r + np.dot(dr, Wh[:, :n_h].T) + np.dot(dz, Wh[:, n_h:2 * n_h].T)
    return np.dot(d_x, cache["Wx"].T), dh_prev, np.dot(cache["x"].T, d_x), dWh, d_x.sum(0), d_x.sum(0)
