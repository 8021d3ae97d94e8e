def rnn_jacobian(h_next, Wh):
    """d h_next / d h_prev for every sample, as a batch of H x H matrices."""
    tanh_prime = 1.0 - np.square(h_next)  # (N, H)
    return np.einsum("ni,ji->nij", tanh_prime, Wh)


def clip_grad_norm(grads, max_norm):
    """Scale all gradients together so that their joint L2 norm is at most max_norm."""
    total_norm = global_l2(grads)
    factor = np.minimum(1.0, max_norm / (total_norm + 1e-6))
    return [factor * g for g in grads], total_norm


def global_l2(arrays):
    flat = np.concatenate([np.ravel(a) for a in arrays]) if len(arrays) else np.zeros(0)
    return float(np.linalg.norm(flat))


# rate per step = rho * RMS of tanh'(a) = rho * RMS(1 - h^2) over samples, steps and units
predicted = dict(zip(rhos, [r * float(np.sqrt(np.mean(np.square(1 - np.square(states[r]))))) for r in rhos]))
