"""A stack of recurrent layers and a dense head, all parameters in one buffer.

Layout of the flat parameter buffer (and of the gradient buffer, the same):
first every weight matrix, then every bias, so that the L2 penalty, which
applies to weights only, is one slice ``flat[:n_weights]``::

    layer 0 weight_ih (G*H0, D), layer 0 weight_hh (G*H0, H0),
    layer 1 weight_ih (G*H1, H0), ..., head coef (H_last, n_outputs),
    layer 0 bias_ih (G*H0,), layer 0 bias_hh (G*H0,), ..., head intercept

(bidirectional layers add their ``*_reverse`` weights after each forward
weight pair and their ``*_reverse`` biases likewise; the next layer and the
head then see 2*H features per step).

Each layer's attributes are C-contiguous views into the buffer, so the
kernels read the parameters in place and an optimizer step on the buffer
updates every layer at once.
"""

import copy
from typing import NamedTuple

import numpy as np

from . import _core
from ._layer_base import PARAMS, check_memory, parameter_count, parameter_shapes
# The losses live in ._losses; these names stay importable from here.
from ._losses import LOSSES, log_loss, softmax, squared_loss  # noqa: F401
from .layers import GRU, LSTM, RNN, dropout_masks

__all__ = ["CELLS", "RecurrentNetwork"]


class CellSpec(NamedTuple):
    """What the network needs to know about a recurrent cell."""

    layer_class: type
    #: Gate block whose input bias starts at 1 (Keras' unit_forget_bias), or None.
    forget_gate: object = None


#: Recurrent cells by name; a new cell (GRU, RNN) is one entry here.
CELLS = {
    "lstm": CellSpec(LSTM, forget_gate=_core.CELLS["lstm"].gate_names.index("f")),
    "gru": CellSpec(GRU),
    "rnn": CellSpec(RNN),
}


