"""LSTMRegressor's losses: "absolute_error", "huber", "poisson" and
"quantile" beside the default "squared_error".

Each loss against an independent computation (scikit-learn's metrics, a
NumPy form written here), its gradient against finite differences in
float64, the quantile head's levels that never cross, and the estimator's
API around them: shapes, score, streaming, save/load, pickling, clone,
bad parameters."""

import inspect
import io
import json
import pickle
import zipfile

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import (mean_absolute_error, mean_pinball_loss, mean_poisson_deviance,
                             mean_squared_error, r2_score)

from lstm_fast import LSTMRegressor
from lstm_fast._estimators import _BaseRecurrent
from lstm_fast._losses import LOSSES, monotone_quantiles
from lstm_fast._network import LOSSES as NETWORK_LOSSES

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LEVELS = (0.05, 0.3, 0.5, 0.95)


def _options(name):
    return {"huber": {"delta": 0.7}, "quantile": {"levels": LEVELS}}.get(name, {})


def _case(name, seq, K=2, seed=0):
    """(out, target, weights) in float64: (N, K) or (N, T, K) with padded steps."""
    rng = np.random.default_rng(seed)
    N, T = 5, 4
    shape = (N, T) if seq else (N,)
    width = K * len(LEVELS) if name == "quantile" else K
    out = rng.standard_normal(shape + (width,))
    target = rng.standard_normal(shape + (K,)) * 1.5
    if name == "poisson":
        target = rng.poisson(2.0, size=shape + (K,)).astype(float)  # zeros included
    weights = None
    if seq:
        lengths = np.array([4, 1, 3, 4, 2])
        weights = np.arange(T)[None, :] < lengths[:, None]
    return out, target, weights


def _softplus(z):
    return np.log1p(np.exp(z))


def _independent_quantiles(out, n_levels):
    """q_0 = z_0, q_l = q_{l-1} + log(1 + e^{z_l}), one level at a time."""
    z = out.reshape(out.shape[:-1] + (-1, n_levels))
    q = [z[..., 0]]
    for l in range(1, n_levels):
        q.append(q[-1] + _softplus(z[..., l]))
    return np.stack(q, axis=-1)


def _reference_loss(name, out, target, weights):
    """The loss from scikit-learn's metrics (or a NumPy form of it)."""
    keep = np.ones(out.shape[:-1], bool) if weights is None else weights.astype(bool)
    y = target[keep].ravel()
    if name == "squared_error":
        return 0.5 * mean_squared_error(y, out[keep].ravel())
    if name == "absolute_error":
        return mean_absolute_error(y, out[keep].ravel())
    if name == "huber":
        # HuberRegressor's form at unit scale, eps = delta: r^2 inside, 2 eps |r| - eps^2
        # beyond; ours is half of it.
        eps, r = 0.7, np.abs(out[keep].ravel() - y)
        return 0.5 * np.mean(np.where(r <= eps, r ** 2, 2 * eps * r - eps ** 2))
    if name == "poisson":
        return 0.5 * mean_poisson_deviance(y, np.exp(out[keep].ravel()))
    q = _independent_quantiles(out, len(LEVELS))[keep]
    return np.mean([mean_pinball_loss(y, q[..., l].ravel(), alpha=a)
                    for l, a in enumerate(LEVELS)])


REGRESSION_LOSSES = ["squared_error", "absolute_error", "huber", "poisson", "quantile"]


def test_the_old_names_stay_importable_from_the_network_module():
    from lstm_fast._network import log_loss, softmax, squared_loss  # noqa: F401
    assert NETWORK_LOSSES is LOSSES


@pytest.mark.parametrize("seq", [False, True], ids=["last", "sequence"])
@pytest.mark.parametrize("name", REGRESSION_LOSSES)
def test_loss_value_is_scikit_learns(name, seq):
    out, target, weights = _case(name, seq)
    loss, _ = LOSSES[name](out, target, weights, **_options(name))
    assert loss == pytest.approx(_reference_loss(name, out, target, weights), rel=1e-12)


