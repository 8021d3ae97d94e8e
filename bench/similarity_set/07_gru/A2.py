def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    # input and hidden projections, blocks r | z | n
    xr, xz, xn = np.split(np.dot(x, Wx) + bx, 3, axis=1)
    hr, hz, hn = np.split(np.dot(h_prev, Wh) + bh, 3, axis=1)
    reset = 1.0 / (1.0 + np.exp(-(xr + hr)))
    update = 1.0 / (1.0 + np.exp(-(xz + hz)))
    cand = np.tanh(xn + reset * hn)
    h_next = cand + update * (h_prev - cand)
    cache = {"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "reset": reset, "update": update,
             "cand": cand, "hn": hn}
    return h_next, cache


def gru_step_backward(dh_next, cache):
    r, u, c = cache["reset"], cache["update"], cache["cand"]
    # h = c + u * (h_prev - c)
    d_c = dh_next * (1.0 - u)
    d_u = dh_next * (cache["h_prev"] - c)
    d_cpre = d_c * (1.0 - c * c)
    d_r = d_cpre * cache["hn"]
    d_rpre = d_r * r * (1.0 - r)
    d_upre = d_u * u * (1.0 - u)
    d_xproj = np.concatenate([d_rpre, d_upre, d_cpre], axis=1)
    d_hproj = np.concatenate([d_rpre, d_upre, d_cpre * r], axis=1)
    dx = np.dot(d_xproj, cache["Wx"].T)
    dh_prev = np.dot(d_hproj, cache["Wh"].T) + dh_next * u
    dWx = np.dot(cache["x"].T, d_xproj)
    dWh = np.dot(cache["h_prev"].T, d_hproj)
    return dx, dh_prev, dWx, dWh, d_xproj.sum(axis=0), d_hproj.sum(axis=0)


def gru_forward(x, h0, Wx, Wh, bx, bh):
    T = x.shape[1]
    states, step_caches = [], []
    h = h0
    for t in range(T):
        h, sc = gru_step_forward(x[:, t], h, Wx, Wh, bx, bh)
        states.append(h)
        step_caches.append(sc)
    return np.stack(states, axis=1), {"steps": step_caches}


def gru_backward(dh, cache):
    steps = cache["steps"]
    T = len(steps)
    dxs = [None] * T
    sums = {"Wx": 0.0, "Wh": 0.0, "bx": 0.0, "bh": 0.0}
    carry = np.zeros_like(dh[:, 0])
    t = T - 1
    while t >= 0:
        dxs[t], carry, gWx, gWh, gbx, gbh = gru_step_backward(dh[:, t] + carry, steps[t])
        sums["Wx"] = sums["Wx"] + gWx
        sums["Wh"] = sums["Wh"] + gWh
        sums["bx"] = sums["bx"] + gbx
        sums["bh"] = sums["bh"] + gbh
        t -= 1
    return np.stack(dxs, axis=1), carry, sums["Wx"], sums["Wh"], sums["bx"], sums["bh"]


def gru_step_forward_reset_before(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    xr, xz, xn = np.split(np.dot(x, Wx) + bx, 3, axis=1)
    reset = 1.0 / (1.0 + np.exp(-(xr + np.dot(h_prev, Wh[:, :H]) + bh[:H])))
    update = 1.0 / (1.0 + np.exp(-(xz + np.dot(h_prev, Wh[:, H:2 * H]) + bh[H:2 * H])))
    gated = reset * h_prev
    cand = np.tanh(xn + np.dot(gated, Wh[:, 2 * H:]) + bh[2 * H:])
    h_next = cand + update * (h_prev - cand)
    cache = {"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "reset": reset, "update": update,
             "cand": cand, "gated": gated}
    return h_next, cache


def gru_step_backward_reset_before(dh_next, cache):
    r, u, c, hp = cache["reset"], cache["update"], cache["cand"], cache["h_prev"]
    Wh = cache["Wh"]
    H = hp.shape[1]
    d_cpre = dh_next * (1.0 - u) * (1.0 - c * c)
    d_upre = dh_next * (hp - c) * u * (1.0 - u)
    d_gated = np.dot(d_cpre, Wh[:, 2 * H:].T)
    d_rpre = d_gated * hp * r * (1.0 - r)
    d_xproj = np.concatenate([d_rpre, d_upre, d_cpre], axis=1)
    dx = np.dot(d_xproj, cache["Wx"].T)
    dWx = np.dot(cache["x"].T, d_xproj)
    dWh = np.concatenate([np.dot(hp.T, d_rpre), np.dot(hp.T, d_upre), np.dot(cache["gated"].T, d_cpre)], axis=1)
    dh_prev = (dh_next * u + d_gated * r + np.dot(d_rpre, Wh[:, :H].T) + np.dot(d_upre, Wh[:, H:2 * H].T))
    db = d_xproj.sum(axis=0)
    return dx, dh_prev, dWx, dWh, db, db.copy()
