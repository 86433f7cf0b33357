"""The training losses: each maps the head's output and the target to the
loss and its gradient with respect to that output.

Every loss has the signature ``f(out, target, weights, **options) ->
(loss, d_out)``:

- `out` is the linear head's output, (N, W) or (N, T, W), before any
  output activation (softmax's logits, Poisson's log-mean, the quantile
  head's raw columns);
- `weights` has shape ``out.shape[:-1]``: 1 at steps that count, 0 at
  padded ones (any non-negative weights work), or None when all count;
- `loss` is the weighted mean over the counted entries, `d_out` its exact
  gradient (same shape and dtype as `out`).

The regression losses are scikit-learn's (``sklearn._loss``), in the
"half" form where scikit-learn's has one: half squared error, half Poisson
deviance, and Huber as HistGradientBoosting's (``0.5 r^2`` inside the
threshold), so that each gradient is the plain residual where that exists.
"""

import numpy as np
from scipy.special import expit, xlogy

__all__ = ["LOSSES", "softmax", "monotone_quantiles"]


def _weighted_mean(per_entry, weights, n_per_weight):
    """Sum of ``per_entry * weights`` over all entries / (sum of weights *
    entries per weight), the sum in float64; and the count it divided by."""
    if weights is not None:
        count = float(weights.sum()) * n_per_weight
        per_entry = per_entry * weights.reshape(weights.shape + (1,) * (per_entry.ndim
                                                                         - weights.ndim))
    else:
        count = float(per_entry.size)
    return float(np.sum(per_entry, dtype=np.float64)) / count, count


def _scaled(grad, weights, count):
    """The per-entry gradient, weighted and divided by the loss's count."""
    if weights is not None:
        grad *= weights.reshape(weights.shape + (1,) * (grad.ndim - weights.ndim))
    grad /= grad.dtype.type(count)
    return grad


def squared_loss(out, target, weights):
    """Half mean squared error and its gradient with respect to `out`.

    Parameters
    ----------
    out, target : ndarray, shape (N, K) or (N, T, K)
    weights : ndarray of shape out.shape[:-1] or None
        Non-negative weight of each row (or step): the step mask (1 at steps
        that count, 0 at padded ones), or sample weights times it; None: all
        count equally.

    Returns
    -------
    loss : float
        ``0.5 * sum(w * (out - target)^2) / (sum(w) * n_outputs)``: the
        weighted mean over counted entries.
    d_out : ndarray, shape of `out`
    """
    diff = out - target
    if weights is not None:
        weighted = diff * weights[..., None]
        count = float(weights.sum()) * out.shape[-1]
        # dot(w*diff, diff), not |w*diff|^2: a weight counts once in the
        # loss (for a 0/1 mask the two are the same bits).
        loss = 0.5 * float(np.dot(weighted.ravel(), diff.ravel())) / count
        diff = weighted
    else:
        count = float(diff.size)
        loss = 0.5 * float(np.dot(diff.ravel(), diff.ravel())) / count
    diff /= diff.dtype.type(count)
    return loss, diff


def absolute_loss(out, target, weights):
    """Mean absolute error and its (sub)gradient with respect to `out`.

    Parameters
    ----------
    out, target : ndarray, shape (N, K) or (N, T, K)
    weights : ndarray of shape out.shape[:-1] or None

    Returns
    -------
    loss : float
        ``mean over counted entries of |out - target|``, as
        :func:`sklearn.metrics.mean_absolute_error`.
    d_out : ndarray, shape of `out`
        ``sign(out - target)`` (0 where they are equal) over the count.
    """
    diff = out - target
    loss, count = _weighted_mean(np.abs(diff), weights, out.shape[-1])
    return loss, _scaled(np.sign(diff), weights, count)


def huber_loss(out, target, weights, delta):
    """Mean Huber loss and its gradient with respect to `out`.

    Parameters
    ----------
    out, target : ndarray, shape (N, K) or (N, T, K)
    weights : ndarray of shape out.shape[:-1] or None
    delta : float
        Where the loss turns from quadratic to linear.

    Returns
    -------
    loss : float
        Mean over counted entries of ``0.5 * r^2`` where ``|r| <= delta``,
        else ``delta * (|r| - delta / 2)``, with ``r = out - target``: half
        of :class:`sklearn.linear_model.HuberRegressor`'s form (at unit
        scale), as HistGradientBoosting's and Keras' Huber loss.
    d_out : ndarray, shape of `out`
        ``clip(r, -delta, delta)`` over the count.
    """
    diff = out - target
    a = np.abs(diff)
    delta = diff.dtype.type(delta)
    per_entry = np.where(a <= delta, 0.5 * diff * diff, delta * (a - 0.5 * delta))
    loss, count = _weighted_mean(per_entry, weights, out.shape[-1])
    return loss, _scaled(np.clip(diff, -delta, delta), weights, count)


def poisson_loss(out, target, weights):
    """Mean half Poisson deviance of ``exp(out)`` and its gradient with
    respect to `out` (the log link: `out` is the log of the mean).

    Parameters
    ----------
    out : ndarray, shape (N, K) or (N, T, K)
        Log of the predicted mean.
    target : ndarray, shape of `out`
        Non-negative counts or rates.
    weights : ndarray of shape out.shape[:-1] or None

    Returns
    -------
    loss : float
        Mean over counted entries of ``y log(y / mu) - y + mu`` with
        ``mu = exp(out)``: half of
        :func:`sklearn.metrics.mean_poisson_deviance`, as MLPRegressor's
        ``loss="poisson"`` (its constant ``y log y - y`` included, so a
        perfect fit has loss 0).
    d_out : ndarray, shape of `out`
        ``mu - y`` over the count.
    """
    mu = np.exp(out)
    per_entry = mu - target * out + (xlogy(target, target) - target)
    loss, count = _weighted_mean(per_entry, weights, out.shape[-1])
    mu -= target
    return loss, _scaled(mu, weights, count)


