def rnn_step_forward(x, h_prev, Wx, Wh, b):
    # keep everything the backward will need in a dict
    pre = np.dot(x, Wx) + np.dot(h_prev, Wh) + b
    out = np.tanh(pre)
    return out, {"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "out": out}


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


def temporal_softmax_loss(scores, y, mask):
    N = scores.shape[0]
    m = mask.astype(float)
    # stable softmax over the vocabulary axis
    mx = scores.max(axis=2, keepdims=True)
    ex = np.exp(scores - mx)
    Z = ex.sum(axis=2, keepdims=True)
    p = ex / Z
    true_scores = np.take_along_axis(scores, y[..., None], axis=2)[..., 0]
    nll = np.log(Z[..., 0]) + mx[..., 0] - true_scores
    loss = float((nll * m).sum() / N)
    onehot = np.eye(scores.shape[2])[y]
    dscores = (p - onehot) * m[..., None] / N
    return loss, dscores


def bigram_model(tokens, vocab_size, alpha=1.0):
    V = vocab_size
    pair_ids = tokens[:-1] * V + tokens[1:]
    counts = np.bincount(pair_ids, minlength=V * V).reshape(V, V).astype(float)
    smoothed = counts + alpha
    row_tot = counts.sum(axis=1) + V * alpha
    return smoothed / row_tot[:, None]


def softmax_temperature(logits, temperature):
    scaled = np.asarray(logits, dtype=float) / float(temperature)
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    w = np.exp(scaled)
    w /= w.sum(axis=-1, keepdims=True)
    return w
