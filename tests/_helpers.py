"""Shared helpers of the tests of the kernel-backed layer (lstm_fast.layers).

Imported by the test modules as ``from _helpers import ...`` (pytest puts
this directory on ``sys.path``; there is no ``tests/__init__.py``).

Two error metrics are used, each stated where it is used:

* :func:`max_rel_error` -- elementwise ``|a - b| / (|a| + |b|)``, maximised
  over the array. Strict: every single element must agree. Used for finite
  differences in float64.
* :func:`normwise_error` -- ``max|a - b| / max|oracle|``: the largest absolute
  deviation measured in units of the largest oracle entry. Robust to entries
  that are tiny only by cancellation. Used to compare float32 kernels with a
  float64 oracle.
"""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np

from lstm_fast.layers import LSTM as FastLSTM
from lstm_fast.reference import LSTM as ReferenceLSTM

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
#: A ```python block of a markdown page and the ``` block of what it prints.
EXAMPLE_BLOCK = re.compile(r"```python\n(.*?)```\n```\n(.*?)```", re.S)
_DECIMAL = re.compile(r"-?\d+\.\d+")

PARAM_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
GRAD_KEYS = PARAM_KEYS + ("X", "h0", "c0")
OUTPUT_KEYS = ("Y", "h_n", "c_n")
#: Every array a forward + backward produces, as named by :func:`run_layer`.
RESULT_KEYS = OUTPUT_KEYS + tuple("grad_" + k for k in GRAD_KEYS)

__all__ = [
    "FastLSTM", "ReferenceLSTM", "PARAM_KEYS", "GRAD_KEYS", "OUTPUT_KEYS", "RESULT_KEYS",
    "max_rel_error", "normwise_error", "make_problem", "copy_layer", "as_dtype",
    "run_layer", "run_reference64", "loss", "run_on_isa",
]


# ------------------------------------------------------------------- metrics


