"""Reduced-precision weights: int8 with a scale per row, and bfloat16.

The arithmetic is the kernels' (csrc/lstmf.h, LSTMF_PREC_*); this module
only turns float weights into what they read, in NumPy, once per
``quantize`` call. A precision's name is what users write:
``layer.quantize("int8")``, ``est.quantize("bfloat16")``.
"""

import warnings

import numpy as np

from . import _core

#: The reduced precisions, by their public names.
PRECISIONS = tuple(sorted(_core.PRECISIONS))


#: The dot-product instructions (``_core.DOT_PRODUCTS``) that make each
#: precision fast; without them the kernels sum in portable loops.
DOT_PRODUCT_OF = {"int8": "avx512_vnni", "bfloat16": "avx512_bf16"}


def check_precision(precision):
    """``precision`` if it names a reduced precision, else ValueError."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    return precision


def warn_if_slow(precision, stacklevel=3):
    """A UserWarning when this CPU (or LSTM_FAST_ISA / LSTM_FAST_DOT) leaves
    `precision` to the portable loops, which are slower than float32 (up to
    several times): the results are the same, the speed-up is not there."""
    needed = DOT_PRODUCT_OF[precision]
    if needed in _core.dot_products_active():
        return
    if needed in _core.dot_products_supported():
        why = "LSTM_FAST_DOT turned them off"
    elif _core.isa_active() != "avx512":
        why = f"the {_core.isa_active()} kernels in use have none"
    else:
        why = "this CPU lacks them"
    warnings.warn(
        f"{precision} runs portable loops here, not {needed} dot products ({why}): slower "
        f"than float32 (up to several times), with the same predictions and the same smaller "
        f"file. lstm_fast.show_config() says which path each precision takes.",
        UserWarning, stacklevel=stacklevel)


def int8_rows(w):
    """Symmetric int8 quantization of each row of w.

    Parameters
    ----------
    w : ndarray of shape (rows, K)

    Returns
    -------
    q : ndarray of int8, shape (rows, K)
        ``round(w / scale)`` per row, in [-127, 127].
    scale : ndarray of float32, shape (rows,)
        ``max |row| / 127``; 0 for a row of zeros (all its q are 0).
    """
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights to quantize must be finite; this layer holds NaN or inf")
    scale = (np.abs(w).max(axis=1) / 127.0).astype(np.float32)
    safe = np.where(scale > 0, scale, 1).astype(np.float64)[:, None]
    q = np.clip(np.rint(w / safe), -127, 127).astype(np.int8)
    return q, scale


def bfloat16_bits(w):
    """float values -> their bfloat16 bits (uint16), rounded to nearest, ties
    to even, as the kernels round x and h."""
    w = np.asarray(w, dtype=np.float32)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights to convert must be finite; this layer holds NaN or inf")
    u = w.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def from_bfloat16_bits(bits):
    """bfloat16 bits (uint16) -> float32 values."""
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


class ReducedWeights:
    """One direction's weights in a reduced precision, as the kernels take
    them: ``w_ih``, ``w_hh`` (int8, or uint16 bfloat16 bits), their row
    scales (int8; None for bfloat16) and the float32 biases."""

    __slots__ = ("precision", "w_ih", "w_hh", "scale_ih", "scale_hh", "b_ih", "b_hh",
                 "_packed")

    def __init__(self, precision, w_ih, w_hh, scale_ih, scale_hh, b_ih, b_hh):
        self.precision = precision
        self.w_ih, self.w_hh = w_ih, w_hh
        self.scale_ih, self.scale_hh = scale_ih, scale_hh
        self.b_ih, self.b_hh = b_ih, b_hh
        self._packed = {}  # cell -> (packed_ih, packed_hh), this process's layout

    def __getstate__(self):
        # The packed copies are this process's (its ISA's layout): not kept.
        return {name: getattr(self, name) for name in self.__slots__ if name != "_packed"}

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)
        self._packed = {}

    def packed(self, cell):
        """The weights packed as the kernels read them, once per process
        (``_core.pack_reduced``): calls then skip packing them."""
        if cell not in self._packed:
            self._packed[cell] = _core.pack_reduced(cell, self.w_ih, self.w_hh, self.b_ih,
                                                    self.b_hh, self.precision, self.scale_ih,
                                                    self.scale_hh)
        return self._packed[cell]

    @classmethod
    def of(cls, precision, w_ih, w_hh, b_ih, b_hh):
        """The reduced weights of float ones."""
        check_precision(precision)
        b_ih, b_hh = (np.ascontiguousarray(b, np.float32) for b in (b_ih, b_hh))
        if precision == "int8":
            (qi, si), (qh, sh) = int8_rows(w_ih), int8_rows(w_hh)
            return cls(precision, qi, qh, si, sh, b_ih, b_hh)
        return cls(precision, bfloat16_bits(w_ih), bfloat16_bits(w_hh), None, None, b_ih, b_hh)

    def kernel_args(self, cell=None):
        """The weights as ``_core.forward`` takes them, then its keywords
        (with the packed copies for `cell`, if given)."""
        return ((self.w_ih, self.w_hh, self.b_ih, self.b_hh),
                {"precision": self.precision, "scale_ih": self.scale_ih,
                 "scale_hh": self.scale_hh,
                 "packed": None if cell is None else self.packed(cell)})

    def stream_layer(self, cell):
        """The layer tuple ``_core.Stream`` takes."""
        return (cell, self.w_ih, self.w_hh, self.b_ih, self.b_hh, self.precision,
                self.scale_ih, self.scale_hh)

    def dequantized(self):
        """``(w_ih, w_hh)`` as float32: the values the products use."""
        if self.precision == "int8":
            return (self.w_ih * self.scale_ih[:, None], self.w_hh * self.scale_hh[:, None])
        return from_bfloat16_bits(self.w_ih), from_bfloat16_bits(self.w_hh)

    def arrays(self):
        """Name -> array, for saving (the scales only for int8)."""
        out = {"w_ih": self.w_ih, "w_hh": self.w_hh, "b_ih": self.b_ih, "b_hh": self.b_hh}
        if self.precision == "int8":
            out.update(scale_ih=self.scale_ih, scale_hh=self.scale_hh)
        return out

    @classmethod
    def from_arrays(cls, precision, arrays):
        """Inverse of :meth:`arrays`, checking what a file gave."""
        check_precision(precision)
        kind = np.int8 if precision == "int8" else np.uint16
        w_ih, w_hh = (np.ascontiguousarray(arrays[k]) for k in ("w_ih", "w_hh"))
        if w_ih.dtype != kind or w_hh.dtype != kind:
            raise ValueError(f"{precision} weights must be stored as {np.dtype(kind).name}")
        scales = (None, None)
        if precision == "int8":
            scales = tuple(np.ascontiguousarray(arrays[k], np.float32)
                           for k in ("scale_ih", "scale_hh"))
            if not all(np.all(np.isfinite(s) & (s >= 0)) for s in scales):
                raise ValueError("int8 row scales must be finite and >= 0")
        reduced = cls(precision, w_ih, w_hh, *scales,
                      *(np.ascontiguousarray(arrays[k], np.float32) for k in ("b_ih", "b_hh")))
        with np.errstate(over="ignore"):
            if not all(np.all(np.isfinite(w)) for w in reduced.dequantized()):
                raise ValueError("the weights their values stand for must be finite "
                                 "(int8 times its row scale, or bfloat16)")
        return reduced
