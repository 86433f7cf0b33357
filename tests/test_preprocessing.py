"""SequenceTransformer: scikit-learn's scalers on sequences.

``make_pipeline(StandardScaler(), LSTMRegressor())`` fails on 3-D X; the
transformer fits a 2-D transformer on the real steps of all sequences and
applies it per step. Checked here: its numbers against NumPy by hand (over
real steps only), padding kept, every input form the estimators take, the
round trip, the errors, and the scikit-learn tools (Pipeline, grid search,
clone, pickle, TransformedTargetRegressor for per-step targets, the common
checks where they apply).
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (FunctionTransformer, MaxAbsScaler, MinMaxScaler,
                                   Normalizer, PowerTransformer, QuantileTransformer,
                                   RobustScaler, StandardScaler)
from sklearn.utils.estimator_checks import parametrize_with_checks

from lstm_fast import LSTMRegressor
from lstm_fast.preprocessing import SequenceTransformer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SCALERS = [StandardScaler(), MinMaxScaler(), MaxAbsScaler(), RobustScaler(),
           QuantileTransformer(n_quantiles=20), PowerTransformer()]


def padded_batch(seed=0, n=6, T=7, scales=(1.0, 1e3, 1e-3)):
    """(n, T, 3) features on different scales; sequence i has T - i % 3
    real steps, NaN-padded; the real steps as one (n_real, 3) table."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, len(scales))) * scales + np.arange(len(scales)) * 10
    lengths = T - np.arange(n) % 3
    real = np.arange(T) < lengths[:, None]
    X[~real] = np.nan
    return X, real, X[real]


def test_standard_scaler_numbers_are_the_per_feature_mean_and_std_over_real_steps():
    X, real, rows = padded_batch()
    mean, std = rows.mean(axis=0), rows.std(axis=0)
    scaler = SequenceTransformer(StandardScaler())
    Xt = scaler.fit_transform(X)
    np.testing.assert_allclose(scaler.transformer_.mean_, mean, rtol=1e-12)
    np.testing.assert_allclose(scaler.transformer_.scale_, std, rtol=1e-12)
    np.testing.assert_allclose(Xt[real], (rows - mean) / std, rtol=1e-10, atol=1e-12)
    assert np.isnan(Xt[~real]).all()
    np.testing.assert_array_equal(scaler.transform(X), Xt)
    assert scaler.n_features_in_ == 3
    assert np.isnan(X[~real]).all()  # the input is not changed in place


def test_min_max_scaler_takes_min_and_max_over_real_steps_only():
    # All values above 5: a padded step counted as 0 would lower the minimum.
    X, real, rows = padded_batch()
    X = X + 5 + np.abs(np.nanmin(X))
    rows = X[real]
    Xt = SequenceTransformer(MinMaxScaler()).fit_transform(X)
    lo, hi = rows.min(axis=0), rows.max(axis=0)
    np.testing.assert_allclose(Xt[real], (rows - lo) / (hi - lo), rtol=1e-8, atol=1e-10)
    assert np.isnan(Xt[~real]).all()


def test_2d_X_is_a_batch_of_univariate_series_as_for_the_estimators():
    X = np.arange(12.0).reshape(3, 4) ** 2
    X[2, 3:] = np.nan
    Xt = SequenceTransformer(StandardScaler()).fit_transform(X)
    real = X[~np.isnan(X)]
    assert Xt.shape == (3, 4)
    np.testing.assert_allclose(Xt[~np.isnan(X)], (real - real.mean()) / real.std())
    assert np.isnan(Xt[2, 3])