class RecurrentNetwork:
    """Stacked recurrent layers + linear head, parameters in one flat buffer.

    Parameters
    ----------
    cell : str
        Key of :data:`CELLS`.
    n_features : int
        Features per time step of the input.
    hidden_layer_sizes : tuple of int
        Hidden size of each stacked recurrent layer, bottom first.
    n_outputs : int
        Width of the linear head.
    output : {"last", "sequence"}
        Head applied to each sequence's last hidden state, or to every step.
    dtype : numpy dtype
        float32 or float64.
    bidirectional : bool, default=False
        Every layer runs in both directions; "last" then means the forward
        direction's final state beside the reverse direction's (which has
        read the whole sequence back to its first step), as in torch.

    Attributes
    ----------
    params, grad : ndarray, 1-D
        Flat parameter and gradient buffers (layout in the module docstring).
    layers : list of recurrent layers (views into ``params``)
    coef, intercept : ndarray
        Head weights (H_last, n_outputs) and bias (n_outputs,), views.
    n_weights : int
        Number of leading entries of ``params`` that are weights (L2-penalised).
    precision : None, "int8" or "bfloat16"
        None, or the reduced precision of the recurrent layers of an
        inference copy made by :meth:`quantize` (its layers are then their
        own arrays, not views, and ``params`` holds the values their
        products use).
    """

    precision = None

    def __init__(self, cell, n_features, hidden_layer_sizes, n_outputs, output, dtype,
                 bidirectional=False):
        self.cell = cell
        self.bidirectional = bool(bidirectional)
        directions = 2 if self.bidirectional else 1
        self.n_features = int(n_features)
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        self.n_outputs = int(n_outputs)
        self.output = output
        self.dtype = np.dtype(dtype)
        spec = CELLS[cell]
        # Features per step seen by each layer, and by the head last.
        sizes = (self.n_features,) + tuple(directions * h for h in self.hidden_layer_sizes)
        # The parameter and gradient buffers, checked before they are made.
        n_params = self.count_parameters(cell, self.n_features, self.hidden_layer_sizes,
                                         self.n_outputs, self.bidirectional)
        check_memory(2 * n_params * self.dtype.itemsize,
                     f"a network of {n_params} parameters ({len(self.hidden_layer_sizes)} "
                     f"layers, {self.n_features} features, {self.n_outputs} outputs)",
                     "use smaller hidden_layer_sizes")
        # Shapes in buffer order: all weights, then all biases.
        suffixes = ("", "_reverse")[:directions]
        weights, biases = [], []
        for i, (d, h) in enumerate(zip(sizes[:-1], self.hidden_layer_sizes)):
            shapes = parameter_shapes(spec.layer_class.gates, d, h)
            for suffix in suffixes:
                for name in PARAMS:
                    slot = ((i, name + suffix), shapes[name])
                    (weights if name.startswith("weight") else biases).append(slot)
        weights.append((("head", "coef"), (sizes[-1], self.n_outputs)))
        biases.append((("head", "intercept"), (self.n_outputs,)))
        self._slots = []
        offset = 0
        for key, shape in weights + biases:
            size = int(np.prod(shape))
            self._slots.append((key, offset, offset + size, shape))
            offset += size
        self.n_weights = sum(int(np.prod(shape)) for _, shape in weights)
        self.n_params = offset
        self.params = np.zeros(self.n_params, self.dtype)
        self.grad = np.zeros(self.n_params, self.dtype)
        # The buffers own every parameter and gradient: the layers are built
        # over views of params, and backward has the kernels write the
        # gradients into views of grad.
        params = self._by_owner(self.params)
        self._grads = self._by_owner(self.grad)
        self.coef, self.intercept = params["head"]["coef"], params["head"]["intercept"]
        self.layers = [
            spec.layer_class._over(params[i], d, h, dtype=self.dtype,
                                   bidirectional=self.bidirectional)
            for i, (d, h) in enumerate(zip(sizes[:-1], self.hidden_layer_sizes))
        ]

    @staticmethod
    def count_parameters(cell, n_features, hidden_layer_sizes, n_outputs,
                         bidirectional=False):
        """Number of parameters of such a network, computed without building it.

        Parameters
        ----------
        cell : str
        n_features : int
        hidden_layer_sizes : tuple of int
        n_outputs : int
        bidirectional : bool, default=False

        Returns
        -------
        int
            A Python integer (exact, whatever the sizes).
        """
        gates = CELLS[cell].layer_class.gates
        directions = 2 if bidirectional else 1
        total, d = 0, int(n_features)
        for h in hidden_layer_sizes:
            h = int(h)
            total += directions * parameter_count(gates, d, h)
            d = directions * h
        return total + (d + 1) * int(n_outputs)

    # ------------------------------------------------------------ parameters

    def views(self, flat):
        """Dict ``(layer index or "head", name) -> view into flat``."""
        return {key: flat[a:b].reshape(shape) for key, a, b, shape in self._slots}

    def _by_owner(self, flat):
        """``{layer index or "head": {name: view into flat}}``."""
        owners = {}
        for (owner, name), view in self.views(flat).items():
            owners.setdefault(owner, {})[name] = view
        return owners

    def initialize(self, random_state):
        """Keras' defaults: Glorot-uniform input and head weights, orthogonal
        recurrent weights, zero biases but the forget gate's, which is 1.

        Parameters
        ----------
        random_state : numpy.random.RandomState
        """
        forget = CELLS[self.cell].forget_gate
        for (owner, name), view in self.views(self.params).items():
            if name.startswith("weight_ih") or name == "coef":
                # weight_ih is (G*H, D): fan_in D, fan_out G*H, as Keras' (D, G*H).
                fan_in, fan_out = view.shape[::-1] if name != "coef" else view.shape
                bound = np.sqrt(6.0 / (fan_in + fan_out))
                view[...] = random_state.uniform(-bound, bound, size=view.shape)
            elif name.startswith("weight_hh"):
                # Keras' recurrent kernel (H, G*H) with orthonormal rows is our
                # (G*H, H) with orthonormal columns.
                a = random_state.standard_normal(view.shape)
                q, r = np.linalg.qr(a)
                view[...] = q * np.sign(np.diag(r))
            else:
                view[...] = 0
                if name.startswith("bias_ih") and forget is not None:
                    H = self.layers[owner].hidden_size
                    view[forget * H:(forget + 1) * H] = 1

    # ------------------------------------------------------ reduced precision

    def quantize(self, precision):
        """An inference copy whose recurrent layers are
        ``layer.quantize(precision)`` (the head stays float32).

        Parameters
        ----------
        precision : {"int8", "bfloat16"}

        Returns
        -------
        RecurrentNetwork
            A new network; this one is left as it is.

        Raises
        ------
        ValueError
            As ``layer.quantize``: an unknown precision, a float64 network,
            an already reduced one.
        """
        if self.precision is not None:
            raise ValueError(f"this network is already {self.precision}; quantize the "
                             f"float32 network it came from")
        reduced = [layer.quantize(precision)._reduced for layer in self.layers]
        network = copy.deepcopy(self)
        network.use_reduced(precision, reduced)
        return network

    def use_reduced(self, precision, reduced):
        """Make the layers inference copies over these reduced weights.

        Parameters
        ----------
        precision : {"int8", "bfloat16"}
        reduced : list of list of ReducedWeights
            Per layer, one per direction: exactly the weights the layers
            then use (a saved model's, not a new quantization of them).
        """
        views = self._by_owner(self.params)
        layers = []
        for i, (layer, weights) in enumerate(zip(self.layers, reduced)):
            # params hold the values the products use, so that whatever reads
            # the float weights (to_onnx, a repr) sees this model's.
            for d, suffix in enumerate(layer._suffixes()):
                w_ih, w_hh = weights[d].dequantized()
                for name, value in (("weight_ih", w_ih), ("weight_hh", w_hh),
                                    ("bias_ih", weights[d].b_ih),
                                    ("bias_hh", weights[d].b_hh)):
                    views[i][name + suffix][...] = value
            layers.append(layer._with_reduced(precision, list(weights)))
        self.layers = layers
        self.precision = precision

    def reduced(self):
        """Per layer, the list of its directions' ReducedWeights (a reduced
        network only)."""
        return [layer._reduced for layer in self.layers]

    def __getstate__(self):
        # Views would be pickled as separate copies; keep only the buffer
        # (and a reduced network's weights, which params cannot give back).
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("layers", "coef", "intercept", "_grads", "grad", "precision")}
        if self.precision is not None:
            state["reduced"] = (self.precision, self.reduced())
        return state

    def __setstate__(self, state):
        params = state.pop("params")
        reduced = state.pop("reduced", None)
        self.__init__(state["cell"], state["n_features"], state["hidden_layer_sizes"],
                      state["n_outputs"], state["output"], state["dtype"],
                      state["bidirectional"])
        self.params[...] = params
        if reduced is not None:
            self.use_reduced(*reduced)

    # --------------------------------------------------------------- forward

    def forward(self, X, lengths=None, training=False, keep_sequences=False, dropout=None):
        """Network output for a batch.

        Parameters
        ----------
        X : ndarray, shape (B, T, D), the network's dtype, C-contiguous
            Padded steps (``t >= lengths[b]``) must hold finite values.
        lengths : ndarray of int64, shape (B,), or None
        training : bool
            If True, also return what :meth:`backward` needs.
        keep_sequences : bool, default=False
            Compute the last layer's outputs at every step even when the
            head reads only the last one (``output="last"``), where they are
            otherwise skipped: :meth:`trace` needs them.
        dropout : tuple (rate, recurrent_rate, random_state), optional
            Training only: variational dropout in every layer, masks drawn
            from `random_state` (``lstm_fast.layers.dropout_masks``): each
            layer's input features and its ``h_{t-1}`` where ``W_hh`` reads
            it, the same units for all steps of a sequence.

        Returns
        -------
        out : ndarray, shape (B, n_outputs) or (B, T, n_outputs)
            Head output before the output activation (logits for a classifier).
        state : object
            Only when `training`: for one call of :meth:`backward`.
        """
        caches = []
        Y = X
        for i, layer in enumerate(self.layers):
            sequences = keep_sequences or self.output != "last" or i < len(self.layers) - 1
            masks = None
            if training and dropout is not None:
                rate, recurrent_rate, random_state = dropout
                masks = dropout_masks(random_state, Y.shape[0], layer.input_size,
                                      layer.hidden_size, rate, recurrent_rate,
                                      self.bidirectional, self.dtype)
            result = layer.forward(Y, lengths=lengths, training=training,
                                   return_sequences=sequences, dropout_masks=masks)
            Y, state = result[0], result[1]
            # LSTM returns (h_n, c_n); single-state cells (GRU, RNN) return h_n.
            h_n = state[0] if isinstance(state, tuple) else state
            if self.bidirectional:  # (2, B, H) -> (B, 2H), forward half first
                h_n = np.concatenate([h_n[0], h_n[1]], axis=-1)
            if training:
                caches.append(result[2])
        features = h_n if self.output == "last" else Y
        # einsum, not BLAS: each row's result must not depend on the batch
        # (a sequence predicts the same alone or in a batch, bit for bit).
        out = np.einsum("...h,hk->...k", features, self.coef)
        out += self.intercept
        if training:
            return out, (caches, features)
        return out

    def trace(self, state):
        """Per layer, the gates and states the kernels computed in the
        training :meth:`forward` (with `keep_sequences`) that made `state`
        (see ``layer.trace``)."""
        caches, _ = state
        return [layer.trace(cache) for layer, cache in zip(self.layers, caches)]

    def backward(self, state, d_out, state_gradients=False):
        """Backpropagate ``d_out = dLoss/d(out)`` into :attr:`grad` (overwritten).

        Parameters
        ----------
        state : object
            The state of a training :meth:`forward` with the current parameters.
        d_out : ndarray, shape of ``out``
            Zero at padded steps for ``output="sequence"``.
        state_gradients : bool, default=False
            Also return, per layer (bottom first), ``{"h_seq": dLoss/dh_t,
            "c_seq": dLoss/dc_t (LSTM)}`` at every step.

        Returns
        -------
        list of dict or None
        """
        caches, features = state
        g = self._grads
        H = features.shape[-1]
        np.matmul(features.reshape(-1, H).T, d_out.reshape(-1, self.n_outputs),
                  out=g["head"]["coef"])
        np.sum(d_out.reshape(-1, self.n_outputs), axis=0, out=g["head"]["intercept"])
        d_features = d_out @ self.coef.T
        if self.output == "last":
            if self.bidirectional:
                d_features = np.stack(np.split(d_features, 2, axis=-1))
            upstream = {"dh_n": d_features}
        else:
            upstream = {"dY": d_features}
        flows = [None] * len(self.layers)
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            # The first layer's input is data: no gradient wanted.
            # The kernels write the parameter gradients straight into grad.
            grads = layer.backward(caches[i], **upstream, state_gradients=state_gradients,
                                   input_gradient=i > 0, out=g[i])
            flows[i] = {k: grads[k] for k in ("h_seq", "c_seq") if k in grads}
            upstream = {"dY": grads.get("X")}
        return flows if state_gradients else None
