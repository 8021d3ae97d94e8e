def rnn_jacobian(h_next, Wh):
    d = 1 - h_next ** 2
    return d[:, :, None] * Wh.T[None, :, :]


def clip_grad_norm(grads, max_norm):
    total_norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    coef = min(1.0, max_norm / (total_norm + 1e-6))
    clipped = [g * coef for g in grads]
    return clipped, total_norm


predicted = {rho: rho * np.sqrt(np.mean((1 - states[rho] ** 2) ** 2)) for rho in rhos}