def test_a_list_of_different_lengths_gives_a_list_of_the_same_shapes():
    X, real, rows = padded_batch()
    seqs = [x[r] for x, r in zip(X, real)]               # (T_i, 3)
    univariate = [s[:, 0] for s in seqs]                  # (T_i,)
    scaler = SequenceTransformer(StandardScaler())
    out = scaler.fit_transform(seqs)
    assert isinstance(out, list) and [o.shape for o in out] == [s.shape for s in seqs]
    padded_out = SequenceTransformer(StandardScaler()).fit_transform(X)
    for o, p, r in zip(out, padded_out, real):
        np.testing.assert_allclose(o, p[r])
    np.testing.assert_allclose(np.concatenate(scaler.transform(seqs)), np.concatenate(out))
    out1 = SequenceTransformer(StandardScaler()).fit_transform(univariate)
    assert [o.shape for o in out1] == [u.shape for u in univariate]
    col = rows[:, 0]
    np.testing.assert_allclose(np.concatenate(out1), (col - col.mean()) / col.std())


@pytest.mark.parametrize("inner", SCALERS, ids=lambda t: type(t).__name__)
def test_inverse_transform_round_trip_in_every_form(inner):
    X, real, _ = padded_batch(seed=1, n=20, T=9, scales=(1.0, 50.0))
    X = np.abs(X) + 1  # PowerTransformer/Quantile round trips: positive, spread data
    X[~real] = np.nan
    scaler = SequenceTransformer(inner).fit(X)
    back = scaler.inverse_transform(scaler.transform(X))
    np.testing.assert_allclose(back, X, rtol=1e-7, atol=1e-7)  # NaN where X is NaN
    seqs = [x[r] for x, r in zip(X, real)]
    for b, s in zip(scaler.inverse_transform(scaler.transform(seqs)), seqs):
        np.testing.assert_allclose(b, s, rtol=1e-7, atol=1e-7)


def test_float32_stays_float32_and_float64_is_the_default():
    X, _, _ = padded_batch()
    assert SequenceTransformer(StandardScaler()).fit_transform(X.astype(np.float32)).dtype \
        == np.float32
    assert SequenceTransformer(StandardScaler()).fit_transform(X.tolist()).dtype == np.float64


def test_new_sequences_may_have_other_counts_and_lengths():
    X, _, _ = padded_batch()
    scaler = SequenceTransformer(StandardScaler()).fit(X)
    new = np.random.default_rng(3).normal(size=(2, 11, 3))
    np.testing.assert_allclose(scaler.transform(new),
                               (new - scaler.transformer_.mean_) / scaler.transformer_.scale_)


# ---------------------------------------------------------------- refusals

def test_nan_inside_a_sequence_is_refused_as_the_estimators_refuse_it():
    X, _, _ = padded_batch()
    inside = X.copy()
    inside[1, 2] = np.nan   # a whole NaN step before real steps
    partial = X.copy()
    partial[0, 0, 1] = np.nan
    for bad in (inside, partial):
        with pytest.raises(ValueError) as theirs:
            LSTMRegressor(max_iter=1).fit(bad, np.zeros(len(bad)))
        with pytest.raises(ValueError) as ours:
            SequenceTransformer(StandardScaler()).fit(bad)
        assert str(ours.value) == str(theirs.value)
        assert "NaN" in str(ours.value)


def test_a_transformer_that_changes_the_number_of_features_is_refused_at_fit():
    X, _, _ = padded_batch()
    for method in ("fit", "fit_transform"):
        with pytest.raises(ValueError, match="turned 3 features per step into 2"):
            getattr(SequenceTransformer(PCA(n_components=2)), method)(X)


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")
def test_other_refusals_say_what_is_wrong():
    X, _, _ = padded_batch()
    with pytest.raises(TypeError, match="must be a scikit-learn transformer"):
        SequenceTransformer(LSTMRegressor()).fit(X)
    with pytest.raises(NotFittedError):
        SequenceTransformer(StandardScaler()).transform(X)
    scaler = SequenceTransformer(StandardScaler()).fit(X)
    with pytest.raises(ValueError, match="X has 2 features per time step, but "
                                         "SequenceTransformer was fitted with 3"):
        scaler.transform(X[:, :, :2])
    with pytest.raises(ValueError, match="sparse"):
        SequenceTransformer(FunctionTransformer(sp.csr_matrix)).fit_transform(X)
    with pytest.raises(ValueError, match="NaN or infinity at a real step"):
        SequenceTransformer(FunctionTransformer(np.log)).fit_transform(X - 100)
    # No inverse_transform where the inner transformer has none.
    assert not hasattr(SequenceTransformer(Normalizer()), "inverse_transform")
    assert hasattr(SequenceTransformer(StandardScaler()), "inverse_transform")


