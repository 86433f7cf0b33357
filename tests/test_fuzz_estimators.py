"""Property-based tests (hypothesis) of the estimators: any data layout,
dtype, padding, label type, value scale and parameter combination gives
either a fitted estimator with finite parameters whose predictions are
consistent (list input = NaN padding, streaming = sequence prediction), or a
clear ValueError / TypeError that leaves a fitted estimator as it was.

Budget: the ``ci`` / ``long`` hypothesis profiles of conftest.py.
"""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from lstm_fast import LSTMClassifier, LSTMRegressor

SCALES = {"zero": 0.0, "tiny": 1e-30, "subnormal": 1e-42, "unit": 1.0, "large": 1e3,
          "huge": 1e30}


@st.composite
def datasets(draw):
    n = draw(st.integers(2, 12))
    T = draw(st.integers(1, 6))
    D = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    scale = SCALES[draw(st.sampled_from(sorted(SCALES)))]
    X = rng.standard_normal((n, T, D)) * scale
    lengths = None
    if draw(st.booleans()) and T > 1:
        lengths = rng.integers(1, T + 1, n)
        lengths[0] = T
        X[np.arange(T) >= lengths[:, None]] = np.nan
    form = draw(st.sampled_from(["float64", "float32", "int", "F", "strided", "negative",
                                 "list", "2-D"]))
    if form == "2-D" and D == 1:
        X_given = X[:, :, 0]
    elif form == "list":
        T_of = lengths if lengths is not None else np.full(n, T)
        X_given = [X[i, :T_of[i]] for i in range(n)]
    elif form == "float32":
        X_given = X.astype(np.float32)
    elif form == "int" and lengths is None and scale <= 1e3:
        X_given = np.round(X).astype(np.int64)
    elif form == "F":
        X_given = np.asfortranarray(X)
    elif form == "strided":
        big = np.zeros((n, T, 2 * D))
        big[:, :, ::2] = X
        X_given = big[:, :, ::2]
    elif form == "negative":
        X_given = np.ascontiguousarray(X[::-1])[::-1]
    else:
        X_given = X
    return dict(X=X, X_given=X_given, lengths=lengths, n=n, T=T, D=D, seed=seed,
                scale=scale, form=form)


@st.composite
def estimators(draw, data):
    classifier = draw(st.booleans())
    output = draw(st.sampled_from(["last", "sequence"]))
    cell = draw(st.sampled_from(["lstm", "gru", "rnn"]))
    params = dict(
        hidden_layer_sizes=draw(st.sampled_from([(3,), (2, 3)])),
        cell=cell, output=output,
        bidirectional=draw(st.booleans()),
        solver=draw(st.sampled_from(["adam", "sgd"])),
        batch_size=draw(st.sampled_from(["auto", 1, 3, 100])),
        clip_norm=draw(st.sampled_from([None, 0.5])),
        alpha=draw(st.sampled_from([0.0, 1e-4, 10.0])),
        dtype=draw(st.sampled_from([np.float32, np.float64, "float32"])),
        max_iter=draw(st.integers(1, 2)),
        random_state=data["seed"],
    )
    rng = np.random.default_rng(data["seed"] + 1)
    n, T = data["n"], data["T"]
    shape = (n, T) if output == "sequence" else (n,)
    if classifier:
        kind = draw(st.sampled_from(["int", "str", "bool"]))
        labels = {"int": np.array([3, -1, 7]), "str": np.array(["a", "b", "c"]),
                  "bool": np.array([True, False])}[kind]
        y = labels[rng.integers(0, len(labels), shape)]
        flat = y.reshape(n, -1)[:, 0] if output == "last" else y
        if len(np.unique(flat)) < 2:  # fit needs two classes: give it them
            y.reshape(-1)[:2] = labels[:2]
    else:
        y = rng.standard_normal(shape + ((2,) if draw(st.booleans()) else ()))
        y = y * draw(st.sampled_from([1.0, 1e4]))
    Estimator = LSTMClassifier if classifier else LSTMRegressor
    return Estimator, params, y


