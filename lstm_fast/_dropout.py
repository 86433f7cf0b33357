"""Variational dropout's masks: one per sequence, held for all its steps
(Gal & Ghahramani, 2016; Keras's ``dropout`` and ``recurrent_dropout``).

The masks are drawn here, in NumPy, once per minibatch; the kernels apply
them inside the fused steps (csrc/lstmf.h, ``x_mask`` and ``h_mask``).
"""
import numbers

import numpy as np


def check_rate(rate, name):
    """`rate` as a float in [0, 1), or a ValueError naming `name`."""
    if (isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real)
            or not 0 <= rate < 1):
        raise ValueError(f"{name} must be a number in [0, 1) (the fraction of units dropped "
                         f"while training; 0 for none), got {rate!r}")
    return float(rate)


def _mask(rng, shape, rate, dtype):
    if rate == 0:
        return None
    keep = rng.random_sample(shape) >= rate
    return keep.astype(dtype) / dtype.type(1 - rate)


def dropout_masks(random_state, batch, input_size, hidden_size, dropout=0.0,
                  recurrent_dropout=0.0, bidirectional=False, dtype=np.float32):
    """Draw variational dropout masks for one training forward of a layer.

    Parameters
    ----------
    random_state : None, int or numpy.random.RandomState
        Where the masks come from (scikit-learn's convention).
    batch, input_size, hidden_size : int
        B, D and H of the layer's call.
    dropout : float in [0, 1), default=0.0
        Fraction of each sequence's input features dropped (the same ones
        at every step).
    recurrent_dropout : float in [0, 1), default=0.0
        Fraction of the units of ``h_{t-1}`` dropped where ``W_hh`` reads
        them (the same ones at every step).
    bidirectional : bool, default=False
        One mask per direction: shapes (2, B, D) and (2, B, H).
    dtype : float32 or float64

    Returns
    -------
    x_mask : ndarray of shape (B, D) or (2, B, D), or None
        0 for a dropped feature, ``1 / (1 - dropout)`` for a kept one
        (inverted dropout: inference needs no scaling); None if `dropout`
        is 0.
    h_mask : ndarray of shape (B, H) or (2, B, H), or None
        Likewise for `recurrent_dropout`.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_fast.layers import LSTM, dropout_masks
    >>> layer = LSTM(input_size=3, hidden_size=4, random_state=0)
    >>> masks = dropout_masks(0, batch=2, input_size=3, hidden_size=4, dropout=0.5)
    >>> masks[0]
    array([[2., 2., 2.],
           [2., 0., 2.]], dtype=float32)
    >>> Y, (h_n, c_n), cache = layer.forward(np.ones((2, 5, 3)), training=True,
    ...                                      dropout_masks=masks)
    """
    from sklearn.utils import check_random_state  # the layers load without it otherwise

    rng = check_random_state(random_state)
    dtype = np.dtype(dtype)
    rate = check_rate(dropout, "dropout")
    recurrent_rate = check_rate(recurrent_dropout, "recurrent_dropout")
    lead = (2, batch) if bidirectional else (batch,)
    return (_mask(rng, lead + (input_size,), rate, dtype),
            _mask(rng, lead + (hidden_size,), recurrent_rate, dtype))