def monotone_quantiles(out, n_levels):
    """The quantile head's predictions: non-decreasing along the levels by
    construction.

    The head's columns, per output, are ``z_0, ..., z_{L-1}``; the
    predicted quantiles are ``q_0 = z_0`` and ``q_l = q_{l-1} +
    softplus(z_l)``. A softplus is never negative and a floating-point sum
    of non-negative increments never decreases, so the levels cannot cross,
    whatever the weights (no sorting after the fact).

    Parameters
    ----------
    out : ndarray, shape (..., K * n_levels)
        The head's output; output k's levels are columns ``k*L .. k*L+L-1``.
    n_levels : int

    Returns
    -------
    ndarray, shape (..., K, n_levels)
        A new array, the dtype of `out`.
    """
    z = out.reshape(out.shape[:-1] + (-1, n_levels))
    q = np.empty_like(z)
    q[..., 0] = z[..., 0]
    np.logaddexp(0, z[..., 1:], out=q[..., 1:])  # softplus, without overflow
    np.cumsum(q, axis=-1, out=q)
    return q


def pinball_loss(out, target, weights, levels):
    """Mean pinball loss of the monotone quantile head, and its gradient
    with respect to the head's raw output.

    Parameters
    ----------
    out : ndarray, shape (N, K * L) or (N, T, K * L)
        The head's raw output; the quantiles are
        ``monotone_quantiles(out, L)``.
    target : ndarray, shape (N, K) or (N, T, K)
    weights : ndarray of shape out.shape[:-1] or None
    levels : sequence of float
        The L quantile levels, increasing, each in (0, 1).

    Returns
    -------
    loss : float
        Mean over counted entries and levels of ``rho_a(y - q_a)``, with
        ``rho_a(u) = a * u`` for ``u >= 0`` and ``(a - 1) * u`` below: the
        mean of :func:`sklearn.metrics.mean_pinball_loss` over the levels.
    d_out : ndarray, shape of `out`
        Through the softplus increments exactly: ``dz_0 = sum_l dq_l``,
        ``dz_l = sigmoid(z_l) * sum_{m >= l} dq_m``.
    """
    n_levels = len(levels)
    z = out.reshape(out.shape[:-1] + (-1, n_levels))
    q = monotone_quantiles(out, n_levels)
    alpha = np.asarray(levels, dtype=out.dtype)
    u = target[..., None] - q
    below = u < 0  # the prediction is above the target
    per_entry = u * (alpha - below)
    loss, count = _weighted_mean(per_entry, weights, out.shape[-1])
    dq = below - alpha  # d rho / d q: -a above the prediction, 1 - a below it
    dq = _scaled(dq.astype(out.dtype), weights, count)
    # Each q_m is z_0 + sum_{1 <= l <= m} softplus(z_l): z_l reaches every q_m, m >= l.
    reach = np.flip(np.cumsum(np.flip(dq, axis=-1), axis=-1), axis=-1)
    dz = np.empty_like(z)
    dz[..., 0] = reach[..., 0]
    np.multiply(reach[..., 1:], expit(z[..., 1:]), out=dz[..., 1:])
    return loss, dz.reshape(out.shape)


def softmax(out):
    """Softmax over the last axis (numerically stable), as a new array."""
    p = out - out.max(axis=-1, keepdims=True)
    np.exp(p, out=p)
    p /= p.sum(axis=-1, keepdims=True)
    return p


def log_loss(out, target, weights):
    """Mean softmax cross-entropy and its gradient with respect to `out`.

    Parameters
    ----------
    out : ndarray, shape (N, K) or (N, T, K)
        Logits.
    target : ndarray of int, shape out.shape[:-1]
        Class codes in [0, K); ignored where `weights` is 0.
    weights : ndarray of shape out.shape[:-1] or None

    Returns
    -------
    loss : float
    d_out : ndarray, shape of `out`
    """
    K = out.shape[-1]
    logits = out.reshape(-1, K)
    codes = target.reshape(-1)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    rows = np.arange(len(codes))
    safe = np.where(codes >= 0, codes, 0)
    nll = log_norm - shifted[rows, safe]
    p = np.exp(shifted - log_norm[:, None])
    p[rows, safe] -= 1
    if weights is not None:
        w = weights.reshape(-1).astype(p.dtype)
        count = float(w.sum())
        nll = nll * w
        p *= w[:, None]
    else:
        count = float(len(codes))
    p /= p.dtype.type(count)
    return float(nll.sum()) / count, p.reshape(out.shape)


#: Losses by name (scikit-learn's names); "huber" takes ``delta=`` and
#: "quantile" ``levels=`` besides the common arguments.
LOSSES = {
    "squared_error": squared_loss,
    "absolute_error": absolute_loss,
    "huber": huber_loss,
    "poisson": poisson_loss,
    "quantile": pinball_loss,
    "log_loss": log_loss,
}
