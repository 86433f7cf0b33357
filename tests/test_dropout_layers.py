"""Variational dropout in the kernels (``dropout_masks`` of the layers).

With the same masks, every cell's training forward and backward through the
kernels agree with the NumPy reference (float64, 1e-10 normwise; float32
1e-5 against the float64 reference), their gradients with float64 central
differences (max_rel_error 1e-6, with elements under 1e-3 measured against
1e-3: the differences' rounding, about 1e-10 here, is not relative), and the results are the same bits on 1
and 2 threads and on every ISA path. The masks are drawn once per call and
held for every step; inference is untouched by them.
"""

import numpy as np
import pytest

import lstm_fast
from _helpers import max_rel_error, normwise_error, run_on_isa
from lstm_fast import layers, reference
from lstm_fast.layers import dropout_masks

CELLS = {
    "lstm": (layers.LSTM, reference.LSTM, {}),
    "gru": (layers.GRU, reference.GRU, {}),
    "rnn_tanh": (layers.RNN, reference.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (layers.RNN, reference.RNN, {"nonlinearity": "relu"}),
}
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _pair(cell, D, H, dtype, bidirectional=False, seed=0):
    fast_cls, ref_cls, kw = CELLS[cell]
    fast = fast_cls(D, H, dtype=dtype, random_state=seed, bidirectional=bidirectional, **kw)
    ref = ref_cls(D, H, dtype=np.float64, random_state=seed, bidirectional=bidirectional, **kw)
    for name in (p + s for s in fast._suffixes() for p in PARAMS):
        setattr(ref, name, np.array(getattr(fast, name), np.float64))
    return fast, ref


def _problem(B, T, D, H, dtype, bidirectional, seed=1, rate=0.3, recurrent_rate=0.4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, T, D)).astype(dtype)
    lengths = rng.integers(1, T + 1, B)
    lengths[0] = T
    X[np.arange(T)[None, :] >= lengths[:, None]] = np.nan  # padding nothing may read
    dirs = 2 if bidirectional else 1
    dY = rng.standard_normal((B, T, dirs * H)).astype(dtype)
    dh_n = rng.standard_normal((dirs, B, H) if bidirectional else (B, H)).astype(dtype)
    masks = dropout_masks(seed, B, D, H, rate, recurrent_rate, bidirectional, dtype)
    return X, lengths, dY, dh_n, masks


def _run(layer, X, lengths, dY, dh_n, masks):
    """Outputs and gradients of one training forward + backward, by name."""
    out = layer.forward(np.nan_to_num(X), lengths=lengths, training=True,
                        dropout_masks=masks)
    Y, final, cache = out
    h_n = final[0] if isinstance(final, tuple) else final
    upstream = {"dY": dY, "dh_n": dh_n}
    grads = layer.backward(cache, **upstream)
    result = {"Y": Y, "h_n": h_n}
    result.update({"grad_" + k: v for k, v in grads.items()})
    return result


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_agree_with_the_reference_given_the_same_masks(cell, bidirectional, dtype):
    fast, ref = _pair(cell, 5, 9, dtype, bidirectional)
    X, lengths, dY, dh_n, masks = _problem(6, 7, 5, 9, dtype, bidirectional)
    got = _run(fast, X, lengths, dY, dh_n, masks)
    want = _run(ref, X.astype(np.float64), lengths, dY.astype(np.float64),
                dh_n.astype(np.float64), tuple(np.float64(m) for m in masks))
    tol = 1e-10 if dtype == np.float64 else 1e-5
    assert set(got) == set(want)
    for key in want:
        assert normwise_error(got[key], want[key]) < tol, key
    # The masks did something: without them the gradients differ.
    plain = _run(ref, X.astype(np.float64), lengths, dY.astype(np.float64),
                 dh_n.astype(np.float64), None)
    assert normwise_error(plain["grad_weight_hh"], want["grad_weight_hh"]) > 1e-3
    assert normwise_error(plain["grad_X"], want["grad_X"]) > 1e-3


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_match_finite_differences_with_a_fixed_mask(cell):
    B, T, D, H = 3, 4, 3, 5
    fast, _ = _pair(cell, D, H, np.float64, bidirectional=True)
    X, lengths, dY, dh_n, masks = _problem(B, T, D, H, np.float64, True)
    X = np.nan_to_num(X)
    grads = _run(fast, X, lengths, dY, dh_n, masks)

    def loss():
        Y, final, _ = fast.forward(X, lengths=lengths, training=True, dropout_masks=masks)
        h_n = final[0] if isinstance(final, tuple) else final
        live = (np.arange(T)[None, :] < lengths[:, None])[..., None]
        return np.sum(np.where(live, Y * dY, 0)) + np.sum(h_n * dh_n)

    def numeric(array, index, eps=1e-6):
        keep = array[index]
        array[index] = keep + eps
        up = loss()
        array[index] = keep - eps
        down = loss()
        array[index] = keep
        return (up - down) / (2 * eps)

    for name in ("weight_ih", "weight_hh", "bias_hh", "weight_hh_reverse"):
        array = getattr(fast, name)
        fd = np.array([numeric(array, i) for i in np.ndindex(array.shape)]).reshape(array.shape)
        assert max_rel_error(grads["grad_" + name], fd, tiny=1e-3) < 1e-6, name
    live_x = [(b, t, k) for b in range(B) for t in range(lengths[b]) for k in range(D)]
    fd_x = np.array([numeric(X, i) for i in live_x])
    assert max_rel_error(np.array([grads["grad_X"][i] for i in live_x]), fd_x, tiny=1e-3) < 1e-6


