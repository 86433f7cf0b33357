"""int8 and bfloat16 weights (``layer.quantize``): what the kernels compute
against a NumPy emulation of the same arithmetic, against float32, on every
ISA and dot-product path, and what they refuse.

- One step from a given state, where the emulation sees the kernels' exact
  inputs: int8 rows quantized as the kernels do (scale max|row| / 127,
  rounded to nearest even), exact integer sums, float32 scaling; bfloat16
  rounding of x, h and the weights with float64 sums. Bound 2e-6 on the
  outputs (float32 rounding of the scaling and the activations).
- Whole sequences against float32 with the same (dequantized) weights:
  only the rows of x and h are rounded then, ~1/254 (int8) and 2^-9
  (bfloat16) relative per row; bounds 2e-2 and 1e-2 on unit-variance input.
- int8 sums are exact, so the VNNI and portable paths give the same bits
  (forced with LSTM_FAST_DOT), and so do 1 and 2 threads and a sample alone
  or in a batch (each row has its own scale).
"""

import numpy as np
import pytest

import lstm_fast
import lstm_fast._core as core
from _helpers import run_on_isa
from lstm_fast._quantize import bfloat16_bits, from_bfloat16_bits, int8_rows
from lstm_fast.layers import GRU, LSTM, RNN

CELLS = {
    "lstm": lambda D, H, **kw: LSTM(D, H, **kw),
    "gru": lambda D, H, **kw: GRU(D, H, **kw),
    "rnn_tanh": lambda D, H, **kw: RNN(D, H, **kw),
    "rnn_relu": lambda D, H, **kw: RNN(D, H, nonlinearity="relu", **kw),
}
PRECISIONS = ("int8", "bfloat16")
# Whole sequences against float32 with the same weights (see the docstring).
SEQUENCE_TOL = {"int8": 2e-2, "bfloat16": 1e-2}


def _data(B, T, D, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, T, D)).astype(np.float32)
    lengths = rng.integers(1, T + 1, B)
    return X, lengths


def _states(out):
    """forward's outputs as a flat list: Y, h_n (and c_n)."""
    Y, state = out[0], out[1]
    return [Y, *(state if isinstance(state, tuple) else (state,))]


# ------------------------------------------------------------ emulation

def _emulated_rows(x, precision):
    """Rows of x as the kernels feed them to the products, as float64 values
    times their scale: int8 (q, scale) or bfloat16 values (scale 1)."""
    x = np.asarray(x, np.float32)
    if precision == "bfloat16":
        return from_bfloat16_bits(bfloat16_bits(x)).astype(np.float64), np.ones(len(x))
    amax = np.abs(x).max(axis=1)
    inv = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, 1), 0).astype(np.float32)
    q = np.rint((x * inv[:, None]).astype(np.float32))
    return q.astype(np.float64), (amax / np.float32(127)).astype(np.float32)


