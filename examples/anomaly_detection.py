"""Find anomalies in a series from forecast residuals: fit a one-step
forecaster on normal data, then flag the points it predicts badly.

    python examples/anomaly_detection.py [--quick]
"""

import argparse
import warnings

import numpy as np

from lstm_fast import LSTMRegressor
from lstm_fast.datasets import sliding_window


def main(quick=False, seed=0):
    rng = np.random.default_rng(seed)
    n = 1200 if quick else 4000
    t = np.arange(n)
    series = np.sin(2 * np.pi * t / 50) + 0.5 * np.sin(2 * np.pi * t / 13) \
        + rng.normal(0, 0.1, n)
    # Anomalies in the second half only: spikes the model has never seen.
    anomalies = rng.choice(np.arange(n // 2 + 60, n), size=15, replace=False)
    series[anomalies] += rng.choice([-1, 1], size=15) * rng.uniform(1.0, 2.0, size=15)

    window = 40
    X, y = sliding_window(series, window=window)
    target_index = np.arange(window, n)  # the step each window forecasts
    train = target_index < n // 2
    est = LSTMRegressor(hidden_layer_sizes=(32,), learning_rate_init=5e-3,
                        max_iter=4 if quick else 30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X[train], y[train])
    residual = np.abs(est.predict(X) - y)
    threshold = residual[train].mean() + 4 * residual[train].std()
    # A spike also spoils the next few forecasts (it sits in their window):
    # keep the first of flags that come within a few steps of each other.
    candidates = np.sort(target_index[(~train) & (residual > threshold)])
    flagged = set(c for i, c in enumerate(candidates) if i == 0 or c - candidates[i - 1] > 5)
    true = set(anomalies)
    hits = len(flagged & true)
    print(f"threshold on |residual|: {threshold:.3f}")
    print(f"anomalies injected: {len(true)}, flagged points: {len(flagged)}, "
          f"true anomalies among them: {hits}")
    precision = hits / max(1, len(flagged))
    recall = hits / len(true)
    print(f"precision {precision:.2f}, recall {recall:.2f}")
    return precision, recall


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, a few epochs")
    main(parser.parse_args().quick)
