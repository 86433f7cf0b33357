"""Streaming: ``est.stream()`` steps through sequences one observation at a
time and gives what ``predict`` gives on the whole sequence."""

import warnings

import numpy as np
import pytest

from lstm_fast import LSTMClassifier, LSTMRegressor


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached: these fits are tiny
        yield


def data(n=40, T=12, D=3, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, T, D))
    return X, np.cumsum(X[:, :, 0], axis=1)


def fitted(Estimator=LSTMRegressor, cell="lstm", output="sequence", dtype=np.float32, **kw):
    X, y = data()
    if Estimator is LSTMClassifier:
        y = (y > 0).astype(int) if output == "sequence" else (y[:, -1] > 0).astype(int)
    elif output == "last":
        y = y[:, -1]
    return Estimator(hidden_layer_sizes=(9, 5), cell=cell, output=output, max_iter=2,
                     dtype=dtype, random_state=0, **kw).fit(X, y)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_stepping_a_sequence_gives_predict_of_the_whole_sequence(cell, dtype, tol):
    est = fitted(cell=cell, dtype=dtype)
    X, _ = data(3, seed=1)
    expected = est.predict(X)
    for i in range(3):
        s = est.stream()
        got = np.array([s.step(X[i, t]) for t in range(X.shape[1])])
        np.testing.assert_allclose(got, expected[i], rtol=tol, atol=tol)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stream_states_are_the_bits_of_the_layers_on_the_whole_sequence(cell, dtype):
    # A stream's step is the time loop's step: each layer's state after
    # step t is, bit for bit, that layer's output at t over the whole
    # sequence, whether the sequence runs alone or in a batch.
    est = fitted(cell=cell, dtype=dtype)
    X, _ = data(5, seed=2)
    inputs = X.astype(dtype)
    outputs = []
    for layer in est.network_.layers:
        inputs = layer.forward(inputs)[0]
        outputs.append(inputs)
    alone = est.network_.layers[0].forward(X[3:4].astype(dtype))[0]
    np.testing.assert_array_equal(alone[0], outputs[0][3])
    s = est.stream()
    for t in range(X.shape[1]):
        s.step(X[3, t])
        for state, output in zip(s.state, outputs):
            np.testing.assert_array_equal(state[0][0], output[3, t])


def test_parallel_streams_step_together():
    est = fitted(cell="gru")
    X, _ = data(4, seed=2)
    s = est.stream(n_streams=4)
    got = np.stack([s.step(X[:, t]) for t in range(X.shape[1])], axis=1)
    np.testing.assert_allclose(got, est.predict(X), rtol=1e-5, atol=1e-5)


def test_a_model_of_the_last_step_streams_its_running_prediction():
    est = fitted(output="last")
    X, _ = data(2, seed=3)
    s = est.stream(2)
    for t in range(X.shape[1]):
        y_t = s.step(X[:, t])
    np.testing.assert_allclose(y_t, est.predict(X), rtol=1e-5, atol=1e-5)


def test_classifier_streams_labels_and_probabilities():
    est = fitted(LSTMClassifier)
    X, _ = data(2, seed=4)
    labels, probas = [], []
    s = est.stream(2)
    for t in range(X.shape[1]):
        probas.append(s.step_proba(X[:, t]))
    s.reset()
    labels = np.stack([s.step(X[:, t]) for t in range(X.shape[1])], axis=1)
    np.testing.assert_allclose(np.stack(probas, axis=1), est.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(labels, est.predict(X))


def test_reset_starts_over_and_state_round_trips():
    est = fitted()
    X, _ = data(1, seed=5)
    s = est.stream()
    first = [s.step(x) for x in X[0, :4]]
    saved = s.state
    later = [s.step(x) for x in X[0, 4:8]]
    s.state = saved
    np.testing.assert_array_equal([s.step(x) for x in X[0, 4:8]], later)
    s.reset()
    assert all(not np.any(a) for layer in s.state for a in layer)
    np.testing.assert_array_equal([s.step(x) for x in X[0, :4]], first)
    assert [a.shape for a in s.state[0]] == [(1, 9), (1, 9)]


def test_a_stream_is_a_snapshot_of_the_fitted_weights():
    est = fitted()
    X, _ = data(1, seed=6)
    s = est.stream()
    before = [s.step(x) for x in X[0]]
    est.network_.params[...] = 0
    s.reset()
    np.testing.assert_array_equal([s.step(x) for x in X[0]], before)


def test_bidirectional_models_cannot_stream():
    with pytest.raises(ValueError, match="bidirectional"):
        fitted(bidirectional=True).stream()


@pytest.mark.parametrize("bad, match", [
    (np.array([1.0, np.nan, 0.0]), "NaN"),
    (np.array([1.0, np.inf, 0.0]), "NaN or infinity"),
    (np.zeros(4), "shape"),
    (np.zeros((2, 3)), "shape"),
])
def test_bad_observations_raise_and_leave_the_state_alone(bad, match):
    est = fitted()
    s = est.stream()
    s.step(np.ones(3))
    before = s.state
    with pytest.raises(ValueError, match=match):
        s.step(bad)
    for a, b in zip(before, s.state):
        np.testing.assert_array_equal(a, b)


def test_n_streams_must_be_positive():
    with pytest.raises(ValueError, match="n_streams"):
        fitted().stream(0)


def test_observations_of_any_layout_and_numeric_type_are_accepted():
    est = fitted()
    a, b = est.stream(), est.stream()
    x = np.arange(6.0).reshape(3, 2)[:, 0] / 5  # non-contiguous float64
    np.testing.assert_array_equal(a.step(x), b.step(np.ascontiguousarray(x, np.float32)))
    np.testing.assert_array_equal(a.step([1, 0, 2]), b.step(np.array([1.0, 0.0, 2.0])))


@pytest.mark.parametrize("dtype, other", [(np.float32, np.float64), (np.float64, np.float32)])
def test_the_other_float_dtype_is_rounded_as_astype_would(dtype, other):
    # float32 <-> float64 arrays skip the slow path: converted in the step
    # itself, they must give what converting them first gives, 1-D or 2-D.
    est = fitted(dtype=dtype)
    x = np.random.default_rng(1).standard_normal((6, 2, 3)).astype(other) * 1e3
    for shape in [(3,), (1, 3)]:
        a, b = est.stream(), est.stream()
        for step in x[:, 0]:
            np.testing.assert_array_equal(a.step(step.reshape(shape)),
                                          b.step(step.astype(dtype).reshape(shape)))
    a, b = est.stream(2), est.stream(2)
    for step in x:
        np.testing.assert_array_equal(a.step(step), b.step(step.astype(dtype)))
        np.testing.assert_array_equal(a.step(np.asfortranarray(step.T).T), b.step(step))


@pytest.mark.parametrize("bad, match", [
    (np.array(1.0), "shape"),
    (np.ones((1, 1, 3)), "shape"),
    (np.array([1e39, 0.0, 0.0]), "NaN or infinity"),  # inf as float32
    (np.ones(3, np.float16) * np.float16(np.inf), "NaN or infinity"),
])
def test_more_bad_observations_raise(bad, match):
    s = fitted().stream()
    with pytest.raises(ValueError, match=match):
        s.step(bad)
