"""Plain NumPy reference implementation of the LSTM layer.

This module is the *oracle* for the tests and the *baseline* for the
benchmarks of :mod:`lstm_fast`. It is written to be read, not to be fast: the
time loop is an ordinary Python ``for`` loop, every step is vectorised over the
batch, and the backward pass is textbook backpropagation through time. Nothing
in the package uses it at run time.

The math is exactly that of :class:`torch.nn.LSTM` (gate order i, f, g, o and
PyTorch's weight layout)::

    z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh      (4H rows: i, f, g, o)
    i = sigmoid(z_i)   f = sigmoid(z_f)   g = tanh(z_g)   o = sigmoid(z_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Sequences of different lengths are supported: sample ``b`` stops updating
after ``lengths[b]`` steps, its outputs after that are zero (as with
``torch.nn.utils.rnn.pad_packed_sequence``) and its final state is the state
after its own last step.
"""

import functools
from dataclasses import dataclass

import numpy as np

from ._layer_base import GRUBase, LSTMBase, RNNBase

__all__ = ["LSTM", "GRU", "RNN"]


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))`` that never overflows.

    Parameters
    ----------
    x : ndarray
        Input array (floating point).

    Returns
    -------
    ndarray
        ``sigmoid(x)``, same shape and dtype as `x`.

    Notes
    -----
    ``exp`` is only ever evaluated at ``-|x|``, so it lies in ``(0, 1]`` and
    cannot overflow; ``x >= 0`` uses ``1 / (1 + e)`` and ``x < 0`` uses
    ``e / (1 + e)`` with ``e = exp(-|x|)``.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _live_steps(lengths, B, T):
    """Boolean (B, T): True where step t is inside sequence b."""
    return np.broadcast_to(np.arange(T) < (T if lengths is None else lengths[:, None]), (B, T))


def _reverse_in_time(A, lengths):
    """A (B, T, ...) with each sample's first lengths[b] steps in reverse
    order; padded steps stay where they are."""
    B, T = A.shape[:2]
    L = np.full(B, T) if lengths is None else lengths
    t = np.arange(T)
    order = np.where(t < L[:, None], L[:, None] - 1 - t, t)
    return A[np.arange(B)[:, None], order]


def _optional_sequences(forward):
    """A layer's forward with the kernels' ``return_sequences`` keyword:
    the reference computes Y anyway, and returns None in its place when
    the keyword is False."""
    @functools.wraps(forward)
    def with_option(self, *args, return_sequences=True, **kwargs):
        result = forward(self, *args, **kwargs)
        return result if return_sequences else (None, *result[1:])
    return with_option


def _with_input_gradient(grads, wanted, dZ, weight_ih, x_mask=1.0):
    """grads with ``'X'`` = dZ (B, T, G*H) times W_ih (times the dropout
    mask on x), if wanted."""
    if wanted:
        grads["X"] = (dZ @ weight_ih) * x_mask
    return grads


def _masks(dropout_masks, B, D, H, dtype):
    """Dropout's (x_mask, h_mask) as factors: x_mask (B, 1, D) for X,
    h_mask (B, H) for h_{t-1} where W_hh reads it; 1.0 for none."""
    x_mask, h_mask = (None, None) if dropout_masks is None else dropout_masks
    x_factor = 1.0 if x_mask is None else np.asarray(x_mask, dtype).reshape(B, 1, D)
    h_factor = 1.0 if h_mask is None else np.asarray(h_mask, dtype).reshape(B, H)
    return x_factor, h_factor


def _masked_h_prev(cache):
    """h_{t-1} of every step as W_hh read it: times the dropout mask."""
    mask = cache.h_mask
    return cache.h_prev * (mask if np.isscalar(mask) else mask[:, None, :])


@dataclass(frozen=True)
class _BidirectionalCache:
    caches: tuple
    lengths: object


