"""The kernels release the GIL, so Python threads really run them in
parallel: results must be exactly those of serial runs, and predicting must
not change a fitted estimator."""

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lstm_fast import LSTMRegressor, layers


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny fits stop at max_iter
        yield


def problem(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((64, 15, 3))
    return X, X[:, :, 0].sum(axis=1)


def fit(args):
    cell, seed = args
    X, y = problem(seed)
    return LSTMRegressor((12,), cell=cell, max_iter=3, random_state=seed).fit(X, y)


def test_fits_of_different_estimators_in_four_threads_equal_serial_fits():
    jobs = [("lstm", 0), ("gru", 1), ("rnn", 2), ("lstm", 3)]
    serial = [fit(job) for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(fit, jobs))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.network_.params, b.network_.params)


def test_one_estimator_predicts_from_several_threads_at_once():
    est = fit(("lstm", 0))
    inputs = [problem(seed)[0] for seed in range(8)]
    serial = [est.predict(X) for X in inputs]
    before = pickle.dumps(est)
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(est.predict, inputs))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)
    assert pickle.dumps(est) == before  # predict changed nothing


def test_one_layer_trains_from_several_threads_at_once():
    """Each training forward owns its cache (the spare buffer a spent cache
    leaves is handed to one forward only)."""
    layer = layers.GRU(3, 9, random_state=0)

    def step(seed):
        X = problem(seed)[0].astype(np.float32)
        Y, _, cache = layer.forward(X, training=True)
        return layer.backward(cache, dY=np.ones_like(Y))

    serial = [step(seed) for seed in range(12)]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(step, range(12)))
    for a, b in zip(serial, parallel):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
