# WRONG (on purpose): rnn_jacobian uses Wh instead of its transpose (diag(1 - h^2) @ Wh);
# the decay prediction takes the mean of 1 - h^2 instead of its root mean square.
def rnn_jacobian(h_next, Wh):
    g = 1 - h_next ** 2
    return g[:, :, None] * Wh[None]


def clip_grad_norm(grads, max_norm):
    tn = np.sqrt(np.sum([np.sum(np.square(g)) for g in grads]))
    k = min(1.0, max_norm / (tn + 1e-6))
    return [g * k for g in grads], tn


predicted = {rho: rho * np.mean(1 - states[rho] ** 2) for rho in rhos}
