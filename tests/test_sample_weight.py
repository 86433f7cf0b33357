"""sample_weight, the classifier's class_weight and fit's own validation set
(X_val, y_val, sample_weight_val), checked against independent computations:
removed and repeated samples, NumPy's weighted losses, finite differences,
scikit-learn's weighted metrics and class weights."""

import pickle

import numpy as np
import pytest
import sklearn
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

from lstm_fast import LSTMClassifier, LSTMRegressor
from lstm_fast._network import LOSSES, RecurrentNetwork, softmax

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# One batch, no shuffle: the weighted and the removed/repeated fits see the
# same sequences in the same minibatch, so they differ by rounding only.
ONE_BATCH = dict(hidden_layer_sizes=(6,), max_iter=4, random_state=0, shuffle=False,
                 batch_size=1000, dtype=np.float64, learning_rate_init=1e-2)


def _data(Estimator, output, n=24, T=5, D=2, seed=0, ragged=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, D))
    if ragged:  # trailing NaN padding on some sequences
        X[::3, T - 2:] = np.nan
    s = np.nancumsum(X[..., 0], axis=1) if output == "sequence" else np.nansum(X, axis=(1, 2))
    if Estimator is LSTMClassifier:
        y = np.where(s > 0, "pos", "neg") if output == "sequence" else \
            np.array(["a", "b", "c"])[np.digitize(s, [-1.0, 1.0])]
    else:
        y = s
    return X, y


CASES = [(E, o) for E in (LSTMRegressor, LSTMClassifier) for o in ("last", "sequence")]


# ------------------------------------------------------------- semantics


