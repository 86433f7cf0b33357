"""The kernels release the GIL, so Python threads really run them in
parallel: results must be exactly those of serial runs, and predicting must
not change a fitted estimator."""

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lstm_fast import LSTMClassifier, LSTMRegressor, layers


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


def classify(args):
    cell, seed = args
    X, y = problem(seed)
    return LSTMClassifier((8,), cell=cell, bidirectional=True, max_iter=2,
                          random_state=seed).fit(X, y > 0)


def test_fits_and_predictions_of_different_estimators_mixed_in_four_threads_equal_serial():
    """Two threads fit while two others predict with already fitted
    estimators (regressor and classifier): every result is the serial one."""
    fitted = {"reg": fit(("gru", 5)), "clf": classify(("lstm", 6))}
    inputs = {name: problem(10 + i)[0] for i, name in enumerate(fitted)}

    def job(kind):
        if kind == "fit reg":
            return fit(("lstm", 7)).network_.params
        if kind == "fit clf":
            return classify(("rnn", 8)).network_.params
        if kind == "predict reg":
            return fitted["reg"].predict(inputs["reg"])
        return fitted["clf"].predict_proba(inputs["clf"])

    jobs = ["fit reg", "predict reg", "fit clf", "predict clf"] * 2
    serial = [job(kind) for kind in jobs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(job, jobs))
    for kind, a, b in zip(jobs, serial, parallel):
        np.testing.assert_array_equal(a, b, err_msg=kind)


def test_nothing_a_fitted_estimator_offers_besides_fit_mutates_it_from_several_threads():
    """predict, predict_proba, score, stream, inspect and gradient_flow, all
    at once from four threads: the estimator pickles to the same bytes after,
    and each thread's streamed predictions are the serial ones."""
    reg = LSTMRegressor((8,), output="sequence", max_iter=2, random_state=0)
    X, y = problem(0)
    reg.fit(X, X[:, :, 1])
    clf = classify(("gru", 1))
    before = (pickle.dumps(reg), pickle.dumps(clf))

    def stream_job(seed):
        s = reg.stream(n_streams=2)
        Xs = problem(seed)[0]
        return np.array([s.step(Xs[:2, t]) for t in range(Xs.shape[1])])

    def job(i):
        kind = i % 6
        Xi, yi = problem(20 + i)
        if kind == 0:
            return reg.predict(Xi)
        if kind == 1:
            return clf.predict_proba(Xi)
        if kind == 2:
            return np.array([reg.score(Xi, Xi[:, :, 1]), clf.score(Xi, yi > 0)])
        if kind == 3:
            return stream_job(i)
        if kind == 4:
            return reg.inspect(Xi[:4]).layers[0]["i"]
        return np.concatenate(reg.gradient_flow(Xi[:4], Xi[:4, :, 1]).h_norm)

    serial = [job(i) for i in range(24)]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(job, range(24)))
    for i, (a, b) in enumerate(zip(serial, parallel)):
        np.testing.assert_array_equal(a, b, err_msg=f"job {i}")
    assert (pickle.dumps(reg), pickle.dumps(clf)) == before


@pytest.mark.parametrize("hidden", [(8,), (128,)])
def test_streams_in_four_threads_equal_serial_streams(hidden):
    # A step holds the GIL when it is short (H = 8) and hands it over when
    # it is long (H = 128: 134,000 multiply-adds for two streams): either
    # way, each thread's stream is its serial one.
    reg = LSTMRegressor(hidden, output="sequence", max_iter=1, random_state=0)
    X, _ = problem(0)
    reg.fit(X, X[:, :, 1])

    def stream_job(seed):
        s = reg.stream(n_streams=2)
        Xs = problem(seed)[0]
        return np.array([s.step(Xs[:2, t]) for t in range(Xs.shape[1])])

    serial = [stream_job(i) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(stream_job, range(8)))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)
