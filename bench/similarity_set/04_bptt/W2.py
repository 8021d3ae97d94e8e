# WRONG (on purpose): bigram_model counts with fancy-index += (a repeated pair is counted once);
# rnn_backward does not add the gradient flowing back from step t+1 (dh[:, t] alone enters step t).
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    cache = {}
    cache["x"], cache["hp"], cache["Wx"], cache["Wh"] = x, h_prev, Wx, Wh
    cache["h"] = np.tanh(np.dot(x, Wx) + np.dot(h_prev, Wh) + b)
    return cache["h"], cache


def rnn_forward(x, h0, Wx, Wh, b):
    T = x.shape[1]
    out = np.zeros((x.shape[0], T, h0.shape[1]))
    caches = []
    prev = h0
    for i in range(T):
        prev, ci = rnn_step_forward(x[:, i], prev, Wx, Wh, b)
        out[:, i] = prev
        caches.append(ci)
    return out, caches


def rnn_step_backward(dh_next, cache):
    da = dh_next * (1.0 - cache["h"] ** 2)
    return (np.dot(da, cache["Wx"].T), np.dot(da, cache["Wh"].T), np.dot(cache["x"].T, da),
            np.dot(cache["hp"].T, da), da.sum(axis=0))


def rnn_backward(dh, cache):
    T = len(cache)
    dxs = [None] * T
    dWx = np.zeros_like(cache[0]["Wx"])
    dWh = np.zeros_like(cache[0]["Wh"])
    db = np.zeros(dWh.shape[0])
    dprev = None
    for i in reversed(range(T)):
        dxs[i], dprev, gx, gh, gb = rnn_step_backward(dh[:, i], cache[i])
        dWx += gx
        dWh += gh
        db += gb
    return np.stack(dxs, axis=1), dprev, dWx, dWh, db


def temporal_softmax_loss(scores, y, mask):
    N, T, V = scores.shape
    sc = scores.reshape(-1, V)
    yy = y.ravel()
    mm = mask.ravel().astype(float)
    sc = sc - sc.max(axis=1, keepdims=True)
    logZ = np.log(np.exp(sc).sum(axis=1))
    rows = np.arange(sc.shape[0])
    loss = np.sum(mm * (logZ - sc[rows, yy])) / N
    g = np.exp(sc - logZ[:, None])
    g[rows, yy] -= 1
    g = g * mm[:, None] / N
    return loss, g.reshape(N, T, V)


def bigram_model(tokens, vocab_size, alpha=1.0):
    counts = np.zeros((vocab_size, vocab_size))
    counts[tokens[:-1], tokens[1:]] += 1
    counts = counts + alpha
    return counts / counts.sum(axis=1)[:, None]


def softmax_temperature(logits, temperature):
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