class _Bidirectional:
    """A bidirectional layer, the plain way: the reverse direction is the same
    layer run on each sequence reversed within its own length, and its
    outputs are reversed back; outputs are concatenated, states stacked
    (direction first), as torch does."""

    def _states(self):
        return ("h0", "c0") if isinstance(self, LSTMBase) else ("h0",)

    def _bidirectional_forward(self, X, states, lengths, training, dropout_masks=None):
        X = self._input(X)
        B, T, _ = X.shape
        lengths = self._lengths(lengths, B, T)
        states = [None if s is None else self._initial_state(s, n, B)
                  for s, n in zip(states, self._states())]
        outs = []
        for d in (0, 1):
            Xd = X if d == 0 else _reverse_in_time(X, lengths)
            args = [None if s is None else s[d] for s in states]
            masks = None if dropout_masks is None else tuple(
                None if m is None else np.asarray(m)[d] for m in dropout_masks)
            outs.append(self._direction(d).forward(Xd, *args, lengths=lengths,
                                                    training=training, dropout_masks=masks))
        Y = np.concatenate([outs[0][0], _reverse_in_time(outs[1][0], lengths)], axis=2)
        finals = [o[1] if isinstance(o[1], tuple) else (o[1],) for o in outs]
        final = tuple(np.stack(pair) for pair in zip(*finals))
        final = final if len(final) > 1 else final[0]
        if training:
            return Y, final, _BidirectionalCache((outs[0][2], outs[1][2]), lengths)
        return Y, final

    def _bidirectional_backward(self, cache, dY, finals, input_gradient):
        if not isinstance(cache, _BidirectionalCache):
            raise TypeError("cache must be the one returned by forward(..., training=True)")
        H = self.hidden_size
        grads = {}
        for d, suffix in enumerate(("", "_reverse")):
            dYd = None if dY is None else np.asarray(dY)[..., d * H:(d + 1) * H]
            if d == 1 and dYd is not None:
                dYd = _reverse_in_time(dYd, cache.lengths)
            args = [None if f is None else np.asarray(f)[d] for f in finals]
            g = self._direction(d).backward(cache.caches[d], dYd, *args,
                                            input_gradient=input_gradient)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                grads[name + suffix] = g[name]
            if input_gradient:
                dX = g["X"] if d == 0 else _reverse_in_time(g["X"], cache.lengths)
                grads["X"] = dX if d == 0 else grads["X"] + dX
            for state in self._states():
                grads.setdefault(state, []).append(g[state])
        for state in self._states():
            grads[state] = np.stack(grads[state])
        return grads


@dataclass(frozen=True)
class _Cache:
    """What :meth:`LSTM.backward` needs from a training-mode forward pass.

    Attributes
    ----------
    X : ndarray, shape (B, T, D)
        The input sequence (in the layer's dtype).
    h_prev, c_prev : ndarray, shape (B, T, H)
        State entering each step: ``h_prev[:, t]`` is :math:`h_{t-1}`.
    gates : ndarray, shape (B, T, 4H)
        Activated gates ``[i, f, g, o]`` of each step.
    tanh_c : ndarray, shape (B, T, H)
        ``tanh(c_t)`` of each step.
    mask : ndarray of bool, shape (B, T)
        ``mask[b, t]`` is True while ``t < lengths[b]``.
    x_mask, h_mask : ndarray or float
        Dropout's factors on x and on h_{t-1} where W_hh reads it (1.0:
        none); X is already times x_mask.
    """

    X: np.ndarray
    h_prev: np.ndarray
    c_prev: np.ndarray
    gates: np.ndarray
    tanh_c: np.ndarray
    mask: np.ndarray
    x_mask: object = 1.0
    h_mask: object = 1.0


