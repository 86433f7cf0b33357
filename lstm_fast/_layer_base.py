"""What every LSTM layer shares, whatever computes it: parameters and their
initialisation, input validation, and conversion to and from PyTorch.

:class:`lstm_fast.layers.LSTM` (the C kernels) and
:class:`lstm_fast.reference.LSTM` (plain NumPy) both derive from
:class:`LSTMBase` and differ only in ``forward`` and ``backward``.
"""

from collections.abc import Mapping

import numpy as np

__all__ = ["LSTMBase"]


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



class LSTMBase:
    """Parameters, validation and torch conversion of one LSTM layer."""

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

        H, D = self.hidden_size, self.input_size
        rng = _check_random_state(random_state)
        bound = 1.0 / np.sqrt(H)
        self.weight_ih = rng.uniform(-bound, bound, size=(4 * H, D)).astype(dtype)
        self.weight_hh = rng.uniform(-bound, bound, size=(4 * H, H)).astype(dtype)
        self.bias_ih = rng.uniform(-bound, bound, size=4 * H).astype(dtype)
        self.bias_hh = rng.uniform(-bound, bound, size=4 * H).astype(dtype)

    def __repr__(self):
        return (
            f"{type(self).__name__}(input_size={self.input_size}, "
            f"hidden_size={self.hidden_size}, dtype={self.dtype.name})"
        )

    # ------------------------------------------------------------------ torch

    @classmethod
    def from_torch(cls, module_or_state_dict, dtype=None):
        """Build a layer from a ``torch.nn.LSTM`` or its state dict.

        Parameters
        ----------
        module_or_state_dict : torch.nn.LSTM or mapping
            A single-layer, unidirectional ``torch.nn.LSTM`` without
            projection (``batch_first`` does not matter), or a mapping with
            keys ``'weight_ih_l0'``, ``'weight_hh_l0'`` and, optionally,
            ``'bias_ih_l0'``, ``'bias_hh_l0'`` (missing biases are zeros, as
            for ``bias=False``). Values may be tensors or array-likes.
        dtype : numpy dtype, optional
            dtype of the new layer. By default the weights' own dtype if it is
            a floating-point type, else float32.

        Returns
        -------
        LSTM
            A layer whose parameters are copies of the given ones.

        Raises
        ------
        ValueError
            If the module is not a single-layer unidirectional LSTM, or the
            weights are missing or have inconsistent shapes.
        """
        if isinstance(module_or_state_dict, Mapping):
            state = module_or_state_dict
        else:
            module = module_or_state_dict
            if not hasattr(module, "state_dict"):
                raise ValueError(
                    f"expected a torch.nn.LSTM or a state dict, got {type(module).__name__}"
                )
            if getattr(module, "mode", "LSTM") != "LSTM":
                raise ValueError(f"expected an LSTM module, got mode {module.mode!r}")
            if getattr(module, "num_layers", 1) != 1:
                raise ValueError("only single-layer LSTMs (num_layers=1) are supported")
            if getattr(module, "bidirectional", False):
                raise ValueError("only unidirectional LSTMs are supported")
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
                f"unidirectional LSTM without projection can be converted"
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
        if weight_ih.shape[0] != 4 * H or weight_hh.shape != (4 * H, H):
            raise ValueError(
                f"inconsistent LSTM weight shapes: weight_ih_l0 {weight_ih.shape}, "
                f"weight_hh_l0 {weight_hh.shape}"
            )
        layer = cls(D, H, dtype=dtype, random_state=0)
        layer.weight_ih = np.array(weight_ih, dtype=layer.dtype)
        layer.weight_hh = np.array(weight_hh, dtype=layer.dtype)
        for name in ("bias_ih", "bias_hh"):
            key = name + "_l0"
            if key in state:
                bias = np.array(_to_numpy(state[key]), dtype=layer.dtype)
                if bias.shape != (4 * H,):
                    raise ValueError(f"{key} must have shape ({4 * H},), got {bias.shape}")
            else:
                bias = np.zeros(4 * H, dtype=layer.dtype)
            setattr(layer, name, bias)
        return layer

    def to_torch_state_dict(self):
        """Parameters as a state dict that ``torch.nn.LSTM.load_state_dict`` accepts.

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
