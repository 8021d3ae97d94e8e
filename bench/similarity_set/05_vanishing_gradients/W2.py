# WRONG (on purpose): clip_grad_norm clips every array by its own norm instead of the global norm
# (and reports the sum of the per-array norms as the total).
def rnn_jacobian(h_next, Wh):
    out = np.empty((h_next.shape[0], Wh.shape[0], Wh.shape[1]))
    for i in range(h_next.shape[0]):
        out[i] = (1.0 - h_next[i] ** 2)[:, None] * Wh.T
    return out


def clip_grad_norm(grads, max_norm):
    clipped = []
    total = 0.0
    for g in grads:
        nrm = np.linalg.norm(g)
        total += nrm
        clipped.append(g * min(1.0, max_norm / (nrm + 1e-6)))
    return clipped, total


predicted = {}
for rho in rhos:
    predicted[rho] = rho * np.sqrt(np.mean((1.0 - states[rho] ** 2) ** 2))
