"""Numerical robustness of training: large learning rates converge or stop
with the divergence warning and the best parameters restored (never NaN
parameters); float32 training on 10,000-step sequences stays finite;
gradient clipping gives exactly the clipped gradient."""

import warnings

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from lstm_fast import LSTMClassifier, LSTMRegressor
from lstm_fast._network import RecurrentNetwork
from lstm_fast._optimizers import clip_grad_norm


def task(n=24, T=6, D=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, D))
    return X, X[:, :, 0].sum(axis=1)


@given(cell=st.sampled_from(["lstm", "gru", "rnn"]),
       solver=st.sampled_from(["adam", "sgd"]),
       learning_rate=st.sampled_from([0.5, 10.0, 1e3, 1e6, 1e12]),
       dtype=st.sampled_from(["float32", "float64"]),
       clip_norm=st.sampled_from([None, 1.0]),
       y_scale=st.sampled_from([1.0, 1e4]),
       classifier=st.booleans())
def test_large_learning_rates_never_leave_nan_parameters(cell, solver, learning_rate, dtype,
                                                         clip_norm, y_scale, classifier):
    X, y = task()
    Estimator = LSTMClassifier if classifier else LSTMRegressor
    target = (y > 0) if classifier else y * y_scale
    est = Estimator((4,), cell=cell, solver=solver, learning_rate_init=learning_rate,
                    dtype=dtype, clip_norm=clip_norm, max_iter=4, batch_size=8,
                    random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, target)
    diverged = [w for w in caught if "became NaN or infinite" in str(w.message)]
    note(f"diverged: {bool(diverged)}, loss curve {est.loss_curve_}")
    assert np.all(np.isfinite(est.network_.params))
    out = est.predict_proba(X) if classifier else est.predict(X)
    assert np.all(np.isfinite(out))
    if diverged:
        assert issubclass(diverged[0].category, ConvergenceWarning)
        assert est.n_iter_ < 4
        # The optimizer starts afresh from the restored parameters: its state
        # (momentum, moments) led to the divergence.
        assert est._optimizer.t == 0
    else:
        assert est.n_iter_ == 4 and np.all(np.isfinite(est.loss_curve_))
    # A further epoch from there keeps the parameters finite too.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.partial_fit(X, target)
    assert np.all(np.isfinite(est.network_.params))


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_float32_training_on_sequences_of_10000_steps_stays_finite(cell, long_run):
    rng = np.random.default_rng(0)
    n = 32 if long_run else 8
    X = rng.standard_normal((n, 10_000, 1)).astype(np.float32)
    y = X[:, :, 0].mean(axis=1) * 10
    est = LSTMRegressor((8,), cell=cell, max_iter=3 if long_run else 1,
                        learning_rate_init=1e-2, random_state=0, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert np.all(np.isfinite(est.network_.params))
    assert np.all(np.isfinite(est.loss_curve_))
    assert np.all(np.isfinite(est.predict(X)))
    flow = est.gradient_flow(X[:2], y[:2])
    assert all(np.all(np.isfinite(h)) for h in flow.h_norm)


# ------------------------------------------------------------------ clipping


@given(dtype=st.sampled_from([np.float32, np.float64]),
       size=st.integers(1, 300),
       log_scale=st.integers(-40, 40),
       max_norm=st.sampled_from([1e-30, 1e-3, 1.0, 5.0, 1e30]),
       seed=st.integers(0, 2**16))
def test_clipped_gradient_is_exactly_the_gradient_scaled_to_max_norm(dtype, size, log_scale,
                                                                     max_norm, seed):
    """Including float32 gradients whose squares overflow float32 (> 1.8e19)
    and ones whose squares underflow: the norm is that of the exact values."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** log_scale
    with np.errstate(over="ignore"):
        grad = (rng.standard_normal(size) * scale).astype(dtype)
    if not np.all(np.isfinite(grad)):
        return
    original = grad.copy()
    norm = clip_grad_norm(grad, max_norm)
    exact = float(np.linalg.norm(original.astype(np.float64) / np.float64(scale))) * scale
    assert norm == pytest.approx(exact, rel=1e-12)
    if norm > max_norm:
        np.testing.assert_array_equal(grad, original * dtype(max_norm / norm))
        clipped = float(np.linalg.norm(grad.astype(np.float64) / np.float64(scale))) * scale
        assert clipped == pytest.approx(max_norm, rel=1e-5)
    else:
        np.testing.assert_array_equal(grad, original)


def test_non_finite_gradients_are_reported_and_left_alone():
    for bad in (np.inf, np.nan):
        grad = np.array([1.0, bad, 2.0], np.float32)
        norm = clip_grad_norm(grad, 1.0)
        assert not np.isfinite(norm)
        assert grad[0] == 1.0 and grad[2] == 2.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_clipped_sgd_step_moves_the_parameters_by_exactly_the_clipped_gradient(cell, dtype):
    """One minibatch, one epoch of SGD without momentum: the parameters
    after fit are the initial ones minus lr times the clipped gradient of the
    initial ones, bit for bit."""
    X, y = task()
    params = dict(hidden_layer_sizes=(5,), cell=cell, solver="sgd", momentum=0.0,
                  learning_rate_init=0.3, clip_norm=1e-3, alpha=0.0, batch_size=len(X),
                  shuffle=False, max_iter=1, random_state=7, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = LSTMRegressor(**params).fit(X, y)
    network = RecurrentNetwork(cell, 2, (5,), 1, "last", dtype)
    network.initialize(check_random_state(7))
    initial = network.params.copy()
    Xd = np.ascontiguousarray(X, dtype=dtype)
    est._backprop(network, Xd, None, y.reshape(-1, 1).astype(dtype), None)
    norm = clip_grad_norm(network.grad, 1e-3)
    assert norm > 1e-3  # the clipping is active
    expected = initial - dtype(0.3) * network.grad
    np.testing.assert_array_equal(est.network_.params, expected)
    assert np.linalg.norm(network.grad.astype(np.float64)) == pytest.approx(1e-3, rel=1e-5)


def test_float64_values_beyond_float32_are_refused_with_a_way_out():
    """1e300 is finite in the given float64 X but not in float32: the error
    says so (not "X contains infinity"), and dtype=np.float64 fits it."""
    X, y = task()
    X[0, 0, 0] = 1e300
    with pytest.raises(ValueError, match="beyond the range of float32.*dtype=np.float64"):
        LSTMRegressor((3,), max_iter=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LSTMRegressor((3,), max_iter=1, dtype=np.float64).fit(X, y)
    assert np.all(np.isfinite(est.network_.params))
