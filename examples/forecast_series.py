"""Forecast a real-looking daily series one day ahead, and compare with the
naive forecast (tomorrow = today).

    python examples/forecast_series.py [--quick]
"""

import argparse
import warnings

import numpy as np

from lstm_fast import LSTMRegressor
from lstm_fast.datasets import sliding_window


def make_series(n_days, seed=0):
    """Temperature-like: a yearly cycle, a weekly pattern, slow drift and
    autocorrelated weather noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_days)
    weather = np.zeros(n_days)
    for i in range(1, n_days):
        weather[i] = 0.8 * weather[i - 1] + rng.normal(0, 1.0)
    return 12 + 9 * np.sin(2 * np.pi * t / 365.25) + 1.5 * np.sin(2 * np.pi * t / 7) \
        + 0.002 * t + weather


def main(quick=False):
    series = make_series(800 if quick else 3000)
    window = 28
    X, y = sliding_window(series, window=window, horizon=1)
    split = int(0.8 * len(X))
    mean, std = series[:split].mean(), series[:split].std()  # scale on training data only
    est = LSTMRegressor(hidden_layer_sizes=(32,), learning_rate_init=5e-3,
                        max_iter=3 if quick else 40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter may be reached in quick mode
        est.fit((X[:split] - mean) / std, (y[:split] - mean) / std)
    forecast = est.predict((X[split:] - mean) / std) * std + mean
    naive = X[split:, -1, 0]
    mae_model = np.mean(np.abs(forecast - y[split:]))
    mae_naive = np.mean(np.abs(naive - y[split:]))
    print(f"test days: {len(forecast)}")
    print(f"MAE LSTM forecast : {mae_model:.3f}")
    print(f"MAE naive forecast: {mae_naive:.3f}  (tomorrow = today)")
    print(f"improvement: {100 * (1 - mae_model / mae_naive):.1f}%")
    return mae_model, mae_naive


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, a few epochs")
    main(parser.parse_args().quick)
