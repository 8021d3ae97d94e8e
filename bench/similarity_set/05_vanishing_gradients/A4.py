def rnn_jacobian(h_next, Wh):
    N, H = h_next.shape
    return (1 - h_next * h_next).reshape(N, H, 1) * np.broadcast_to(Wh.T, (N, H, H))


def clip_grad_norm(grads, max_norm):
    n = np.linalg.norm([np.linalg.norm(g.ravel()) for g in grads])
    c = min(1, max_norm / (n + 1e-6))
    return [g.copy() * c for g in grads], n


predicted = dict()
for r in rhos:
    s = states[r]
    predicted[r] = r * np.linalg.norm(1 - s ** 2) / np.sqrt(s.size)
