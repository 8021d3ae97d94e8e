def rnn_step_forward(x, h_prev, Wx, Wh, b):
    h = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h, [x, h_prev, h, Wx, Wh]


def rnn_forward(x, h0, Wx, Wh, b):
    # vectorise the input projection once, only the recurrence needs a loop
    N, T, _ = x.shape
    xp = np.einsum("ntd,dh->nth", x, Wx) + b
    hs = np.zeros((N, T + 1, h0.shape[1]))
    hs[:, 0] = h0
    for t in range(T):
        hs[:, t + 1] = np.tanh(xp[:, t] + hs[:, t] @ Wh)
    return hs[:, 1:].copy(), [x, hs, Wx, Wh]


def rnn_step_backward(dh_next, cache):
    x, hp, h, Wx, Wh = cache
    g = dh_next * (1 - h * h)
    return g @ Wx.T, g @ Wh.T, x.T @ g, hp.T @ g, g.sum(0)


def rnn_backward(dh, cache):
    x, hs, Wx, Wh = cache
    N, T, H = dh.shape
    dA = np.zeros((N, T, H))
    g = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dA[:, t] = (dh[:, t] + g) * (1 - hs[:, t + 1] ** 2)
        g = dA[:, t] @ Wh.T
    dx = np.einsum("nth,dh->ntd", dA, Wx)
    dWx = np.einsum("ntd,nth->dh", x, dA)
    dWh = np.einsum("nti,ntj->ij", hs[:, :-1], dA)
    db = dA.sum((0, 1))
    return dx, g, dWx, dWh, db


def temporal_softmax_loss(scores, y, mask):
    N, T, V = scores.shape
    s = scores - scores.max(-1, keepdims=True)
    lse = np.log(np.exp(s).sum(-1))
    i, j = np.meshgrid(np.arange(N), np.arange(T), indexing="ij")
    L = np.where(mask, lse - s[i, j, y], 0.0).sum() / N
    d = np.exp(s - lse[..., None])
    d[i, j, y] -= 1
    d = np.where(mask[..., None], d, 0.0) / N
    return L, d


def bigram_model(tokens, vocab_size, alpha=1.0):
    C = np.histogram2d(tokens[:-1], tokens[1:], bins=vocab_size, range=[[0, vocab_size], [0, vocab_size]])[0]
    return (C + alpha) / (C + alpha).sum(1, keepdims=True)


def softmax_temperature(logits, temperature):
    s = logits / temperature
    p = np.exp(s - s.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)
