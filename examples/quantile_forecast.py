"""Forecast a daily series one day ahead with a 90% prediction interval:
three quantiles (5%, 50%, 95%) from one network, on a series whose noise is
calm in summer and wild in winter.

    python examples/quantile_forecast.py [--quick] [--plot PATH]

The interval should hold about 90% of the held-out days, and be narrow
where the noise is low and wide where it is high. With matplotlib
installed, the forecast and its interval are drawn to quantile_forecast.png.
"""

import argparse
import warnings

import numpy as np

from lstm_fast import LSTMRegressor
from lstm_fast.datasets import sliding_window

LEVELS = [0.05, 0.5, 0.95]


def make_series(n_days, seed=0):
    """Temperature-like: a yearly cycle, a weekly pattern and autocorrelated
    weather whose day-to-day shocks are 5 times larger in winter than in
    summer. Returns the series and the shocks' standard deviation each day."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_days)
    season = np.sin(2 * np.pi * t / 365.25)
    noise_std = 0.5 + 2.0 * (1 - season) / 2  # 0.5 at midsummer, 2.5 at midwinter
    weather = np.zeros(n_days)
    for i in range(1, n_days):
        weather[i] = 0.7 * weather[i - 1] + rng.normal(0, noise_std[i])
    return 12 + 9 * season + 1.5 * np.sin(2 * np.pi * t / 7) + weather, noise_std


def plot(days, truth, bands, noise_std, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.fill_between(days, bands[:, 0], bands[:, 2], color="tab:blue", alpha=0.25,
                     label="90% interval (5%-95% quantiles)")
    top.plot(days, bands[:, 1], color="tab:blue", lw=1, label="median forecast")
    top.plot(days, truth, ".", color="black", ms=2.5, label="observed")
    outside = (truth < bands[:, 0]) | (truth > bands[:, 2])
    top.plot(days[outside], truth[outside], "x", color="tab:red", ms=4,
             label="outside the interval")
    top.set_ylabel("value")
    top.set_title("One-day-ahead quantile forecast on held-out days")
    top.legend(loc="upper left", fontsize=8, ncol=2)
    bottom.plot(days, bands[:, 2] - bands[:, 0], color="tab:blue", label="interval width")
    bottom.plot(days, 2 * 1.645 * noise_std, color="tab:orange", ls="--",
                label="width of the true 90% (2 x 1.645 x shock std)")
    bottom.set_xlabel("day")
    bottom.set_ylabel("width")
    bottom.legend(loc="upper left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(quick=False, plot_path="quantile_forecast.png"):
    series, noise_std = make_series(800 if quick else 3000)
    window = 28
    X, y = sliding_window(series, window=window, horizon=1)
    target_std = noise_std[window:]  # the shock std of each target day
    split = int(0.7 * len(X))
    mean, std = series[:split].mean(), series[:split].std()  # scale on training data only
    est = LSTMRegressor(hidden_layer_sizes=(32,), loss="quantile", quantile=LEVELS,
                        learning_rate_init=5e-3, max_iter=3 if quick else 60,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter may be reached in quick mode
        est.fit((X[:split] - mean) / std, (y[:split] - mean) / std)
    bands = est.predict((X[split:] - mean) / std) * std + mean  # (days, 3 levels)
    truth, sigma = y[split:], target_std[split:]
    low, median, high = bands.T
    inside = (truth >= low) & (truth <= high)
    width = high - low
    calm, wild = sigma <= np.quantile(sigma, 1 / 3), sigma >= np.quantile(sigma, 2 / 3)
    print(f"test days: {len(truth)}")
    print(f"90% interval coverage: {inside.mean():.3f}  (target 0.90)")
    print(f"  calm third of days: coverage {inside[calm].mean():.3f}, "
          f"mean width {width[calm].mean():.2f}")
    print(f"  wild third of days: coverage {inside[wild].mean():.3f}, "
          f"mean width {width[wild].mean():.2f}")
    print(f"median forecast MAE: {np.mean(np.abs(median - truth)):.3f}")
    print(f"levels never cross: {bool(np.all(np.diff(bands, axis=1) >= 0))}")
    if plot_path:
        try:
            plot(np.arange(split, len(X)) + window, truth, bands, sigma, plot_path)
            print(f"plot: {plot_path}")
        except ImportError:
            print("plot: skipped (pip install matplotlib)")
    return inside.mean(), width[calm].mean(), width[wild].mean()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, a few epochs")
    parser.add_argument("--plot", default="quantile_forecast.png",
                        help="where to save the plot ('' for none)")
    args = parser.parse_args()
    main(args.quick, args.plot)
