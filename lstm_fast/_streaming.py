"""Streaming inference: a fitted estimator fed one observation at a time.

The stream carries every layer's state between calls; each ``step`` is one
call into C (all layers and the head; the GIL released when the step is long
enough for other threads to use it) on buffers made once, so stepping
through a sequence costs microseconds per observation.
"""

import numpy as np

from . import _core
from ._layer_base import check_memory


def check_stream_memory(network, n_streams):
    """MemoryError, before anything is allocated, if a stream of n_streams
    sequences through `network` needs more memory than is available: per
    layer what one step of the kernels writes and works in (for k
    sequences of one step: the new state beside the old one, c, and the
    workspace), the input converted to the network's dtype, and the head's
    output.

    Parameters
    ----------
    network : RecurrentNetwork
    n_streams : int

    Raises
    ------
    MemoryError
    """
    what, advice = f"stream(n_streams={n_streams})", "use fewer streams"
    k, n_bytes = int(n_streams), 0
    width = network.n_features
    try:
        for layer in network.layers:
            size = _core.call_bytes(layer._cell, network.dtype, (k, 1, width),
                                    layer.hidden_size, mode="inference", want=True)
            n_bytes += size["output"] + size["workspace"]
            width = layer.hidden_size
    except MemoryError:
        raise MemoryError(f"{what} needs buffers beyond what 64-bit sizes can count: "
                          f"{advice}") from None
    n_bytes += k * (network.n_features + network.n_outputs) * network.dtype.itemsize
    check_memory(n_bytes, what, advice)


class Stream:
    """k parallel streams through a fitted estimator, one step at a time.

    Made by ``est.stream(n_streams)``; the weights are copied (packed) when
    the stream is made, so refitting the estimator does not change it.

    Attributes
    ----------
    n_streams : int
    n_features : int
    state : list of tuple
        Per layer, ``(h, c)`` (LSTM) or ``(h,)``: copies of the current
        states, each (n_streams, hidden). Assign a list of the same shapes
        to set them.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_fast import LSTMRegressor
    >>> X = np.random.default_rng(0).standard_normal((64, 10, 2))
    >>> est = LSTMRegressor((8,), output="sequence", max_iter=2,
    ...                     random_state=0).fit(X, X.sum(axis=2))
    >>> s = est.stream()
    >>> y0 = s.step(X[0, 0])            # one observation in, one prediction out
    >>> s.reset()                        # back to the zero state
    """

    def __init__(self, estimator, n_streams):
        network = estimator.network_
        if network.bidirectional:
            raise ValueError("a bidirectional model needs the whole sequence (its reverse "
                             "direction reads the future): it cannot be streamed; use "
                             "predict on complete sequences")
        if isinstance(n_streams, bool) or not isinstance(n_streams, (int, np.integer)) \
                or n_streams < 1:
            raise ValueError(f"n_streams must be a positive integer, got {n_streams!r}")
        check_stream_memory(network, n_streams)
        self._estimator = estimator
        self._dtype = network.dtype
        self.n_streams = int(n_streams)
        self.n_features = network.n_features
        # Copies: the stream keeps the weights it was made with (a quantized
        # model's reduced ones, which it never changes).
        if network.precision is None:
            layers = [(layer._cell, *(w.copy() for w in layer._weights()))
                      for layer in network.layers]
        else:
            layers = [layer._reduced[0].stream_layer(layer._cell) for layer in network.layers]
        self._core = _core.Stream(layers, network.coef.copy(), network.intercept.copy(),
                                  self.n_streams)
        # A regressor whose one head column is its prediction (one output,
        # no output activation) gives that plain float per step.
        self._scalar = getattr(estimator, "_scalar_head", False)

    def _raw(self, x):
        # The common cases (a float32 or float64 array, C-contiguous) go
        # straight to C, which checks shape and contiguity, converts the
        # dtype and checks for NaN; _refused takes the rest.
        try:
            return self._core.step(x), x.ndim == 1
        except (TypeError, ValueError) as error:
            return self._refused(x, error)

    def _refused(self, x, error):
        # C refused x: NaN or infinity stays an error; anything else
        # array-like is converted (or its shape explained) here.
        if isinstance(error, ValueError) and "NaN" in str(error):
            raise error
        x = np.asarray(x, dtype=self._dtype)
        single = x.ndim == 1
        x2 = x.reshape(1, -1) if single else x
        if x2.shape != (self.n_streams, self.n_features):
            shape = f"({self.n_features},) or " if self.n_streams == 1 else ""
            raise ValueError(f"x must have shape {shape}({self.n_streams}, {self.n_features}), "
                             f"got {x.shape}")
        return self._core.step(np.ascontiguousarray(x2)), single

    def step(self, x):
        """Feed one observation per stream; returns the prediction for it.

        Parameters
        ----------
        x : array-like, shape (n_features,) or (n_streams, n_features)

        Returns
        -------
        y : float, ndarray or label
            What ``predict`` gives for one step: a value (or one per output)
            for a regressor, a class label for a classifier; with a leading
            axis of n_streams when x had one.
        """
        try:  # _raw inlined: its call is a tenth of a step
            out, single = self._core.step(x), x.ndim == 1
        except (TypeError, ValueError) as error:
            out, single = self._refused(x, error)
        if single and self._scalar:
            return float(out[0, 0])
        y = self._estimator._stream_prediction(out)
        return y[0] if single else y

    def step_proba(self, x):
        """Feed one observation per stream; returns class probabilities
        (classifiers only), shape (n_classes,) or (n_streams, n_classes)."""
        if not hasattr(self._estimator, "classes_"):
            raise AttributeError("step_proba is for classifiers")
        out, single = self._raw(x)
        proba = self._estimator._output_activation(out.astype(np.float64))
        return proba[0] if single else proba

    def reset(self):
        """Every stream back to the zero initial state."""
        for state in self._core.states():
            for array in state:
                if array is not None:
                    array[...] = 0

    @property
    def state(self):
        return [tuple(a.copy() for a in s if a is not None) for s in self._core.states()]

    @state.setter
    def state(self, value):
        current = [tuple(a for a in s if a is not None) for s in self._core.states()]
        if len(value) != len(current) or any(len(v) != len(c) for v, c in zip(value, current)):
            raise ValueError(f"state must be a list of {len(current)} tuples shaped like "
                             f"stream.state")
        new = [[np.asarray(a, dtype=self._dtype) for a in v] for v in value]
        for v, c in zip(new, current):
            for a, b in zip(v, c):
                if a.shape != b.shape:
                    raise ValueError(f"a state has shape {a.shape}, expected {b.shape}")
        for v, c in zip(new, current):  # all checked: now assign
            for a, b in zip(v, c):
                b[...] = a
