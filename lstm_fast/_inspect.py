"""Looking inside a fitted network: what its gates did, and how the gradient
flowed back through time. Both come from the C kernels' own training
passes, not from a re-implementation."""

from dataclasses import dataclass

import numpy as np


@dataclass
class Trace:
    """Gate activations and states at every step, per layer.

    Attributes
    ----------
    layers : list of dict
        Bottom layer first; each maps a name to an array (n_samples,
        n_timesteps, hidden) (hidden doubled for bidirectional layers, the
        forward direction first), NaN at padded steps. LSTM: ``i, f, g, o``
        (input, forget, cell-candidate and output gates), ``c``, ``h``; GRU:
        ``r, z, n``, ``h``; RNN: ``h``.
    lengths : ndarray of int or None
        Each sequence's length (None: all n_timesteps).
    cell : str
    """

    layers: list
    lengths: object
    cell: str


@dataclass
class GradientFlow:
    """How far the training signal reaches back: the norm, over samples and
    units, of dLoss/dh_t (and dLoss/dc_t) at every step t, per layer.

    Attributes
    ----------
    h_norm : list of ndarray
        Per layer, shape (n_timesteps,), or (2, n_timesteps) for a
        bidirectional layer (forward direction first).
    c_norm : list of ndarray or None
        The same for the LSTM's cell state; None for other cells.
    loss : float
        The loss whose gradient this is (without the L2 penalty).
    """

    h_norm: list
    c_norm: object
    loss: float


def step_norms(grad, directions):
    """(n, T, directions*H) -> norm over samples and units per step:
    (T,) or (directions, T)."""
    n, T, width = grad.shape
    per_direction = grad.reshape(n, T, directions, width // directions)
    # Squared in float64: float32 squares of gradients below about 1e-19
    # underflow to zero, and the norm would read 0 where the gradient is not.
    norms = np.sqrt(np.einsum("ntdh,ntdh->dt", per_direction, per_direction,
                              dtype=np.float64))
    return norms[0] if directions == 1 else norms
