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


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("lstm_fast.plot needs matplotlib: pip install \"lstm-fast[plot]\"") \
            from error
    return Figure(**kwargs)


def plot_gates(trace, sample=0, layer=0):
    """Heat maps of every gate and state of one sequence over time.

    Parameters
    ----------
    trace : Trace
        From ``est.inspect(X)``.
    sample : int, default=0
        Which sequence of X.
    layer : int, default=0
        Which layer (bottom is 0).

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = trace.layers[layer]
    names = [n for n in ("i", "f", "g", "o", "r", "z", "n", "c", "h") if n in values]
    length = int(trace.lengths[sample]) if trace.lengths is not None \
        else values["h"].shape[1]
    fig = _figure(figsize=(10, 1.9 * len(names) + 0.6), layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
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
    fig.suptitle(f"{trace.cell.upper()} layer {layer}, sequence {sample}: gates and states "
                 f"over time")
    return fig


def plot_gradient_flow(flows, layer=0, cell_state=False):
    """|dLoss/dh_t| over time for one or several models, on a log scale.

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
    fig = _figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    def positive(norms):  # a zero norm (nothing reaches that state) has no log
        return np.where(norms > 0, norms, np.nan)

    for label, flow in flows.items():
        norms = np.atleast_2d(flow.h_norm[layer])
        steps = np.arange(norms.shape[1])
        line, = ax.semilogy(steps, positive(norms[0]), label=f"{label}: |dLoss/dh_t|")
        if cell_state and flow.c_norm is not None:
            ax.semilogy(steps, positive(np.atleast_2d(flow.c_norm[layer])[0]), linestyle="--",
                        color=line.get_color(), label=f"{label}: |dLoss/dc_t|")
    ax.set_xlabel("time step t (the loss is computed after the last step)")
    ax.set_ylabel("gradient norm (log scale)")
    ax.set_title("How far back the training signal reaches")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def plot_loss_curve(*estimators, labels=None):
    """Training loss per epoch of one or several fitted estimators.

    Parameters
    ----------
    *estimators : fitted LSTMRegressor or LSTMClassifier
    labels : list of str, optional
        Legend entries (default: the cell names).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    labels = labels or [est.cell.upper() for est in estimators]
    for est, label in zip(estimators, labels):
        ax.plot(np.arange(1, len(est.loss_curve_) + 1), est.loss_curve_, marker="o",
                markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.set_title("Training loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig
