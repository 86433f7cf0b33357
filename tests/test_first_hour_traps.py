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