@pytest.mark.parametrize("Estimator, output", CASES)
def test_unit_weights_give_the_same_bits_as_no_weights(Estimator, output):
    X, y = _data(Estimator, output)
    params = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0, batch_size=7,
                  output=output)
    plain = Estimator(**params).fit(X, y)
    weighted = Estimator(**params).fit(X, y, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(plain.network_.params, weighted.network_.params)
    assert plain.loss_curve_ == weighted.loss_curve_


@pytest.mark.parametrize("Estimator, output", CASES)
def test_a_zero_weight_is_the_same_as_removing_the_sample(Estimator, output):
    X, y = _data(Estimator, output)
    sw = np.ones(len(X))
    sw[[1, 4, 5, 11]] = 0
    weighted = Estimator(output=output, **ONE_BATCH).fit(X, y, sample_weight=sw)
    removed = Estimator(output=output, **ONE_BATCH).fit(X[sw > 0], y[sw > 0])
    np.testing.assert_allclose(weighted.network_.params, removed.network_.params,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, removed.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("Estimator, output", CASES)
def test_integer_weights_weigh_as_repeated_samples(Estimator, output):
    X, y = _data(Estimator, output)
    sw = np.random.default_rng(1).integers(0, 4, len(X))
    weighted = Estimator(output=output, **ONE_BATCH).fit(X, y, sample_weight=sw)
    repeated = Estimator(output=output, **ONE_BATCH).fit(np.repeat(X, sw, axis=0),
                                                         np.repeat(y, sw, axis=0))
    np.testing.assert_allclose(weighted.network_.params, repeated.network_.params,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_partial_fit_takes_weights_as_fit(Estimator):
    X, y = _data(Estimator, "last")
    sw = np.random.default_rng(2).uniform(0, 3, len(X))
    fitted = Estimator(**dict(ONE_BATCH, max_iter=1)).fit(X, y, sample_weight=sw)
    extra = {"classes": np.unique(y)} if Estimator is LSTMClassifier else {}
    partial = Estimator(**ONE_BATCH).partial_fit(X, y, sample_weight=sw, **extra)
    np.testing.assert_array_equal(fitted.network_.params, partial.network_.params)


def test_scikit_learns_weight_equivalence_check_passes_in_float64():
    """The common check itself (xfailed for the float32 default, where the
    differently shuffled batch's rounding exceeds its rtol=1e-7)."""
    for Estimator in (LSTMRegressor, LSTMClassifier):
        est = Estimator(hidden_layer_sizes=(32,), max_iter=100, learning_rate_init=1e-2,
                        dtype=np.float64)
        check_sample_weight_equivalence_on_dense_data(Estimator.__name__, est)


@pytest.mark.parametrize("loss_name", ["squared_error", "log_loss"])
@pytest.mark.parametrize("shape", [(7,), (7, 5)])
def test_the_weighted_losses_are_numpys_weighted_means(loss_name, shape):
    rng = np.random.default_rng(0)
    K = 3
    out = rng.standard_normal(shape + (K,))
    w = rng.uniform(0, 2, shape)
    w.flat[::4] = 0
    if loss_name == "squared_error":
        target = rng.standard_normal(shape + (K,))
        per_entry = 0.5 * ((out - target) ** 2).mean(axis=-1)
    else:
        target = rng.integers(0, K, shape)
        p = softmax(out)
        per_entry = -np.log(np.take_along_axis(p, target[..., None], -1)[..., 0])
    loss, d_out = LOSSES[loss_name](out.copy(), target, w.copy())
    assert loss == pytest.approx((w * per_entry).sum() / w.sum(), rel=1e-12)
    # The gradient, by central differences of the loss.
    eps = 1e-6
    numeric = np.empty_like(out)
    for k in range(out.size):
        plus, minus = out.copy(), out.copy()
        plus.flat[k] += eps
        minus.flat[k] -= eps
        numeric.flat[k] = (LOSSES[loss_name](plus, target, w.copy())[0]
                           - LOSSES[loss_name](minus, target, w.copy())[0]) / (2 * eps)
    np.testing.assert_allclose(d_out, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("Estimator, output", CASES)
def test_the_weighted_backprop_matches_finite_differences(Estimator, output):
    """The whole network with weights and the L2 term over their sum."""
    X, y = _data(Estimator, output, n=5, T=4, ragged=False)
    est = Estimator(hidden_layer_sizes=(3,), output=output, alpha=0.3, max_iter=1,
                    dtype=np.float64, random_state=0).fit(X, y)
    net = est.network_
    X, lengths, target, mask, attrs = est._validate_data(X, y, reset=False)
    sw = np.array([0.5, 0.0, 2.0, 1.0, 3.0])
    row, loss_w = est._weights(sw, target, mask, None)
    total = float(row.sum())
    loss = est._backprop(net, X, lengths, target, loss_w, total)
    analytic = net.grad.copy()
    numeric = np.empty_like(analytic)
    eps = 1e-6
    for k in range(net.params.size):
        saved = net.params[k]
        net.params[k] = saved + eps
        plus = est._backprop(net, X, lengths, target, loss_w, total)
        net.params[k] = saved - eps
        minus = est._backprop(net, X, lengths, target, loss_w, total)
        net.params[k] = saved
        numeric[k] = (plus - minus) / (2 * eps)
    assert np.isfinite(loss)
    np.testing.assert_allclose(analytic, numeric, atol=1e-7 * np.abs(numeric).max(),
                               rtol=1e-5)


# ------------------------------------------------------------ class_weight


def test_balanced_class_weight_is_compute_sample_weight_times_sample_weight():
    X, y = _data(LSTMClassifier, "last")
    sw = np.random.default_rng(3).uniform(0.5, 2, len(X))
    balanced = LSTMClassifier(class_weight="balanced", **ONE_BATCH).fit(X, y, sample_weight=sw)
    # compute_class_weight with sample_weight: the weighted class counts.
    cw = compute_class_weight("balanced", classes=np.unique(y), y=y, sample_weight=sw)
    expected = LSTMClassifier(**ONE_BATCH).fit(
        X, y, sample_weight=sw * cw[np.searchsorted(np.unique(y), y)])
    np.testing.assert_allclose(balanced.network_.params, expected.network_.params,
                               rtol=1e-12, atol=1e-14)
    no_sw = LSTMClassifier(class_weight="balanced", **ONE_BATCH).fit(X, y)
    by_sklearn = LSTMClassifier(**ONE_BATCH).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_allclose(no_sw.network_.params, by_sklearn.network_.params,
                               rtol=1e-12, atol=1e-14)


def test_a_class_weight_dict_weighs_its_classes_and_leaves_the_others_at_one():
    X, y = _data(LSTMClassifier, "last")
    dicted = LSTMClassifier(class_weight={"a": 3.0, "c": 0.5}, **ONE_BATCH).fit(X, y)
    expected = LSTMClassifier(**ONE_BATCH).fit(
        X, y, sample_weight=np.select([y == "a", y == "c"], [3.0, 0.5], 1.0))
    np.testing.assert_allclose(dicted.network_.params, expected.network_.params,
                               rtol=1e-12, atol=1e-14)


def test_a_class_weight_dict_may_name_more_labels_when_it_weighs_every_class():
    """scikit-learn's rule: a cross-validation fold may lack a class."""
    X, y = _data(LSTMClassifier, "last")
    weights = {"a": 3.0, "b": 1.0, "c": 0.5, "absent": 2.0}
    dicted = LSTMClassifier(class_weight=weights, **ONE_BATCH).fit(X, y)
    expected = LSTMClassifier(class_weight={"a": 3.0, "c": 0.5}, **ONE_BATCH).fit(X, y)
    np.testing.assert_array_equal(dicted.network_.params, expected.network_.params)
    with pytest.raises(ValueError, match="class_weight.*absent"):
        LSTMClassifier(class_weight={"a": 3.0, "absent": 2.0}, **ONE_BATCH).fit(X, y)


def test_class_weights_of_sequence_labels_weigh_each_step():
    """output="sequence": the first epoch's loss (at the initial parameters)
    is the mean cross-entropy over real steps weighted by the class of each
    step's label ("balanced" over the real steps' labels)."""
    X, y = _data(LSTMClassifier, "sequence", ragged=True)
    est = LSTMClassifier(output="sequence", class_weight="balanced",
                         **dict(ONE_BATCH, max_iter=1)).fit(X, y)
    lengths = (~np.isnan(X).all(axis=2)).sum(axis=1)
    mask = np.arange(X.shape[1]) < lengths[:, None]
    net = RecurrentNetwork("lstm", 2, (6,), 2, "sequence", np.float64)
    net.initialize(check_random_state(0))  # what fit drew first
    logits = net.forward(np.nan_to_num(X), lengths)
    codes = np.searchsorted(est.classes_, y)
    nll = -np.log(np.take_along_axis(softmax(logits), codes[..., None], -1)[..., 0])
    cw = compute_class_weight("balanced", classes=est.classes_, y=y[mask])
    w = cw[codes] * mask
    weights = net.params[:net.n_weights]
    l2 = 0.5 * est.alpha * weights @ weights / len(X)  # over the sequences' weights
    assert est.loss_curve_[0] == pytest.approx((w * nll).sum() / w.sum() + l2, rel=1e-10)


def test_partial_fit_refuses_balanced_and_takes_a_dict():
    X, y = _data(LSTMClassifier, "last")
    with pytest.raises(ValueError, match="balanced.*partial_fit"):
        LSTMClassifier(class_weight="balanced").partial_fit(X, y, classes=np.unique(y))
    LSTMClassifier(class_weight={"a": 2}, **ONE_BATCH).partial_fit(X, y,
                                                                   classes=np.unique(y))


def test_a_saved_class_weight_loads_with_its_label_types(tmp_path):
    X = np.random.default_rng(0).standard_normal((12, 3, 1))
    y = np.arange(12) % 3
    est = LSTMClassifier(class_weight={0: 2.0, 2: 0.5}, **ONE_BATCH).fit(X, y)
    est.save(tmp_path / "m.npz")
    loaded = LSTMClassifier.load(tmp_path / "m.npz")
    assert loaded.class_weight == {0: 2.0, 2: 0.5}
    assert all(type(k) is int for k in loaded.class_weight)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


# ----------------------------------------------------- the validation set


@pytest.mark.parametrize("Estimator, output", CASES)
def test_the_validation_score_of_x_val_is_the_weighted_score(Estimator, output):
    X, y = _data(Estimator, output)
    X_val, y_val = _data(Estimator, output, n=9, T=6, seed=5)
    sw_val = np.random.default_rng(4).uniform(0, 2, 9)
    est = Estimator(output=output, **dict(ONE_BATCH, max_iter=1)).fit(
        X, y, X_val=X_val, y_val=y_val, sample_weight_val=sw_val)
    # One epoch: the score after it is the final model's on X_val.
    pred = est.predict(X_val)
    lengths = (~np.isnan(X_val).all(axis=2)).sum(axis=1)
    if output == "sequence":
        mask = np.arange(X_val.shape[1]) < lengths[:, None]
        truth, pred, w = y_val[mask], pred[mask], np.broadcast_to(sw_val[:, None],
                                                                  mask.shape)[mask]
    else:
        truth, w = y_val, sw_val
    metric = accuracy_score if Estimator is LSTMClassifier else r2_score
    expected = metric(truth, pred, sample_weight=w)
    assert est.validation_scores_ == [pytest.approx(expected, rel=1e-9)]
    assert est.best_validation_score_ == est.validation_scores_[0]
    assert est.score(X_val, y_val, sample_weight=sw_val) == pytest.approx(expected, rel=1e-9)


def test_early_stopping_on_x_val_uses_no_part_of_x_and_keeps_the_best_epoch():
    X, y = _data(LSTMRegressor, "last", n=40)
    X_val, y_val = _data(LSTMRegressor, "last", n=10, seed=7)
    est = LSTMRegressor(early_stopping=True, n_iter_no_change=2, tol=0.0,
                        **dict(ONE_BATCH, max_iter=30, learning_rate_init=0.05))
    est.fit(X, y, X_val=X_val, y_val=y_val)
    assert est.t_ == est.n_iter_ * 40  # every sequence of X trained, each epoch
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.score(X_val, y_val) == pytest.approx(est.best_validation_score_, rel=1e-9)


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_the_early_stopping_split_carries_its_weights(Estimator, monkeypatch):
    X, y = _data(Estimator, "last", n=40)
    sw = np.random.default_rng(6).uniform(0.1, 3, len(X))
    seen = []
    original = Estimator._score_arrays

    def spy(self, network, X_val, lengths, target, mask, weights=None):
        seen.append((X_val.copy(), None if weights is None else weights.copy()))
        return original(self, network, X_val, lengths, target, mask, weights)

    monkeypatch.setattr(Estimator, "_score_arrays", spy)
    Estimator(early_stopping=True, validation_fraction=0.25,
              **dict(ONE_BATCH, max_iter=2)).fit(X, y, sample_weight=sw)
    X_val, w_val = seen[0]
    rows = [int(np.flatnonzero(np.all(np.nan_to_num(X) == x, axis=(1, 2)))[0])
            for x in X_val]
    np.testing.assert_array_equal(w_val, sw[rows])


def test_a_pipeline_routes_sample_weight_and_the_validation_set():
    X, y = _data(LSTMRegressor, "last", ragged=False)
    X_val, y_val = _data(LSTMRegressor, "last", n=8, seed=3, ragged=False)
    sw = np.random.default_rng(0).uniform(0, 2, len(X))
    halve = FunctionTransformer(lambda Z: Z / 2.0)
    params = dict(ONE_BATCH, max_iter=2)
    with sklearn.config_context(enable_metadata_routing=True):
        est = LSTMRegressor(**params).set_fit_request(
            sample_weight=True, X_val=True, y_val=True, sample_weight_val=True)
        pipe = Pipeline([("halve", halve), ("lstm", est)])
        pipe.fit(X, y, sample_weight=sw, X_val=X_val, y_val=y_val, sample_weight_val=sw[:8])
    # X_val reaches the estimator as given: the pipeline does not halve it.
    direct = LSTMRegressor(**params).fit(X / 2.0, y, sample_weight=sw, X_val=X_val,
                                         y_val=y_val, sample_weight_val=sw[:8])
    np.testing.assert_array_equal(pipe[-1].network_.params, direct.network_.params)
    assert pipe[-1].validation_scores_ == direct.validation_scores_
    # Unless the pipeline is asked to transform it (scikit-learn's transform_input).
    with sklearn.config_context(enable_metadata_routing=True):
        est = LSTMRegressor(**params).set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("halve", halve), ("lstm", est)], transform_input=["X_val"])
        pipe.fit(X, y, X_val=X_val, y_val=y_val)
    direct = LSTMRegressor(**params).fit(X / 2.0, y, X_val=X_val / 2.0, y_val=y_val)
    assert pipe[-1].validation_scores_ == direct.validation_scores_


# -------------------------------------------------------------- bad input


def _bad_fit_inputs(Estimator):
    X, y = _data(Estimator, "last", ragged=False)
    n = len(X)
    ok = np.ones(n)
    X_val, y_val = X[:6], y[:6]
    cases = {
        "negative": (dict(sample_weight=np.r_[-1.0, ok[1:]]), "sample_weight.*negative"),
        "nan": (dict(sample_weight=np.r_[np.nan, ok[1:]]), "sample_weight.*NaN"),
        "inf": (dict(sample_weight=np.r_[np.inf, ok[1:]]), "sample_weight.*infinity"),
        "all zero": (dict(sample_weight=np.zeros(n)), "sample_weight.*zero"),
        "too long": (dict(sample_weight=np.ones(n + 1)), "sample_weight.*shape"),
        "2-D": (dict(sample_weight=np.ones((n, 2))), "sample_weight.*shape"),
        "strings": (dict(sample_weight=["a"] * n), "sample_weight"),
        "X_val alone": (dict(X_val=X_val), "X_val.*y_val"),
        "y_val alone": (dict(y_val=y_val), "y_val.*X_val"),
        "sample_weight_val alone": (dict(sample_weight_val=np.ones(6)), "sample_weight_val"),
        "X_val features": (dict(X_val=np.ones((6, 5, 3)), y_val=y_val), "X_val has 3 features"),
        "X_val infinity": (dict(X_val=np.where(X_val > 1, np.inf, X_val), y_val=y_val),
                           "X_val contains infinity"),
        "X_val text": (dict(X_val=np.full((6, 5, 2), "x"), y_val=y_val), "X_val"),
        "y_val length": (dict(X_val=X_val, y_val=y[:5]), "y_val has 5"),
        "y_val shape": (dict(X_val=X_val, y_val=np.ones((6, 2, 2))), "y_val"),
        "sample_weight_val length": (dict(X_val=X_val, y_val=y_val,
                                          sample_weight_val=np.ones(4)), "sample_weight_val"),
        "sample_weight_val negative": (dict(X_val=X_val, y_val=y_val,
                                            sample_weight_val=-np.ones(6)),
                                       "sample_weight_val.*negative"),
    }
    if Estimator is LSTMClassifier:
        cases.update({
            "y_val unknown label": (dict(X_val=X_val, y_val=np.append(y_val[:5], "zzz")),
                                    "y_val.*zzz"),
            "class_weight unknown label": (dict(class_weight={"a": 2.0, "zzz": 1.0}),
                                           "class_weight.*zzz"),
            "class_weight negative": (dict(class_weight={"a": -1.0}),
                                      r"class_weight\['a'\]"),
            "class_weight type": (dict(class_weight="even"), "class_weight"),
            "class_weight list": (dict(class_weight=[1.0, 2.0]), "class_weight"),
            "weights leave one class": (dict(sample_weight=(y == "a").astype(float)),
                                        "only one class"),
        })
    return X, y, cases


def _state(est):
    fitted = {k: v for k, v in vars(est).items() if k.endswith("_") or k.startswith("_")}
    return est.get_params(), pickle.dumps(fitted)


@pytest.mark.parametrize("fitted", [False, True])
@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_bad_weights_and_validation_sets_are_refused_before_training(Estimator, fitted):
    X, y, cases = _bad_fit_inputs(Estimator)
    est = Estimator(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    if fitted:
        est.fit(X, y)
    for what, (kwargs, match) in cases.items():
        class_weight = kwargs.pop("class_weight", None)
        if class_weight is not None:
            est.set_params(class_weight=class_weight)
        before = _state(est)
        calls = []
        original = Estimator._backprop
        Estimator._backprop = lambda self, *a: calls.append(1) or original(self, *a)
        try:
            with pytest.raises(ValueError, match=match):
                est.fit(X, y, **kwargs)
        finally:
            Estimator._backprop = original
        assert not calls, what  # refused before any training
        assert _state(est) == before, what
        if class_weight is not None:
            est.set_params(class_weight=None)


def test_partial_fit_refuses_bad_weights_and_leaves_the_estimator():
    X, y = _data(LSTMRegressor, "last", ragged=False)
    est = LSTMRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, y)
    before = _state(est)
    with pytest.raises(ValueError, match="sample_weight.*negative"):
        est.partial_fit(X, y, sample_weight=-np.ones(len(X)))
    assert _state(est) == before