@pytest.mark.parametrize("seq", [False, True], ids=["last", "sequence"])
@pytest.mark.parametrize("name", REGRESSION_LOSSES)
def test_loss_gradient_matches_finite_differences(name, seq):
    out, target, weights = _case(name, seq, seed=1)
    f = LOSSES[name]
    _, grad = f(out, target, weights, **_options(name))
    h = 1e-6
    numeric = np.zeros_like(out)
    for i in np.ndindex(out.shape):
        plus, minus = out.copy(), out.copy()
        plus[i] += h
        minus[i] -= h
        numeric[i] = (f(plus, target, weights, **_options(name))[0]
                      - f(minus, target, weights, **_options(name))[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    if weights is not None:  # padded steps get no gradient
        assert not np.any(grad[~weights])


def test_huber_per_entry_gradient_is_scikit_learns():
    from sklearn._loss.loss import HuberLoss

    out, target, _ = _case("huber", False)
    _, grad = LOSSES["huber"](out, target, None, delta=0.7)
    expected = HuberLoss(delta=0.7).gradient(target.ravel(), out.ravel()) / out.size
    np.testing.assert_allclose(grad.ravel(), expected, rtol=1e-12)


def test_quantile_head_is_the_softplus_construction():
    out, _, _ = _case("quantile", True)
    np.testing.assert_allclose(monotone_quantiles(out, len(LEVELS)),
                               _independent_quantiles(out, len(LEVELS)), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantile_head_never_crosses_even_at_extreme_outputs(dtype):
    rng = np.random.default_rng(3)
    out = (rng.standard_normal((500, 3 * 5)) * rng.choice([1, 30, 1e3], (500, 15))).astype(dtype)
    q = monotone_quantiles(out, 5)
    assert q.shape == (500, 3, 5) and q.dtype == dtype
    assert np.all(np.diff(q, axis=-1) >= 0)


# ------------------------------------------------------------------ estimator


def _data(n=60, T=6, D=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, D))
    return X, X.sum(axis=(1, 2)) / np.sqrt(T)


_QUICK = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)


def _fit(X, y, **params):
    return LSTMRegressor(**{**_QUICK, **params}).fit(X, y)


def test_the_regressor_takes_every_parameter_of_the_base_class():
    # LSTMRegressor lists the base parameters again in its own __init__ (as
    # MLPRegressor): one added to the base must be added there too.
    base = set(inspect.signature(_BaseRecurrent.__init__).parameters)
    ours = set(inspect.signature(LSTMRegressor.__init__).parameters)
    assert base <= ours
    assert ours - base == {"loss", "huber_delta", "quantile"}


def test_default_loss_is_squared_error_and_gives_the_same_bits():
    X, y = _data()
    a = _fit(X, y)
    b = _fit(X, y, loss="squared_error", huber_delta=5.0)
    assert LSTMRegressor().loss == "squared_error"
    np.testing.assert_array_equal(a.network_.params, b.network_.params)


def test_huber_with_a_large_delta_is_squared_error():
    X, y = _data()
    a = _fit(X, y, dtype=np.float64)
    b = _fit(X, y, dtype=np.float64, loss="huber", huber_delta=1e6)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("loss", ["quantile", "poisson"])
def test_network_gradient_through_the_new_heads_matches_finite_differences(loss):
    # float64, output="sequence" with padded steps, two outputs: the
    # gradient of _backprop's loss with respect to the parameters.
    X, y = _data(n=5, T=5)
    X[1, 3:] = np.nan
    X[3, 2:] = np.nan
    Y = np.stack([np.cumsum(X[..., 0], axis=1), X[..., 1]], axis=-1)
    if loss == "poisson":
        Y = np.abs(np.nan_to_num(Y)).round()
    params = dict(loss=loss, quantile=[0.1, 0.5, 0.8] if loss == "quantile" else None)
    est = _fit(X, Y, output="sequence", dtype=np.float64, max_iter=1, alpha=0, **params)
    Xv, lengths, target, mask, _ = est._validate_data(X, Y, reset=False)
    network = est.network_
    rng = np.random.default_rng(0)
    network.params[...] += rng.standard_normal(network.n_params) * 0.3

    def loss_at(p):
        saved = network.params.copy()
        network.params[...] = p
        out = network.forward(Xv, lengths)
        value = est._loss_function()(out, target, mask)[0]
        network.params[...] = saved
        return value

    est._backprop(network, Xv, lengths, target, mask)
    grad = network.grad.copy()
    h = 1e-6
    for i in rng.choice(network.n_params, 25, replace=False):
        p = network.params.copy()
        p[i] += h
        up = loss_at(p)
        p[i] -= 2 * h
        numeric = (up - loss_at(p)) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8), i


