"""``lstm-fast demo``: why LSTMs remember, on the adding problem.

Fits an LSTM and a plain RNN of the same size on Hochreiter & Schmidhuber's
adding problem, prints a result table and writes pictures: the loss
curves, the LSTM's gates at work on one sequence, and the measured gradient
flow through time of both models.
"""

import os
import time
import warnings

import numpy as np

BASELINE_MSE = 1 / 6  # always predicting 1, the mean of the target


def _time_train_step(layer, X, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        Y = layer.forward(X, training=True)
        layer.backward(Y[-1], dY=np.ones_like(Y[0]))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def speedup_over_reference(n_timesteps, hidden, repeat=5):
    """(kernel ms, reference ms) of one training step of the demo's LSTM
    layer on a minibatch of 64 sequences."""
    from . import layers, reference

    X = np.random.default_rng(0).standard_normal((64, n_timesteps, 2)).astype(np.float32)
    fast = _time_train_step(layers.LSTM(2, hidden, random_state=0), X, repeat)
    ref = _time_train_step(reference.LSTM(2, hidden, random_state=0), X, max(2, repeat // 2))
    return 1e3 * fast, 1e3 * ref


def run(out="lstm-fast-demo", n_samples=5000, n_timesteps=50, hidden=32, epochs=25,
        verbose=1, seed=0):
    """Fit, compare, draw; returns {name: path} of the files written."""
    from . import LSTMRegressor
    from .datasets import make_adding_problem

    try:
        from . import plot
        import matplotlib  # noqa: F401
    except ImportError:
        plot = None

    X, y = make_adding_problem(n_samples, n_timesteps, random_state=seed)
    X_test, y_test = make_adding_problem(max(200, n_samples // 5), n_timesteps,
                                         random_state=seed + 1)
    print(f"The adding problem: {n_samples} sequences of {n_timesteps} steps; the target is "
          f"the sum of the two marked values,\none in each half. Predicting 1 every time "
          f"scores MSE {BASELINE_MSE:.3f}: beating that takes memory.\n")
    models, rows = {}, []
    for cell in ("lstm", "rnn"):
        print(f"Fitting {cell.upper()} ({hidden} units):")
        est = LSTMRegressor((hidden,), cell=cell, learning_rate_init=1e-2, batch_size=64,
                            max_iter=epochs, clip_norm=1.0, n_iter_no_change=epochs,
                            random_state=seed, verbose=verbose)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter reached: expected in a demo
            est.fit(X, y)
        seconds = time.perf_counter() - start
        mse = float(np.mean((est.predict(X_test) - y_test) ** 2))
        models[cell] = est
        rows.append((cell.upper(), mse, seconds))

    fast_ms, ref_ms = speedup_over_reference(n_timesteps, hidden)
    print()
    print(f"{'model':<6}{'test MSE':>10}{'vs baseline':>13}{'fit time':>10}")
    for name, mse, seconds in rows:
        print(f"{name:<6}{mse:>10.4f}{BASELINE_MSE / mse:>12.1f}x{seconds:>9.1f}s")
    print(f"\nOne training step (64 sequences): {fast_ms:.2f} ms with the C kernels, "
          f"{ref_ms:.1f} ms with the NumPy reference ({ref_ms / fast_ms:.0f}x faster).")

    if plot is None:
        print("\nInstall matplotlib (pip install \"lstm-fast[plot]\") for the pictures.")
        return {}
    os.makedirs(out, exist_ok=True)
    probe, y_probe = X_test[:256], y_test[:256]
    flows = {"RNN": models["rnn"].gradient_flow(probe, y_probe),
             "LSTM": models["lstm"].gradient_flow(probe, y_probe)}
    figures = {
        "loss_curves.png": plot.plot_loss_curve(models["lstm"], models["rnn"]),
        "lstm_gates.png": plot.plot_gates(models["lstm"].inspect(X_test[:1])),
        "gradient_flow.png": plot.plot_gradient_flow(flows, cell_state=True),
    }
    written = {}
    print("\nWritten:")
    for name, fig in figures.items():
        path = os.path.join(out, name)
        fig.savefig(path, dpi=110)
        written[name] = path
        print(f"  {path}")
    page = models["lstm"].explain_html(X_test[0], os.path.join(out, "explain.html"))
    written["explain.html"] = page
    print(f"  {page}  (open it in a browser and step through one sequence)")
    return written
