"""Pictures of a model: gate heat maps, gradient flow through time, loss
curves. Needs matplotlib (``pip install "lstm-fast[plot]"``).

Every function returns a :class:`matplotlib.figure.Figure` built without
pyplot, so nothing opens on screen; save it with ``fig.savefig(path)`` or
show it in a notebook.
"""

import numpy as np

__all__ = ["plot_gates", "plot_gradient_flow", "plot_loss_curve"]

_GATE_TITLES = {
    "i": "input gate i", "f": "forget gate f", "g": "cell candidate g", "o": "output gate o",
    "c": "cell state c", "h": "hidden state h",
    "r": "reset gate r", "z": "update gate z", "n": "new gate n",
}

# What `loss_curve_` holds for each loss: scikit-learn's definitions, where
# the squared error and the Poisson deviance are halved.
_LOSS_NAMES = {
    "squared_error": "half the mean squared error",
    "absolute_error": "mean absolute error",
    "huber": "Huber loss",
    "poisson": "half the Poisson deviance",
    "quantile": "pinball (quantile) loss",
    "log_loss": "log loss",
}


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("lstm_fast.plot needs matplotlib: pip install \"lstm-fast[plot]\"") \
            from error
    return Figure(**kwargs)


def _integer_ticks(axis):
    """Ticks at whole numbers only (epochs, time steps)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _one_sequence(X, sample, length):
    """Sequence `sample` of X (as given to ``inspect``), (length, n_features)."""
    try:
        x = X[sample]
    except (IndexError, KeyError, TypeError) as error:
        raise ValueError(f"X must be the sequences given to inspect (an array or a list of "
                         f"them); it has no sequence {sample}") from error
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:  # a 2-D X is a batch of univariate series
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < length:
        raise ValueError(f"X[{sample}] must be one sequence of at least {length} steps, "
                         f"(n_timesteps, n_features), as given to inspect; got shape {x.shape}")
    return x[:length]


def plot_gates(trace, sample=0, layer=0, X=None, feature_names=None):
    """Heat maps of every gate and state of one sequence over time.

    Parameters
    ----------
    trace : Trace
        From ``est.inspect(X)``.
    sample : int, default=0
        Which sequence of X.
    layer : int, default=0
        Which layer (bottom is 0).
    X : array-like or list of arrays, optional
        The sequences given to ``inspect``: their inputs are drawn as the
        top row, so that the steps where the gates react can be matched to
        what came in.
    feature_names : list of str, optional
        The input row's labels (default: ``x[0]``, ``x[1]``...).

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = trace.layers[layer]
    names = [n for n in ("i", "f", "g", "o", "r", "z", "n", "c", "h") if n in values]
    length = int(trace.lengths[sample]) if trace.lengths is not None \
        else values["h"].shape[1]
    x = None if X is None else _one_sequence(X, sample, length)
    if x is not None and feature_names is not None and len(feature_names) != x.shape[1]:
        raise ValueError(f"feature_names has {len(feature_names)} names for "
                         f"{x.shape[1]} input features")
    # An input row is as tall as its features need, a gate row as its units.
    heights = [1.9] * len(names)
    if x is not None:
        heights.insert(0, min(1.9, 0.45 + 0.25 * x.shape[1]))
    fig = _figure(figsize=(10, sum(heights) + 0.6), layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    if x is not None:
        ax, axes = axes[0], axes[1:]
        image = ax.imshow(x.T, aspect="auto", interpolation="nearest", cmap="cividis")
        # Above layer 0 this is still the network's input, not the layer's.
        ax.set_title("input x" if layer == 0 else "network input x", fontsize=10, loc="left")
        ax.set_yticks(np.arange(x.shape[1]),
                      [str(name) for name in feature_names] if feature_names is not None
                      else [f"x[{k}]" for k in range(x.shape[1])])
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    for ax, name in zip(axes, names):
        data = values[name][sample, :length].T  # units x steps
        bounded = name in ("i", "f", "o", "r", "z")
        limit = 1.0 if bounded else max(float(np.nanmax(np.abs(data))), 1e-12)
        image = ax.imshow(data, aspect="auto", interpolation="nearest",
                          cmap="viridis" if bounded else "RdBu_r",
                          vmin=0.0 if bounded else -limit, vmax=limit)
        ax.set_title(_GATE_TITLES[name], fontsize=10, loc="left")
        ax.set_ylabel("unit")
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    axes[-1].set_xlabel("time step")
    _integer_ticks(axes[-1].xaxis)
    fig.suptitle(f"{trace.cell.upper()} layer {layer}, sequence {sample}: gates and states "
                 f"over time")
    return fig


def plot_gradient_flow(flows, layer=0, cell_state=False):
    """|dLoss/dh_t| over time for one or several models, on a log scale.

    A norm that is exactly zero (the gradient underflowed: nothing of the
    loss reaches that step in floating point) has no logarithm; those steps
    are drawn as crosses on a dotted floor line below every measured value,
    instead of leaving the curve to stop without a word. The last step of
    |dLoss/dc_t| is zero by definition (that cell state reaches the loss only
    through h_t, which the derivative holds fixed): its curve ends one step
    earlier and its legend says so.

    Parameters
    ----------
    flows : dict of str -> GradientFlow
        Label -> ``est.gradient_flow(X, y)``, e.g. ``{"RNN": ..., "LSTM": ...}``.
    layer : int, default=0
    cell_state : bool, default=False
        Also draw |dLoss/dc_t| (dashed) for models that have one.

    Returns
    -------
    matplotlib.figure.Figure
    """
    curves = []  # (label, norms, line style, color: one per model)
    for k, (label, flow) in enumerate(flows.items()):
        curves.append((f"{label}: |dLoss/dh_t|", np.atleast_2d(flow.h_norm[layer])[0], "-",
                       f"C{k}"))
        if cell_state and flow.c_norm is not None:
            norms = np.atleast_2d(flow.c_norm[layer])[0]
            if norms[-1] == 0:
                # By definition, not underflow: dLoss/dc_t holds h_t fixed, and
                # the last step's c reaches the loss only through its h.
                curves.append((f"{label}: |dLoss/dc_t| (the last c_t acts only through "
                               f"h_t)", norms[:-1], "--", f"C{k}"))
            else:
                curves.append((f"{label}: |dLoss/dc_t|", norms, "--", f"C{k}"))
    measured = np.concatenate([norms[norms > 0] for _, norms, _, _ in curves])
    floor = None
    if any((norms == 0).any() for _, norms, _, _ in curves):
        # A decade below the smallest measured value (or at float32's
        # smallest normal number when nothing was measured at all).
        floor = measured.min() / 10 if measured.size else float(np.finfo(np.float32).tiny)

    fig = _figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for label, norms, style, color in curves:
        steps = np.arange(norms.shape[0])
        # Dots on short sequences: a curve of one step is a point, not a line.
        ax.semilogy(steps, np.where(norms > 0, norms, np.nan), linestyle=style, color=color,
                    marker="." if len(steps) <= 30 else None, label=label)
        zero = norms == 0
        if zero.any():
            ax.semilogy(steps, np.where(zero, floor, np.nan), linestyle="none", marker="x",
                        markersize=4, color=color)
    if floor is not None:
        ax.axhline(floor, color="0.4", linestyle=":", linewidth=1,
                   label="exactly 0 (underflow): drawn at this floor")
    ax.set_xlabel("time step t (the loss is computed after the last step)")
    _integer_ticks(ax.xaxis)
    ax.set_ylabel("gradient norm (log scale)")
    ax.set_title("How far back the training signal reaches")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def _loss_name(est, mse):
    loss = getattr(est, "loss", "log_loss")
    if mse and loss != "squared_error":
        raise ValueError(f"mse=True plots twice the squared_error loss; {type(est).__name__} "
                         f"was fitted with loss={loss!r}: use mse=False")
    name = "mean squared error" if mse else _LOSS_NAMES.get(loss, f"{loss} loss")
    if getattr(est, "alpha", 0):
        name += " + L2 penalty" if not mse else " + 2 x L2 penalty"
    return name


def plot_loss_curve(*estimators, labels=None, mse=False, baseline=None,
                    baseline_label="baseline"):
    """Training loss per epoch of one or several fitted estimators.

    The loss is each estimator's ``loss_curve_``, as scikit-learn defines
    it: with ``loss="squared_error"`` that is *half* the mean squared error
    (plus the L2 penalty when ``alpha > 0``); the y axis says which.

    Parameters
    ----------
    *estimators : fitted LSTMRegressor or LSTMClassifier
    labels : list of str, optional
        Legend entries (default: the cell names).
    mse : bool, default=False
        Plot twice the loss, the mean squared error, for estimators fitted
        with ``loss="squared_error"`` (a ValueError for other losses).
    baseline : float, optional
        A reference value on the same scale, drawn as a dashed horizontal
        line (for example the error of always predicting the mean).
    baseline_label : str, default="baseline"
        Its legend entry.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not estimators:
        raise ValueError("plot_loss_curve needs at least one fitted estimator")
    labels = labels or [est.cell.upper() for est in estimators]
    if len(labels) != len(estimators):
        raise ValueError(f"{len(labels)} labels for {len(estimators)} estimators")
    names = {_loss_name(est, mse) for est in estimators}
    fig = _figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for est, label in zip(estimators, labels):
        curve = np.asarray(est.loss_curve_, dtype=float) * (2 if mse else 1)
        ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", markersize=3, label=label)
    if baseline is not None:
        ax.axhline(baseline, color="0.3", linestyle="--", linewidth=1.2, label=baseline_label)
    ax.set_xlabel("epoch")
    _integer_ticks(ax.xaxis)
    ax.set_ylabel("training " + (names.pop() if len(names) == 1 else "loss") + " (log scale)")
    ax.set_yscale("log")
    ax.set_title("Training mean squared error" if mse else "Training loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig
