"""Traps of a new user's first hour, each closed: a pandas table is refused
with a hint (not read as many one-feature series), save and load agree on
the file name, the feature-count error speaks scikit-learn's words, and
from_torch takes half-precision modules."""

import io
import pathlib
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from lstm_fast import LSTMClassifier, LSTMRegressor, layers
from lstm_fast.datasets import sliding_window

QUICK = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny fits stop at max_iter
        yield


def _fitted(D=2):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 5, D))
    return LSTMRegressor(**QUICK).fit(X, X[:, -1, 0]), X


# ------------------------------------------------------- a table is no batch


def _weather_table():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    return pd.DataFrame({"temp": rng.normal(20, 5, 60), "hum": rng.uniform(30, 90, 60)})


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_fit_refuses_a_dataframe_and_says_how_to_make_windows(Estimator):
    df = _weather_table()
    y = np.arange(60) % 2
    with pytest.raises(ValueError, match=r"DataFrame of shape \(60, 2\).*'temp', 'hum'") \
            as info:
        Estimator(**QUICK).fit(df, y)
    message = str(info.value)
    assert "lstm_fast.datasets.sliding_window(df.to_numpy()" in message
    assert "df.to_numpy()[None]" in message


def test_predict_refuses_a_dataframe_too():
    df = _weather_table()
    est, _ = _fitted(D=2)
    with pytest.raises(ValueError, match="DataFrame"):
        est.predict(df)


def test_the_hints_of_the_dataframe_error_work():
    df = _weather_table()
    X, y = sliding_window(df.to_numpy(), window=10)
    est = LSTMRegressor(**QUICK).fit(X, y[:, 0])
    assert est.n_features_in_ == 2
    assert est.predict(df.to_numpy()[None]).shape == (1,)


def test_a_2d_array_is_still_a_batch_of_univariate_series():
    X = np.random.default_rng(0).standard_normal((60, 2))
    est = LSTMRegressor(**QUICK).fit(X, X[:, -1])
    assert est.n_features_in_ == 1


def test_importing_lstm_fast_does_not_import_pandas(tmp_path):
    code = "import sys, lstm_fast; print('pandas' in sys.modules)"
    # Outside the repository, so that the installed package is imported.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == "False"


# ------------------------------------------------- save and load agree on names


@pytest.mark.parametrize("Given", [str, pathlib.Path])
def test_load_finds_what_save_wrote_given_the_same_name(tmp_path, Given):
    est, X = _fitted()
    name = Given(tmp_path / "model")
    written = est.save(name)
    assert written == str(tmp_path / "model.npz")
    assert (tmp_path / "model.npz").is_file() and not (tmp_path / "model").exists()
    for path in (name, written):
        np.testing.assert_array_equal(LSTMRegressor.load(path).predict(X), est.predict(X))


def test_a_name_ending_in_npz_is_written_as_given(tmp_path):
    est, X = _fitted()
    written = est.save(tmp_path / "model.npz")
    assert written == str(tmp_path / "model.npz")
    np.testing.assert_array_equal(LSTMRegressor.load(written).predict(X), est.predict(X))


def test_a_file_named_as_given_is_loaded_before_the_npz(tmp_path):
    est, X = _fitted()
    other, _ = _fitted(D=2)
    other.set_params(alpha=0.5)
    est.save(tmp_path / "model")           # model.npz
    with open(tmp_path / "model", "wb") as f:  # a file named exactly "model"
        other.save(f)
    assert LSTMRegressor.load(tmp_path / "model").alpha == 0.5


def test_save_to_a_file_object_returns_it_and_loads_back():
    est, X = _fitted()
    buffer = io.BytesIO()
    assert est.save(buffer) is buffer
    buffer.seek(0)
    np.testing.assert_array_equal(LSTMRegressor.load(buffer).predict(X), est.predict(X))


def test_load_of_a_missing_file_names_the_given_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        LSTMRegressor.load(tmp_path / "nothing-here")


# ------------------------------------------------ scikit-learn's feature error


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
@pytest.mark.parametrize("method", ["predict", "score"])
def test_feature_count_error_has_scikit_learns_wording(Estimator, method):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 5, 4))
    y = np.arange(16) % 2
    est = Estimator(**QUICK).fit(X, y)
    name = Estimator.__name__
    # The pattern of sklearn's check_n_features_in_after_fitting.
    pattern = f"X has 1 features, but \\w+ is expecting {X.shape[2]} features as input"
    args = (X[:, :, :1],) if method == "predict" else (X[:, :, :1], y)
    with pytest.raises(ValueError, match=pattern) as info:
        getattr(est, method)(*args)
    assert re.match(f"X has 1 features, but {name} is expecting 4 features", str(info.value))


# ------------------------------------------------------ half-precision torch


KINDS = {"LSTM": {}, "GRU": {}, "RNN": {"nonlinearity": "tanh"}}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("half", ["bfloat16", "float16"])
@pytest.mark.parametrize("dtype", [None, np.float32, np.float64])
def test_from_torch_takes_a_half_precision_module(kind, half, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(3, 5, batch_first=True, **KINDS[kind])
    module = module.to(getattr(torch, half))
    layer = getattr(layers, kind).from_torch(module, dtype=dtype)
    assert layer.dtype == np.dtype(np.float32 if dtype is None else dtype)
    # The half-precision weights are exact in float32: the float32 module
    # made from them is what the layer must compute.
    reference = module.float()
    X = np.random.default_rng(0).standard_normal((2, 7, 3)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(X))[0].numpy()
    Y = layer.forward(X.astype(layer.dtype))[0]
    np.testing.assert_allclose(Y, expected, rtol=1e-4, atol=1e-5)


def test_from_torch_takes_a_float16_numpy_state_dict_as_float32():
    layer = layers.LSTM(3, 5, random_state=0)
    state = {key + "_l0": getattr(layer, key).astype(np.float16)
             for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    copy = layers.LSTM.from_torch(state)
    assert copy.dtype == np.float32
    np.testing.assert_array_equal(copy.weight_hh, state["weight_hh_l0"].astype(np.float32))
