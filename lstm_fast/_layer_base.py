"""What every recurrent layer shares, whatever computes it: parameters and
their initialisation, input validation, and conversion to and from PyTorch.

The layers of :mod:`lstm_fast.layers` (the C kernels) and of
:mod:`lstm_fast.reference` (plain NumPy) derive from :class:`LSTMBase`,
:class:`GRUBase` or :class:`RNNBase` and differ only in ``forward`` and
``backward``.
"""

import copy
import math
import os
import re
from collections.abc import Mapping

import numpy as np

from . import _core

__all__ = ["LSTMBase", "GRUBase", "RNNBase", "PARAMS", "check_memory"]

# A direction's parameters; the reverse direction's carry the suffix
# "_reverse", as in torch ("weight_ih_l0_reverse").
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
SUFFIXES = ("", "_reverse")


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


#: Requests below this many bytes skip the check of available memory: reading
#: /proc costs tens of microseconds, and such sizes cannot exhaust a machine.
_CHECK_MEMORY_ABOVE = 1 << 26


def available_memory():
    """Bytes this process can still allocate, or None when unknown.

    MemAvailable + SwapFree from /proc/meminfo, capped by the cgroup's
    memory.max - memory.current (containers); on systems without /proc, the
    physical memory.
    """
    available = None
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f
                    if line.startswith(("MemAvailable:", "SwapFree:"))}
        if "MemAvailable" in info:
            available = info["MemAvailable"] + info.get("SwapFree", 0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            current = int(f.read())
        if limit != "max":
            left = int(limit) - current
            available = left if available is None else min(available, left)
    except (OSError, ValueError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    return max(int(available), 0)


def _format_bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            break
        n /= 1024
    return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"


def check_memory(n_bytes, what, advice):
    """Raise MemoryError, before anything is allocated, if `n_bytes` exceed
    the memory this process can still get.

    Sizes are Python integers (they never wrap around); checking first
    means an absurd shape fails at once with a message, instead of after
    minutes of swapping, or by the kernel's OOM killer on systems that
    overcommit memory.

    Parameters
    ----------
    n_bytes : int
        Bytes the operation will allocate.
    what : str
        What needs them, e.g. ``"LSTM.forward on X of shape (B, T, D)"``.
    advice : str
        What to do instead, e.g. ``"use smaller batches"``.

    Raises
    ------
    MemoryError
    """
    n_bytes = int(n_bytes)
    if n_bytes < _CHECK_MEMORY_ABOVE:
        return
    available = available_memory()
    if available is not None and n_bytes > available:
        raise MemoryError(
            f"{what} needs about {_format_bytes(n_bytes)}, but only "
            f"{_format_bytes(available)} of memory is available: {advice}"
        )


def parameter_shapes(gates, input_size, hidden_size):
    """``{name: shape}`` of one direction's parameters of a cell with
    `gates` gate blocks (torch's layout)."""
    G, D, H = gates, input_size, hidden_size
    return {"weight_ih": (G * H, D), "weight_hh": (G * H, H),
            "bias_ih": (G * H,), "bias_hh": (G * H,)}


def parameter_count(gates, input_size, hidden_size):
    """Number of one direction's parameters, a Python integer (exact,
    whatever the sizes)."""
    return sum(math.prod(shape)
               for shape in parameter_shapes(gates, input_size, hidden_size).values())


class _GivenParameters:
    """Stands for random_state when a layer is built over its caller's
    arrays (RecurrentLayerBase._over): nothing is drawn."""

    __slots__ = ("arrays",)

    def __init__(self, arrays):
        self.arrays = arrays


def _to_numpy(value):
    """Array from a torch tensor (without importing torch) or anything array-like.

    A floating-point tensor of less than single precision (bfloat16, which
    NumPy has no type for, or float16) comes back as float32: every value of
    either is exact in float32, so a float64 copy made from it afterwards is
    the same as one made from the tensor directly.
    """
    if hasattr(value, "detach"):
        tensor = value.detach().cpu()
        if tensor.is_floating_point() and tensor.element_size() < 4:
            tensor = tensor.float()
        return tensor.numpy()
    return np.asarray(value)



class RecurrentLayerBase:
    """Parameters, validation and torch conversion of one recurrent layer.

    Subclasses set ``gates`` (the weight matrices have ``gates * H`` rows;
    from the kernels' cell table, ``_core.CELLS``),
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

    def __init__(self, input_size, hidden_size, dtype=np.float32, random_state=None,
                 bidirectional=False):
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"dtype must be a floating-point type, got {dtype}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.dtype = dtype

        self.bidirectional = bool(bidirectional)

        if isinstance(random_state, _GivenParameters):
            self._bind_parameters(random_state.arrays)
        else:
            self._draw_parameters(random_state)

    @classmethod
    def _over(cls, arrays, *args, **kwargs):
        """A layer whose parameters are `arrays` (name + suffix -> array of
        the layer's dtype and shape), not copies: a network builds its
        layers over views of its flat buffer this way, so that the buffer is
        the one owner and nothing is drawn only to be thrown away.

        The other arguments are the constructor's, but random_state.
        """
        return cls(*args, random_state=_GivenParameters(arrays), **kwargs)

    def _parameter_shapes(self):
        """``{name: shape}`` of one direction's four parameters."""
        return parameter_shapes(self.gates, self.input_size, self.hidden_size)

    def _draw_parameters(self, random_state):
        H, D, G = self.hidden_size, self.input_size, self.gates
        # The parameters, plus the float64 draw of the largest one.
        check_memory(self.directions * parameter_count(G, D, H) * self.dtype.itemsize
                     + G * H * max(D, H) * 8,
                     f"{type(self).__name__}(input_size={D}, hidden_size={H}) "
                     f"(its parameters)", "use a smaller hidden_size")
        rng = _check_random_state(random_state)
        bound = 1.0 / np.sqrt(H)
        shapes = self._parameter_shapes()
        for suffix in self._suffixes():
            for name in PARAMS:
                value = rng.uniform(-bound, bound, size=shapes[name]).astype(self.dtype)
                setattr(self, name + suffix, value)

    def _bind_parameters(self, arrays):
        shapes = self._parameter_shapes()
        for suffix in self._suffixes():
            for name in PARAMS:
                array = arrays[name + suffix]
                # Invariant the kernels rely on to read them in place.
                assert array.shape == shapes[name] and array.dtype == self.dtype \
                    and array.flags.c_contiguous, (name + suffix, array.shape, array.dtype)
                setattr(self, name + suffix, array)

    @property
    def directions(self):
        """1, or 2 for a bidirectional layer."""
        return 2 if self.bidirectional else 1

    def _suffixes(self):
        return SUFFIXES[: self.directions]

    def _direction(self, d):
        """Direction d (0 forward, 1 reverse) as a unidirectional layer of
        the same class that shares this layer's arrays."""
        if not self.bidirectional:
            return self
        layer = copy.copy(self)
        layer.bidirectional = False
        for name in PARAMS:
            setattr(layer, name, getattr(self, name + SUFFIXES[d]))
        for name in PARAMS:
            layer.__dict__.pop(name + "_reverse", None)
        return layer

    def __repr__(self):
        bidirectional = ", bidirectional=True" if self.bidirectional else ""
        precision = getattr(self, "precision", None)
        reduced = f", precision={precision!r}" if precision else ""
        return (
            f"{type(self).__name__}(input_size={self.input_size}, "
            f"hidden_size={self.hidden_size}, dtype={self.dtype.name}{bidirectional}{reduced})"
        )

    # ------------------------------------------------------------------ torch

    @classmethod
    def from_torch(cls, module_or_state_dict, dtype=None, layer=None, **layer_kwargs):
        """Build a layer from the matching torch module or its state dict.

        Parameters
        ----------
        module_or_state_dict : torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN or mapping
            A torch module of this layer's kind (LSTMs without projection;
            ``batch_first`` does not matter; ``bidirectional`` and an RNN's
            ``nonlinearity`` are taken over), or a mapping with keys
            ``'weight_ih_l0'``, ``'weight_hh_l0'`` and, optionally,
            ``'bias_ih_l0'``, ``'bias_hh_l0'`` (missing biases are zeros, as
            for ``bias=False``), and the same keys ending in ``'_reverse'``
            for a bidirectional layer. Values may be tensors or array-likes.
        layer : int, optional
            Which layer of a stacked (``num_layers > 1``) module to take:
            stack the layers taken one by one to rebuild it. Required when
            there are several.
        dtype : numpy dtype, optional
            dtype of the new layer (float32 or float64); the weights are
            converted to it. By default the weights' own dtype if it is
            float32 or float64, else float32: a half-precision (bfloat16 or
            float16) module, or integer weights, give a float32 layer.
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
            If the module is not of this kind, ``layer`` is missing or out of
            range, or the weights are missing or have inconsistent shapes.
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
            if getattr(module, "proj_size", 0):
                raise ValueError("LSTMs with proj_size > 0 are not supported")
            state = module.state_dict()

        pattern = re.compile(r"(?:weight|bias)_(?:ih|hh)_l(\d+)(?:_reverse)?")
        matches = {key: pattern.fullmatch(key) for key in state}
        unexpected = sorted(k for k, m in matches.items() if m is None)
        if unexpected:
            raise ValueError(
                f"unsupported keys in the state dict {unexpected}: only {kind}s without "
                f"projection can be converted"
            )
        n_layers = 1 + max((int(m.group(1)) for m in matches.values()), default=0)
        if layer is None and n_layers > 1:
            raise ValueError(f"the {kind} has {n_layers} layers: pass layer=0..{n_layers - 1} "
                             f"to take one (and stack them to rebuild it)")
        index = 0 if layer is None else layer
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < n_layers:
            raise ValueError(f"layer must be an integer in [0, {n_layers}), got {layer!r}")
        tag = f"_l{index}"
        bidirectional = any(key.endswith(tag + "_reverse") for key in state)
        suffixes = SUFFIXES[: 2 if bidirectional else 1]
        for suffix in suffixes:
            for name in ("weight_ih", "weight_hh"):
                if name + tag + suffix not in state:
                    raise ValueError(f"state dict must contain {name + tag + suffix!r}")

        weight_ih = _to_numpy(state["weight_ih" + tag])
        weight_hh = _to_numpy(state["weight_hh" + tag])
        if dtype is None:
            dtype = weight_ih.dtype if weight_ih.dtype in (np.float32, np.float64) \
                else np.float32
        if weight_ih.ndim != 2 or weight_hh.ndim != 2:
            raise ValueError(f"weight_ih{tag} and weight_hh{tag} must be 2-D")
        H = weight_hh.shape[1]
        D = weight_ih.shape[1]
        expected = parameter_shapes(cls.gates, D, H)
        arrays = {}
        for suffix in suffixes:
            for name in PARAMS:
                key = name + tag + suffix
                if key in state:
                    value = np.array(_to_numpy(state[key]), dtype=dtype)
                elif name.startswith("bias"):
                    value = np.zeros(expected[name], dtype=dtype)
                if value.shape != expected[name]:
                    raise ValueError(
                        f"inconsistent {kind} weight shapes: {key} has shape {value.shape}, "
                        f"expected {expected[name]}"
                    )
                arrays[name + suffix] = value
        return cls._over(arrays, D, H, dtype=dtype, bidirectional=bidirectional,
                         **init_kwargs)

    def to_torch_state_dict(self):
        """Parameters as a state dict that the torch module's ``load_state_dict`` accepts.

        Returns
        -------
        dict of torch.Tensor
            Keys ``'weight_ih_l0'``, ``'weight_hh_l0'``, ``'bias_ih_l0'``,
            ``'bias_hh_l0'`` (and the same with ``'_reverse'`` for a
            bidirectional layer); copies, in the layer's dtype.
        """
        import torch

        return {
            name + "_l0" + suffix: torch.tensor(getattr(self, name + suffix))
            for suffix in self._suffixes()
            for name in PARAMS
        }

    # ------------------------------------------------------------- validation

    def _input(self, X):
        """X as a (B, T, D) array of the layer's dtype, with B, T >= 1."""
        # Shape first, on the array as given (a zero-stride view of an absurd
        # shape costs nothing until it is copied), then the copy's memory.
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise TypeError(f"X must be a real numeric array, got dtype {X.dtype}")
        if X.ndim != 3 or X.shape[2] != self.input_size:
            raise ValueError(
                f"X must have shape (B, T, {self.input_size}), got {X.shape}"
            )
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"X must have at least one sample and one step, got {X.shape}")
        if X.dtype != self.dtype or not X.flags.c_contiguous:
            check_memory(X.size * self.dtype.itemsize,
                         f"a contiguous {self.dtype.name} copy of X with shape {X.shape}",
                         "use fewer sequences per call")
        return _float_array(X, "X", self.dtype)

    def _state_shape(self, B):
        """(B, H), or (2, B, H) for a bidirectional layer (torch's order)."""
        return (B, self.hidden_size) if not self.bidirectional else (2, B, self.hidden_size)

    def _initial_state(self, state, name, B):
        shape = self._state_shape(B)
        if state is None:
            return np.zeros(shape, dtype=self.dtype)
        state = _float_array(state, name, self.dtype)
        if state.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {state.shape}")
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

    gates = _core.CELLS["lstm"].gates
    torch_name = "LSTM"

    @classmethod
    def _init_kwargs_from_torch_mode(cls, mode):
        if mode not in (None, "LSTM"):
            raise ValueError(f"expected an LSTM module, got mode {mode!r}")
        return {}


class GRUBase(RecurrentLayerBase):
    """A GRU layer's parameters: gates r, z, n."""

    gates = _core.CELLS["gru"].gates
    torch_name = "GRU"

    @classmethod
    def _init_kwargs_from_torch_mode(cls, mode):
        if mode not in (None, "GRU"):
            raise ValueError(f"expected a GRU module, got mode {mode!r}")
        return {}


class RNNBase(RecurrentLayerBase):
    """A plain RNN layer's parameters: one gate, tanh or relu."""

    gates = _core.CELLS["rnn_tanh"].gates  # rnn_relu's too
    torch_name = "RNN"
    NONLINEARITIES = ("tanh", "relu")

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", dtype=np.float32,
                 random_state=None, bidirectional=False):
        if nonlinearity not in self.NONLINEARITIES:
            raise ValueError(
                f"nonlinearity must be one of {self.NONLINEARITIES}, got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, dtype=dtype, random_state=random_state,
                         bidirectional=bidirectional)

    @classmethod
    def _init_kwargs_from_torch_mode(cls, mode):
        modes = {"RNN_" + n.upper(): n for n in cls.NONLINEARITIES}
        if mode not in modes:
            raise ValueError(f"expected an RNN module (tanh or relu), got mode {mode!r}")
        return {"nonlinearity": modes[mode]}

    def __repr__(self):
        bidirectional = ", bidirectional=True" if self.bidirectional else ""
        return (
            f"{type(self).__name__}(input_size={self.input_size}, "
            f"hidden_size={self.hidden_size}, nonlinearity={self.nonlinearity!r}, "
            f"dtype={self.dtype.name}{bidirectional})"
        )
