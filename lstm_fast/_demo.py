"""``lstm-fast demo``: why LSTMs remember, on the adding problem.

Fits an LSTM and a plain RNN of the same size on Hochreiter & Schmidhuber's
adding problem, prints a result table, times one training step of the
LSTM layer against PyTorch (when installed) and the NumPy reference, and
writes pictures: the loss curves, the LSTM's gates at work on one sequence,
and the measured gradient flow through time of both models.
"""

import os
import time
import warnings

import numpy as np

BASELINE_MSE = 1 / 6  # always predicting 1, the mean of the target
BATCH = 64  # the fits' minibatch, and the timed training step's

# torch is not a dependency: the public index's Linux wheel is the CUDA
# build, so the hint names PyTorch's CPU index (docs/install.md).
TORCH_HINT = ("not installed; to compare: pip install torch --index-url "
              "https://download.pytorch.org/whl/cpu (docs/install.md)")


def _torch_step(layer, X, dY, threads):
    """torch.nn.LSTM with `layer`'s weights and a function of one training
    step (forward, then backward with the weight gradients)."""
    import torch

    torch.set_num_threads(threads)
    module = torch.nn.LSTM(layer.input_size, layer.hidden_size, batch_first=True)
    module.load_state_dict(layer.to_torch_state_dict())
    Xt, dYt = torch.from_numpy(X), torch.from_numpy(dY)

    def step():
        module.zero_grad(set_to_none=True)
        Y, _ = module(Xt)
        Y.backward(dYt)

    return module, step


def _gradient_agreement(layer, module, X, dY):
    """Largest difference between the two libraries' weight gradients of
    one step, relative to the largest gradient: both compute the same thing."""
    cache = layer.forward(X, training=True)[-1]
    ours = layer.backward(cache, dY=dY, input_gradient=False)
    worst = 0.0
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        theirs = getattr(module, name + "_l0").grad.numpy()
        scale = max(float(np.abs(theirs).max()), 1e-30)
        worst = max(worst, float(np.abs(ours[name] - theirs).max()) / scale)
    return worst


def time_training_step(X, hidden, repeat=5, budget_s=1.0):
    """Median time of one training step of the demo's LSTM layer, here, in
    PyTorch (same weights, same threads) and in the NumPy reference.

    The step is a forward in training mode and the backward with the weight
    gradients, on `X` (one minibatch) with random output gradients; lstm_fast
    and torch are timed in alternating rounds (lstm-fast bench's method), so
    a busy spell of the machine slows both alike.

    Parameters
    ----------
    X : ndarray of shape (batch, n_timesteps, n_features)
    hidden : int
    repeat : int, default=5
        Minimum number of timed rounds.
    budget_s : float, default=1.0
        Rough time budget of the timed rounds.

    Returns
    -------
    dict
        ``lstm_fast_ms``, ``reference_ms``, ``threads``, ``batch``, ``steps``,
        and, with torch installed, ``torch_ms``, ``torch_version`` and
        ``torch_gradient_error`` (the largest relative difference of the
        weight gradients); ``torch_ms`` is None without torch, and
        ``torch_error`` says why when torch is installed but fails to import.
    """
    from . import _benchmark, _compare, get_num_threads, layers, reference

    X = np.ascontiguousarray(X, dtype=np.float32)
    dY = np.random.default_rng(0).standard_normal(X.shape[:2] + (hidden,)).astype(np.float32)
    fast = layers.LSTM(X.shape[2], hidden, random_state=0)
    threads = get_num_threads()
    fns = {"lstm_fast": lambda: _benchmark.train_step(fast, X, dY)}
    result = {"threads": threads, "batch": X.shape[0], "steps": X.shape[1], "torch_ms": None}
    try:
        has_torch = _compare.available("torch")
    except Exception as error:  # noqa: BLE001 - a broken install (a missing library...)
        has_torch = False
        result["torch_error"] = f"{type(error).__name__}: {' '.join(str(error).split())}"
    if has_torch:
        import torch

        torch_threads = torch.get_num_threads()
        try:
            module, fns["torch"] = _torch_step(fast, X, dY, threads)
            fns["torch"]()
            result["torch_gradient_error"] = _gradient_agreement(fast, module, X, dY)
            result["torch_version"] = torch.__version__
            ms = _benchmark._interleaved_medians(fns, repeat, budget_s)
        finally:
            torch.set_num_threads(torch_threads)
        result["torch_ms"] = ms["torch"]
    else:
        ms = _benchmark._interleaved_medians(fns, repeat, budget_s)
    result["lstm_fast_ms"] = ms["lstm_fast"]
    slow = reference.LSTM(X.shape[2], hidden, random_state=0)
    result["reference_ms"] = _benchmark._interleaved_medians(
        {"reference": lambda: _benchmark.train_step(slow, X, dY)}, 2, budget_s,
        settle=False)["reference"]
    return result


