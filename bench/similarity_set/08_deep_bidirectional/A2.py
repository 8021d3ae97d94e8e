def rnn_forward(x, h0, Wx, Wh, b):
    T = x.shape[1]
    states = []
    step_caches = {}
    h = h0
    for t in range(T):
        h, step_caches[t] = rnn_step_forward(x[:, t], h, Wx, Wh, b)
        states.append(h)
    H_all = np.stack(states, axis=1)
    return H_all, {"steps": step_caches, "T": T, "D": x.shape[2]}


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    # keep everything the backward will need in a dict
    pre = np.dot(x, Wx) + np.dot(h_prev, Wh) + b
    out = np.tanh(pre)
    return out, {"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "out": out}


def rnn_backward(dh, cache):
    T = cache["T"]
    N, _, H = dh.shape
    dx_list = [None] * T
    dWx, dWh, db = 0.0, 0.0, 0.0
    carry = np.zeros((N, H))
    t = T - 1
    while t >= 0:
        g = dh[:, t] + carry
        dxt, carry, gWx, gWh, gb = rnn_step_backward(g, cache["steps"][t])
        dx_list[t] = dxt
        dWx = dWx + gWx
        dWh = dWh + gWh
        db = db + gb
        t -= 1
    return np.stack(dx_list, axis=1), carry, dWx, dWh, db


def rnn_step_backward(dh_next, cache):
    # derivative of tanh is 1 - tanh^2
    dpre = (1.0 - cache["out"] * cache["out"]) * dh_next
    grads = (
        np.dot(dpre, cache["Wx"].T),
        np.dot(dpre, cache["Wh"].T),
        np.dot(cache["x"].T, dpre),
        np.dot(cache["h_prev"].T, dpre),
        np.sum(dpre, axis=0),
    )
    return grads


def lstm_forward(x, h0, Wx, Wh, b):
    T = x.shape[1]
    hs = []
    steps = []
    h, c = h0, np.zeros_like(h0)
    for t in range(T):
        h, c, sc = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        hs.append(h)
        steps.append(sc)
    return np.stack(hs, axis=1), {"steps": steps}


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    # pre-activations of the four gates, PyTorch order i, f, g, o
    z = np.dot(x, Wx) + np.dot(h_prev, Wh) + b
    zi, zf, zg, zo = np.split(z, 4, axis=1)
    gates = {
        "i": 1.0 / (1.0 + np.exp(-zi)),
        "f": 1.0 / (1.0 + np.exp(-zf)),
        "g": np.tanh(zg),
        "o": 1.0 / (1.0 + np.exp(-zo)),
    }
    c_next = gates["f"] * c_prev + gates["i"] * gates["g"]
    h_next = gates["o"] * np.tanh(c_next)
    cache = {"x": x, "h_prev": h_prev, "c_prev": c_prev, "c_next": c_next, "Wx": Wx, "Wh": Wh}
    cache.update(gates)
    return h_next, c_next, cache


def lstm_backward(dh, cache):
    steps = cache["steps"]
    T = len(steps)
    dxs = [None] * T
    acc = {"Wx": 0.0, "Wh": 0.0, "b": 0.0}
    dh_carry = np.zeros_like(dh[:, 0])
    dc_carry = np.zeros_like(dh[:, 0])
    t = T - 1
    while t >= 0:
        dxs[t], dh_carry, dc_carry, gWx, gWh, gb = lstm_step_backward(dh[:, t] + dh_carry, dc_carry, steps[t])
        acc["Wx"] = acc["Wx"] + gWx
        acc["Wh"] = acc["Wh"] + gWh
        acc["b"] = acc["b"] + gb
        t -= 1
    return np.stack(dxs, axis=1), dh_carry, acc["Wx"], acc["Wh"], acc["b"]


def lstm_step_backward(dh_next, dc_next, cache):
    tanh_c = np.tanh(cache["c_next"])
    # the cell gets gradient directly and through h = o * tanh(c)
    dc = dc_next + dh_next * cache["o"] * (1.0 - tanh_c ** 2)
    d_o = dh_next * tanh_c
    d_i = dc * cache["g"]
    d_f = dc * cache["c_prev"]
    d_g = dc * cache["i"]
    dz = np.concatenate(
        [
            d_i * cache["i"] * (1.0 - cache["i"]),
            d_f * cache["f"] * (1.0 - cache["f"]),
            d_g * (1.0 - cache["g"] ** 2),
            d_o * cache["o"] * (1.0 - cache["o"]),
        ],
        axis=1,
    )
    return (
        np.dot(dz, cache["Wx"].T),
        np.dot(dz, cache["Wh"].T),
        dc * cache["f"],
        np.dot(cache["x"].T, dz),
        np.dot(cache["h_prev"].T, dz),
        dz.sum(axis=0),
    )


def gru_forward(x, h0, Wx, Wh, bx, bh):
    T = x.shape[1]
    states, step_caches = [], []
    h = h0
    for t in range(T):
        h, sc = gru_step_forward(x[:, t], h, Wx, Wh, bx, bh)
        states.append(h)
        step_caches.append(sc)
    return np.stack(states, axis=1), {"steps": step_caches}


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


def bidirectional_forward(x, forward_fn, params_f, params_b):
    # the backward direction reads the sequence reversed; flip its output back
    fwd_states, fwd_cache = forward_fn(x, *params_f)
    bwd_states, bwd_cache = forward_fn(np.flip(x, axis=1), *params_b)
    out = np.concatenate((fwd_states, np.flip(bwd_states, axis=1)), axis=-1)
    return out, {"fwd": fwd_cache, "bwd": bwd_cache, "split": fwd_states.shape[-1]}


def bidirectional_backward(dh, cache, backward_fn):
    k = cache["split"]
    fwd = backward_fn(dh[..., :k], cache["fwd"])
    bwd = backward_fn(np.flip(dh[..., k:], axis=1), cache["bwd"])
    dx = fwd[0] + np.flip(bwd[0], axis=1)
    return dx, fwd[1:], bwd[1:]


def stacked_forward(x, forward_fn, layers):
    per_layer = []
    inp = x
    for p in layers:
        inp, c = forward_fn(inp, *p)
        per_layer.append(c)
    return inp, {"layers": per_layer}


def stacked_backward(dh_top, cache, backward_fn):
    grads = []
    g = dh_top
    for c in cache["layers"][::-1]:
        res = backward_fn(g, c)
        g = res[0]
        grads.append(res[1:])
    grads.reverse()
    return g, grads