@given(data=st.data())
def test_fit_gives_a_usable_model_or_a_clear_error(data):
    d = data.draw(datasets())
    Estimator, params, y = data.draw(estimators(d))
    note(f"{Estimator.__name__} {params} form={d['form']} scale={d['scale']}")
    est = Estimator(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter, divergence, batch size clipped
        try:
            est.fit(d["X_given"], y)
        except (ValueError, TypeError) as error:
            # Only the documented refusals: a float32 overflow of "huge"
            # values in float32 (X or y), a sequence target for padded steps.
            note(repr(error))
            event(f"refused: {str(error)[:60]}")
            assert str(error), "an error must say what is wrong"
            assert not hasattr(est, "network_")
            return
    params_ = est.network_.params
    assert np.all(np.isfinite(params_)), "fit left NaN or infinite parameters"
    n, T = d["n"], d["T"]
    out = est.predict(d["X_given"])
    if isinstance(out, list):  # list input, output="sequence": one array per sequence
        lengths = d["lengths"] if d["lengths"] is not None else np.full(n, T)
        assert [len(o) for o in out] == list(lengths)
        padded = est.predict(d["X"])
        for i, o in enumerate(out):
            np.testing.assert_array_equal(o, padded[i, :lengths[i]])
        return
    assert len(out) == n
    if Estimator is LSTMRegressor:
        live = np.isfinite(out) if params["output"] == "sequence" else slice(None)
        assert np.all(np.isfinite(out[live]))
        if params["output"] == "sequence" and d["lengths"] is not None:
            # NaN exactly at the padded steps.
            padded = np.arange(T) >= d["lengths"][:, None]
            assert np.array_equal(np.isnan(out).reshape(n, T, -1).all(axis=2), padded)
        proba = None
    else:
        proba = est.predict_proba(d["X_given"])
        assert np.all(np.isfinite(proba))
        np.testing.assert_allclose(proba.sum(axis=-1), 1.0, rtol=1e-6)
        assert set(np.unique(out)) <= set(est.classes_)
    # One step at a time gives what predict gives for the sequence.
    if params["output"] == "sequence" and not params["bidirectional"] and \
            Estimator is LSTMRegressor:
        X32 = np.asarray(d["X"], dtype=est.network_.dtype)
        stream = est.stream()
        steps = [stream.step(X32[0, t]) for t in range(int(
            T if d["lengths"] is None else d["lengths"][0]))]
        full = est.predict(d["X"][:1])[0]
        np.testing.assert_allclose(np.array(steps).reshape(len(steps), -1),
                                   full[:len(steps)].reshape(len(steps), -1),
                                   rtol=1e-4, atol=1e-5 * max(1.0, np.abs(full).max()))


BAD = ["inf in X", "NaN inside a sequence", "NaN in some features", "NaN in y",
       "inf in y", "complex X", "string X", "4-D X", "0 sequences", "0 steps",
       "y too short", "object X", "one class", "features differ"]


@given(data=st.data(), bad=st.sampled_from(BAD))
def test_bad_input_raises_and_leaves_the_fitted_estimator_as_it_was(data, bad):
    d = data.draw(datasets())
    Estimator, params, y = data.draw(estimators(d))
    params = dict(params, warm_start=True, output="last")
    rng = np.random.default_rng(d["seed"])
    n, T, D = d["n"], d["T"], d["D"]
    X = rng.standard_normal((n, T, D))
    if Estimator is LSTMClassifier:  # one label per sequence, at least two classes
        labels = np.unique(np.asarray(y).ravel())
        y = y.reshape(n, -1)[:, 0].copy()
        y[:2] = labels[:2]
    else:
        y = rng.standard_normal(n)
    est = Estimator(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    before = pickle.dumps(est)
    bad_X, bad_y = X.copy(), np.array(y)
    t = rng.integers(T)
    if bad == "inf in X":
        bad_X[0, t, 0] = np.inf
    elif bad == "NaN inside a sequence":
        if T < 2:
            return
        bad_X[0, 0] = np.nan
    elif bad == "NaN in some features":
        if D < 2:
            return
        bad_X[0, t, 0] = np.nan
    elif bad in ("NaN in y", "inf in y"):
        if Estimator is LSTMClassifier:
            bad_y = bad_y.astype(float) if bad_y.dtype.kind in "iub" else bad_y
            if bad_y.dtype.kind != "f":
                return
        bad_y[0] = np.nan if bad == "NaN in y" else np.inf
    elif bad == "complex X":
        bad_X = X + 1j
    elif bad == "string X":
        bad_X = X.astype(str)
        bad_X[0, 0, 0] = "x"
    elif bad == "4-D X":
        bad_X = X[..., None]
    elif bad == "0 sequences":
        bad_X, bad_y = X[:0], bad_y[:0]
    elif bad == "0 steps":
        bad_X = X[:, :0]
    elif bad == "y too short":
        bad_y = bad_y[:-1]
    elif bad == "object X":
        bad_X = X.astype(object)
        bad_X[0, 0, 0] = {"a": 1}
    elif bad == "one class":
        if Estimator is LSTMRegressor:
            return
        est2 = Estimator(**dict(params, warm_start=False))
        with pytest.raises(ValueError):
            est2.fit(X, np.full(n, bad_y[0]))
        return
    elif bad == "features differ":
        bad_X = [X[0], np.zeros((T, D + 1))] + list(X[2:])
    with pytest.raises((ValueError, TypeError)) as info:
        est.fit(bad_X, bad_y)
    assert str(info.value)
    assert pickle.dumps(est) == before
