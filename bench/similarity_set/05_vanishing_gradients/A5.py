def rnn_jacobian(h_next, Wh):
    result = []
    for row in h_next:
        result.append((1 - row ** 2)[:, np.newaxis] * Wh.T)
    return np.stack(result)


def clip_grad_norm(grads, max_norm):
    sq_sum = np.sum([np.vdot(g, g) for g in grads])
    total = np.sqrt(sq_sum)
    if total + 1e-6 > max_norm:
        ratio = max_norm / (total + 1e-6)
        new = [g * ratio for g in grads]
    else:
        new = [np.copy(g) for g in grads]
    return new, total


predicted = {}
for rho, hs in states.items():
    one_minus = 1 - hs ** 2
    predicted[rho] = rho * np.sqrt(np.mean(np.square(one_minus)))