@pytest.mark.parametrize("cell", CELLS)
def test_same_bits_on_one_and_two_threads(cell):
    # Few rows and a wide H: two threads split each step's columns.
    fast, _ = _pair(cell, 6, 300, np.float32)
    runs = []
    for threads in (1, 2):
        X, lengths, dY, dh_n, masks = _problem(3, 5, 6, 300, np.float32, False)
        before = lstm_fast.get_num_threads()
        lstm_fast.set_num_threads(threads)
        try:
            runs.append(_run(fast, X, lengths, dY, dh_n, masks))
        finally:
            lstm_fast.set_num_threads(before)
    for key in runs[0]:
        np.testing.assert_array_equal(runs[0][key], runs[1][key], err_msg=key)


CHILD = r"""
import sys
import numpy as np
import lstm_fast._core as core
from lstm_fast.layers import GRU, LSTM, dropout_masks

results = {"isa": np.array(core.isa_active())}
rng = np.random.default_rng(0)
X = rng.standard_normal((4, 6, 5))
for cls in (LSTM, GRU):
    layer = cls(5, 19, dtype=np.float64, random_state=0, bidirectional=True)
    masks = dropout_masks(1, 4, 5, 19, 0.3, 0.3, True, np.float64)
    Y, final, cache = layer.forward(X, lengths=[6, 2, 5, 6], training=True, dropout_masks=masks)
    grads = layer.backward(cache, dY=np.ones_like(Y))
    results[cls.__name__ + "/Y"] = Y
    for key, value in grads.items():
        results[cls.__name__ + "/" + key] = value
np.savez(sys.argv[1], **results)
"""


def test_every_isa_path_agrees(tmp_path):
    import lstm_fast._core as core

    runs = {isa: run_on_isa(CHILD, tmp_path / f"{isa}.npz", isa)
            for isa in core.isas_supported()}
    assert len(runs) >= 1
    base = runs.pop("generic")
    for isa, got in runs.items():
        assert str(got["isa"]) == isa
        for key in base:
            if key != "isa":
                assert normwise_error(got[key], base[key]) < 1e-12, (isa, key)


def test_inference_is_untouched_and_refuses_masks():
    layer, _ = _pair("lstm", 3, 4, np.float32)
    X = np.ones((2, 5, 3), np.float32)
    masks = dropout_masks(0, 2, 3, 4, 0.5, 0.5)
    with pytest.raises(ValueError, match="training"):
        layer.forward(X, dropout_masks=masks)
    Y_plain, _ = layer.forward(X)
    Y_train, _, _ = layer.forward(X, training=True)
    np.testing.assert_array_equal(Y_plain, Y_train)


@pytest.mark.parametrize("masks, match", [
    ((np.ones((2, 4)), None), "x_mask must have shape"),
    ((None, np.ones((2, 3))), "h_mask must have shape"),
    ((-np.ones((2, 3)), None), ">= 0"),
    ((np.full((2, 3), np.nan), None), ">= 0"),
    ((None, None, None), "pair"),
])
def test_bad_masks_are_refused_with_the_reason(masks, match):
    layer, _ = _pair("gru", 3, 4, np.float32)
    with pytest.raises(ValueError, match=match):
        layer.forward(np.ones((2, 5, 3)), training=True, dropout_masks=masks)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.2", True, np.nan])
def test_rates_outside_zero_one_are_refused(rate):
    with pytest.raises(ValueError, match="dropout must be a number in \\[0, 1\\)"):
        dropout_masks(0, 2, 3, 4, dropout=rate)


def test_masks_are_per_sequence_inverted_and_reproducible():
    x_mask, h_mask = dropout_masks(7, 4000, 3, 5, 0.25, 0.5, bidirectional=True)
    assert x_mask.shape == (2, 4000, 3) and h_mask.shape == (2, 4000, 5)
    assert set(np.unique(x_mask)) == {0.0, np.float32(1 / 0.75)}
    assert set(np.unique(h_mask)) == {0.0, 2.0}
    assert abs((x_mask == 0).mean() - 0.25) < 0.02
    assert abs((h_mask == 0).mean() - 0.5) < 0.02
    again = dropout_masks(7, 4000, 3, 5, 0.25, 0.5, bidirectional=True)
    np.testing.assert_array_equal(x_mask, again[0])
    assert dropout_masks(0, 2, 3, 4) == (None, None)