def test_feature_names_out():
    X, _, _ = padded_batch()
    scaler = SequenceTransformer(StandardScaler()).fit(X)
    assert list(scaler.get_feature_names_out()) == ["x0", "x1", "x2"]
    assert list(scaler.get_feature_names_out(["a", "b", "c"])) == ["a", "b", "c"]
    with pytest.raises(ValueError):
        scaler.get_feature_names_out(["a", "b"])


# ------------------------------------------------------- scikit-learn's tools

def fast_lstm(**kw):
    return LSTMRegressor(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=1e-2,
                         random_state=0, **kw)


def scaled_problem(n=80, T=10):
    """Two features 5 orders of magnitude apart; every 3rd sequence padded."""
    rng = np.random.default_rng(0)
    X = np.stack([rng.standard_normal((n, T)), 1e5 + 300 * rng.standard_normal((n, T))], -1)
    X[::3, T - 3:] = np.nan
    y = np.nansum(X[:, :, 0], axis=1) / 3 + (X[:, 0, 1] - 1e5) / 300
    return X, y


def test_the_trap_a_2d_scaler_in_a_pipeline_fails_on_3d_X():
    X, y = scaled_problem()
    with pytest.raises(ValueError, match="dim 3"):
        make_pipeline(StandardScaler(), fast_lstm()).fit(X, y)


def test_pipeline_with_lstm_regressor_fits_and_predicts_on_the_scaled_sequences():
    X, y = scaled_problem()
    pipe = make_pipeline(SequenceTransformer(StandardScaler()), fast_lstm()).fit(X, y)
    # The same as scaling by hand and fitting the regressor on the result.
    scaled = (X - np.nanmean(X, axis=(0, 1))) / np.nanstd(X, axis=(0, 1))
    by_hand = fast_lstm().fit(scaled, y)
    np.testing.assert_allclose(pipe.predict(X), by_hand.predict(scaled), rtol=1e-4, atol=1e-4)
    assert pipe.score(X, y) > 0.5
    # A list of sequences of different lengths goes through too.
    seqs = [x[~np.isnan(x[:, 0])] for x in X]
    np.testing.assert_allclose(pipe.predict(seqs), pipe.predict(X), rtol=1e-5, atol=1e-5)


def test_grid_search_clones_and_tunes_the_inner_transformer():
    X, y = scaled_problem(n=60, T=6)
    pipe = make_pipeline(SequenceTransformer(StandardScaler()), fast_lstm())
    search = GridSearchCV(pipe, {"sequencetransformer__transformer": [StandardScaler(),
                                                                      MinMaxScaler()],
                                 "lstmregressor__max_iter": [5]}, cv=2)
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 2
    fitted = search.best_estimator_[0]
    assert fitted.transformer_ is not fitted.transformer
    assert not hasattr(pipe[0], "transformer_")  # the template stays unfitted
    unfitted = clone(fitted)
    assert not hasattr(unfitted, "transformer_")
    assert type(unfitted.transformer) is type(fitted.transformer)
    cloned = clone(SequenceTransformer(StandardScaler(with_mean=False)))
    assert cloned.get_params()["transformer__with_mean"] is False


def test_pickle_round_trip():
    X, _, _ = padded_batch()
    scaler = SequenceTransformer(QuantileTransformer(n_quantiles=10)).fit(X)
    again = pickle.loads(pickle.dumps(scaler))
    np.testing.assert_array_equal(again.transform(X), scaler.transform(X))
    np.testing.assert_array_equal(again.inverse_transform(scaler.transform(X)),
                                  scaler.inverse_transform(scaler.transform(X)))


