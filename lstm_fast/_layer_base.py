"""What every recurrent layer shares, whatever computes it: parameters and
their initialisation, input validation, and conversion to and from PyTorch.

The layers of :mod:`lstm_fast.layers` (the C kernels) and of
:mod:`lstm_fast.reference` (plain NumPy) derive from :class:`LSTMBase`,
:class:`GRUBase` or :class:`RNNBase` and differ only in ``forward`` and
``backward``.
"""

from collections.abc import Mapping

import numpy as np

__all__ = ["LSTMBase", "GRUBase", "RNNBase"]


def _check_random_state(random_state):
    """Turn None, an int, a Generator or a RandomState into a generator."""
    if isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    raise ValueError(
        f"random_state must be None, an int, a numpy Generator or a RandomState; "
        f"got {random_state!r}"
    )


def _float_array(value, name, dtype):
    """C-contiguous array of `dtype`; TypeError for non-numeric input."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=dtype)


def _to_numpy(value):
    """Array from a torch tensor (without importing torch) or anything array-like."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)



class RecurrentLayerBase:
    """Parameters, validation and torch conversion of one recurrent layer.

    Subclasses set ``gates`` (the weight matrices have ``gates * H`` rows),
    ``torch_name`` (the matching torch.nn class) and say which torch
    ``mode`` they stand for.
    """

    gates = None
    torch_name = None

    @classmethod
    def _init_kwargs_from_torch_mode(cls, mode):
        """Constructor arguments a torch module's ``mode`` implies, or raise
        ValueError when this layer cannot represent it."""
        raise NotImplementedError

    def __init__(self, input_size, hidden_size, dtype=np.float32, random_state=None):
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"dtype must be a floating-point type, got {dtype}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.dtype = dtype

        H, D, G = self.hidden_size, self.input_size, self.gates
        rng = _check_random_state(random_state)
        bound = 1.0 / np.sqrt(H)
        self.weight_ih = rng.uniform(-bound, bound, size=(G * H, D)).astype(dtype)
        self.weight_hh = rng.uniform(-bound, bound, size=(G * H, H)).astype(dtype)
        self.bias_ih = rng.uniform(-bound, bound, size=G * H).astype(dtype)
        self.bias_hh = rng.uniform(-bound, bound, size=G * H).astype(dtype)

    def __repr__(self):
        return (
            f"{type(self).__name__}(input_size={self.input_size}, "
            f"hidden_size={self.hidden_size}, dtype={self.dtype.name})"
        )

    # ------------------------------------------------------------------ torch

    @classmethod
    def from_torch(cls, module_or_state_dict, dtype=None, **layer_kwargs):
        """Build a layer from the matching torch module or its state dict.

        Parameters
        ----------
        module_or_state_dict : torch.nn.LSTM, torch.nn.RNN or mapping
            A single-layer, unidirectional torch module of this layer's kind
            (LSTMs without projection; ``batch_first`` does not matter; an
            RNN's ``nonlinearity`` is taken over), or a mapping with
            keys ``'weight_ih_l0'``, ``'weight_hh_l0'`` and, optionally,
            ``'bias_ih_l0'``, ``'bias_hh_l0'`` (missing biases are zeros, as
            for ``bias=False``). Values may be tensors or array-likes.
        dtype : numpy dtype, optional
            dtype of the new layer. By default the weights' own dtype if it is
            a floating-point type, else float32.
        **layer_kwargs
            Further constructor arguments for a state dict, which does not
            carry them (e.g. ``nonlinearity="relu"`` for an RNN); a module's
            own settings are used otherwise.

        Returns
        -------
        layer
            A layer of this class whose parameters are copies of the given
            ones.

        Raises
        ------
        ValueError
            If the module is not a single-layer unidirectional module of this
            kind, or the weights are missing or have inconsistent shapes.
        """
        kind = cls.torch_name
        init_kwargs = dict(layer_kwargs)
        if isinstance(module_or_state_dict, Mapping):
            state = module_or_state_dict
        else:
            module = module_or_state_dict
            if not hasattr(module, "state_dict"):
                raise ValueError(
                    f"expected a torch.nn.{kind} or a state dict, got {type(module).__name__}"
                )
            if layer_kwargs:
                raise ValueError(f"{sorted(layer_kwargs)} are taken from the module itself")
            init_kwargs = cls._init_kwargs_from_torch_mode(getattr(module, "mode", None))
            if getattr(module, "num_layers", 1) != 1:
                raise ValueError(f"only single-layer {kind}s (num_layers=1) are supported")
            if getattr(module, "bidirectional", False):
                raise ValueError(f"only unidirectional {kind}s are supported")
            if getattr(module, "proj_size", 0):
                raise ValueError("LSTMs with proj_size > 0 are not supported")
            state = module.state_dict()

        unexpected = sorted(
            k for k in state
            if k not in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        )
        if unexpected:
            raise ValueError(
                f"unsupported keys in the state dict {unexpected}: only a single-layer, "
                f"unidirectional {kind} without projection can be converted"
            )
        if "weight_ih_l0" not in state or "weight_hh_l0" not in state:
            raise ValueError("state dict must contain 'weight_ih_l0' and 'weight_hh_l0'")

        weight_ih = _to_numpy(state["weight_ih_l0"])
        weight_hh = _to_numpy(state["weight_hh_l0"])
        if dtype is None:
            dtype = weight_ih.dtype if weight_ih.dtype.kind == "f" else np.float32
        if weight_ih.ndim != 2 or weight_hh.ndim != 2:
            raise ValueError("weight_ih_l0 and weight_hh_l0 must be 2-D")
        H = weight_hh.shape[1]
        D = weight_ih.shape[1]
        G = cls.gates
        if weight_ih.shape[0] != G * H or weight_hh.shape != (G * H, H):
            raise ValueError(
                f"inconsistent {kind} weight shapes: weight_ih_l0 {weight_ih.shape}, "
                f"weight_hh_l0 {weight_hh.shape}"
            )
        layer = cls(D, H, dtype=dtype, random_state=0, **init_kwargs)
        layer.weight_ih = np.array(weight_ih, dtype=layer.dtype)
        layer.weight_hh = np.array(weight_hh, dtype=layer.dtype)
        for name in ("bias_ih", "bias_hh"):
            key = name + "_l0"
            if key in state:
                bias = np.array(_to_numpy(state[key]), dtype=layer.dtype)
                if bias.shape != (G * H,):
                    raise ValueError(f"{key} must have shape ({G * H},), got {bias.shape}")
            else:
                bias = np.zeros(G * H, dtype=layer.dtype)
            setattr(layer, name, bias)
        return layer

    def to_torch_state_dict(self):
        """Parameters as a state dict that the torch module's ``load_state_dict`` accepts.

        Returns
        -------
        dict of torch.Tensor
            Keys ``'weight_ih_l0'``, ``'weight_hh_l0'``, ``'bias_ih_l0'``,
            ``'bias_hh_l0'``; copies, in the layer's dtype.
        """
        import torch

        return {
            "weight_ih_l0": torch.tensor(self.weight_ih),
            "weight_hh_l0": torch.tensor(self.weight_hh),
            "bias_ih_l0": torch.tensor(self.bias_ih),
            "bias_hh_l0": torch.tensor(self.bias_hh),
        }

    # ------------------------------------------------------------- validation

    def _input(self, X):
        """X as a (B, T, D) array of the layer's dtype, with B, T >= 1."""
        X = _float_array(X, "X", self.dtype)
        if X.ndim != 3 or X.shape[2] != self.input_size:
            raise ValueError(
                f"X must have shape (B, T, {self.input_size}), got {X.shape}"
            )
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"X must have at least one sample and one step, got {X.shape}")
        return X

    def _initial_state(self, state, name, B):
        if state is None:
            return np.zeros((B, self.hidden_size), dtype=self.dtype)
        state = _float_array(state, name, self.dtype)
        if state.shape != (B, self.hidden_size):
            raise ValueError(
                f"{name} must have shape ({B}, {self.hidden_size}), got {state.shape}"
            )
        return state

    def _gradient(self, grad, name, shape):
        if grad is None:
            return np.zeros(shape, dtype=self.dtype)
        grad = _float_array(grad, name, self.dtype)
        if grad.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {grad.shape}")
        return grad

    @staticmethod
    def _lengths(lengths, B, T):
        """lengths as an int64 (B,) array in [1, T], or None for all T."""
        if lengths is None:
            return None
        lengths = np.asarray(lengths)
        if lengths.shape != (B,):
            raise ValueError(f"lengths must have shape ({B},), got {lengths.shape}")
        if lengths.dtype.kind not in "iu":
            raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
        if np.any(lengths < 1) or np.any(lengths > T):
            raise ValueError(f"lengths must lie in [1, {T}], got {lengths}")
        return lengths.astype(np.int64)