def _compared(ms, fast_ms):
    ratio = ms / fast_ms
    return (f"lstm_fast is {ratio:.1f}x faster" if ratio >= 1
            else f"lstm_fast is {1 / ratio:.1f}x slower")


def format_timings(t):
    """The timing lines the demo prints, from :func:`time_training_step`."""
    fast = t["lstm_fast_ms"]
    lines = [f"One training step of the LSTM layer (forward + backward, {t['batch']} sequences "
             f"of {t['steps']} steps, {t['threads']} threads):",
             f"  {'lstm_fast':<22}{fast:>8.2f} ms"]
    if "torch_error" in t:
        lines.append(f"  {'PyTorch':<22}installed but fails to import: {t['torch_error']}")
    elif t["torch_ms"] is None:
        lines.append(f"  {'PyTorch':<22}{TORCH_HINT}")
    else:
        lines.append(f"  {'PyTorch ' + t['torch_version']:<22}{t['torch_ms']:>8.2f} ms   "
                     f"{_compared(t['torch_ms'], fast)} (same weights; gradients agree "
                     f"to {t['torch_gradient_error']:.0e})")
    lines.append(f"  {'NumPy reference':<22}{t['reference_ms']:>8.2f} ms   "
                 f"{_compared(t['reference_ms'], fast)}")
    return "\n".join(lines)


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
        print(f"Fitting the {cell.upper()}: LSTMRegressor(cell={cell!r}), {hidden} units, "
              f"{epochs} epochs", flush=True)
        # alpha=0: no L2 term, so the loss curve is the training error alone.
        est = LSTMRegressor((hidden,), cell=cell, alpha=0.0, learning_rate_init=1e-2,
                            batch_size=BATCH, max_iter=epochs, clip_norm=1.0,
                            n_iter_no_change=epochs, random_state=seed, verbose=verbose)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter reached: expected in a demo
            est.fit(X, y)
        seconds = time.perf_counter() - start
        mse = float(np.mean((est.predict(X_test) - y_test) ** 2))
        models[cell] = est
        rows.append((cell.upper(), mse, seconds))

    timings = time_training_step(X_test[:BATCH], hidden)  # at least 200 sequences
    print()
    print(f"{'model':<6}{'test MSE':>10}{'vs baseline':>13}{'fit time':>10}")
    for name, mse, seconds in rows:
        print(f"{name:<6}{mse:>10.4f}{BASELINE_MSE / mse:>12.1f}x{seconds:>9.1f}s")
    print()
    print(format_timings(timings))

    if plot is None:
        print("\nInstall matplotlib (pip install \"lstm-fast[plot]\") for the pictures.")
        return {}
    os.makedirs(out, exist_ok=True)
    probe, y_probe = X_test[:256], y_test[:256]
    flows = {"RNN": models["rnn"].gradient_flow(probe, y_probe),
             "LSTM": models["lstm"].gradient_flow(probe, y_probe)}
    figures = {
        "loss_curves.png": plot.plot_loss_curve(
            models["lstm"], models["rnn"], mse=True, baseline=BASELINE_MSE,
            baseline_label=f"predicting 1 (the mean) every time: {BASELINE_MSE:.3f}"),
        "lstm_gates.png": plot.plot_gates(models["lstm"].inspect(X_test[:1]), X=X_test[:1],
                                          feature_names=["value", "marker"]),
        "gradient_flow.png": plot.plot_gradient_flow(flows, cell_state=True),
    }
    written = {}
    print("\nWritten:")
    for name, fig in figures.items():
        path = os.path.join(out, name)
        fig.savefig(path, dpi=110)
        written[name] = path
        print(f"  {path}")
    # A sequence whose target is far from the average: memory is needed.
    i = int(np.flatnonzero(np.abs(y_test - 1) > 0.5)[0])
    x = X_test[i]
    page = models["lstm"].explain_html(
        x, os.path.join(out, "explain.html"), y=y_test[i], compare=models["rnn"],
        marks=np.flatnonzero(x[:, 1]), feature_names=["value", "marker"],
        task="The adding problem: each step carries a random value and a marker; the target "
             "is the sum of the values at the two marked steps (yellow). Watch the LSTM's cell "
             "state change at each marked step and hold until the end, where its prediction "
             "lands on the target; the RNN has not learned to keep the marked values and stays "
             "near the average, 1.")
    written["explain.html"] = page
    print(f"  {page}  (open it in a browser and step through one sequence)")
    return written
