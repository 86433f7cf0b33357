"""Absurd sizes fail at once with MemoryError (saying what needs how much
and what to do), before anything of that size is allocated, and no byte
count wraps around 64 bits: zero-stride views of huge shapes, huge hidden
sizes, stream counts and kernel shapes."""

import tracemalloc
import warnings

import numpy as np
import pytest

import lstm_fast._core as core
from lstm_fast import LSTMClassifier, LSTMRegressor, layers
from lstm_fast._layer_base import available_memory


def huge_view(shape, dtype=np.float32):
    """A read-only array of `shape` that occupies one element of memory."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def raises_early(call, match):
    """call() raises MemoryError matching `match` having allocated < 64 MiB
    (the sizes refused are GiB to EiB; a 100,000-layer hidden_layer_sizes
    tuple alone takes tens of MiB to check)."""
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError, match=match):
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak} bytes allocated before refusing"


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LSTMRegressor((4,), output="sequence", max_iter=1,
                             random_state=0).fit(X, X[:, :, 0])


def test_available_memory_is_known_here():
    assert available_memory() > 0


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("shape", [(2**30, 2**30, 1), (1, 2**40, 1), (2**44, 1, 1)],
                         ids=["B=T=2^30", "T=2^40", "B=2^44"])
@pytest.mark.parametrize("training", [False, True])
def test_a_layer_refuses_zero_stride_views_of_absurd_shapes(cell, shape, training):
    layer = getattr(layers, cell)(1, 8, random_state=0)
    raises_early(lambda: layer.forward(huge_view(shape), training=training),
                 "copy of X .* needs about .*available")


def test_a_layer_refuses_a_forward_whose_workspace_exceeds_memory():
    """X itself is small (one feature); its outputs and training cache with
    H = 2048 are ~550 times larger."""
    layer = layers.LSTM(1, 2048, random_state=0)
    steps = int(available_memory() // (4 * 2048 * 8)) + 1  # Y alone: B*T*H*4 bytes
    X = np.zeros((8, steps, 1), np.float32)
    raises_early(lambda: layer.forward(X, training=True), r"LSTM.forward .* \(training\)")


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("hidden", [10**6, 10**9, 2**62])
def test_a_layer_with_an_absurd_hidden_size_is_refused_before_its_weights_exist(cell, hidden):
    raises_early(lambda: getattr(layers, cell)(3, hidden), "use a smaller hidden_size")


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
@pytest.mark.parametrize("hidden", [(10**9,), (10**6,), (1024,) * 10**5, (8, 2**62)],
                         ids=["1e9", "1e6", "1e5 layers", "2^62"])
def test_fit_with_absurd_hidden_layer_sizes_is_refused_before_building_the_network(
        Estimator, hidden):
    X = np.zeros((6, 3, 2))
    y = np.array([0, 1] * 3)
    est = Estimator(hidden_layer_sizes=hidden, max_iter=1)
    raises_early(lambda: est.fit(X, y), "use smaller hidden_layer_sizes")
    assert not hasattr(est, "network_")


def test_predict_refuses_a_zero_stride_view_of_an_absurd_shape(fitted):
    raises_early(lambda: fitted.predict(huge_view((2**40, 4, 2), np.float64)),
                 "needs about .* TiB")


def test_a_failed_refit_leaves_the_estimator_as_it_was(fitted):
    before = fitted.network_.params.copy()
    with pytest.raises(MemoryError):
        fitted.set_params(hidden_layer_sizes=(10**9,)).fit(np.zeros((4, 3, 2)),
                                                          np.zeros((4, 3)))
    fitted.set_params(hidden_layer_sizes=(4,))
    np.testing.assert_array_equal(fitted.network_.params, before)


@pytest.mark.parametrize("n_streams", [10**10, 2**62])
def test_a_stream_of_absurdly_many_sequences_is_refused(fitted, n_streams):
    raises_early(lambda: fitted.stream(n_streams=n_streams), "use fewer streams")


@pytest.mark.parametrize("shape, hidden", [
    ((2**40, 2**30, 1), 1), ((1, 1, 2**61), 1), ((1, 1, 1), 2**40), ((2**31, 2**31, 2**2), 2**10),
])
def test_the_kernel_bridge_refuses_shapes_whose_byte_counts_would_wrap(shape, hidden):
    """The kernels size buffers with int64 arithmetic; the bridge refuses
    before any product can reach 2**63 (the old behaviour was a negative or
    wrapped size passed to C)."""
    with pytest.raises(MemoryError, match="64-bit"):
        core.cache_sizes("lstm", np.float32, shape, hidden, None)
    with pytest.raises(MemoryError, match="64-bit"):
        core.cache_view("gru", np.float64, shape, hidden, 1)