def _emulated_product(x, layer, which, precision):
    """x W^T as the kernels compute it, in float64 (exact int8 sums scaled in
    float32 as the kernels scale them)."""
    reduced = layer._reduced[0]
    a, rscale = _emulated_rows(x, precision)
    if precision == "bfloat16":
        w = from_bfloat16_bits(getattr(reduced, "w_" + which)).astype(np.float64)
        return a @ w.T
    q = getattr(reduced, "w_" + which).astype(np.int64)
    sums = (a.astype(np.int64) @ q.T).astype(np.float32)
    scale = (rscale[:, None] * getattr(reduced, "scale_" + which)[None, :]).astype(np.float32)
    return (sums * scale).astype(np.float64)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _emulated_step(cell, layer, precision, x, h, c):
    """One step of `cell` from state (h, c) with the kernels' products."""
    H = layer.hidden_size
    zi = _emulated_product(x, layer, "ih", precision) + layer.bias_ih
    zh = _emulated_product(h, layer, "hh", precision) + layer.bias_hh
    if cell == "lstm":
        z = zi + zh
        i, f, g, o = (z[:, k * H:(k + 1) * H] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        return _sigmoid(o) * np.tanh(c), c
    if cell == "gru":
        r = _sigmoid(zi[:, :H] + zh[:, :H])
        z = _sigmoid(zi[:, H:2 * H] + zh[:, H:2 * H])
        n = np.tanh(zi[:, 2 * H:] + r * zh[:, 2 * H:])
        return (1 - z) * n + z * h, None
    pre = zi + zh
    return (np.tanh(pre) if cell == "rnn_tanh" else np.maximum(pre, 0)), None


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_one_step_matches_the_emulated_arithmetic(cell, precision):
    # D and H past whole vectors and dot-product groups, B past one row block.
    B, D, H = 7, 13, 37
    layer = CELLS[cell](D, H, random_state=1).quantize(precision)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((B, 1, D)).astype(np.float32)
    h0 = rng.uniform(-1, 1, (B, H)).astype(np.float32)
    c0 = rng.standard_normal((B, H)).astype(np.float32)
    if cell == "lstm":
        Y, (h_n, c_n) = layer.forward(x, h0, c0)
    else:
        Y, h_n = layer.forward(x, h0)
        c0 = c_n = None
    h_ref, c_ref = _emulated_step(cell, layer, precision, x[:, 0], h0, c0)
    np.testing.assert_allclose(h_n, h_ref, atol=2e-6, rtol=2e-6)
    np.testing.assert_array_equal(Y[:, 0], h_n)
    if c_ref is not None:
        np.testing.assert_allclose(c_n, c_ref, atol=2e-6, rtol=2e-6)


# ------------------------------------------------------ against float32

@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_sequences_stay_close_to_float32(cell, precision, bidirectional):
    X, lengths = _data(9, 12, 10)
    layer = CELLS[cell](10, 70, random_state=0, bidirectional=bidirectional)
    reduced = layer.quantize(precision)
    # float32 with the values the reduced products use: only x and h rounded.
    same_weights = [_states(type(layer).forward(reduced, X, lengths=lengths))]
    for got, want in zip(_states(reduced.forward(X, lengths=lengths)), same_weights[0]):
        assert np.abs(got - want).max() < SEQUENCE_TOL[precision]
    Y = reduced.forward(X, lengths=lengths)[0]
    pad = np.arange(12)[None, :] >= lengths[:, None]
    assert np.all(Y[pad] == 0) and np.all(np.isfinite(Y))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_weights_are_quantized_per_row(precision):
    layer = LSTM(6, 20, random_state=3)
    reduced = layer.quantize(precision)
    rel = np.abs(reduced.weight_hh - layer.weight_hh).max(axis=1) \
        / np.abs(layer.weight_hh).max(axis=1)
    assert rel.max() <= (0.5 / 127 + 1e-6 if precision == "int8" else 2.0 ** -8)
    np.testing.assert_array_equal(reduced.bias_ih, layer.bias_ih)
    q, scale = int8_rows(np.array([[0.0, 0.0], [1.0, -0.5]]))
    np.testing.assert_array_equal(q, [[0, 0], [127, -64]])
    np.testing.assert_array_equal(scale, np.float32([0, 1 / 127]))


# --------------------------------------------------------------- the bits

@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_same_bits_whatever_the_threads_and_the_batch(cell, precision):
    X, lengths = _data(40, 6, 16, seed=4)
    layer = CELLS[cell](16, 96, random_state=2, bidirectional=True).quantize(precision)
    before = lstm_fast.get_num_threads()
    try:
        runs = []
        for n in (1, 2):
            lstm_fast.set_num_threads(n)
            runs.append(_states(layer.forward(X, lengths=lengths)))
    finally:
        lstm_fast.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    # Sample 5 alone: Y (1, T, 2H), states (2, 1, H).
    alone = _states(layer.forward(X[5:6], lengths=lengths[5:6]))
    np.testing.assert_array_equal(alone[0], runs[0][0][5:6])
    for a, b in zip(alone[1:], runs[0][1:]):
        np.testing.assert_array_equal(a, b[:, 5:6])


def test_a_stream_step_is_the_loops_step():
    """_core.Stream with reduced layers: the same bits as forward, step by
    step, for a stack of an LSTM and a GRU."""
    X, _ = _data(3, 8, 5, seed=5)
    for precision in PRECISIONS:
        first = LSTM(5, 24, random_state=0).quantize(precision)
        second = GRU(24, 16, random_state=1).quantize(precision)
        Y1 = first.forward(X)[0]
        Y2 = second.forward(Y1)[0]
        coef = np.zeros((16, 1), np.float32)
        stream = core.Stream([first._reduced[0].stream_layer("lstm"),
                              second._reduced[0].stream_layer("gru")],
                             coef, np.zeros(1, np.float32), 3)
        for t in range(8):
            stream.step(np.ascontiguousarray(X[:, t]))
            np.testing.assert_array_equal(stream.states()[1][0], Y2[:, t])


CHILD = r"""
import sys
import numpy as np
import lstm_fast._core as core
from lstm_fast.layers import LSTM, GRU, RNN

rng = np.random.default_rng(7)
X = rng.standard_normal((11, 9, 19)).astype(np.float32)
lengths = rng.integers(1, 10, 11)
out = {"isa": np.array(core.isa_active()), "dots": np.array(",".join(core.dot_products_active()))}
for name, layer in (("lstm", LSTM(19, 45, random_state=0, bidirectional=True)),
                    ("gru", GRU(19, 45, random_state=0)),
                    ("rnn_relu", RNN(19, 45, nonlinearity="relu", random_state=0))):
    for precision in ("int8", "bfloat16"):
        out[name + "/" + precision] = layer.quantize(precision).forward(X, lengths=lengths)[0]
np.savez(sys.argv[1], **out)
"""


def _paths():
    """(ISA, LSTM_FAST_DOT) pairs this machine runs: every ISA with its
    dot products, and the avx512 kernels with each dot product forced off."""
    paths = [(isa, "") for isa in core.isas_supported()]
    if core.dot_products_supported():
        paths += [("avx512", "none")] + [("avx512", d) for d in core.dot_products_supported()]
    return paths


def test_every_isa_and_dot_product_path(tmp_path):
    results = {path: run_on_isa(CHILD, tmp_path / f"{path[0]}-{path[1] or 'all'}.npz",
                                path[0], LSTM_FAST_DOT=path[1])
               for path in _paths()}
    for (isa, dots), got in results.items():
        assert str(got["isa"]) == isa
        if dots == "none":
            assert str(got["dots"]) == ""
    base = results[(core.isas_supported()[-1], "")]
    for (isa, dots), got in results.items():
        for key in base:
            if "/" not in key:
                continue
            if isa == core.isas_supported()[-1] and key.endswith("int8"):
                # Exact int32 sums: the dot-product and portable paths agree bit for bit.
                np.testing.assert_array_equal(got[key], base[key], err_msg=f"{isa} {dots} {key}")
            else:
                np.testing.assert_allclose(got[key], base[key], atol=2e-4,
                                           err_msg=f"{isa} {dots} {key}")


WARN_CHILD = r"""
import sys, warnings
import numpy as np
from lstm_fast.layers import LSTM

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for precision in ("int8", "bfloat16"):
        LSTM(3, 4, random_state=0).quantize(precision)
np.savez(sys.argv[1], messages=np.array([str(w.message) for w in caught] + [""]))
"""


@pytest.mark.parametrize("dots", ["none", "avx512_vnni"])
def test_quantize_warns_when_the_portable_loops_will_run(dots, tmp_path):
    if dots != "none" and dots not in core.dot_products_supported():
        pytest.skip(f"this CPU has no {dots}")
    got = run_on_isa(WARN_CHILD, tmp_path / "w.npz", core.isas_supported()[-1],
                     LSTM_FAST_DOT=dots)
    messages = [m for m in got["messages"].tolist() if m]
    slow = {p for p in PRECISIONS for m in messages if m.startswith(f"{p} runs portable loops")}
    # Without dot products both precisions warn; with VNNI alone, only bfloat16.
    assert slow == ({"int8", "bfloat16"} if dots == "none" else {"bfloat16"})
    assert all("slower than float32" in m for m in messages)


# ------------------------------------------------------------ refusals

def test_what_quantize_and_the_reduced_layer_refuse():
    layer = LSTM(3, 4, random_state=0)
    with pytest.raises(ValueError, match="precision must be one of"):
        layer.quantize("int4")
    with pytest.raises(ValueError, match="float32 layers"):
        LSTM(3, 4, dtype=np.float64, random_state=0).quantize("int8")
    reduced = layer.quantize("int8")
    with pytest.raises(ValueError, match="already int8"):
        reduced.quantize("bfloat16")
    X = np.zeros((2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="for inference"):
        reduced.forward(X, training=True)
    bad = LSTM(3, 4, random_state=0)
    bad.weight_hh[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        bad.quantize("int8")
    with pytest.raises(ValueError, match="finite"):
        bad.quantize("bfloat16")
    # The kernels refuse a cache with reduced weights, and float64 calls.
    w = reduced._reduced[0]
    Y = np.zeros((2, 3, 4), np.float32)
    h, c = np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32)
    args, kwargs = w.kernel_args()
    with pytest.raises(ValueError, match="for inference"):
        core.forward("lstm", X, *args, None, None, None, Y, h, c, cache=np.zeros(10, np.float32),
                     cache_index=np.zeros(10, np.int64), **kwargs)
    with pytest.raises(TypeError, match="run float32 calls"):
        core.forward("lstm", X.astype(np.float64), *args, None, None, None, Y, h, c, **kwargs)
    negative = dict(kwargs, scale_hh=-w.scale_hh)
    with pytest.raises(ValueError, match="rejected"):
        core.forward("lstm", X, *args, None, None, None, Y, h, c, **negative)


def test_non_finite_inputs_give_nan_not_a_crash():
    """NaN flows on as in float32. An infinity saturates float32's and
    bfloat16's gates, but has no int8 value: its row's scale is NaN, and so
    are the sample's outputs from that step on."""
    X, _ = _data(3, 4, 5)
    X[1, 2, 3] = np.nan
    X[2, 1, 0] = np.inf
    layer = LSTM(5, 8, random_state=0)
    for precision in PRECISIONS:
        Y = layer.quantize(precision).forward(X)[0]
        assert np.all(np.isfinite(Y[0]))
        assert np.all(np.isnan(Y[1, 2:])) and np.all(np.isfinite(Y[1, :2]))
        if precision == "int8":
            assert np.all(np.isnan(Y[2, 1:]))
        else:
            np.testing.assert_allclose(Y[2], layer.forward(X)[0][2], atol=1e-2)
