"""Recurrent layers computed by the C kernels, on NumPy arrays.

The layers take and return NumPy arrays, batch first, with PyTorch's weight
layout, so a ``torch.nn.LSTM``, ``torch.nn.GRU`` or ``torch.nn.RNN`` state
dict loads without reshuffling (``from_torch``). :mod:`lstm_fast.reference` holds the same
layers in plain NumPy.
"""

import copy

import numpy as np

from . import _core
from ._dropout import dropout_masks
from ._quantize import ReducedWeights, check_precision, warn_if_slow
from ._layer_base import _CHECK_MEMORY_ABOVE, PARAMS, GRUBase, LSTMBase, RNNBase, check_memory

__all__ = ["LSTM", "GRU", "RNN", "dropout_masks"]


def _aligned_empty(n_elements, dtype, alignment=64):
    """An uninitialised 1-D array whose data starts on an `alignment`-byte
    boundary (numpy's own allocations guarantee 16): the kernels write the
    training cache with whole-vector non-temporal stores, which need aligned
    addresses (csrc/simd/vec.h, vstream_upto)."""
    dtype = np.dtype(dtype)
    raw = np.empty(n_elements + alignment // dtype.itemsize, dtype)
    start = (-raw.ctypes.data % alignment) // dtype.itemsize
    return raw[start:start + n_elements]


class _KernelCache:
    """What a training forward keeps for backward: kernel-owned buffers, one
    (buffer, index) pair per direction.

    The kernels store the inputs, gate activations and states in a packed,
    time-major layout (csrc/cache_layout.h); ``backward`` overwrites the gate
    activations with their gradients, so a cache serves one backward only.
    """

    __slots__ = ("layer", "x_shape", "lengths", "buffers", "indexes", "used", "Y", "masks")

    def __init__(self, layer, x_shape, lengths, buffers, indexes, Y, masks):
        self.layer = layer
        self.x_shape = x_shape
        self.lengths = lengths
        self.buffers = buffers
        self.indexes = indexes
        self.used = False
        self.Y = Y  # the forward's output (a reference), for trace()
        self.masks = masks  # per direction: (x_mask, h_mask), dropout's, or Nones

    # The single direction's arrays, for unidirectional layers.
    @property
    def buffer(self):
        return self.buffers[0]

    @property
    def index(self):
        return self.indexes[0]


class _KernelLayer:
    """Forward and backward through the C kernels, for any cell.

    Subclasses set ``_cell`` (the kernels' name for the cell, a key of
    ``_core.CELLS``, which says the rest); their public
    ``forward``/``backward`` differ only in which states they take and
    return.
    """

    _cell = None
    #: None: the weights are of the layer's dtype; "int8" or "bfloat16": a
    #: reduced-precision copy for inference (``quantize``).
    precision = None

    @property
    def _cell_info(self):
        return _core.CELLS[self._cell]

    @property
    def _has_cell_state(self):
        return self._cell_info.has_cell_state

    def _check_dtype(self, dtype):
        if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")

    def _weights(self, d=0):
        """Direction d's four parameter arrays as the kernels need them (no
        copy if they already are C-contiguous arrays of the layer's dtype)."""
        suffix = self._suffixes()[d]
        return tuple(
            np.ascontiguousarray(getattr(self, name + suffix), dtype=self.dtype)
            for name in PARAMS
        )

    def quantize(self, precision):
        """A copy of this layer whose products use reduced-precision weights,
        for inference and streaming.

        ``"int8"``: each row of ``weight_ih`` and ``weight_hh`` quantized to
        int8 with its own scale (max |row| / 127), and at every step each
        row of the input and of h_{t-1} quantized with its own scale, the
        products summed exactly in int32 (VNNI dot products where the CPU
        has them). ``"bfloat16"``: the weights, inputs and states rounded to
        bfloat16, the products summed in float32 (AVX512-BF16 where the CPU
        has it). Gate activations, states, biases and outputs stay float32.

        Parameters
        ----------
        precision : {"int8", "bfloat16"}

        Returns
        -------
        layer
            A new layer of the same class with ``precision`` set; its
            ``weight_*`` arrays hold the values the products use
            (dequantized, float32). ``forward(..., training=True)`` and
            ``backward`` refuse it: train the float32 layer, then quantize.

        Raises
        ------
        ValueError
            For an unknown precision, a float64 layer, an already reduced
            one, or non-finite weights.

        Warns
        -----
        UserWarning
            When the CPU's dot products for this precision (AVX512-VNNI for
            int8, AVX512-BF16 for bfloat16) are not in use: the portable
            loops give the same results slower than float32 (up to
            several times).
        """
        check_precision(precision)
        if self.precision is not None:
            raise ValueError(f"this layer is already {self.precision}; quantize the float32 "
                             "layer it came from")
        if self.dtype != np.float32:
            raise ValueError(f"reduced precisions run float32 layers; this one is "
                             f"{self.dtype.name}: build it with dtype=np.float32")
        warn_if_slow(precision)
        return self._with_reduced(precision, [ReducedWeights.of(precision, *self._weights(d))
                                              for d in range(self.directions)])

    def _with_reduced(self, precision, reduced):
        """A copy of this layer over these reduced weights (one
        ReducedWeights per direction: a quantization, or a saved model's,
        whose int8 scales need not survive quantizing their dequantized
        values again)."""
        layer = copy.copy(self)
        layer.__dict__.pop("_spare", None)
        layer.precision = precision
        layer._reduced = reduced
        for d, suffix in enumerate(self._suffixes()):
            w_ih, w_hh = reduced[d].dequantized()
            for name, value in (("weight_ih", w_ih), ("weight_hh", w_hh),
                                ("bias_ih", reduced[d].b_ih), ("bias_hh", reduced[d].b_hh)):
                setattr(layer, name + suffix, np.array(value, np.float32))
        return layer

    def _kernel_weights(self, d):
        """Direction d's weights and ``_core.forward`` keywords: the
        parameters, or the reduced copies."""
        if self.precision is None:
            return self._weights(d), {}
        return self._reduced[d].kernel_args(self._cell)

    def _refuse_training(self, what):
        if self.precision is not None:
            raise ValueError(f"this layer's weights are {self.precision}, for inference: "
                             f"{what} the float32 layer, then quantize it again")

    def _run_forward(self, X, h0, c0, lengths, training, return_sequences=True,
                     dropout_masks=None):
        """Both directions of a bidirectional layer write their halves of Y
        (B, T, 2H); the reverse one runs each sequence from its own last step
        (as torch's packed sequences do). States are (2, B, H) then."""
        if training:
            self._refuse_training("train")
        X = self._input(X)
        B, T, _ = X.shape
        H = self.hidden_size
        masks = self._dropout_masks(dropout_masks, training, B)
        h0 = None if h0 is None else self._initial_state(h0, "h0", B)
        c0 = None if c0 is None else self._initial_state(c0, "c0", B)
        lengths = self._lengths(lengths, B, T)
        self._check_forward_memory(X.shape, lengths, training, return_sequences)
        Y = np.empty((B, T, self.directions * H), dtype=self.dtype) if return_sequences else None
        h_n = np.empty(self._state_shape(B), dtype=self.dtype)
        c_n = np.empty(self._state_shape(B), dtype=self.dtype) if self._has_cell_state else None
        buffers, indexes = [], []
        spare = self.__dict__.pop("_spare", [])  # atomic: no two forwards share one
        for d in range(self.directions):
            buffer = index = None
            if training:
                _, n_cache, n_index = _core.cache_sizes(self._cell, self.dtype, X.shape, H,
                                                        lengths)
                buffer = self._buffer(spare, d, n_cache)
                index = np.empty(n_index, np.int64)
                buffers.append(buffer)
                indexes.append(index)
            weights, reduced = self._kernel_weights(d)
            _core.forward(self._cell, X, *weights, self._of(h0, d), self._of(c0, d),
                          lengths, Y, self._of(h_n, d), self._of(c_n, d), buffer, index,
                          reverse=d == 1, y_offset=d * H, x_mask=masks[d][0],
                          h_mask=masks[d][1], **reduced)
        cache = (_KernelCache(self, X.shape, lengths, buffers, indexes, Y, masks)
                 if training else None)
        return Y, h_n, c_n, cache

    def _dropout_masks(self, dropout_masks, training, B):
        """Per direction, (x_mask, h_mask) as the kernels take them (Nones:
        no dropout), from the public ``dropout_masks`` argument."""
        none = [(None, None)] * self.directions
        if dropout_masks is None:
            return none
        if not training:
            raise ValueError("dropout_masks are for training: pass training=True, or no masks")
        try:
            x_mask, h_mask = dropout_masks
        except (TypeError, ValueError):
            raise ValueError("dropout_masks must be a pair (x_mask, h_mask), either of them "
                             "None") from None
        lead = (2, B) if self.bidirectional else (B,)
        checked = [self._mask(m, name, lead + (size,))
                   for m, name, size in ((x_mask, "x_mask", self.input_size),
                                         (h_mask, "h_mask", self.hidden_size))]
        return [tuple(None if m is None else (m[d] if self.bidirectional else m)
                      for m in checked) for d in range(self.directions)]

    def _mask(self, mask, name, shape):
        if mask is None:
            return None
        mask = np.ascontiguousarray(mask, dtype=self.dtype)
        if mask.shape != shape:
            raise ValueError(f"{name} must have shape {shape} (per sample"
                             f"{', per direction' if self.bidirectional else ''}), "
                             f"got {mask.shape}")
        if not np.all(np.isfinite(mask)) or np.any(mask < 0):
            raise ValueError(f"{name} must hold finite values >= 0 (0 drops a unit, "
                             "1 / (1 - rate) keeps it, for inverted dropout)")
        return mask

    def _check_forward_memory(self, x_shape, lengths, training, return_sequences):
        """MemoryError, before anything is allocated, if a forward of this
        shape needs more memory than is available: per direction its
        outputs and training cache, and the kernels' workspace of one call
        (the directions run one after the other)."""
        B, T, D = x_shape
        H = self.hidden_size
        # D + 8H bounds every cell's cached row (csrc/cache_layout.h): the
        # exact count, from the kernels, is only needed when it matters.
        n_bytes = (B * T * (self.directions * H + D + 8 * H) + 4 * B * H
                   + 8 * H * (D + H)) * self.dtype.itemsize
        if n_bytes < _CHECK_MEMORY_ABOVE:
            return
        size = _core.call_bytes(self._cell, self.dtype, x_shape, H, lengths,
                                "training" if training else "inference", return_sequences)
        check_memory(self.directions * (size["output"] + size["cache"] + size["index"])
                     + size["workspace"],
                     f"{type(self).__name__}.forward on X of shape {x_shape}"
                     f"{' (training)' if training else ''}",
                     "use fewer sequences per call, or shorter ones")

    def _of(self, state, d):
        """Direction d's part of a state array ((2, B, H) when bidirectional)."""
        return state if state is None or not self.bidirectional else state[d]

    def _run_backward(self, cache, dY, dh_n, dc_n, state_gradients, input_gradient, out):
        """The public ``backward`` of every cell. `out` (parameter name ->
        array), if given, receives the parameter gradients in place of
        fresh arrays: a network passes views of its gradient buffer, which
        the kernels then write directly."""
        if not isinstance(cache, _KernelCache) or cache.layer is not self:
            raise TypeError("cache must come from forward(..., training=True) of this layer")
        if cache.used:
            raise RuntimeError("this cache was already used by backward; run forward "
                               "with training=True again")
        B, T, D = cache.x_shape
        H = self.hidden_size
        state = self._state_shape(B)
        dY = None if dY is None else self._gradient(dY, "dY", (B, T, self.directions * H))
        dh_n = None if dh_n is None else self._gradient(dh_n, "dh_n", state)
        dc_n = None if dc_n is None else self._gradient(dc_n, "dc_n", state)
        self._check_backward_memory(cache, input_gradient, state_gradients)
        grads = self._parameter_gradients(out)
        if input_gradient:
            grads["X"] = np.empty((B, T, D), self.dtype)
        grads["h0"] = np.empty(state, self.dtype)
        if self._has_cell_state:
            grads["c0"] = np.empty(state, self.dtype)
        seqs = {}
        if state_gradients:
            names = ("h_seq", "c_seq") if self._has_cell_state else ("h_seq",)
            seqs = {name: [np.empty((B, T, H), self.dtype) for _ in self._suffixes()]
                    for name in names}
        cache.used = True
        for d, suffix in enumerate(self._suffixes()):
            dX = None
            if input_gradient:
                dX = grads["X"] if d == 0 else np.empty_like(grads["X"])
            _core.backward(self._cell, cache.x_shape, *self._weights(d), cache.buffers[d],
                           cache.indexes[d], dY, self._of(dh_n, d), self._of(dc_n, d),
                           *(grads[name + suffix] for name in PARAMS), dX,
                           self._of(grads["h0"], d), self._of(grads.get("c0"), d),
                           reverse=d == 1, y_offset=d * H, x_mask=cache.masks[d][0],
                           h_mask=cache.masks[d][1],
                           **{name: arrays[d] for name, arrays in seqs.items()})
            if d == 1 and input_gradient:
                grads["X"] += dX
        for name, arrays in seqs.items():  # directions side by side, as in Y
            grads[name] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=2)
        self._spare = cache.buffers  # for the next training forward
        cache.buffers = []
        return grads

    def _check_backward_memory(self, cache, input_gradient, state_gradients):
        """MemoryError, before anything is allocated, if a backward needs
        more memory than is available: per direction the gradients the
        kernels write, the kernels' workspace of one call, the reverse
        direction's own dX, and the state gradients asked for (h_seq,
        c_seq per direction)."""
        B, T, D = cache.x_shape
        H, G = self.hidden_size, self.gates
        extra = ((self.directions - 1) * B * T * D * input_gradient
                 + (2 * B * T * self.directions * H if state_gradients else 0))
        # A cheap over-estimate first (per step and sample dX, the kernels'
        # dX of the packed rows and a cached row, D + 8H at most; the
        # parameter gradients and two packed copies of the weights): the
        # exact count, from the kernels, is only needed when it matters.
        n_bytes = (self.directions * (B * T * (3 * D + 8 * H) + 4 * B * H)
                   + 3 * G * H * (D + H + 64) + extra) * self.dtype.itemsize
        if n_bytes < _CHECK_MEMORY_ABOVE:
            return
        size = _core.call_bytes(self._cell, self.dtype, cache.x_shape, H, cache.lengths,
                                "backward", input_gradient)
        check_memory(self.directions * size["output"] + size["workspace"]
                     + extra * self.dtype.itemsize,
                     f"{type(self).__name__}.backward for X of shape {cache.x_shape}",
                     "use fewer sequences per call, or shorter ones")

    def _parameter_gradients(self, out):
        """Parameter name -> the array backward writes its gradient into:
        out's, checked before the cache is spent, or fresh ones."""
        shapes = self._parameter_shapes()
        shapes = {name + suffix: shapes[name] for suffix in self._suffixes() for name in PARAMS}
        if out is None:
            return {name: np.empty(shape, self.dtype) for name, shape in shapes.items()}
        if sorted(out) != sorted(shapes):
            raise ValueError(f"out must map exactly the parameter names {list(shapes)} to "
                             f"arrays, got {sorted(out)}")
        for name, shape in shapes.items():
            array = out[name]
            if not (isinstance(array, np.ndarray) and array.shape == shape
                    and array.dtype == self.dtype and array.flags.c_contiguous
                    and array.flags.writeable):
                raise ValueError(f"out[{name!r}] must be a writeable C-contiguous "
                                 f"{self.dtype.name} array of shape {shape}")
        return dict(out)

    def trace(self, cache):
        """What the kernels computed at every step of a training forward:
        the gate activations, the cell state (LSTM) and the hidden state.

        Read it before ``backward``, which reuses the cache's memory.

        Parameters
        ----------
        cache : object
            From ``forward(..., training=True)`` of this layer.

        Returns
        -------
        dict of ndarray, each (B, T, H) (or (B, T, 2H) if bidirectional,
            directions side by side as in ``Y``); NaN at padded steps.
            LSTM: ``"i", "f", "g", "o", "c", "h"``; GRU: ``"r", "z", "n",
            "h"``; RNN: ``"h"``.
        """
        if not isinstance(cache, _KernelCache) or cache.layer is not self:
            raise TypeError("cache must come from forward(..., training=True) of this layer")
        if cache.used:
            raise RuntimeError("this cache was used by backward: trace it before")
        if cache.Y is None:
            raise ValueError("trace needs the outputs at every step: run forward with "
                             "return_sequences=True")
        directions = [self._trace_direction(cache, d) for d in range(self.directions)]
        trace = {name: np.concatenate([t[name] for t in directions], axis=2)
                 for name in directions[0]}
        h = np.array(cache.Y, dtype=self.dtype)
        if cache.lengths is not None:
            h[np.arange(h.shape[1]) >= cache.lengths[:, None]] = np.nan
        trace["h"] = h
        return trace

    def _trace_direction(self, cache, d):
        """Direction d's cached gate activations and cell states as
        batch-first (B, T, H) arrays."""
        B, T, _ = cache.x_shape
        H = self.hidden_size
        cached = _core.cache_arrays(self._cell, cache.x_shape, H, cache.buffers[d],
                                    cache.indexes[d], reverse=d == 1)
        packed = {name: cached["z"][:, k] for k, name in enumerate(self._cell_info.gate_names)}
        if cached["c"] is not None:
            packed["c"] = cached["c"]
        out = {}
        for name, rows in packed.items():
            values = np.full((B, T, H), np.nan, dtype=self.dtype)
            values[cached["sample"], cached["step"]] = rows
            out[name] = values
        return out

    def _buffer(self, spare, d, n_elements):
        """Direction d's buffer from the spare list of the last spent cache
        if it has the right size (a training loop then touches no fresh
        memory), else a new one."""
        if len(spare) > d and spare[d].size == n_elements:
            return spare[d]
        return _aligned_empty(n_elements, self.dtype)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_spare", None)  # scratch memory, not part of the layer
        return state

    def to_onnx(self, path=None, *, opset=None):
        """The layer's forward as an ONNX graph (an LSTM, GRU or RNN node).

        The graph takes X of shape (B, T, input_size) in the layer's dtype,
        shorter sequences padded at the end with all-NaN steps (the
        estimators' convention: the graph computes the lengths that
        :meth:`forward` takes as ``lengths``), zero initial states, and
        returns ``"Y"`` (B, T, directions*H), zero at padded steps,
        ``"h_n"`` and, for the LSTM, ``"c_n"``, shaped as :meth:`forward`
        returns them.

        Parameters
        ----------
        path : str or path-like, optional
            Also write the model there (``onnx.save``; beyond 2 GiB, the
            weights go beside it in ``path + ".data"``).
        opset : int, optional
            ONNX opset, from 14 to the installed onnx's newest; None: 14.

        Returns
        -------
        onnx.ModelProto

        Raises
        ------
        ImportError
            If onnx is not installed (``pip install onnx``).
        ValueError
            For an unsupported opset, or a layer beyond 2 GiB without a path.
        """
        from ._onnx import layer_model

        return layer_model(self, path, opset)


