"""Ctrl-C (SIGINT) during fit: fit stops within a second, re-raises
KeyboardInterrupt, and leaves the estimator as a fit with ``max_iter`` = the
epochs it completed would have (or as it was, if none completed); nothing
leaks (thread limits restored, no memory growth).

The real-signal tests run a fit in a subprocess and send it SIGINT; the
others raise KeyboardInterrupt at a chosen minibatch (deterministic).
"""

import json
import pickle
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_info

from lstm_fast import LSTMClassifier, LSTMRegressor

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# A long fit whose minibatch steps are short (64 sequences of 30 steps),
# reporting the end of every epoch on stdout.
CHILD = r"""
import json, signal, sys, time
# A process started in the background by a non-interactive shell (as CI
# scripts often are) inherits SIGINT ignored, and Python then leaves it
# ignored: restore the handler an interactive session has.
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
from lstm_fast import LSTMRegressor

class Reporting(LSTMRegressor):
    def _update_no_improvement_count(self, fitted, early_stopping):
        improved = super()._update_no_improvement_count(fitted, early_stopping)
        print(f"epoch {fitted['n_iter_']}", flush=True)
        return improved

n = int(sys.argv[1])
rng = np.random.default_rng(0)
X = rng.standard_normal((n, 30, 4))
y = X[:, :, 0].sum(axis=1)
params = dict(hidden_layer_sizes=(32,), batch_size=64, max_iter=100000, tol=0.0,
              n_iter_no_change=np.inf, random_state=0)
est = Reporting(**params)
try:
    print("fitting", flush=True)
    est.fit(X, y)
    print("fit returned", flush=True)
except KeyboardInterrupt:
    caught = time.monotonic()
    report = {"caught": caught, "fitted": hasattr(est, "network_")}
    if report["fitted"]:
        report["n_iter"] = est.n_iter_
        report["loss_curve_length"] = len(est.loss_curve_)
        report["predict_finite"] = bool(np.isfinite(est.predict(X[:50])).all())
        twin = LSTMRegressor(**dict(params, max_iter=est.n_iter_)).fit(X, y)
        report["same_as_shorter_fit"] = bool(
            np.array_equal(twin.network_.params, est.network_.params))
        report["same_predictions"] = bool(
            np.array_equal(twin.predict(X[:50]), est.predict(X[:50])))
    print("interrupted " + json.dumps(report), flush=True)
"""