class LSTM(_Bidirectional, LSTMBase):
    """One LSTM layer (unidirectional, batch first), in plain NumPy.

    Parameters
    ----------
    input_size : int
        Number of input features ``D``.
    hidden_size : int
        Number of hidden units ``H``.
    dtype : numpy dtype, default=np.float32
        Floating-point type of the parameters and of all computations.
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        Seed or generator for the initial weights. Like ``torch.nn.LSTM``,
        every parameter is drawn from ``uniform(-1/sqrt(H), 1/sqrt(H))``, in
        the order ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``.

    Attributes
    ----------
    weight_ih : ndarray, shape (4H, D)
        Input-to-hidden weights, gate blocks in order i, f, g, o.
    weight_hh : ndarray, shape (4H, H)
        Hidden-to-hidden weights, gate blocks in order i, f, g, o.
    bias_ih, bias_hh : ndarray, shape (4H,)
        The two biases (kept separate, as in PyTorch).
    input_size, hidden_size : int
    dtype : numpy.dtype

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_fast.reference import LSTM
    >>> layer = LSTM(3, 5, random_state=0)
    >>> X = np.ones((2, 4, 3), dtype=np.float32)
    >>> Y, (h_n, c_n), cache = layer.forward(X, training=True)
    >>> Y.shape, h_n.shape
    ((2, 4, 5), (2, 5))
    >>> grads = layer.backward(cache, dY=np.ones_like(Y))
    >>> grads["weight_ih"].shape
    (20, 3)
    """

    # ------------------------------------------------------------------ forward

    @_optional_sequences
    def forward(self, X, h0=None, c0=None, lengths=None, training=False, dropout_masks=None):
        """Run the layer over a batch of sequences.

        Parameters
        ----------
        X : array-like, shape (B, T, D)
            Input sequences, batch first.
        h0, c0 : array-like, shape (B, H), optional
            Initial hidden and cell states; None means zeros.
        lengths : array-like of int, shape (B,), optional
            Length of each sequence, ``1 <= lengths[b] <= T``; None means
            every sequence has length ``T``.
        training : bool, default=False
            If True, also return the cache needed by :meth:`backward`.
        dropout_masks : tuple (x_mask, h_mask), optional
            Variational dropout's per-sample masks, as in
            :meth:`lstm_fast.layers.LSTM.forward`.
        return_sequences : bool, default=True
            If False, return None in place of ``Y`` (as the kernels' layers
            do, which then skip computing it).

        Returns
        -------
        Y : ndarray, shape (B, T, H), or None
            Hidden state after every step; ``Y[b, t] = 0`` for
            ``t >= lengths[b]``.
        (h_n, c_n) : tuple of ndarray, each shape (B, H)
            Final states: for sample ``b``, the state after step
            ``lengths[b] - 1``.
        cache : object
            Only when `training` is True: opaque object for :meth:`backward`.

        Raises
        ------
        ValueError
            If an input has the wrong shape or `lengths` is out of range.
        """
        if self.bidirectional:
            return self._bidirectional_forward(X, (h0, c0), lengths, training, dropout_masks)
        X = self._input(X)
        B, T, _ = X.shape
        H = self.hidden_size
        h = self._initial_state(h0, "h0", B)
        c = self._initial_state(c0, "c0", B)
        lengths = self._lengths(lengths, B, T)
        mask = _live_steps(lengths, B, T)
        x_mask, h_mask = _masks(dropout_masks, B, self.input_size, H, self.dtype)
        X = X * x_mask

        # The input projection of all time steps at once; both biases folded in.
        XW = X @ self.weight_ih.T + (self.bias_ih + self.bias_hh)  # (B, T, 4H)
        W_hh_T = self.weight_hh.T

        Y = np.zeros((B, T, H), dtype=self.dtype)
        if training:
            h_prev = np.empty((B, T, H), dtype=self.dtype)
            c_prev = np.empty((B, T, H), dtype=self.dtype)
            gates = np.empty((B, T, 4 * H), dtype=self.dtype)
            tanh_c = np.empty((B, T, H), dtype=self.dtype)

        for t in range(T):
            z = XW[:, t] + (h * h_mask) @ W_hh_T
            i = sigmoid(z[:, 0 * H:1 * H])
            f = sigmoid(z[:, 1 * H:2 * H])
            g = np.tanh(z[:, 2 * H:3 * H])
            o = sigmoid(z[:, 3 * H:4 * H])
            c_new = f * c + i * g
            tanh_c_new = np.tanh(c_new)
            h_new = o * tanh_c_new

            if training:
                h_prev[:, t] = h
                c_prev[:, t] = c
                gates[:, t] = np.concatenate([i, f, g, o], axis=1)
                tanh_c[:, t] = tanh_c_new

            # Finished sequences keep their state and output zeros.
            active = mask[:, t, None]
            h = np.where(active, h_new, h)
            c = np.where(active, c_new, c)
            Y[:, t] = np.where(active, h_new, 0)

        if training:
            cache = _Cache(X, h_prev, c_prev, gates, tanh_c, mask, x_mask, h_mask)
            return Y, (h, c), cache
        return Y, (h, c)

    # ----------------------------------------------------------------- backward

    def backward(self, cache, dY=None, dh_n=None, dc_n=None, *, input_gradient=True):
        """Backpropagation through time.

        Parameters
        ----------
        cache : object
            The cache returned by ``forward(..., training=True)``. It is not
            modified, so `backward` may be called several times with it.
        dY : array-like, shape (B, T, H), optional
            Gradient of the loss with respect to ``Y``; None means zeros.
            Entries at padded steps (``t >= lengths[b]``) are ignored.
        dh_n, dc_n : array-like, shape (B, H), optional
            Gradient of the loss with respect to the final states; None
            means zeros.
        input_gradient : bool, default=True
            Compute ``'X'``, the gradient with respect to the input.

        Returns
        -------
        grads : dict of ndarray
            Keys ``'weight_ih'``, ``'weight_hh'``, ``'bias_ih'``,
            ``'bias_hh'``, ``'X'`` (unless `input_gradient` is False),
            ``'h0'``, ``'c0'``: the gradient of the loss with respect to
            each, with its shape.

        Raises
        ------
        ValueError
            If a gradient has the wrong shape.
        """
        if self.bidirectional:
            return self._bidirectional_backward(cache, dY, (dh_n, dc_n), input_gradient)
        if not isinstance(cache, _Cache):
            raise TypeError("cache must be the one returned by forward(..., training=True)")
        X, mask = cache.X, cache.mask
        B, T, _ = X.shape
        H = self.hidden_size
        dY = self._gradient(dY, "dY", (B, T, H))
        dh = self._gradient(dh_n, "dh_n", (B, H))  # dLoss/dh_t flowing backwards
        dc = self._gradient(dc_n, "dc_n", (B, H))  # dLoss/dc_t flowing backwards

        dZ = np.zeros((B, T, 4 * H), dtype=self.dtype)  # dLoss/dz_t, every step
        for t in reversed(range(T)):
            active = mask[:, t, None]
            i = cache.gates[:, t, 0 * H:1 * H]
            f = cache.gates[:, t, 1 * H:2 * H]
            g = cache.gates[:, t, 2 * H:3 * H]
            o = cache.gates[:, t, 3 * H:4 * H]
            tanh_c = cache.tanh_c[:, t]

            dh_t = dh + np.where(active, dY[:, t], 0)
            dc_t = dc + dh_t * o * (1 - tanh_c**2)
            dz_i = dc_t * g * i * (1 - i)
            dz_f = dc_t * cache.c_prev[:, t] * f * (1 - f)
            dz_g = dc_t * i * (1 - g**2)
            dz_o = dh_t * tanh_c * o * (1 - o)
            dz = np.concatenate([dz_i, dz_f, dz_g, dz_o], axis=1)
            dz = np.where(active, dz, 0)  # padded steps contribute nothing
            dZ[:, t] = dz

            # Finished sequences pass their state gradient through unchanged.
            dh = np.where(active, (dz @ self.weight_hh) * cache.h_mask, dh)
            dc = np.where(active, dc_t * f, dc)

        # Weight gradients and dX: one product over all (sample, step) pairs.
        dZ_2d = dZ.reshape(B * T, 4 * H)
        dbias = dZ_2d.sum(axis=0)
        grads = {
            "weight_ih": dZ_2d.T @ X.reshape(B * T, self.input_size),
            "weight_hh": dZ_2d.T @ _masked_h_prev(cache).reshape(B * T, H),
            "bias_ih": dbias,
            "bias_hh": dbias.copy(),
            "h0": dh,
            "c0": dc,
        }
        return _with_input_gradient(grads, input_gradient, dZ, self.weight_ih, cache.x_mask)


