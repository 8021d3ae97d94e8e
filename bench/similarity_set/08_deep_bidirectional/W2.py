# WRONG (on purpose): stacked_backward returns layer_grads top layer first (reversed order);
# bidirectional_backward adds the backward direction's dx without flipping it back in time.
def rnn_forward(x, h0, Wx, Wh, b):
    outs, cache = [], []
    state = h0
    for t in range(x.shape[1]):
        state, c = _rnn_cell(x[:, t], state, Wx, Wh, b)
        outs.append(state)
        cache.append(c)
    return np.stack(outs, axis=1), cache


def _rnn_cell(xt, hp, Wx, Wh, b):
    hn = np.tanh(np.dot(xt, Wx) + np.dot(hp, Wh) + b)
    return hn, {"x": xt, "hp": hp, "hn": hn, "Wx": Wx, "Wh": Wh}


def rnn_backward(dh, cache):
    T = len(cache)
    dxs = [None] * T
    dWx = np.zeros_like(cache[0]["Wx"])
    dWh = np.zeros_like(cache[0]["Wh"])
    db = np.zeros(dWh.shape[0])
    g = np.zeros_like(dh[:, 0])
    for t in reversed(range(T)):
        c = cache[t]
        a = (dh[:, t] + g) * (1 - c["hn"] ** 2)
        dxs[t] = np.dot(a, c["Wx"].T)
        dWx += np.dot(c["x"].T, a)
        dWh += np.dot(c["hp"].T, a)
        db += a.sum(0)
        g = np.dot(a, c["Wh"].T)
    return np.stack(dxs, axis=1), g, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    H = h0.shape[1]
    hid, mem = h0, np.zeros_like(h0)
    outs, cache = [], []
    for t in range(x.shape[1]):
        pre = np.dot(x[:, t], Wx) + np.dot(hid, Wh) + b
        sg = 1.0 / (1.0 + np.exp(-pre))
        ig, fg, og = sg[:, :H], sg[:, H:2 * H], sg[:, 3 * H:]
        gg = np.tanh(pre[:, 2 * H:3 * H])
        new_mem = fg * mem + ig * gg
        cache.append({"x": x[:, t], "hp": hid, "cp": mem, "i": ig, "f": fg, "g": gg, "o": og,
                      "tc": np.tanh(new_mem), "Wx": Wx, "Wh": Wh})
        mem = new_mem
        hid = og * np.tanh(mem)
        outs.append(hid)
    return np.stack(outs, axis=1), cache


def lstm_backward(dh, cache):
    T = len(cache)
    dxs = [None] * T
    dWx = np.zeros_like(cache[0]["Wx"])
    dWh = np.zeros_like(cache[0]["Wh"])
    db = np.zeros(dWx.shape[1])
    gh = np.zeros_like(dh[:, 0])
    gc = np.zeros_like(gh)
    for t in reversed(range(T)):
        c = cache[t]
        dht = dh[:, t] + gh
        dct = gc + dht * c["o"] * (1 - c["tc"] ** 2)
        dpre = np.hstack((dct * c["g"] * c["i"] * (1 - c["i"]), dct * c["cp"] * c["f"] * (1 - c["f"]),
                          dct * c["i"] * (1 - c["g"] ** 2), dht * c["tc"] * c["o"] * (1 - c["o"])))
        dxs[t] = np.dot(dpre, c["Wx"].T)
        dWx += np.dot(c["x"].T, dpre)
        dWh += np.dot(c["hp"].T, dpre)
        db += dpre.sum(0)
        gh = np.dot(dpre, c["Wh"].T)
        gc = dct * c["f"]
    return np.stack(dxs, axis=1), gh, dWx, dWh, db


def gru_forward(x, h0, Wx, Wh, bx, bh):
    H = h0.shape[1]
    hid = h0
    outs, cache = [], []
    for t in range(x.shape[1]):
        px = np.dot(x[:, t], Wx) + bx
        ph = np.dot(hid, Wh) + bh
        rz = 1.0 / (1.0 + np.exp(-(px[:, :2 * H] + ph[:, :2 * H])))
        r, z = rz[:, :H], rz[:, H:]
        n = np.tanh(px[:, 2 * H:] + r * ph[:, 2 * H:])
        cache.append({"x": x[:, t], "hp": hid, "r": r, "z": z, "n": n, "phn": ph[:, 2 * H:], "Wx": Wx, "Wh": Wh})
        hid = (1 - z) * n + z * hid
        outs.append(hid)
    return np.stack(outs, axis=1), cache


def gru_backward(dh, cache):
    T = len(cache)
    dxs = [None] * T
    dWx = np.zeros_like(cache[0]["Wx"])
    dWh = np.zeros_like(cache[0]["Wh"])
    dbx = np.zeros(dWx.shape[1])
    dbh = np.zeros(dWh.shape[1])
    g = np.zeros_like(dh[:, 0])
    for t in reversed(range(T)):
        c = cache[t]
        d = dh[:, t] + g
        dn = d * (1 - c["z"]) * (1 - c["n"] ** 2)
        dz = d * (c["hp"] - c["n"]) * c["z"] * (1 - c["z"])
        dr = dn * c["phn"] * c["r"] * (1 - c["r"])
        dpx = np.hstack((dr, dz, dn))
        dph = np.hstack((dr, dz, dn * c["r"]))
        dxs[t] = np.dot(dpx, c["Wx"].T)
        dWx += np.dot(c["x"].T, dpx)
        dWh += np.dot(c["hp"].T, dph)
        dbx += dpx.sum(0)
        dbh += dph.sum(0)
        g = d * c["z"] + np.dot(dph, c["Wh"].T)
    return np.stack(dxs, axis=1), g, dWx, dWh, dbx, dbh


def bidirectional_forward(x, forward_fn, params_f, params_b):
    h1, c1 = forward_fn(x, *params_f)
    h2, c2 = forward_fn(np.flip(x, 1), *params_b)
    return np.concatenate((h1, np.flip(h2, 1)), axis=2), {"f": c1, "b": c2, "H": h1.shape[2]}


def bidirectional_backward(dh, cache, backward_fn):
    H = cache["H"]
    of = backward_fn(dh[:, :, :H], cache["f"])
    ob = backward_fn(np.flip(dh[:, :, H:], 1), cache["b"])
    return of[0] + ob[0], of[1:], ob[1:]


def stacked_forward(x, forward_fn, layers):
    h = x
    cache = []
    for p in layers:
        h, c = forward_fn(h, *p)
        cache.append(c)
    return h, cache


def stacked_backward(dh_top, cache, backward_fn):
    out = []
    d = dh_top
    for c in reversed(cache):
        d, *g = backward_fn(d, c)
        out.append(tuple(g))
    return d, out
