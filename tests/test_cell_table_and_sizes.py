"""The Python side of the kernels' cell table and size query, and the
network's buffers as the one owner of parameters and gradients."""

import numpy as np
import pytest

import lstm_fast._core as core
from lstm_fast import _network, layers


def test_the_cell_table_describes_every_kernel_cell():
    assert sorted(core.CELLS) == ["gru", "lstm", "rnn_relu", "rnn_tanh"]
    assert core.CELLS["lstm"].gate_names == ("i", "f", "g", "o")
    assert core.CELLS["gru"].gate_names == ("r", "z", "n")
    assert core.CELLS["lstm"].has_cell_state and not core.CELLS["gru"].has_cell_state
    assert (layers.LSTM.gates, layers.GRU.gates, layers.RNN.gates) == (4, 3, 1)


@pytest.mark.parametrize("mode", ["inference", "training", "backward"])
def test_call_bytes_counts_what_the_layer_allocates(mode):
    B, T, D, H = 3, 5, 2, 4
    size = core.call_bytes("lstm", np.float64, (B, T, D), H, np.array([5, 2, 3]), mode)
    assert size["packed_rows"] == 10
    assert size["output"] > 0 and size["workspace"] >= 0
    if mode == "inference":
        assert size["cache"] == size["index"] == 0
    else:
        rows, elems, index = core.cache_sizes("lstm", np.float64, (B, T, D), H,
                                              np.array([5, 2, 3]))
        assert (size["cache"], size["index"]) == (8 * elems, 8 * index)


def test_call_bytes_refuses_bad_lengths_and_huge_shapes():
    with pytest.raises(ValueError, match="length"):
        core.call_bytes("gru", np.float32, (2, 3, 1), 4, np.array([1, 4]))
    with pytest.raises(MemoryError, match="64-bit"):
        core.call_bytes("gru", np.float32, (2**40, 2**30, 1), 4)
    with pytest.raises(MemoryError, match="64-bit"):
        core.call_bytes("gru", np.float32, (2**70, 1, 1), 4)


def test_backward_writes_into_the_arrays_it_is_given():
    layer = layers.GRU(2, 3, random_state=0, bidirectional=True)
    X = np.random.default_rng(0).standard_normal((4, 5, 2)).astype(np.float32)
    Y, _, cache = layer.forward(X, training=True)
    fresh = layer.backward(cache, dY=np.ones_like(Y))
    out = {name: np.full_like(fresh[name], np.nan) for name in fresh
           if name.startswith(("weight", "bias"))}
    Y, _, cache = layer.forward(X, training=True)
    given = layer.backward(cache, dY=np.ones_like(Y), out=out)
    for name, array in out.items():
        assert given[name] is array
        np.testing.assert_array_equal(array, fresh[name])


def test_backward_checks_out_before_spending_the_cache():
    layer = layers.LSTM(2, 3, random_state=0)
    Y, _, cache = layer.forward(np.ones((1, 2, 2), np.float32), training=True)
    with pytest.raises(ValueError, match="out"):
        layer.backward(cache, dY=Y, out={"weight_ih": np.zeros((12, 2), np.float32)})
    bad = {"weight_ih": np.zeros((12, 2)), "weight_hh": np.zeros((12, 3)),
           "bias_ih": np.zeros(12), "bias_hh": np.zeros(12)}  # float64, not float32
    with pytest.raises(ValueError, match="weight_ih"):
        layer.backward(cache, dY=Y, out=bad)
    assert sorted(layer.backward(cache, dY=Y)) == sorted([*bad, "X", "c0", "h0"])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_network_buffers_own_the_layers_parameters_and_gradients(bidirectional):
    net = _network.RecurrentNetwork("lstm", 3, (5, 4), 2, "last", np.float64, bidirectional)
    net.initialize(np.random.RandomState(0))
    for layer in net.layers:
        for suffix in layer._suffixes():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                assert np.shares_memory(getattr(layer, name + suffix), net.params)
    X = np.random.default_rng(1).standard_normal((6, 7, 3))
    out, state = net.forward(X, training=True)
    net.grad[...] = np.nan
    net.backward(state, np.ones_like(out))
    assert np.isfinite(net.grad).all()
    # The same gradients as the layers' own backward gives in fresh arrays.
    out, state = net.forward(X, training=True)
    caches, features = state
    top = net.layers[-1].backward(caches[-1], dh_n=np.stack(np.split(
        np.ones_like(out) @ net.coef.T, 2, axis=-1)) if bidirectional
        else np.ones_like(out) @ net.coef.T)
    views = net.views(net.grad)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_array_equal(views[1, name], top[name])
