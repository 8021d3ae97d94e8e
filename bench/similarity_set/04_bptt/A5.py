def rnn_step_forward(x, h_prev, Wx, Wh, b):
    z = np.matmul(x, Wx)
    z += np.matmul(h_prev, Wh)
    z += b
    hn = np.tanh(z)
    cache = dict(inp=x, prev=h_prev, nxt=hn, W_in=Wx, W_rec=Wh)
    return hn, cache


def rnn_forward(x, h0, Wx, Wh, b):
    outputs = []
    cache = []
    prev = h0
    for x_t in np.moveaxis(x, 1, 0):  # iterate over time
        prev, step_cache = rnn_step_forward(x_t, prev, Wx, Wh, b)
        outputs.append(prev)
        cache.append(step_cache)
    return np.array(outputs).transpose(1, 0, 2), cache


def rnn_step_backward(dh_next, cache):
    dz = dh_next * (1 - cache["nxt"] ** 2)
    dx = np.matmul(dz, cache["W_in"].T)
    dWx = np.matmul(cache["inp"].T, dz)
    dh_prev = np.matmul(dz, cache["W_rec"].T)
    dWh = np.matmul(cache["prev"].T, dz)
    db = np.sum(dz, axis=0)
    return dx, dh_prev, dWx, dWh, db


def rnn_backward(dh, cache):
    steps = len(cache)
    dxs = []
    totals = None
    running = np.zeros_like(dh[:, 0])
    for k in range(steps):
        t = steps - 1 - k
        out = rnn_step_backward(dh[:, t] + running, cache[t])
        dxs.insert(0, out[0])
        running = out[1]
        if totals is None:
            totals = list(out[2:])
        else:
            totals = [acc + new for acc, new in zip(totals, out[2:])]
    dWx, dWh, db = totals
    return np.stack(dxs, 1), running, dWx, dWh, db


def temporal_softmax_loss(scores, y, mask):
    N, T, V = scores.shape
    loss = 0.0
    dscores = np.zeros_like(scores, dtype=float)
    for n in range(N):
        for t in range(T):
            if not mask[n, t]:
                continue
            row = scores[n, t] - np.max(scores[n, t])
            p = np.exp(row) / np.sum(np.exp(row))
            loss -= row[y[n, t]] - np.log(np.sum(np.exp(row)))
            p[y[n, t]] -= 1
            dscores[n, t] = p / N
    return loss / N, dscores


def bigram_model(tokens, vocab_size, alpha=1.0):
    counts = np.zeros((vocab_size, vocab_size))
    for i in range(len(tokens) - 1):
        counts[tokens[i], tokens[i + 1]] += 1
    denom = counts.sum(axis=1) + vocab_size * alpha
    P = np.empty_like(counts)
    for r in range(vocab_size):
        P[r] = (counts[r] + alpha) / denom[r]
    return P


def softmax_temperature(logits, temperature):
    scaled = logits / temperature
    m = np.amax(scaled, axis=-1, keepdims=True)
    unnorm = np.exp(scaled - m)
    total = np.sum(unnorm, axis=-1, keepdims=True)
    return unnorm / total
