# WRONG (on purpose): rnn_step_backward takes the tanh derivative at h_prev instead of h_next;
# temporal_softmax_loss divides by the number of unmasked tokens instead of the batch size N, and
# takes the log of the softmax (not a log-softmax), which gives log(0) for scores ~1e3.
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    hnext = np.tanh(x @ Wx + h_prev @ Wh + b)
    return hnext, (x, h_prev, hnext, Wx, Wh)


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    hs = []
    cs = []
    h = h0
    for t in range(T):
        h, c = rnn_step_forward(x[:, t, :], h, Wx, Wh, b)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, axis=1), cs


def rnn_step_backward(dh_next, cache):
    x, h_prev, hnext, Wx, Wh = cache
    dtanh = dh_next * (1 - h_prev ** 2)
    dx = dtanh @ Wx.T
    dh_prev = dtanh @ Wh.T
    dWx = x.T @ dtanh
    dWh = h_prev.T @ dtanh
    db = np.sum(dtanh, axis=0)
    return dx, dh_prev, dWx, dWh, db


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    dWx, dWh, db = np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dnext = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx[:, t, :], dnext, a, bb, c = rnn_step_backward(dh[:, t, :] + dnext, cache[t])
        dWx += a
        dWh += bb
        db += c
    return dx, dnext, dWx, dWh, db


def temporal_softmax_loss(scores, y, mask):
    N, T, V = scores.shape
    s = scores - np.max(scores, axis=2, keepdims=True)
    p = np.exp(s) / np.sum(np.exp(s), axis=2, keepdims=True)
    count = max(mask.sum(), 1)
    nn, tt = np.meshgrid(np.arange(N), np.arange(T), indexing="ij")
    loss = -np.sum(mask * np.log(p[nn, tt, y])) / count
    d = p.copy()
    d[nn, tt, y] -= 1
    d *= mask[:, :, None] / count
    return loss, d


def bigram_model(tokens, vocab_size, alpha=1.0):
    cnt = np.zeros((vocab_size, vocab_size))
    np.add.at(cnt, (tokens[:-1], tokens[1:]), 1.0)
    return (cnt + alpha) / (cnt.sum(axis=1, keepdims=True) + alpha * vocab_size)


def softmax_temperature(logits, temperature):
    a = logits / temperature
    a = np.exp(a - a.max(axis=-1, keepdims=True))
    return a / a.sum(axis=-1, keepdims=True)
