"""Stochastic optimizers that update one flat parameter buffer in place.

Like ``sklearn/neural_network/_stochastic_optimizers.py``, but the network
keeps all its parameters in one contiguous array (lstm_fast/_network.py), so
an update is one pass over that array, whatever the number of layers: a
kernel call for Adam (csrc/optim.h), a few in-place ufuncs for SGD; no
Python loop over parameters, no temporaries.
"""

import numpy as np

from . import _core

__all__ = ["AdamOptimizer", "SGDOptimizer", "clip_grad_norm"]


def clip_grad_norm(grad, max_norm):
    """Scale `grad` in place so that its Euclidean norm is at most `max_norm`.

    Parameters
    ----------
    grad : ndarray, 1-D
        The flat gradient of all parameters (global-norm clipping).
    max_norm : float or None
        None disables clipping.

    Returns
    -------
    norm : float
        The norm before clipping: inf or nan only if an entry of `grad` is.

    Notes
    -----
    The sum of squares is accumulated in float64, so a float32 gradient
    whose squares overflow float32 (entries above ~1.8e19) is still clipped
    (it would otherwise pass unclipped and blow the parameters up); only
    when even float64 overflows or underflows is the norm computed from
    the gradient scaled by its largest entry.
    """
    norm = float(np.sqrt(np.einsum("i,i->", grad, grad, dtype=np.float64)))
    if not 1e-150 < norm < 1e150 and not np.isnan(norm):  # 0, tiny, huge or inf
        largest = float(np.max(np.abs(grad)))
        if 0 < largest < np.inf:
            scaled = grad / grad.dtype.type(largest)
            norm = largest * float(np.sqrt(np.einsum("i,i->", scaled, scaled,
                                                     dtype=np.float64)))
    if max_norm is not None and np.isfinite(norm) and norm > max_norm:
        grad *= grad.dtype.type(max_norm / norm)
    return norm


class SGDOptimizer:
    """SGD with (heavy-ball) momentum: ``v = momentum * v - lr * g; p += v``.

    Parameters
    ----------
    params : ndarray, 1-D
        The flat parameter buffer, updated in place by :meth:`update`.
    learning_rate_init : float
    momentum : float in [0, 1]
    """

    def __init__(self, params, learning_rate_init=0.1, momentum=0.9):
        self.learning_rate = float(learning_rate_init)
        self.momentum = float(momentum)
        self.velocity = np.zeros_like(params)
        self.t = 0

    def update(self, params, grad):
        """One step on `params` (in place) from the flat gradient `grad`."""
        self.t += 1
        dtype = params.dtype.type
        if self.momentum:
            self.velocity *= dtype(self.momentum)
            self.velocity -= dtype(self.learning_rate) * grad
            params += self.velocity
        else:
            params -= dtype(self.learning_rate) * grad


class AdamOptimizer:
    """Adam (Kingma & Ba, 2014) in the form scikit-learn's MLP uses.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.

    Parameters
    ----------
    params : ndarray, 1-D
        The flat parameter buffer, updated in place by :meth:`update`.
    learning_rate_init, beta_1, beta_2, epsilon : float
    """

    def __init__(self, params, learning_rate_init=1e-3, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8):
        self.learning_rate_init = float(learning_rate_init)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.ms = np.zeros_like(params)
        self.vs = np.zeros_like(params)

    def update(self, params, grad):
        """One step on `params` (in place) from the flat gradient `grad`.

        One pass over the parameters (csrc/optim.h), each value rounded to
        the parameters' dtype as NumPy's in-place ufuncs would round it in
        twelve passes: ``m = b1*m + (1 - b1)*g``, ``v = b2*v + (1 - b2)*g*g``,
        ``p -= m / (sqrt(v) + eps) * lr_t``.
        """
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        lr = self.learning_rate_init * np.sqrt(1.0 - b2 ** self.t) / (1.0 - b1 ** self.t)
        _core.adam_step(params, grad, self.ms, self.vs, b1, b2, self.epsilon, float(lr))

    def __setstate__(self, state):
        state.pop("_scratch", None)  # pickled by versions that kept a scratch buffer
        self.__dict__.update(state)
