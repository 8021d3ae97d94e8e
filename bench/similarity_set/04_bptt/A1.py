def rnn_step_forward(x, h_prev, Wx, Wh, b):
    a = x @ Wx + h_prev @ Wh + b
    h_next = np.tanh(a)
    cache = (x, h_prev, Wx, Wh, h_next)
    return h_next, cache


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = h0.shape[1]
    h = np.zeros((N, T, H))
    caches = []
    h_prev = h0
    for t in range(T):
        h_prev, c = rnn_step_forward(x[:, t, :], h_prev, Wx, Wh, b)
        h[:, t, :] = h_prev
        caches.append(c)
    return h, caches


def rnn_step_backward(dh_next, cache):
    x, h_prev, Wx, Wh, h_next = cache
    da = dh_next * (1 - h_next ** 2)
    dx = da @ Wx.T
    dh_prev = da @ Wh.T
    dWx = x.T @ da
    dWh = h_prev.T @ da
    db = da.sum(axis=0)
    return dx, dh_prev, dWx, dWh, db


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    dWx = np.zeros((D, H))
    dWh = np.zeros((H, H))
    db = np.zeros(H)
    dh_prev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx_t, dh_prev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dh_prev, cache[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dh0 = dh_prev
    return dx, dh0, dWx, dWh, db


def temporal_softmax_loss(scores, y, mask):
    N, T, V = scores.shape
    flat_scores = scores.reshape(N * T, V)
    flat_y = y.reshape(N * T)
    flat_mask = mask.reshape(N * T)
    shifted = flat_scores - np.max(flat_scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    probs = np.exp(log_probs)
    loss = -np.sum(flat_mask * log_probs[np.arange(N * T), flat_y]) / N
    dflat = probs.copy()
    dflat[np.arange(N * T), flat_y] -= 1
    dflat /= N
    dflat *= flat_mask[:, None]
    dscores = dflat.reshape(N, T, V)
    return loss, dscores


def bigram_model(tokens, vocab_size, alpha=1.0):
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (tokens[:-1], tokens[1:]), 1)
    counts += alpha
    P = counts / counts.sum(axis=1, keepdims=True)
    return P


def softmax_temperature(logits, temperature):
    z = logits / temperature
    z = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)
