def rnn_jacobian(h_next, Wh):
    # one Jacobian per sample: diag(1 - h^2) @ Wh^T
    N, H = h_next.shape
    J = np.zeros((N, H, H))
    for n in range(N):
        J[n] = np.diag(1.0 - h_next[n] ** 2) @ Wh.T
    return J


def clip_grad_norm(grads, max_norm):
    squares = 0.0
    for g in grads:
        squares += float((g * g).sum())
    norm = squares ** 0.5
    scale = max_norm / (norm + 1e-6)
    if scale > 1.0:
        scale = 1.0
    out = []
    for g in grads:
        out.append(np.array(g, dtype=float) * scale)
    return out, norm


predicted = {}
for rho in rhos:
    deriv = 1.0 - states[rho] ** 2
    predicted[rho] = rho * np.sqrt((deriv ** 2).mean())
