def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """One tanh step; the cache is a small record object."""
    h_next = np.tanh(x.dot(Wx) + h_prev.dot(Wh) + b)
    return h_next, StepRecord(x, h_prev, h_next, Wx, Wh)


class StepRecord:
    """What one step remembers for the way back."""

    def __init__(self, x, h_prev, h_next, Wx, Wh):
        self.x = x
        self.h_prev = h_prev
        self.h_next = h_next
        self.Wx = Wx
        self.Wh = Wh


def rnn_forward(x, h0, Wx, Wh, b):
    """Unroll the step over the time axis."""
    n_steps = x.shape[1]
    hidden = np.empty((x.shape[0], n_steps, h0.shape[1]))
    records = []
    current = h0
    for step in range(n_steps):
        current, rec = rnn_step_forward(x[:, step, :], current, Wx, Wh, b)
        hidden[:, step, :] = current
        records.append(rec)
    return hidden, records


def rnn_step_backward(dh_next, cache):
    """Backprop through tanh, then through the two affine maps."""
    delta = tanh_local_grad(cache.h_next) * dh_next
    dx = delta.dot(cache.Wx.T)
    dh_prev = delta.dot(cache.Wh.T)
    dWx = cache.x.T.dot(delta)
    dWh = cache.h_prev.T.dot(delta)
    db = delta.sum(0)
    return dx, dh_prev, dWx, dWh, db


def tanh_local_grad(t):
    return 1.0 - np.square(t)


def rnn_backward(dh, cache):
    """Walk back in time, summing the gradients of the shared weights."""
    records = cache
    n_steps = len(records)
    dx = np.zeros(dh.shape[:2] + (records[0].x.shape[1],))
    dWx = np.zeros_like(records[0].Wx)
    dWh = np.zeros_like(records[0].Wh)
    db = np.zeros(dWh.shape[1])
    from_future = np.zeros_like(dh[:, 0, :])
    for step in range(n_steps - 1, -1, -1):
        total = dh[:, step, :] + from_future  # output gradient plus gradient from step+1
        dx[:, step, :], from_future, gx, gh, gb = rnn_step_backward(total, records[step])
        dWx += gx
        dWh += gh
        db += gb
    return dx, from_future, dWx, dWh, db


def temporal_softmax_loss(scores, y, mask):
    """Masked cross-entropy, summed over steps, divided by the batch size."""
    batch = scores.shape[0]
    logp = log_softmax_last(scores)
    picked = np.take_along_axis(logp, y[:, :, None], axis=-1).squeeze(-1)
    loss = -(picked * mask).sum() / batch
    # gradient: softmax minus one-hot, masked, over N
    grad = np.exp(logp)
    n_idx, t_idx = np.indices(y.shape)
    grad[n_idx, t_idx, y] -= 1.0
    grad = grad * mask[:, :, None] / batch
    return loss, grad


def log_softmax_last(s):
    shifted = s - s.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def bigram_model(tokens, vocab_size, alpha=1.0):
    """Count consecutive pairs, add alpha, normalise each row."""
    table = np.full((vocab_size, vocab_size), float(alpha))
    for prev, nxt in zip(tokens[:-1], tokens[1:]):
        table[prev, nxt] += 1.0
    return table / table.sum(axis=1, keepdims=True)


def softmax_temperature(logits, temperature):
    """Stable softmax of logits / temperature on the last axis."""
    return np.exp(log_softmax_last(logits / temperature))