class LSTM(_KernelLayer, LSTMBase):
    """One LSTM layer (unidirectional, batch first) run by the C kernels.

    Parameters
    ----------
    input_size : int
        Number of input features ``D``.
    hidden_size : int
        Number of hidden units ``H``.
    dtype : {np.float32, np.float64}, default=np.float32
        Floating-point type of the parameters and of all computations.
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        Seed or generator for the initial weights: like ``torch.nn.LSTM``,
        every parameter is drawn from ``uniform(-1/sqrt(H), 1/sqrt(H))``, in
        the order ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``.
    bidirectional : bool, default=False
        Add a reverse direction (parameters ``*_reverse``), run from each
        sequence's own last step; outputs are concatenated as in torch.

    Attributes
    ----------
    weight_ih : ndarray, shape (4H, D)
        Input-to-hidden weights, gate blocks in order i, f, g, o.
    weight_hh : ndarray, shape (4H, H)
        Hidden-to-hidden weights, same gate order.
    bias_ih, bias_hh : ndarray, shape (4H,)
        The two biases, kept separate as in PyTorch.
    input_size, hidden_size : int
    dtype : numpy.dtype

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_fast.layers import LSTM
    >>> layer = LSTM(input_size=3, hidden_size=5, random_state=0)
    >>> X = np.ones((2, 4, 3), dtype=np.float32)
    >>> Y, (h_n, c_n), cache = layer.forward(X, training=True)
    >>> Y.shape, h_n.shape
    ((2, 4, 5), (2, 5))
    >>> grads = layer.backward(cache, dY=np.ones_like(Y))
    >>> sorted(grads)
    ['X', 'bias_hh', 'bias_ih', 'c0', 'h0', 'weight_hh', 'weight_ih']
    """

    _cell = "lstm"

    def __init__(self, input_size, hidden_size, dtype=np.float32, random_state=None,
                 bidirectional=False):
        self._check_dtype(dtype)
        super().__init__(input_size, hidden_size, dtype=dtype, random_state=random_state,
                         bidirectional=bidirectional)

    def forward(self, X, h0=None, c0=None, lengths=None, training=False,
                return_sequences=True, dropout_masks=None):
        """Run the layer over a batch of sequences.

        Parameters
        ----------
        X : array-like, shape (B, T, D)
            Input sequences, batch first; converted to the layer's dtype.
        h0, c0 : array-like, shape (B, H) or (2, B, H) if bidirectional, optional
            Initial hidden and cell states; None means zeros.
        lengths : array-like of int, shape (B,), optional
            Length of each sequence, ``1 <= lengths[b] <= T``; None means all
            ``T``. Sample ``b`` stops updating after its own length.
        training : bool, default=False
            If True, also return the cache that :meth:`backward` needs.
        return_sequences : bool, default=True
            If False, ``Y`` is not computed (None is returned in its place):
            for a last layer whose final state is all that is read, the
            kernels then skip writing B x T x H outputs. States, cache and
            gradients are the same; :meth:`trace` needs ``Y``.
        dropout_masks : tuple (x_mask, h_mask), optional
            Variational dropout for this training forward (as Keras's
            ``dropout`` and ``recurrent_dropout``): ``x_mask`` (B, D) scales
            each sample's input at every step before ``W_ih`` reads it,
            ``h_mask`` (B, H) scales ``h_{t-1}`` where ``W_hh`` reads it (the
            outputs and the cell's own use of ``h_{t-1}`` are unmasked);
            either may be None. Shapes (2, B, D), (2, B, H) for a
            bidirectional layer, one mask per direction. Values are 0 (drop)
            or ``1 / (1 - rate)`` (keep, inverted scaling) for dropout, any
            finite value >= 0 in general; :func:`dropout_masks`
            draws them. :meth:`backward` uses the same masks. Training only.

        Returns
        -------
        Y : ndarray, shape (B, T, H), or (B, T, 2H) if bidirectional, or None
            Hidden state after every step; ``Y[b, t] = 0`` for
            ``t >= lengths[b]`` (as ``pad_packed_sequence`` gives). None if
            `return_sequences` is False.
        (h_n, c_n) : tuple of ndarray, each shape (B, H) or (2, B, H)
            Each sample's state after its own last step (for the reverse
            direction: after the sequence's first step).
        cache : object
            Only when `training` is True: for one call of :meth:`backward`.

        Raises
        ------
        ValueError
            If an input has the wrong shape or a length is out of range.
        TypeError
            If an input is not numeric.
        """
        Y, h_n, c_n, cache = self._run_forward(X, h0, c0, lengths, training, return_sequences,
                                               dropout_masks)
        if training:
            return Y, (h_n, c_n), cache
        return Y, (h_n, c_n)

    def backward(self, cache, dY=None, dh_n=None, dc_n=None, *, state_gradients=False,
                 input_gradient=True, out=None):
        """Backpropagation through time (exact gradients).

        Parameters
        ----------
        cache : object
            The cache from ``forward(..., training=True)`` of this layer, with
            its weights unchanged since. It serves one call: the kernels reuse
            its memory for the gate gradients.
        dY : array-like, shape of ``Y``, optional
            Gradient of the loss with respect to ``Y``; None means zeros.
            Entries at padded steps (``t >= lengths[b]``) are ignored.
        dh_n, dc_n : array-like, shape of ``h_n``, optional
            Gradient of the loss with respect to the final states.
        state_gradients : bool, default=False
            Also return ``"h_seq"`` and ``"c_seq"``: dLoss/dh_t and
            dLoss/dc_t at every step (for the states step t passes on, each
            with the other held fixed), shaped like ``Y``, zero at padded
            steps: how the gradient flows back through time.
        input_gradient : bool, default=True
            Compute ``'X'``, the gradient with respect to the input. A
            network's first layer, whose input is data, does not need it;
            without it the kernels skip a product per step (an LSTM's
            backward is about 10-15% faster at ``D = H / 8``).
        out : dict of ndarray, optional
            Arrays to write the parameter gradients into, one per parameter
            name (``'weight_ih'``, ..., and the ``*_reverse`` ones of a
            bidirectional layer), each C-contiguous, writeable, of the
            layer's dtype and the parameter's shape; they are the arrays
            returned under those names. None: fresh arrays.

        Returns
        -------
        grads : dict of ndarray
            ``'weight_ih'``, ``'weight_hh'``, ``'bias_ih'``, ``'bias_hh'``,
            ``'X'`` (unless `input_gradient` is False), ``'h0'``, ``'c0'``:
            gradient of the loss with respect to each, with its shape (and
            the ``*_reverse`` parameters of a bidirectional layer).

        Raises
        ------
        TypeError
            If `cache` is not a training cache of this layer.
        RuntimeError
            If `cache` was already used by a backward call.
        ValueError
            If a gradient has the wrong shape.
        """
        return self._run_backward(cache, dY, dh_n, dc_n, state_gradients, input_gradient, out)