@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("multi", [False, True], ids=["one-output", "two-outputs"])
def test_quantile_levels_are_on_a_last_axis_and_never_cross(output, multi):
    X, y = _data()
    if output == "sequence":
        y = np.cumsum(X[..., 0], axis=1)
    if multi:
        y = np.stack([y, -2 * y], axis=-1)
    est = _fit(X, y, output=output, loss="quantile", quantile=[0.1, 0.5, 0.9])
    # Random large weights: the construction, not training, keeps the order.
    rng = np.random.default_rng(1)
    est.network_.params[...] = rng.standard_normal(est.network_.n_params) * 3
    Xt = _data(n=200, seed=5)[0] * 3
    pred = est.predict(Xt)
    assert pred.shape == (200,) + y.shape[1:] + (3,)
    assert np.all(np.diff(pred, axis=-1) >= 0)
    assert est.n_outputs_ == (2 if multi else 1)
    assert est.network_.n_outputs == 3 * est.n_outputs_


# Fits whose best prediction is a constant: 100 epochs, no early stop.
_CONSTANT_FIT = dict(hidden_layer_sizes=(4,), learning_rate_init=0.05, max_iter=100, tol=0,
                     n_iter_no_change=100, batch_size=100, random_state=0, alpha=0)


def test_a_single_float_level_predicts_y_shape_and_an_empirical_quantile():
    # The inputs say nothing about y: the best prediction is y's 0.9 quantile.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 3, 1)) * 0.01
    y = rng.exponential(2.0, 1000)
    est = LSTMRegressor(loss="quantile", quantile=0.9, **_CONSTANT_FIT).fit(X, y)
    pred = est.predict(X)
    assert pred.shape == (1000,)
    assert np.mean(y <= pred) == pytest.approx(0.9, abs=0.03)
    assert np.median(pred) == pytest.approx(np.quantile(y, 0.9), rel=0.1)


def test_absolute_error_fits_the_median_and_poisson_the_mean():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 3, 1)) * 0.01
    y = rng.exponential(2.0, 1000)
    med = LSTMRegressor(loss="absolute_error", **_CONSTANT_FIT).fit(X, y).predict(X)
    assert np.mean(med) == pytest.approx(np.median(y), rel=0.1)
    counts = rng.poisson(3.0, 1000).astype(float)
    mean = LSTMRegressor(loss="poisson", **_CONSTANT_FIT).fit(X, counts).predict(X)
    assert np.all(mean > 0)
    assert np.mean(mean) == pytest.approx(counts.mean(), rel=0.05)


def test_poisson_predicts_the_exp_of_the_head():
    X, y = _data()
    est = _fit(X, np.exp(y), loss="poisson", dtype=np.float64)
    raw = est.network_.forward(X)[:, 0]
    np.testing.assert_allclose(est.predict(X), np.exp(raw), rtol=1e-12)


def test_score_is_r2_of_the_median_level_or_the_mean():
    X, y = _data()
    est = _fit(X, y, loss="quantile", quantile=[0.05, 0.5, 0.95])
    assert est.score(X, y) == pytest.approx(r2_score(y, est.predict(X)[:, 1]))
    # No 0.5 among the levels: the nearest one (0.3 here).
    est = _fit(X, y, loss="quantile", quantile=(0.3, 0.9))
    assert est.score(X, y) == pytest.approx(r2_score(y, est.predict(X)[:, 0]))
    est = _fit(X, np.exp(y), loss="poisson")
    assert est.score(X, np.exp(y)) == pytest.approx(r2_score(np.exp(y), est.predict(X)))


def test_sequence_output_with_ragged_lists_and_early_stopping():
    X, _ = _data()
    lists = [x[: 3 + i % 4] for i, x in enumerate(X)]
    ys = [np.cumsum(x[:, 0]) for x in lists]
    est = _fit(lists, ys, output="sequence", loss="quantile", quantile=[0.2, 0.5, 0.8],
               early_stopping=True, validation_fraction=0.2)
    pred = est.predict(lists)
    assert [p.shape for p in pred] == [(len(x), 3) for x in lists]
    assert all(np.all(np.diff(p, axis=-1) >= 0) for p in pred)
    median = np.concatenate([p[:, 1] for p in pred])
    assert est.score(lists, ys) == pytest.approx(r2_score(np.concatenate(ys), median))
    assert len(est.validation_scores_) == est.n_iter_