@dataclass(frozen=True)
class _GRUCache:
    """What :meth:`GRU.backward` needs: inputs, h_{t-1}, the gates r, z, n
    and ``W_hn h_{t-1} + b_hn`` of every step, and the mask of live steps."""

    X: np.ndarray
    h_prev: np.ndarray
    r: np.ndarray
    z: np.ndarray
    n: np.ndarray
    hn: np.ndarray
    mask: np.ndarray
    x_mask: object = 1.0
    h_mask: object = 1.0


class GRU(_Bidirectional, GRUBase):
    """One GRU layer in plain NumPy, exactly as ``torch.nn.GRU``::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    Same API as :class:`lstm_fast.layers.GRU`.
    """

    @_optional_sequences
    def forward(self, X, h0=None, lengths=None, training=False, dropout_masks=None):
        """Run the layer; returns ``(Y, h_n)``, plus a cache when training."""
        if self.bidirectional:
            return self._bidirectional_forward(X, (h0,), lengths, training, dropout_masks)
        X = self._input(X)
        B, T, _ = X.shape
        H = self.hidden_size
        h = self._initial_state(h0, "h0", B)
        lengths = self._lengths(lengths, B, T)
        mask = _live_steps(lengths, B, T)
        x_mask, h_mask = _masks(dropout_masks, B, self.input_size, H, self.dtype)
        X = X * x_mask

        XW = X @ self.weight_ih.T + self.bias_ih  # (B, T, 3H): x_r, x_z, x_n
        Y = np.zeros((B, T, H), dtype=self.dtype)
        saved = {k: np.empty((B, T, H), dtype=self.dtype) for k in ("h_prev", "r", "z", "n", "hn")}
        for t in range(T):
            hW = (h * h_mask) @ self.weight_hh.T + self.bias_hh  # (B, 3H)
            r = sigmoid(XW[:, t, :H] + hW[:, :H])
            z = sigmoid(XW[:, t, H:2 * H] + hW[:, H:2 * H])
            hn = hW[:, 2 * H:]
            n = np.tanh(XW[:, t, 2 * H:] + r * hn)
            h_new = (1 - z) * n + z * h
            for key, value in (("h_prev", h), ("r", r), ("z", z), ("n", n), ("hn", hn)):
                saved[key][:, t] = value
            active = mask[:, t, None]
            h = np.where(active, h_new, h)
            Y[:, t] = np.where(active, h_new, 0)
        if training:
            return Y, h, _GRUCache(X, mask=mask, x_mask=x_mask, h_mask=h_mask, **saved)
        return Y, h

    def backward(self, cache, dY=None, dh_n=None, *, input_gradient=True):
        """Backpropagation through time; returns the gradients by name."""
        if self.bidirectional:
            return self._bidirectional_backward(cache, dY, (dh_n,), input_gradient)
        if not isinstance(cache, _GRUCache):
            raise TypeError("cache must be the one returned by forward(..., training=True)")
        X, mask = cache.X, cache.mask
        B, T, D = X.shape
        H = self.hidden_size
        dY = self._gradient(dY, "dY", (B, T, H))
        dh = self._gradient(dh_n, "dh_n", (B, H))
        dZx = np.zeros((B, T, 3 * H), dtype=self.dtype)  # d(W_ih x + b_ih)
        dZh = np.zeros((B, T, 3 * H), dtype=self.dtype)  # d(W_hh h + b_hh)
        for t in reversed(range(T)):
            active = mask[:, t, None]
            r, z, n, hn = cache.r[:, t], cache.z[:, t], cache.n[:, t], cache.hn[:, t]
            dh_t = dh + dY[:, t]
            dn = dh_t * (1 - z) * (1 - n**2)
            dr = dn * hn * r * (1 - r)
            dz = dh_t * (cache.h_prev[:, t] - n) * z * (1 - z)
            dzx = np.where(active, np.concatenate([dr, dz, dn], axis=1), 0)
            dzh = np.where(active, np.concatenate([dr, dz, dn * r], axis=1), 0)
            dZx[:, t], dZh[:, t] = dzx, dzh
            dh = np.where(active, (dzh @ self.weight_hh) * cache.h_mask + dh_t * z, dh)
        dZx_2d, dZh_2d = dZx.reshape(B * T, 3 * H), dZh.reshape(B * T, 3 * H)
        grads = {
            "weight_ih": dZx_2d.T @ X.reshape(B * T, D),
            "weight_hh": dZh_2d.T @ _masked_h_prev(cache).reshape(B * T, H),
            "bias_ih": dZx_2d.sum(axis=0),
            "bias_hh": dZh_2d.sum(axis=0),
            "h0": dh,
        }
        return _with_input_gradient(grads, input_gradient, dZx, self.weight_ih, cache.x_mask)