def max_rel_error(a, b, tiny=1e-8):
    """Largest elementwise ``|a - b| / max(|a| + |b|, tiny)`` over the array."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), tiny)))


def normwise_error(value, oracle):
    """``max|value - oracle| / max|oracle|`` (the absolute error if the oracle is 0)."""
    value = np.asarray(value, dtype=np.float64)
    oracle = np.asarray(oracle, dtype=np.float64)
    assert value.shape == oracle.shape, (value.shape, oracle.shape)
    if value.size == 0:
        return 0.0
    scale = float(np.max(np.abs(oracle)))
    diff = float(np.max(np.abs(value - oracle)))
    return diff / scale if scale > 0 else diff


# ------------------------------------------------------------------ problems


def make_problem(B=3, T=4, D=2, H=3, dtype=np.float64, seed=0, lengths="random",
                 states=True, weight_scale=1.0, layer_cls=FastLSTM):
    """A layer, its inputs and random upstream gradients.

    Parameters
    ----------
    lengths : "random", None or sequence of int
        "random": drawn in [1, T], with the first sample of full length T and,
        when B > 1, the last of length 1 (both extremes always present).
    states : bool
        Random h0, c0 if True, else None (zeros).
    weight_scale : float
        Parameters are drawn from uniform(-weight_scale, weight_scale), larger
        than torch's default init so that the gates leave their linear regime.

    Returns
    -------
    layer, data, upstream
        ``data`` has keys X, h0, c0, lengths; ``upstream`` has dY, dh_n, dc_n.
    """
    rng = np.random.default_rng(seed)
    layer = layer_cls(D, H, dtype=dtype, random_state=seed)
    for name in PARAM_KEYS:
        shape = getattr(layer, name).shape
        setattr(layer, name, rng.uniform(-weight_scale, weight_scale, size=shape).astype(dtype))
    if isinstance(lengths, str):
        assert lengths == "random"
        lengths = rng.integers(1, T + 1, size=B)
        lengths[0] = T
        if B > 1:
            lengths[-1] = 1
    elif lengths is not None:
        lengths = np.array(lengths)
    data = {
        "X": rng.standard_normal((B, T, D)).astype(dtype),
        "h0": rng.uniform(-0.8, 0.8, size=(B, H)).astype(dtype) if states else None,
        "c0": rng.standard_normal((B, H)).astype(dtype) if states else None,
        "lengths": lengths,
    }
    upstream = {
        "dY": rng.standard_normal((B, T, H)).astype(dtype),
        "dh_n": rng.standard_normal((B, H)).astype(dtype),
        "dc_n": rng.standard_normal((B, H)).astype(dtype),
    }
    return layer, data, upstream


def copy_layer(layer, cls, dtype=None):
    """A layer of class `cls` with (copies of) the parameters of `layer`."""
    dtype = layer.dtype if dtype is None else np.dtype(dtype)
    new = cls(layer.input_size, layer.hidden_size, dtype=dtype, random_state=0)
    for name in PARAM_KEYS:
        setattr(new, name, np.array(getattr(layer, name), dtype=dtype))
    return new


def as_dtype(arrays, dtype):
    """Copy of a dict of arrays (None and lengths kept as they are) in `dtype`."""
    return {
        k: (v if v is None or k == "lengths" else np.asarray(v, dtype=dtype))
        for k, v in arrays.items()
    }


# ----------------------------------------------------------------------- runs


def run_layer(layer, data, upstream):
    """One training forward and its backward; every array in one flat dict.

    Keys are :data:`RESULT_KEYS`: ``Y``, ``h_n``, ``c_n`` and ``grad_<name>``
    for every name of :data:`GRAD_KEYS`.
    """
    Y, (h_n, c_n), cache = layer.forward(
        data["X"], data["h0"], data["c0"], data["lengths"], training=True
    )
    grads = layer.backward(cache, **upstream)
    assert set(grads) == set(GRAD_KEYS)
    result = {"Y": Y, "h_n": h_n, "c_n": c_n}
    result.update({"grad_" + k: v for k, v in grads.items()})
    return result


def run_reference64(layer, data, upstream):
    """:func:`run_layer` of the NumPy reference in float64, on the same
    parameters and inputs as `layer` (cast exactly from float32 if needed)."""
    reference = copy_layer(layer, ReferenceLSTM, np.float64)
    return run_layer(reference, as_dtype(data, np.float64), as_dtype(upstream, np.float64))


def loss(layer, data, upstream):
    """Scalar loss whose gradients w.r.t. Y, h_n, c_n are the upstream arrays."""
    Y, (h_n, c_n) = layer.forward(data["X"], data["h0"], data["c0"], data["lengths"])
    return (
        np.sum(Y * upstream["dY"])
        + np.sum(h_n * upstream["dh_n"])
        + np.sum(c_n * upstream["dc_n"])
    )


# ------------------------------------------------------------- ISA children


def run_on_isa(child, out_path, isa, **env_vars):
    """Run the script ``child``, which saves an .npz to its ``sys.argv[1]``,
    in a Python subprocess with ``LSTM_FAST_ISA=isa`` (the ISA is chosen once,
    at import) and any other environment variables given (e.g.
    ``LSTM_FAST_DOT="none"``); return the saved arrays as a dict.

    The child runs in ``out_path``'s folder, away from the source tree, which
    ``python -c`` would put first on ``sys.path``.
    """
    env = dict(os.environ, LSTM_FAST_ISA=isa, **env_vars)
    proc = subprocess.run([sys.executable, "-c", child, str(out_path)], env=env,
                          cwd=out_path.parent, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with np.load(out_path) as saved:
        return {k: saved[k] for k in saved.files}


# ------------------------------------------------------------- doc examples


def read_doc(path):
    """The text of a page of the repository (``"README.md"``,
    ``"docs/..."``); skips the test when the tests run without the source
    tree beside them."""
    import pytest

    path = REPO_ROOT / path
    if not path.exists():
        pytest.skip(f"{path} is not beside the tests (installed without the source tree)")
    return path.read_text(encoding="utf-8")


def run_and_compare(code, shown, tmp_path, tolerance, timeout):
    """Run `code` as a script from tmp_path (so it imports the installed
    package, never the source tree); it must print `shown`: the same text,
    each decimal number within `tolerance` (numbers from a trained model
    round differently on another CPU)."""
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed, shown = proc.stdout.splitlines(), shown.splitlines()
    assert len(printed) == len(shown), proc.stdout
    for got, want in zip(printed, shown):
        assert _DECIMAL.sub("#", got) == _DECIMAL.sub("#", want), (got, want)
        for g, w in zip(_DECIMAL.findall(got), _DECIMAL.findall(want)):
            assert abs(float(g) - float(w)) <= tolerance, (got, want)
