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
