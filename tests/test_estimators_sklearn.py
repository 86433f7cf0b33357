"""LSTMRegressor and LSTMClassifier are scikit-learn estimators: the common
checks, and the tools that combine estimators (Pipeline, grid search, cross
validation, clone)."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from lstm_fast import LSTMClassifier, LSTMRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# The common checks feed 2-D X of shape (n_samples, n_features). To these
# estimators a 2-D X is a batch of univariate series: its second axis is
# time, which may differ between calls, and n_features_in_ is 1.
_TIME_AXIS = "2-D X is a batch of univariate series: axis 1 is time, not features"
_TABLE = ("a pandas DataFrame is a table (observations x features), not a batch of "
          "series: refused, with a hint to lstm_fast.datasets.sliding_window")
_EXPECTED_FAILURES = {
    "check_n_features_in": _TIME_AXIS + ", so n_features_in_ is 1",
    # Inherent: fit on 4 columns gives n_features_in_ 1, not the 4 the check
    # asserts, and its X[:, [1]] is valid input (series of one step). The
    # error for another feature count has the check's wording all the same
    # (tests/test_first_hour_traps.py runs its pattern on 3-D X).
    "check_n_features_in_after_fitting":
        _TIME_AXIS + ": n_features_in_ is 1, not X.shape[1], and X[:, [1]] is a valid "
        "batch of one-step series",
    "check_estimators_partial_fit_n_features": _TIME_AXIS + "; sequence length may change",
    # With pandas installed these checks fit on a DataFrame of observations x
    # features: the table a 2-D X must not be mistaken for, refused with a
    # ValueError that shows how to make sequences of it (without pandas they
    # skip their DataFrame part).
    "check_sample_weights_pandas_series": _TABLE,
    "check_regressor_data_not_an_array": _TABLE,
    "check_classifier_data_not_an_array": _TABLE,
    # Weighted and repeated fits are one batch each, but shuffled in a
    # different order, so the gradient's sums run in another order: float32
    # rounding after 100 epochs reaches the check's rtol=1e-7 (the classifier
    # exceeds it; the regressor is just below it on one machine, not on
    # every ISA). With dtype=float64 both pass (tests/test_sample_weight.py).
    "check_sample_weight_equivalence_on_dense_data":
        "float32 rounding of a differently ordered batch reaches rtol=1e-7; "
        "passes with dtype=float64",
}
_CLASSIFIER_FAILURES = {
    # The check also asserts that predict(X.T) raises; X.T is a valid batch
    # of 2 series of length n_samples.
    "check_classifiers_train": _TIME_AXIS + "; predict(X.T) is valid input",
}


def expected_failed_checks(estimator):
    failures = dict(_EXPECTED_FAILURES)
    if isinstance(estimator, LSTMClassifier):
        failures.update(_CLASSIFIER_FAILURES)
    return failures


# Small and quick to train, yet good enough for the checks' score thresholds.
_CHECKED = dict(hidden_layer_sizes=(32,), max_iter=100, learning_rate_init=1e-2)


@parametrize_with_checks(
    [LSTMRegressor(**_CHECKED), LSTMClassifier(**_CHECKED)],
    expected_failed_checks=expected_failed_checks,
)
def test_passes_the_scikit_learn_common_checks(estimator, check):
    check(estimator)


def _regression_data(n=120, T=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, 2))
    return X, X.sum(axis=(1, 2)) / np.sqrt(T)


def _classification_data(n=120, T=6, seed=0):
    X, s = _regression_data(n, T, seed)
    return X, np.where(s > 0, "pos", "neg")


_QUICK = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)


def test_works_as_the_last_step_of_a_pipeline():
    X, y = _regression_data()
    scale = FunctionTransformer(lambda Z: Z / 2.0)
    pipe = Pipeline([("scale", scale), ("lstm", LSTMRegressor(**_QUICK))])
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (len(X),)


def test_grid_search_with_two_jobs_picks_a_parameter():
    X, y = _classification_data()
    search = GridSearchCV(LSTMClassifier(**_QUICK), {"hidden_layer_sizes": [(4,), (8,)]},
                          cv=2, n_jobs=2)
    search.fit(X, y)
    assert search.best_params_["hidden_layer_sizes"] in [(4,), (8,)]
    assert search.predict(X).shape == (len(X),)


@pytest.mark.parametrize("Estimator, data", [(LSTMRegressor, _regression_data),
                                             (LSTMClassifier, _classification_data)])
def test_cross_val_score_gives_one_score_per_fold(Estimator, data):
    X, y = data()
    scores = cross_val_score(Estimator(**_QUICK), X, y, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


def test_clone_copies_parameters_and_no_fitted_state():
    est = LSTMRegressor(hidden_layer_sizes=(5, 3), alpha=0.1, clip_norm=2.0)
    est.fit(*_regression_data(n=20))
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "network_")


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_ordinary_fit_warns_when_max_iter_is_reached(Estimator):
    X, y = (_regression_data if Estimator is LSTMRegressor else _classification_data)()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        Estimator(**_QUICK).fit(X, y)
