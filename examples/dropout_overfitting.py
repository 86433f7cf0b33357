"""Dropout against overfitting: an LSTMRegressor with far more weights than
its 400 noisy training sequences can pin down, trained with and without
dropout on its inputs and on its recurrent state.

    python examples/dropout_overfitting.py [--quick] [--plot PATH]

Each network trains epoch by epoch (``partial_fit``); after every epoch its
mean squared error is measured on the training sequences and on 2000
held-out ones, both through ``predict``, which never drops units. Without
dropout the training error falls far below the noise in the targets (the
network learns the noise by heart) and the held-out error climbs; dropout
slows that down, so that after the same number of epochs the held-out
error is lower. It is no substitute for stopping early, though: both
networks' best epochs are printed too. With matplotlib installed, the
curves are drawn to dropout_overfitting.png.
"""

import argparse
import warnings

import numpy as np

from lstm_fast import LSTMRegressor

NOISE = 0.5  # standard deviation of the targets' noise
RATE = 0.3  # dropout and recurrent_dropout of the second network


def make_data(n, seed, n_steps=30, n_features=6):
    """Sequences of white noise; the target is a leaky memory of feature 0
    (squashed) plus the last value of feature 1, plus noise. Features 2-5
    are distractors: a network that sees few sequences can fit the noise
    with them."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_steps, n_features)).astype(np.float32)
    decay = 0.85 ** np.arange(n_steps)[::-1]
    memory = X[:, :, 0] @ decay / np.sqrt(decay @ decay)  # unit variance
    y = np.tanh(1.5 * memory) + 0.5 * X[:, -1, 1] + NOISE * rng.standard_normal(n)
    return X, y.astype(np.float32)


def train(rate, X, y, X_val, y_val, epochs, hidden):
    """Train one network for ``epochs`` epochs; returns the fitted estimator
    and its training and validation MSE after each epoch."""
    # A RandomState, not an integer: partial_fit makes a fresh generator
    # from an integer seed on every call, which would replay the same
    # shuffling and the same dropout masks each epoch.
    est = LSTMRegressor(hidden_layer_sizes=(hidden,), dropout=rate, recurrent_dropout=rate,
                        alpha=0.0, batch_size=32, learning_rate_init=1e-3,
                        random_state=np.random.RandomState(0))
    train_mse, val_mse = [], []
    for _ in range(epochs):
        est.partial_fit(X, y)
        train_mse.append(float(np.mean((est.predict(X) - y) ** 2)))
        val_mse.append(float(np.mean((est.predict(X_val) - y_val) ** 2)))
    return est, np.array(train_mse), np.array(val_mse)


def plot(curves, n_train, n_val, hidden, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    for (label, (train_mse, val_mse)), color in zip(curves.items(), ["tab:red", "tab:blue"]):
        epochs = np.arange(1, len(train_mse) + 1)
        ax.plot(epochs, val_mse, color=color, lw=2, label=f"{label}: validation ({n_val} held out)")
        ax.plot(epochs, train_mse, color=color, lw=1.2, ls="--",
                label=f"{label}: training sequences")
        best = int(np.argmin(val_mse))
        ax.plot(best + 1, val_mse[best], "o", color=color, ms=7, mec="black",
                label=f"{label}: best validation epoch ({best + 1}: {val_mse[best]:.3f})")
    ax.axhline(NOISE ** 2, color="gray", lw=1, ls=":",
               label=f"noise variance {NOISE ** 2:g} (best possible validation MSE)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared error (predict: no units dropped)")
    ax.set_ylim(0, 1.25 * max(val[0] for _, val in curves.values()))  # room for the legend
    ax.set_title(f"LSTMRegressor ({hidden} units) on {n_train} noisy training sequences,\n"
                 f"without dropout and with dropout = recurrent_dropout = {RATE:g}")
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(quick=False, plot_path="dropout_overfitting.png"):
    n_train, n_val, epochs, hidden = (100, 200, 3, 16) if quick else (400, 2000, 200, 64)
    X, y = make_data(n_train, seed=1)
    X_val, y_val = make_data(n_val, seed=2)
    print(f"{n_train} training sequences, {n_val} validation sequences, {epochs} epochs; "
          f"noise variance {NOISE ** 2:g} (the best possible validation MSE), "
          f"validation target variance {y_val.var():.3f}")
    curves, results = {}, {}
    for label, rate in (("no dropout", 0.0), (f"dropout {RATE:g}", RATE)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the training loss stalls: the point
            est, train_mse, val_mse = train(rate, X, y, X_val, y_val, epochs, hidden)
        curves[label] = (train_mse, val_mse)
        best = int(np.argmin(val_mse))
        results[label] = val_mse[-1]
        print(f"{label + ':':<13} after {epochs} epochs: training MSE {train_mse[-1]:.3f}, "
              f"validation MSE {val_mse[-1]:.3f} (R^2 {est.score(X_val, y_val):.3f}); "
              f"best validation MSE {val_mse[best]:.3f} at epoch {best + 1}")
    without, with_ = results.values()
    print(f"dropout changes the final validation MSE by {100 * (with_ / without - 1):+.0f}%")
    if plot_path:
        try:
            plot(curves, n_train, n_val, hidden, plot_path)
            print(f"plot: {plot_path}")
        except ImportError:
            print("plot: skipped (pip install matplotlib)")
    return curves


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, a few epochs")
    parser.add_argument("--plot", default="dropout_overfitting.png",
                        help="where to save the plot ('' for none)")
    args = parser.parse_args()
    main(args.quick, args.plot)
