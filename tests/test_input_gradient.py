"""backward(..., input_gradient=False): no dLoss/dX (a network's first layer,
whose input is data), and every other gradient exactly as with it.

Metric: bit-for-bit equality (the kernels skip the per-step products
dZ_t W_ih and nothing else).
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


def test_a_network_asks_every_layer_but_the_first_for_its_input_gradient(monkeypatch):
    net = _network.RecurrentNetwork("lstm", 3, (5, 4, 6), 1, "last", np.float64, False)
    asked = []
    original = layers.LSTM.backward

    def spy(self, cache, *args, input_gradient=True, **kwargs):
        asked.append(input_gradient)
        return original(self, cache, *args, input_gradient=input_gradient, **kwargs)

    monkeypatch.setattr(layers.LSTM, "backward", spy)
    X = np.random.default_rng(0).standard_normal((2, 7, 3))
    out, state = net.forward(X, training=True)
    net.backward(state, np.ones_like(out))
    assert asked == [True, True, False]  # top layer first