@pytest.mark.parametrize("params", [dict(loss="quantile", quantile=[0.1, 0.5, 0.9]),
                                    dict(loss="poisson")], ids=["quantile", "poisson"])
@pytest.mark.parametrize("multi", [False, True], ids=["one-output", "two-outputs"])
def test_a_stream_steps_to_predicts_levels(params, multi):
    X, _ = _data(n=30, T=8)
    y = np.abs(np.cumsum(X[..., 0], axis=1))
    if multi:
        y = np.stack([y, 2 * y], axis=-1)
    est = _fit(X, y, output="sequence", **params)
    expected = est.predict(X[:2])
    s = est.stream()
    got = np.array([s.step(X[0, t]) for t in range(X.shape[1])])
    np.testing.assert_allclose(got, expected[0], rtol=1e-5, atol=1e-6)
    two = est.stream(n_streams=2)
    steps = np.stack([two.step(X[:2, t]) for t in range(X.shape[1])], axis=1)
    np.testing.assert_allclose(steps, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------- bad parameters


def _bad_cases():
    X, y = _data()
    return {
        "unknown loss": (dict(loss="pinball"), y, "loss"),
        "huber_delta 0": (dict(loss="huber", huber_delta=0.0), y, "huber_delta"),
        "quantile 0": (dict(loss="quantile", quantile=0.0), y, "quantile"),
        "quantile 1": (dict(loss="quantile", quantile=1.0), y, "quantile"),
        "a level above 1": (dict(loss="quantile", quantile=[0.5, 1.2]), y, "quantile"),
        "a level 0": (dict(loss="quantile", quantile=[0.0, 0.5]), y, "quantile"),
        "repeated levels": (dict(loss="quantile", quantile=[0.1, 0.5, 0.5]), y,
                            "quantile levels must be distinct"),
        "decreasing levels": (dict(loss="quantile", quantile=[0.9, 0.1]), y,
                              "quantile levels must be in increasing order"),
        "no levels": (dict(loss="quantile", quantile=[]), y, "quantile"),
        "levels in 2-D": (dict(loss="quantile", quantile=[[0.1, 0.9]]), y, "quantile"),
        "quantile loss without levels": (dict(loss="quantile"), y, "set quantile"),
        "poisson with negative y": (dict(loss="poisson"), y, "poisson.*y"),
        "poisson with zero y": (dict(loss="poisson"), 0 * y, "poisson.*y"),
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_parameters_raise_before_training_and_change_nothing(case):
    params, y, message = _bad_cases()[case]
    X, y_good = _data()
    est = _fit(X, np.abs(y_good))
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v)
              for k, v in vars(est).items() if k != "network_"}
    params_before = est.network_.params.copy()
    network = est.network_
    est.set_params(**params, warm_start=False)
    with pytest.raises(ValueError, match=message):
        est.fit(X, y)
    assert est.network_ is network
    np.testing.assert_array_equal(est.network_.params, params_before)
    assert est.n_iter_ == before["n_iter_"] and est.loss_curve_ == before["loss_curve_"]
    # An unfitted estimator stays unfitted.
    fresh = LSTMRegressor(**_QUICK, **params)
    with pytest.raises(ValueError, match=message):
        fresh.fit(X, y)
    assert not hasattr(fresh, "network_")


def test_quantile_with_another_loss_warns_and_is_ignored():
    X, y = _data()
    with pytest.warns(UserWarning, match="quantile is only used when loss='quantile'"):
        est = _fit(X, y, quantile=0.9)
    np.testing.assert_array_equal(est.network_.params, _fit(X, y).network_.params)
    assert est.predict(X).shape == y.shape


def test_warm_start_may_change_the_loss_but_not_what_the_head_predicts():
    X, y = _data()
    est = _fit(X, y, warm_start=True)
    est.set_params(loss="huber").fit(X, y)  # the same head: allowed
    est.set_params(loss="quantile", quantile=[0.1, 0.9])
    params = est.network_.params.copy()
    with pytest.raises(ValueError, match="cannot change what the head predicts"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.network_.params, params)
    q = _fit(X, y, loss="quantile", quantile=[0.1, 0.9])
    with pytest.raises(ValueError, match="cannot change"):
        q.set_params(quantile=[0.1, 0.5, 0.9]).partial_fit(X, y)


