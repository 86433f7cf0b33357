"""dropout and recurrent_dropout of the estimators: training only, reproducible
bit for bit from random_state whatever the thread count, every cell and both
directions, bad rates refused before any training."""

import warnings

import numpy as np
import pytest

from lstm_fast import LSTMClassifier, LSTMRegressor


def _data(n=64, T=12, D=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, D)).astype(np.float32)
    lengths = rng.integers(4, T + 1, n)
    X[np.arange(T)[None, :] >= lengths[:, None]] = np.nan
    y = np.nansum(X[:, :, 0], axis=1)
    return X, y


def _fit(**params):
    X, y = _data()
    kw = dict(hidden_layer_sizes=(8, 6), max_iter=3, batch_size=16, random_state=0)
    kw.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too few epochs to converge, on purpose
        return LSTMRegressor(**kw).fit(X, y)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_dropout_changes_training_reproducibly(cell, bidirectional):
    plain = _fit(cell=cell, bidirectional=bidirectional)
    a = _fit(cell=cell, bidirectional=bidirectional, dropout=0.3, recurrent_dropout=0.3)
    b = _fit(cell=cell, bidirectional=bidirectional, dropout=0.3, recurrent_dropout=0.3)
    np.testing.assert_array_equal(a.network_.params, b.network_.params)
    assert not np.array_equal(a.network_.params, plain.network_.params)
    assert np.all(np.isfinite(a.loss_curve_))


@pytest.mark.parametrize("which", ["dropout", "recurrent_dropout"])
def test_each_rate_alone_changes_training(which):
    plain = _fit()
    dropped = _fit(**{which: 0.4})
    assert not np.array_equal(plain.network_.params, dropped.network_.params)


def test_same_bits_whatever_the_thread_count():
    one = _fit(dropout=0.2, recurrent_dropout=0.2, n_jobs=1, hidden_layer_sizes=(300,))
    two = _fit(dropout=0.2, recurrent_dropout=0.2, n_jobs=2, hidden_layer_sizes=(300,))
    np.testing.assert_array_equal(one.network_.params, two.network_.params)


def test_predict_uses_the_whole_network_unscaled():
    X, _ = _data()
    est = _fit(dropout=0.5, recurrent_dropout=0.5)
    before = est.predict(X)
    np.testing.assert_array_equal(est.predict(X), before)  # no randomness at inference
    est.set_params(dropout=0.0, recurrent_dropout=0.0)
    np.testing.assert_array_equal(est.predict(X), before)


def test_dropout_does_not_shift_the_shuffling():
    # The masks have their own stream: with shuffle on, the epochs see the
    # batches in the same order as without dropout, so dropout=0 of a fit
    # with masks drawn is bit for bit the plain fit.
    plain = _fit()
    zero = _fit(dropout=0.0, recurrent_dropout=0.0)
    np.testing.assert_array_equal(plain.network_.params, zero.network_.params)


def test_classifier_and_partial_fit_with_dropout():
    X, y = _data()
    labels = (y > 0).astype(int)
    clf = LSTMClassifier((8,), max_iter=2, random_state=0, dropout=0.2, recurrent_dropout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, labels)
    assert clf.score(X, labels) >= 0.0
    reg = LSTMRegressor((8,), random_state=0, dropout=0.2, recurrent_dropout=0.2)
    reg.partial_fit(X, y)
    reg.partial_fit(X, y)
    assert reg.n_iter_ == 2 and np.all(np.isfinite(reg.loss_curve_))


@pytest.mark.parametrize("name", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("value", [-0.1, 1.0, 2, "0.2", None])
def test_out_of_range_rates_are_refused_and_leave_the_estimator_as_it_was(name, value):
    X, y = _data()
    est = _fit()
    params = est.network_.params.copy()
    curve = list(est.loss_curve_)
    est.set_params(**{name: value})
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.network_.params, params)
    assert est.loss_curve_ == curve


def test_save_and_load_keep_the_rates(tmp_path):
    est = _fit(dropout=0.25, recurrent_dropout=0.1)
    loaded = LSTMRegressor.load(est.save(tmp_path / "m"))
    assert loaded.dropout == 0.25 and loaded.recurrent_dropout == 0.1
    X, _ = _data()
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_partial_fit_goes_on_with_the_random_stream():
    # As MLP: each partial_fit epoch shuffles (and drops out) anew, from the
    # stream the previous call left, so two partial_fit calls are the
    # epochs of fit(max_iter=2).
    X, y = _data()
    kw = dict(hidden_layer_sizes=(8,), batch_size=16, random_state=0, n_iter_no_change=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = LSTMRegressor(max_iter=2, **kw).fit(X, y)
    stepped = LSTMRegressor(**kw)
    stepped.partial_fit(X, y)
    stepped.partial_fit(X, y)
    np.testing.assert_array_equal(stepped.network_.params, fitted.network_.params)
    # With dropout the two calls draw different masks: not the same epoch twice.
    a = LSTMRegressor(dropout=0.3, recurrent_dropout=0.3, **kw)
    b = LSTMRegressor(dropout=0.3, recurrent_dropout=0.3, **kw)
    a.partial_fit(X, y)
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    b._random_state = np.random.RandomState(0)  # the old behaviour: the stream restarted
    b.partial_fit(X, y)
    assert not np.array_equal(a.network_.params, b.network_.params)
