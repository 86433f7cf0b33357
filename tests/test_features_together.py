"""The modelling options together: every regression loss honours sample
weights with scikit-learn's semantics, and the schedules, the validation set
of one's own and the losses combine in one fit.

Each feature has its own test file; these check the seams between them,
which the separate files cannot see.
"""

import numpy as np
import pytest

from lstm_fast import LSTMRegressor

ONE_BATCH = dict(hidden_layer_sizes=(6,), max_iter=4, random_state=0, shuffle=False,
                 batch_size=1000, dtype=np.float64, learning_rate_init=1e-2)

LOSSES = [dict(loss="absolute_error"), dict(loss="huber", huber_delta=0.5),
          dict(loss="poisson"), dict(loss="quantile", quantile=0.3),
          dict(loss="quantile", quantile=[0.1, 0.5, 0.9])]


def _data(output, n=24, T=5, D=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, D))
    X[::3, T - 2:] = np.nan  # some shorter sequences
    if output == "sequence":
        y = np.abs(np.nancumsum(X[..., 0], axis=1))
        y[np.isnan(X[..., 0])] = np.nan
    else:
        y = np.abs(np.nansum(X, axis=(1, 2)))
    return X, y


@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("loss", LOSSES, ids=lambda p: "-".join(map(str, p.values())))
def test_a_zero_weight_removes_the_sample_for_every_loss(loss, output):
    X, y = _data(output)
    sw = np.ones(len(X))
    sw[[1, 4, 5, 11]] = 0
    weighted = LSTMRegressor(output=output, **loss, **ONE_BATCH).fit(X, y, sample_weight=sw)
    removed = LSTMRegressor(output=output, **loss, **ONE_BATCH).fit(X[sw > 0], y[sw > 0])
    np.testing.assert_allclose(weighted.network_.params, removed.network_.params,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, removed.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda p: "-".join(map(str, p.values())))
def test_integer_weights_weigh_as_repeats_for_every_loss(loss):
    X, y = _data("last")
    sw = np.random.default_rng(1).integers(0, 4, len(X))
    weighted = LSTMRegressor(**loss, **ONE_BATCH).fit(X, y, sample_weight=sw)
    repeated = LSTMRegressor(**loss, **ONE_BATCH).fit(np.repeat(X, sw, axis=0),
                                                      np.repeat(y, sw, axis=0))
    np.testing.assert_allclose(weighted.network_.params, repeated.network_.params,
                               rtol=1e-9, atol=1e-12)


def test_a_quantile_fit_with_a_schedule_and_a_validation_set_of_its_own():
    X, y = _data("last", n=60)
    X_val, y_val = _data("last", n=20, seed=1)
    est = LSTMRegressor(loss="quantile", quantile=[0.1, 0.5, 0.9], learning_rate="adaptive",
                        early_stopping=True, n_iter_no_change=2, tol=10.0,
                        **dict(ONE_BATCH, max_iter=30))
    est.fit(X, y, X_val=X_val, y_val=y_val)
    # Every stall divides the rate by 5, as the validation score (not the
    # training loss) decides with early stopping on.
    rates = np.array(est.learning_rates_)
    assert len(rates) == len(est.loss_curve_) == len(est.validation_scores_)
    divisions = np.log(1e-2 / rates) / np.log(5)
    assert rates[0] == 1e-2 and divisions[-1] >= 1
    np.testing.assert_allclose(divisions, np.round(divisions), atol=1e-9)
    assert np.all(np.diff(np.round(divisions)) >= 0)
    # The validation scores are R^2 of the median level on the given set.
    from sklearn.metrics import r2_score

    assert est.score(X_val, y_val) == pytest.approx(
        r2_score(y_val, est.predict(X_val)[:, 1]), rel=1e-12)
    pred = est.predict(X_val)
    assert np.all(np.diff(pred, axis=-1) > 0)  # the levels never cross