class _SingleStateLayer(_KernelLayer):
    """forward/backward of the cells whose only state is h (GRU, RNN),
    with torch's return convention: ``(Y, h_n)``."""

    def forward(self, X, h0=None, lengths=None, training=False, return_sequences=True,
                dropout_masks=None):
        """Run the layer over a batch of sequences.

        Parameters
        ----------
        X : array-like, shape (B, T, D)
            Input sequences, batch first; converted to the layer's dtype.
        h0 : array-like, shape (B, H) or (2, B, H) if bidirectional, optional
            Initial hidden state; None means zeros.
        lengths : array-like of int, shape (B,), optional
            Length of each sequence, ``1 <= lengths[b] <= T``; None means all
            ``T``.
        training : bool, default=False
            If True, also return the cache that :meth:`backward` needs.
        return_sequences : bool, default=True
            If False, ``Y`` is not computed and None is returned in its
            place, as in :meth:`LSTM.forward`.
        dropout_masks : tuple (x_mask, h_mask), optional
            Variational dropout masks for this training forward, as in
            :meth:`LSTM.forward` (the GRU's update ``z * h_{t-1}`` reads
            ``h_{t-1}`` unmasked, as Keras's GRU does).

        Returns
        -------
        Y : ndarray, shape (B, T, H), or (B, T, 2H) if bidirectional, or None
            Hidden state after every step, zero past each sequence's length.
        h_n : ndarray, shape (B, H) or (2, B, H)
            Each sample's state after its own last step (for the reverse
            direction: after the sequence's first step).
        cache : object
            Only when `training` is True: for one call of :meth:`backward`.
        """
        Y, h_n, _, cache = self._run_forward(X, h0, None, lengths, training, return_sequences,
                                             dropout_masks)
        if training:
            return Y, h_n, cache
        return Y, h_n

    def backward(self, cache, dY=None, dh_n=None, *, state_gradients=False,
                 input_gradient=True, out=None):
        """Backpropagation through time (exact gradients).

        Parameters
        ----------
        cache : object
            The cache from ``forward(..., training=True)`` of this layer; it
            serves one call.
        dY : array-like, shape of ``Y``, optional
            Gradient of the loss with respect to ``Y``; None means zeros.
        dh_n : array-like, shape of ``h_n``, optional
            Gradient of the loss with respect to the final state.
        state_gradients : bool, default=False
            Also return ``"h_seq"``: dLoss/dh_t at every step, shaped like
            ``Y`` (zero at padded steps).
        input_gradient : bool, default=True
            Compute ``'X'``; False skips it (a first layer's), as in
            :meth:`LSTM.backward`.
        out : dict of ndarray, optional
            Arrays to write the parameter gradients into, as in
            :meth:`LSTM.backward`.

        Returns
        -------
        grads : dict of ndarray
            ``'weight_ih'``, ``'weight_hh'``, ``'bias_ih'``, ``'bias_hh'``,
            ``'X'`` (unless `input_gradient` is False), ``'h0'`` (and the
            ``*_reverse`` parameters of a bidirectional layer).
        """
        return self._run_backward(cache, dY, dh_n, None, state_gradients, input_gradient, out)


