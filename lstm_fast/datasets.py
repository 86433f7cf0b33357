"""Sequence data sets for trying models, and the helpers that turn data as it
comes into sequences: a series (and its covariates) into forecasting
examples (`sliding_window`), a long table of (id, time) rows into padded
sequences (`from_long_format`)."""

import numpy as np
from sklearn.utils import check_random_state

from ._long_format import from_long_format
from ._windows import sliding_window

__all__ = ["make_adding_problem", "make_sine_forecast", "sliding_window", "from_long_format"]


def make_adding_problem(n_samples=1000, n_timesteps=50, random_state=None):
    """Hochreiter & Schmidhuber's adding problem, a long-time-lag task.

    Each step carries a value drawn from U(0, 1) and a marker; exactly two
    steps are marked, one in each half of the sequence, and the target is
    the sum of their two values. Always predicting 1 (the mean) gives a mean
    squared error of 1/6 = 0.167: a model must beat that by remembering.

    Parameters
    ----------
    n_samples : int, default=1000
    n_timesteps : int, default=50
        At least 2.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_samples, n_timesteps, 2)
        ``X[..., 0]`` the values, ``X[..., 1]`` the markers (0 or 1).
    y : ndarray of shape (n_samples,)
    """
    if n_timesteps < 2:
        raise ValueError(f"n_timesteps must be at least 2, got {n_timesteps}")
    rng = check_random_state(random_state)
    values = rng.uniform(0, 1, size=(n_samples, n_timesteps))
    half = n_timesteps // 2
    first = rng.randint(0, half, size=n_samples)
    second = rng.randint(half, n_timesteps, size=n_samples)
    markers = np.zeros((n_samples, n_timesteps))
    rows = np.arange(n_samples)
    markers[rows, first] = 1
    markers[rows, second] = 1
    X = np.stack([values, markers], axis=2)
    y = values[rows, first] + values[rows, second]
    return X, y


def make_sine_forecast(n_samples=1000, n_timesteps=50, noise=0.05, random_state=None):
    """Windows of noisy sine waves and the value that follows each window.

    Every sample has its own frequency (0.02 to 0.1 cycles per step),
    amplitude (0.5 to 1.5) and phase.

    Parameters
    ----------
    n_samples : int, default=1000
    n_timesteps : int, default=50
    noise : float, default=0.05
        Standard deviation of Gaussian noise added to the inputs.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_samples, n_timesteps, 1)
    y : ndarray of shape (n_samples,)
        The noiseless value one step after the window.
    """
    rng = check_random_state(random_state)
    freq = rng.uniform(0.02, 0.1, size=(n_samples, 1))
    amp = rng.uniform(0.5, 1.5, size=(n_samples, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n_samples, 1))
    t = np.arange(n_timesteps + 1)
    clean = amp * np.sin(2 * np.pi * freq * t + phase)
    X = clean[:, :n_timesteps] + noise * rng.standard_normal((n_samples, n_timesteps))
    return X[:, :, None], clean[:, n_timesteps]