@dataclass(frozen=True)
class _RNNCache:
    """What :meth:`RNN.backward` needs: inputs, h_{t-1} and h_t of every
    step, and the (B, T) mask of live steps."""

    X: np.ndarray
    h_prev: np.ndarray
    h: np.ndarray
    mask: np.ndarray
    x_mask: object = 1.0
    h_mask: object = 1.0


class RNN(_Bidirectional, RNNBase):
    """One plain (Elman) RNN layer, in plain NumPy.

    ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, ``act`` tanh or
    relu, as ``torch.nn.RNN``. Same API as :class:`lstm_fast.layers.RNN`.
    """

    def _act(self, z):
        return np.tanh(z) if self.nonlinearity == "tanh" else np.maximum(z, 0)

    def _act_grad(self, h):
        """act'(z) from h = act(z)."""
        return 1 - h**2 if self.nonlinearity == "tanh" else (h > 0).astype(h.dtype)

    @_optional_sequences
    def forward(self, X, h0=None, lengths=None, training=False, dropout_masks=None):
        """Run the layer; returns ``(Y, h_n)``, plus a cache when training."""
        if self.bidirectional:
            return self._bidirectional_forward(X, (h0,), lengths, training, dropout_masks)
        X = self._input(X)
        B, T, _ = X.shape
        H = self.hidden_size
        h = self._initial_state(h0, "h0", B)
        lengths = self._lengths(lengths, B, T)
        mask = _live_steps(lengths, B, T)
        x_mask, h_mask = _masks(dropout_masks, B, self.input_size, H, self.dtype)
        X = X * x_mask

        XW = X @ self.weight_ih.T + (self.bias_ih + self.bias_hh)
        Y = np.zeros((B, T, H), dtype=self.dtype)
        h_prev = np.empty((B, T, H), dtype=self.dtype)
        h_all = np.empty((B, T, H), dtype=self.dtype)
        for t in range(T):
            h_new = self._act(XW[:, t] + (h * h_mask) @ self.weight_hh.T)
            h_prev[:, t] = h
            h_all[:, t] = h_new
            active = mask[:, t, None]
            h = np.where(active, h_new, h)
            Y[:, t] = np.where(active, h_new, 0)
        if training:
            return Y, h, _RNNCache(X, h_prev, h_all, mask, x_mask, h_mask)
        return Y, h

    def backward(self, cache, dY=None, dh_n=None, *, input_gradient=True):
        """Backpropagation through time; returns the gradients by name."""
        if self.bidirectional:
            return self._bidirectional_backward(cache, dY, (dh_n,), input_gradient)
        if not isinstance(cache, _RNNCache):
            raise TypeError("cache must be the one returned by forward(..., training=True)")
        X, mask = cache.X, cache.mask
        B, T, D = X.shape
        H = self.hidden_size
        dY = self._gradient(dY, "dY", (B, T, H))
        dh = self._gradient(dh_n, "dh_n", (B, H))
        dZ = np.zeros((B, T, H), dtype=self.dtype)
        for t in reversed(range(T)):
            active = mask[:, t, None]
            dz = np.where(active, (dh + dY[:, t]) * self._act_grad(cache.h[:, t]), 0)
            dZ[:, t] = dz
            dh = np.where(active, (dz @ self.weight_hh) * cache.h_mask, dh)
        dZ_2d = dZ.reshape(B * T, H)
        dbias = dZ_2d.sum(axis=0)
        grads = {
            "weight_ih": dZ_2d.T @ X.reshape(B * T, D),
            "weight_hh": dZ_2d.T @ _masked_h_prev(cache).reshape(B * T, H),
            "bias_ih": dbias,
            "bias_hh": dbias.copy(),
            "h0": dh,
        }
        return _with_input_gradient(grads, input_gradient, dZ, self.weight_ih, cache.x_mask)