class GRU(_SingleStateLayer, GRUBase):
    """One GRU layer, run by the C kernels, exactly as ``torch.nn.GRU``.

    ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``,
    ``z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)``,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
    ``h' = (1 - z) * n + z * h``.

    Parameters
    ----------
    input_size : int
        Number of input features ``D``.
    hidden_size : int
        Number of hidden units ``H``.
    dtype : {np.float32, np.float64}, default=np.float32
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        Seed or generator for the initial weights, drawn like
        ``torch.nn.GRU``'s from ``uniform(-1/sqrt(H), 1/sqrt(H))``.
    bidirectional : bool, default=False
        Add a reverse direction (parameters ``*_reverse``), run from each
        sequence's own last step; outputs are concatenated as in torch.

    Attributes
    ----------
    weight_ih : ndarray, shape (3H, D)
        Gate blocks in order r, z, n.
    weight_hh : ndarray, shape (3H, H)
    bias_ih, bias_hh : ndarray, shape (3H,)
    input_size, hidden_size : int
    dtype : numpy.dtype

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_fast.layers import GRU
    >>> layer = GRU(input_size=3, hidden_size=5, random_state=0)
    >>> Y, h_n = layer.forward(np.ones((2, 4, 3)))
    >>> Y.shape, h_n.shape
    ((2, 4, 5), (2, 5))
    """

    _cell = "gru"

    def __init__(self, input_size, hidden_size, dtype=np.float32, random_state=None,
                 bidirectional=False):
        self._check_dtype(dtype)
        super().__init__(input_size, hidden_size, dtype=dtype, random_state=random_state,
                         bidirectional=bidirectional)