@pytest.mark.parametrize("y_shape", [(), (2,)], ids=["y (n, T)", "y (n, T, 2)"])
def test_transformed_target_regressor_scales_per_step_targets(y_shape):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 8, 2))
    Y = 2000 + 100 * np.cumsum(X[:, :, 0], axis=1)
    if y_shape:
        Y = np.stack([Y, -Y / 10], axis=-1)
    model = TransformedTargetRegressor(fast_lstm(output="sequence"),
                                       transformer=SequenceTransformer(StandardScaler()))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*not strictly inverse")
        model.fit(X, Y)
    inner = model.transformer_.transformer_
    flat = Y.reshape(-1, *y_shape or (1,))
    np.testing.assert_allclose(inner.mean_, flat.mean(axis=0))
    np.testing.assert_allclose(inner.scale_, flat.std(axis=0))
    # The regressor learnt the scaled targets; predict undoes the scaling.
    pred = model.predict(X)
    assert pred.shape == Y.shape
    raw = model.regressor_.predict(X)
    np.testing.assert_allclose(pred, raw.reshape(pred.shape) * inner.scale_ + inner.mean_,
                               rtol=1e-10)
    assert abs(np.mean(raw)) < 0.5 and abs(np.std(raw) - 1) < 0.5  # trained on scaled Y
    assert np.mean(np.abs(pred - Y)) < 0.5 * Y.std()


def test_padded_targets_scaled_by_hand_with_the_same_transformer():
    X, real, _ = padded_batch(n=30, T=8, scales=(1.0, 1.0))
    Y = 500 + 50 * np.cumsum(np.nan_to_num(X[:, :, 0]), axis=1)
    Y[~real] = np.nan
    y_scaler = SequenceTransformer(StandardScaler()).fit(Y)
    np.testing.assert_allclose(y_scaler.transformer_.mean_, [Y[real].mean()])
    model = fast_lstm(output="sequence").fit(X, y_scaler.transform(Y))
    pred = y_scaler.inverse_transform(model.predict(X))
    assert pred.shape == Y.shape
    np.testing.assert_array_equal(np.isnan(pred), ~real)


# ------------------------------------------------------- the common checks

# The common checks feed 2-D X of shape (n_samples, n_features). To the
# estimators and to this transformer a 2-D X is a batch of univariate series:
# its second axis is time (any length at transform), and n_features_in_ is 1.
_TIME_AXIS = "2-D X is a batch of univariate series: axis 1 is time, not features"
EXPECTED_FAILURES = {
    "check_n_features_in": _TIME_AXIS + ", so n_features_in_ is 1",
    "check_n_features_in_after_fitting": _TIME_AXIS + "; sequence length may change",
    "check_transformer_general": _TIME_AXIS + "; transform(X[:, :-1]) is valid input "
                                              "(shorter series)",
}


@parametrize_with_checks(
    [SequenceTransformer(StandardScaler()), SequenceTransformer(MinMaxScaler())],
    expected_failed_checks=lambda est: EXPECTED_FAILURES,
)
def test_passes_the_scikit_learn_common_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("inner", SCALERS, ids=lambda t: type(t).__name__)
def test_common_properties_on_3d_input(inner):
    """What the common checks assert, on 3-D input: fit_transform equals
    fit then transform, refitting gives the same result, the parameters are
    left alone, clone and pickle work."""
    X, _, _ = padded_batch(seed=2, n=30, T=6)
    est = SequenceTransformer(inner)
    params = est.get_params(deep=False)
    a = est.fit_transform(X)
    b = clone(est).fit(X).transform(X)
    c = est.fit(X).transform(X)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)
    assert est.get_params(deep=False) == params and est.transformer is inner
    assert not hasattr(inner, "n_features_in_")  # the parameter itself is never fitted