def run_and_interrupt(tmp_path, n, after):
    """Start the child fit, send SIGINT once it printed `after`; returns the
    child's report and the time the signal was sent (both CLOCK_MONOTONIC,
    which is system-wide)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(n)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while True:
            line = proc.stdout.readline()
            assert line, f"child ended early: {lines} {proc.stderr.read()}"
            lines.append(line.strip())
            if line.strip() == after:
                break
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    report = [line for line in out.splitlines() if line.startswith("interrupted ")]
    assert report, out + err
    return json.loads(report[0][len("interrupted "):]), sent


@pytest.mark.slow
def test_sigint_after_an_epoch_stops_within_a_second_keeping_the_completed_epochs(tmp_path):
    # After "epoch 2": epoch 1 has then surely been completed and recorded
    # (the hook prints before fit records the epoch it reports).
    report, sent = run_and_interrupt(tmp_path, n=2000, after="epoch 2")
    latency = report["caught"] - sent
    print(f"interrupt latency: {latency * 1e3:.1f} ms")
    assert 0 <= latency < 1.0
    assert report["fitted"] and report["n_iter"] >= 1
    assert report["loss_curve_length"] == report["n_iter"]
    assert report["predict_finite"]
    assert report["same_as_shorter_fit"] and report["same_predictions"]


@pytest.mark.slow
def test_sigint_in_the_first_epoch_leaves_the_estimator_unfitted(tmp_path):
    # 20000 sequences: the first epoch takes seconds, the signal comes at once.
    report, sent = run_and_interrupt(tmp_path, n=20000, after="fitting")
    assert report["caught"] - sent < 1.0
    assert not report["fitted"]


# ----------------------------------------------------- deterministic interrupts


QUICK = dict(hidden_layer_sizes=(5,), batch_size=8, tol=0.0, n_iter_no_change=np.inf,
             random_state=0)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits stop at max_iter
        yield


def task(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6, 2))
    return X, X[:, :, 0].sum(axis=1)


def interrupt_at(monkeypatch, Estimator, method, call):
    """Make the `call`-th call (from 1) of Estimator.<method> raise
    KeyboardInterrupt, as SIGINT would between two kernel calls."""
    original = getattr(Estimator, method)
    count = {"n": 0}

    def wrapped(self, *args, **kwargs):
        count["n"] += 1
        if count["n"] == call:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Estimator, method, wrapped)


def assert_same_fit(a, b):
    np.testing.assert_array_equal(a.network_.params, b.network_.params)
    assert a.n_iter_ == b.n_iter_ and a.t_ == b.t_
    assert a.loss_curve_ == b.loss_curve_
    assert a.best_loss_ == b.best_loss_
    assert a.validation_scores_ == b.validation_scores_
    assert a._no_improvement_count == b._no_improvement_count
    for name in ("ms", "vs", "velocity"):
        if hasattr(a._optimizer, name):
            np.testing.assert_array_equal(getattr(a._optimizer, name),
                                          getattr(b._optimizer, name))
    assert a._optimizer.t == b._optimizer.t


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_interrupt_in_epoch_three_keeps_exactly_the_first_two_epochs(monkeypatch, solver):
    X, y = task()
    expected = LSTMRegressor(max_iter=2, solver=solver, **QUICK).fit(X, y)
    est = LSTMRegressor(max_iter=50, solver=solver, **QUICK)
    interrupt_at(monkeypatch, LSTMRegressor, "_backprop", 2 * 5 + 3)  # 5 batches/epoch
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    monkeypatch.undo()
    assert_same_fit(est, expected)
    # Usable: it predicts, and training continues from there.
    np.testing.assert_array_equal(est.predict(X), expected.predict(X))
    est.partial_fit(X, y)
    expected.partial_fit(X, y)
    assert_same_fit(est, expected)


def test_interrupt_with_early_stopping_keeps_the_best_validation_epoch(monkeypatch):
    X, y = task(60)
    params = dict(QUICK, early_stopping=True, validation_fraction=0.2,
                  learning_rate_init=0.05)
    expected = LSTMClassifier(max_iter=3, **params).fit(X, y > 0)
    est = LSTMClassifier(max_iter=50, **params)
    # The 4th validation pass: epochs 1-3 are complete, the 4th is not.
    interrupt_at(monkeypatch, LSTMClassifier, "_score_arrays", 4)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y > 0)
    monkeypatch.undo()
    assert_same_fit(est, expected)
    assert est.best_loss_ is None
    np.testing.assert_array_equal(est.classes_, [False, True])


def test_interrupted_warm_start_keeps_the_previous_fit_and_the_completed_epochs(monkeypatch):
    X, y = task()
    expected = LSTMRegressor(max_iter=2, warm_start=True, **QUICK).fit(X, y)
    expected.set_params(max_iter=1).fit(X, y)
    est = LSTMRegressor(max_iter=2, warm_start=True, **QUICK).fit(X, y)
    est.set_params(max_iter=10)
    interrupt_at(monkeypatch, LSTMRegressor, "_backprop", 5 + 2)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    monkeypatch.undo()
    est.set_params(max_iter=1)
    assert est.n_iter_ == 3
    np.testing.assert_array_equal(est.network_.params, expected.network_.params)
    assert est.loss_curve_ == expected.loss_curve_


@pytest.mark.parametrize("call", [1, 3])
def test_interrupted_partial_fit_leaves_the_estimator_as_it_was(monkeypatch, call):
    X, y = task()
    est = LSTMRegressor(**QUICK).partial_fit(X, y)
    before = pickle.dumps(est)
    interrupt_at(monkeypatch, LSTMRegressor, "_backprop", call)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X, y)
    monkeypatch.undo()
    assert pickle.dumps(est) == before


def test_interrupt_in_the_first_epoch_leaves_a_new_estimator_unfitted(monkeypatch):
    X, y = task()
    est = LSTMRegressor(max_iter=5, **QUICK)
    interrupt_at(monkeypatch, LSTMRegressor, "_backprop", 4)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    monkeypatch.undo()
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_interrupted_fits_restore_thread_limits(monkeypatch):
    """The thread limits fit sets (one BLAS thread, n_jobs kernel threads)
    are undone on the way out of an interrupted fit."""
    X, y = task()
    before = [(m["internal_api"], m["num_threads"]) for m in threadpool_info()]
    for call in (1, 7):
        interrupt_at(monkeypatch, LSTMRegressor, "_backprop", call)
        with pytest.raises(KeyboardInterrupt):
            LSTMRegressor(max_iter=5, n_jobs=1, **QUICK).fit(X, y)
        monkeypatch.undo()
    assert [(m["internal_api"], m["num_threads"]) for m in threadpool_info()] == before
