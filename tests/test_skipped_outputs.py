"""Results a caller may leave out, and everything else exactly as with them:
backward(..., input_gradient=False), no dLoss/dX (a network's first layer,
whose input is data), and forward(..., return_sequences=False), no Y (a last
layer whose final state is all the head reads).

Metric: bit-for-bit equality (the kernels skip the per-step products
dZ_t W_ih, or the stores of Y, and nothing else).
"""

import numpy as np
import pytest

from lstm_fast import _network, layers, reference

KINDS = {"lstm": ("LSTM", {}), "gru": ("GRU", {}), "rnn": ("RNN", {"nonlinearity": "tanh"})}


def make(module, kind, D, H, **kwargs):
    name, extra = KINDS[kind]
    return getattr(module, name)(D, H, random_state=0, **extra, **kwargs)


def both_ways(layer, kind, B, T, dtype, bidirectional):
    """Gradients of one problem with and without the input gradient."""
    rng = np.random.default_rng(1)
    D, H = layer.input_size, layer.hidden_size
    directions = 2 if bidirectional else 1
    X = rng.standard_normal((B, T, D)).astype(dtype)
    lengths = rng.integers(1, T + 1, B)
    dY = rng.standard_normal((B, T, directions * H)).astype(dtype)
    d_final = [rng.standard_normal(((2, B, H) if bidirectional else (B, H))).astype(dtype)
               for _ in range(2 if kind == "lstm" else 1)]
    results = []
    for wanted in (True, False):
        cache = layer.forward(X, lengths=lengths, training=True)[-1]
        results.append(layer.backward(cache, dY, *d_final, input_gradient=wanted))
    return results


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
# (2, 9, 5, 300): few rows and a large H, where threads split each step's
# column panels of dh_{t-1} (and of dx_t, when wanted) instead of its rows.
@pytest.mark.parametrize("B, T, D, H", [(3, 7, 4, 5), (13, 6, 9, 33), (2, 9, 5, 300)])
def test_kernels_skip_only_the_input_gradient(kind, dtype, bidirectional, B, T, D, H):
    layer = make(layers, kind, D, H, dtype=dtype, bidirectional=bidirectional)
    with_x, without_x = both_ways(layer, kind, B, T, dtype, bidirectional)
    assert "X" in with_x and "X" not in without_x
    assert set(with_x) - {"X"} == set(without_x)
    for name, value in without_x.items():
        np.testing.assert_array_equal(value, with_x[name], err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_reference_takes_the_same_option(kind, bidirectional):
    layer = make(reference, kind, 3, 4, bidirectional=bidirectional)
    with_x, without_x = both_ways(layer, kind, 4, 5, np.float64, bidirectional)
    assert "X" in with_x and set(with_x) - {"X"} == set(without_x)
    for name, value in without_x.items():
        np.testing.assert_array_equal(value, with_x[name], err_msg=name)


def spy_on(monkeypatch, method, keyword):
    """The list that every later call of ``layers.LSTM.<method>`` appends its
    `keyword` argument to (True when not given, the default of both)."""
    asked = []
    original = getattr(layers.LSTM, method)

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get(keyword, True))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(layers.LSTM, method, spy)
    return asked


def test_a_network_asks_every_layer_but_the_first_for_its_input_gradient(monkeypatch):
    net = _network.RecurrentNetwork("lstm", 3, (5, 4, 6), 1, "last", np.float64, False)
    asked = spy_on(monkeypatch, "backward", "input_gradient")
    X = np.random.default_rng(0).standard_normal((2, 7, 3))
    out, state = net.forward(X, training=True)
    net.backward(state, np.ones_like(out))
    assert asked == [True, True, False]  # top layer first


def forward_both_ways(layer, kind, B, T, dtype, bidirectional, training):
    """(with Y, without Y) results of one problem: outputs, states and, when
    training, the gradients of a backward from dh_n (there is no Y to
    differentiate without it)."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((B, T, layer.input_size)).astype(dtype)
    lengths = rng.integers(1, T + 1, B)
    state = (2, B, layer.hidden_size) if bidirectional else (B, layer.hidden_size)
    d_final = [rng.standard_normal(state).astype(dtype) for _ in range(2 if kind == "lstm" else 1)]
    results = []
    for sequences in (True, False):
        out = layer.forward(X, lengths=lengths, training=training, return_sequences=sequences)
        result = {"Y": out[0], "final": out[1]}
        if training:
            result["grads"] = layer.backward(out[2], None, *d_final)
        results.append(result)
    return results


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("B, T, D, H", [(3, 7, 4, 5), (13, 6, 9, 33), (2, 9, 5, 300)])
def test_kernels_skip_only_the_outputs(kind, dtype, bidirectional, training, B, T, D, H):
    layer = make(layers, kind, D, H, dtype=dtype, bidirectional=bidirectional)
    with_y, without_y = forward_both_ways(layer, kind, B, T, dtype, bidirectional, training)
    assert with_y["Y"] is not None and without_y["Y"] is None
    states = (lambda r: r["final"]) if kind == "lstm" else (lambda r: (r["final"],))
    for a, b in zip(states(with_y), states(without_y), strict=True):
        np.testing.assert_array_equal(b, a)
    if training:
        assert set(with_y["grads"]) == set(without_y["grads"])
        for name, value in without_y["grads"].items():
            np.testing.assert_array_equal(value, with_y["grads"][name], err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_reference_returns_none_for_skipped_outputs(kind):
    layer = make(reference, kind, 3, 4)
    X = np.random.default_rng(0).standard_normal((2, 5, 3))
    with_y = layer.forward(X)
    without_y = layer.forward(X, return_sequences=False)
    assert without_y[0] is None
    np.testing.assert_array_equal(np.asarray(without_y[1], dtype=float),
                                  np.asarray(with_y[1], dtype=float))


def test_trace_asks_for_the_outputs():
    layer = layers.LSTM(3, 4, random_state=0)
    X = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    cache = layer.forward(X, training=True, return_sequences=False)[-1]
    with pytest.raises(ValueError, match="return_sequences=True"):
        layer.trace(cache)


@pytest.mark.parametrize("output", ["last", "sequence"])
def test_a_network_skips_the_last_layers_outputs_only_when_its_head_reads_h_n(
        monkeypatch, output):
    net = _network.RecurrentNetwork("lstm", 3, (5, 4), 1, output, np.float64, False)
    asked = spy_on(monkeypatch, "forward", "return_sequences")
    X = np.random.default_rng(0).standard_normal((2, 7, 3))
    out, state = net.forward(X, training=True)
    assert asked == [True, output == "sequence"]
    traced = net.forward(X, training=True, keep_sequences=True)[1]
    assert asked[2:] == [True, True]
    assert len(net.trace(traced)) == 2
