"""int8 and bfloat16 inference on two held-out tasks: does quantizing a
fitted model cost accuracy, and what does it buy?

    python examples/quantized_inference.py [--quick]

A classifier (which of three frequencies hides in a noisy signal of
varying length) and a forecaster (a daily series, 28 days in, the next day
out) are fitted in float32; ``est.quantize("int8")`` and
``est.quantize("bfloat16")`` make inference copies. For each, on held-out
data: the score (accuracy; R^2), its change from float32, the median time
of ``predict`` on the test set, and the size of the saved file.
"""

import argparse
import os
import tempfile
import time
import warnings

import numpy as np

from forecast_series import make_series  # the same daily series (this folder)
from lstm_fast import LSTMClassifier, LSTMRegressor
from lstm_fast.datasets import sliding_window

PRECISIONS = ("int8", "bfloat16")


def make_signals(n, seed, n_steps=60):
    """Noisy sines of one of three periods, random phase, 30-60 real steps
    (NaN padding after); the class is the period."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    period = np.array([6.0, 9.0, 14.0])[y]
    t = np.arange(n_steps)
    phase = rng.uniform(0, 2 * np.pi, n)
    X = np.sin(2 * np.pi * t[None, :] / period[:, None] + phase[:, None])
    X = (X + 1.5 * rng.standard_normal(X.shape))[:, :, None].astype(np.float32)
    lengths = rng.integers(30, n_steps + 1, n)
    X[t[None, :] >= lengths[:, None]] = np.nan
    return X, y


def median_ms(fn, repeat=7):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def saved_kib(est):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.npz")
        est.save(path)
        return os.path.getsize(path) / 1024


def compare(name, est, X_test, y_test):
    """One table: the fitted float32 estimator and its quantized copies."""
    print(f"\n{name} ({len(X_test)} held-out sequences, score: "
          f"{'accuracy' if hasattr(est, 'classes_') else 'R^2'})")
    print("| precision | score | vs float32 | predict ms | file KiB |")
    print("|---|---:|---:|---:|---:|")
    base = est.score(X_test, y_test)
    for label, model in [("float32", est)] + [(p, est.quantize(p)) for p in PRECISIONS]:
        score = model.score(X_test, y_test)
        ms = median_ms(lambda: model.predict(X_test))
        print(f"| {label} | {score:.4f} | {score - base:+.4f} | {ms:.1f} | "
              f"{saved_kib(model):.0f} |")


def main(quick=False):
    epochs = 4 if quick else 30
    X, y = make_signals(600 if quick else 4000, seed=0)
    X_test, y_test = make_signals(400 if quick else 2000, seed=1)
    clf = LSTMClassifier(hidden_layer_sizes=(64,), max_iter=epochs, learning_rate_init=3e-3,
                         random_state=0)
    series = make_series(900 if quick else 4000)
    Xs, ys = sliding_window(series, window=28, horizon=1)
    split = int(0.8 * len(Xs))
    mean, std = series[:split].mean(), series[:split].std()
    Xs, ys = (Xs - mean) / std, (ys - mean) / std
    reg = LSTMRegressor(hidden_layer_sizes=(64,), max_iter=epochs, learning_rate_init=3e-3,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter may be reached in quick mode
        clf.fit(X, y)
        reg.fit(Xs[:split], ys[:split])
    compare("classifier: which period", clf, X_test, y_test)
    compare("forecaster: tomorrow's value", reg, Xs[split:], ys[split:])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, a few epochs")
    main(parser.parse_args().quick)