class RNN(_SingleStateLayer, RNNBase):
    """One plain (Elman) RNN layer, run by the C kernels.

    ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` with ``act`` tanh or
    relu, exactly as ``torch.nn.RNN``.

    Parameters
    ----------
    input_size : int
        Number of input features ``D``.
    hidden_size : int
        Number of hidden units ``H``.
    nonlinearity : {"tanh", "relu"}, default="tanh"
    dtype : {np.float32, np.float64}, default=np.float32
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        Seed or generator for the initial weights, drawn like
        ``torch.nn.RNN``'s from ``uniform(-1/sqrt(H), 1/sqrt(H))``.
    bidirectional : bool, default=False
        Add a reverse direction (parameters ``*_reverse``), run from each
        sequence's own last step; outputs are concatenated as in torch.

    Attributes
    ----------
    weight_ih : ndarray, shape (H, D)
    weight_hh : ndarray, shape (H, H)
    bias_ih, bias_hh : ndarray, shape (H,)
    input_size, hidden_size : int
    nonlinearity : str
    dtype : numpy.dtype

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_fast.layers import RNN
    >>> layer = RNN(input_size=3, hidden_size=5, nonlinearity="relu", random_state=0)
    >>> Y, h_n, cache = layer.forward(np.ones((2, 4, 3)), training=True)
    >>> Y.shape, h_n.shape
    ((2, 4, 5), (2, 5))
    >>> sorted(layer.backward(cache, dY=np.ones_like(Y)))
    ['X', 'bias_hh', 'bias_ih', 'h0', 'weight_hh', 'weight_ih']
    """

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", dtype=np.float32,
                 random_state=None, bidirectional=False):
        self._check_dtype(dtype)
        super().__init__(input_size, hidden_size, nonlinearity=nonlinearity, dtype=dtype,
                         random_state=random_state, bidirectional=bidirectional)

    @property
    def _cell(self):
        return "rnn_" + self.nonlinearity