# ---------------------------------------------- save, load, pickle, clone


_SAVED = {
    "quantile tuple": dict(loss="quantile", quantile=(0.05, 0.5, 0.95)),
    "quantile list": dict(loss="quantile", quantile=[0.25, 0.75]),
    "quantile float": dict(loss="quantile", quantile=0.8),
    "poisson": dict(loss="poisson"),
    "huber": dict(loss="huber", huber_delta=0.5),
    "absolute": dict(loss="absolute_error"),
}


@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("case", list(_SAVED))
def test_save_load_pickle_and_clone_keep_the_loss(case, output):
    X, y = _data()
    if output == "sequence":
        y = np.cumsum(X[..., 0], axis=1)
    y = np.abs(y)
    est = _fit(X, y, output=output, **_SAVED[case])
    buffer = io.BytesIO()
    est.save(buffer)
    buffer.seek(0)
    loaded = LSTMRegressor.load(buffer)
    unpickled = pickle.loads(pickle.dumps(est))
    for twin in (loaded, unpickled):
        assert twin.get_params() == est.get_params()
        assert type(twin.quantile) is type(est.quantile)
        np.testing.assert_array_equal(twin.predict(X), est.predict(X))
        assert twin.score(X, y) == est.score(X, y)
    twin = clone(est)
    assert twin.get_params() == est.get_params()


def test_levels_given_as_an_array_round_trip():
    X, y = _data()
    est = _fit(X, y, loss="quantile", quantile=np.array([0.1, 0.5, 0.9]))
    buffer = io.BytesIO()
    est.save(buffer)
    buffer.seek(0)
    loaded = LSTMRegressor.load(buffer)
    assert isinstance(loaded.quantile, np.ndarray)
    np.testing.assert_array_equal(loaded.quantile, est.quantile)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    clone(est)  # clone keeps the array as it is


def _rewrite_metadata(raw, change):
    source = zipfile.ZipFile(io.BytesIO(raw))
    meta = json.loads(str(np.load(io.BytesIO(source.read("metadata.npy")))))
    change(meta)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "metadata.npy":
                entry = io.BytesIO()
                np.save(entry, np.array(json.dumps(meta)))
                data = entry.getvalue()
            target.writestr(info.filename, data)
    out.seek(0)
    return out


def _saved_bytes(**params):
    X, y = _data()
    est = _fit(X, y, **params)
    buffer = io.BytesIO()
    est.save(buffer)
    return est, X, buffer.getvalue()


def test_a_file_of_format_1_0_loads_as_squared_error():
    est, X, raw = _saved_bytes()

    def as_1_0(meta):
        meta["format_version"] = "1.0"
        for key in ("loss", "huber_delta", "quantile"):
            del meta["params"][key]
        meta["extra"] = {"y_squeeze": meta["extra"]["y_squeeze"]}

    loaded = LSTMRegressor.load(_rewrite_metadata(raw, as_1_0))
    assert loaded.loss == "squared_error" and loaded._fitted_loss == "squared_error"
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


_CRAFTED = {
    "levels with another loss": lambda m: m["extra"].update(loss="squared_error"),
    "decreasing levels": lambda m: m["extra"].update(quantile=[0.9, 0.1]),
    "no levels": lambda m: m["extra"].update(quantile=[]),
    "a level of 1": lambda m: m["extra"].update(quantile=[0.5, 1.0]),
    "unknown loss": lambda m: m["extra"].update(loss="log_loss"),
    "levels of text": lambda m: m["params"].update(quantile={"levels": ["a"],
                                                             "type": "list"}),
    "repeated parameter levels": lambda m: m["params"].update(
        quantile={"levels": [0.1, 0.1], "type": "list"}),
    "one level more than the parameters hold": lambda m: m["extra"].update(
        quantile=[0.05, 0.5, 0.9, 0.95]),
}


@pytest.mark.parametrize("case", list(_CRAFTED))
def test_crafted_loss_metadata_is_refused(case):
    _, _, raw = _saved_bytes(loss="quantile", quantile=[0.05, 0.5, 0.95])
    with pytest.raises(ValueError, match="cannot load"):
        LSTMRegressor.load(_rewrite_metadata(raw, _CRAFTED[case]))