class LSTMBase(RecurrentLayerBase):
    """An LSTM layer's parameters: gates i, f, g, o."""

    gates = 4
    torch_name = "LSTM"

    @classmethod
    def _init_kwargs_from_torch_mode(cls, mode):
        if mode not in (None, "LSTM"):
            raise ValueError(f"expected an LSTM module, got mode {mode!r}")
        return {}


class GRUBase(RecurrentLayerBase):
    """A GRU layer's parameters: gates r, z, n."""

    gates = 3
    torch_name = "GRU"

    @classmethod
    def _init_kwargs_from_torch_mode(cls, mode):
        if mode not in (None, "GRU"):
            raise ValueError(f"expected a GRU module, got mode {mode!r}")
        return {}


class RNNBase(RecurrentLayerBase):
    """A plain RNN layer's parameters: one gate, tanh or relu."""

    gates = 1
    torch_name = "RNN"
    NONLINEARITIES = ("tanh", "relu")

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", dtype=np.float32,
                 random_state=None):
        if nonlinearity not in self.NONLINEARITIES:
            raise ValueError(
                f"nonlinearity must be one of {self.NONLINEARITIES}, got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, dtype=dtype, random_state=random_state)

    @classmethod
    def _init_kwargs_from_torch_mode(cls, mode):
        modes = {"RNN_" + n.upper(): n for n in cls.NONLINEARITIES}
        if mode not in modes:
            raise ValueError(f"expected an RNN module (tanh or relu), got mode {mode!r}")
        return {"nonlinearity": modes[mode]}

    def __repr__(self):
        return (
            f"{type(self).__name__}(input_size={self.input_size}, "
            f"hidden_size={self.hidden_size}, nonlinearity={self.nonlinearity!r}, "
            f"dtype={self.dtype.name})"
        )
