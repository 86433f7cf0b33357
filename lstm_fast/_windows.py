"""sliding_window: a series (and its covariates) into forecasting examples.

The public function is ``lstm_fast.datasets.sliding_window``; this module
holds it and the checks of its inputs (arrays or pandas objects, aligned
step by step).
"""

import sys

import numpy as np


def sliding_window(series, window, horizon=1, *, stride=1, past_covariates=None,
                   future_covariates=None, return_index=False):
    """Forecasting examples from one series: each window of `window` steps,
    and the value(s) that follow it.

    Parameters
    ----------
    series : array-like of shape (n_steps,) or (n_steps, n_targets)
        The values to forecast, one row per time step, in time order; a
        NumPy array, a pandas Series or a pandas DataFrame. Its past values
        are the first features of X. With a pandas object, its index (e.g.
        a DatetimeIndex) labels the targets (see `return_index`).
    window : int
        Steps of history per input sequence, at least 1.
    horizon : int or sequence of int, default=1
        Which steps after a window's last one are forecast, counted from 1
        (the next step).

        - an int ``h``: one target, the value ``h`` steps after the window;
          y has shape (n_windows,) or (n_windows, n_targets).
        - a sequence, e.g. ``range(1, 8)`` (the next 7 steps): direct
          multi-step targets, one per listed step, increasing; y has shape
          (n_windows, len(horizon)) for a 1-D series or (n_windows,
          len(horizon), n_targets) for a 2-D one.
    stride : int, default=1
        Steps between the starts of consecutive windows (the first window
        starts at step 0, as in Keras' ``timeseries_dataset_from_array``).
        ``stride=7`` with ``horizon=range(1, 8)`` gives forecasts that tile
        the series without overlapping.
    past_covariates : array-like of shape (n_steps,) or (n_steps, n_past), default=None
        Other series observed alongside `series` and known only up to the
        window's last step (a measured temperature, the previous day's
        sales of another shop). They follow the series' features in X, at
        the window's steps.
    future_covariates : array-like of shape (n_steps,) or (n_steps, n_future), default=None
        Series known in advance for every step, the forecast steps included
        (day of week, holidays, a planned promotion). X then gets
        ``max(horizon)`` extra steps after the window's, for the model to
        read them (see Notes).
    return_index : bool, default=False
        Also return the time-index label of each target.

    Returns
    -------
    X : ndarray of shape (n_windows, n_steps_X, n_features)
        ``n_steps_X`` is `window`, plus ``max(horizon)`` with
        `future_covariates`. The features, in order: the series' columns,
        the past covariates, then the future covariates and a 0/1 column
        that is 1 at the appended forecast steps (Notes).
        ``n_windows = (n_steps - window - max(horizon)) // stride + 1``.
    y : ndarray
        Shape (n_windows,) or (n_windows, n_targets) for an int `horizon`;
        (n_windows, len(horizon)) or (n_windows, len(horizon), n_targets)
        for a sequence. ``y[i]`` comes after every step whose series or past
        covariate values are in ``X[i]``. float64 (float32 if every input
        is float32).
    index : ndarray, shape ``y.shape[:1]`` or ``y.shape[:2]``
        Only with ``return_index=True``: the label of each target's step,
        from the series' pandas index (e.g. datetime64 values), or the
        step's position for a NumPy series. ``pd.Series(pred[i],
        index=index[i])`` puts window i's multi-step forecast on the date
        axis.

    Raises
    ------
    ValueError
        For a bad `window`, `horizon` or `stride`, a series too short for
        one window, covariates of another length (or, for pandas objects,
        another index), non-numeric or non-finite values, or a pandas index
        that is unsorted, repeats a label, or is a DatetimeIndex without a
        regular frequency (missing dates).

    Notes
    -----
    The layout with `future_covariates` (n_targets = 1, n_past = 1,
    n_future = 1, window = 3, horizon = range(1, 3); s is the window's first
    step)::

        step          series    past cov   future cov   is_forecast_step
        s             y[s]      p[s]       f[s]         0
        s+1           y[s+1]    p[s+1]     f[s+1]       0
        s+2           y[s+2]    p[s+2]     f[s+2]       0
        s+3 (h=1)     0         0          f[s+3]       1
        s+4 (h=2)     0         0          f[s+4]       1

    At the appended steps the unknown values (series and past covariates)
    are 0, the mean once the data are standardized, and the last column
    tells the model they are not observations. The recurrent network reads
    the known future as its last steps, so ``output="last"`` with one output
    per forecast step (``y.reshape(len(y), -1)`` for several targets) is a
    direct multi-step forecaster. Scale the series and covariates before
    windowing (on the training period only), so that 0 means "average".

    Rows are taken as consecutive, equally spaced steps: put a series with
    missing dates on a regular grid first (``df.asfreq("D")``, then fill the
    gaps, e.g. ``.interpolate()``).

    To forecast past the end of the data, append ``max(horizon)`` rows: any
    placeholder for the series and the past covariates (their values at
    forecast steps never enter X), the known future covariates, and take
    the last window, ``X[-1:]`` (docs/forecasting.md shows it).

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_fast.datasets import sliding_window
    >>> X, y = sliding_window(np.arange(10.0), window=3, horizon=range(1, 3), stride=2)
    >>> X[:, :, 0]
    array([[0., 1., 2.],
           [2., 3., 4.],
           [4., 5., 6.]])
    >>> y
    array([[3., 4.],
           [5., 6.],
           [7., 8.]])

    A daily series, a day-of-week column known in advance, and the date of
    each target:

    >>> import pandas as pd
    >>> days = pd.date_range("2024-01-01", periods=10, freq="D")
    >>> sales = pd.Series(np.arange(10.0), index=days)
    >>> dow = pd.Series(days.day_of_week.to_numpy(float), index=days)
    >>> X, y, when = sliding_window(sales, window=4, horizon=range(1, 3),
    ...                             future_covariates=dow, return_index=True)
    >>> X.shape, y.shape   # 4 + 2 steps; sales, day of week, is-forecast
    ((5, 6, 3), (5, 2))
    >>> X[0]
    array([[0., 0., 0.],
           [1., 1., 0.],
           [2., 2., 0.],
           [3., 3., 0.],
           [0., 4., 1.],
           [0., 5., 1.]])
    >>> print(str(when[0, 0])[:10], y[0, 0])   # the first target: its date, its value
    2024-01-05 4.0
    """
    window = _positive_int(window, "window")
    stride = _positive_int(stride, "stride")
    steps, multi = _horizon_steps(horizon)
    values, one_d, index = _as_table(series, "series")
    n_steps = len(values)
    past = _covariate(past_covariates, "past_covariates", n_steps, index)
    future = _covariate(future_covariates, "future_covariates", n_steps, index)
    dtype = _result_dtype(values, past, future)
    reach = int(steps[-1])
    n_windows = (n_steps - window - reach) // stride + 1 if n_steps >= window + reach else 0
    if n_windows < 1:
        raise ValueError(f"a series of {n_steps} steps is too short for window={window} and "
                         f"horizon={_describe(horizon)}: it needs at least window + "
                         f"max(horizon) = {window + reach} steps")
    starts = np.arange(n_windows) * stride
    observed = np.concatenate([values] + ([past] if past is not None else []), axis=1)
    X_past = _windows(observed, starts, window)
    if future is None:
        X = X_past.astype(dtype, copy=False)
    else:
        # Known-future covariates over the window and the forecast steps;
        # the unknown columns stay 0 at the forecast steps, flagged by the
        # last column.
        n_obs = observed.shape[1]
        X = np.zeros((n_windows, window + reach, n_obs + future.shape[1] + 1), dtype=dtype)
        X[:, :window, :n_obs] = X_past
        X[:, :, n_obs:-1] = _windows(future, starts, window + reach)
        X[:, window:, -1] = 1
    positions = starts[:, None] + (window - 1) + steps[None, :]  # (n_windows, len(steps))
    y = values[positions].astype(dtype, copy=False)  # (n_windows, len(steps), n_targets)
    if one_d:
        y = y[..., 0]
    if not multi:
        y, positions = y[:, 0], positions[:, 0]
    y = np.ascontiguousarray(y)
    if not return_index:
        return X, y
    labels = np.asarray(index.to_numpy()[positions]) if index is not None else positions
    return X, y, labels


def _windows(data, starts, length):
    """(len(starts), length, n_columns): the rows of `data` from each start."""
    view = np.lib.stride_tricks.sliding_window_view(data, length, axis=0)
    return np.ascontiguousarray(view[starts].transpose(0, 2, 1))


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _horizon_steps(horizon):
    """The forecast steps as an increasing int array, and whether `horizon`
    was a sequence (y then keeps a steps axis)."""
    if isinstance(horizon, (int, np.integer)) and not isinstance(horizon, bool):
        return np.array([_positive_int(horizon, "horizon")]), False
    try:
        steps = list(horizon)
    except TypeError:
        raise ValueError(f"horizon must be a positive integer or a sequence of them "
                         f"(e.g. range(1, 8) for the next 7 steps), got {horizon!r}") from None
    if not steps:
        raise ValueError("horizon is empty: give at least one step, e.g. range(1, 8)")
    for h in steps:
        _positive_int(h, "each step of horizon")
    steps = np.array(steps, dtype=np.int64)
    if np.any(np.diff(steps) <= 0):
        raise ValueError(f"the steps of horizon must be increasing, without repeats; got "
                         f"{steps.tolist()}")
    return steps, True


def _describe(horizon):
    return repr(horizon) if isinstance(horizon, (int, np.integer, range)) else str(list(horizon))


def _as_table(data, name):
    """(values as a 2-D float array, whether `data` was 1-D, its pandas index or None)."""
    pandas = sys.modules.get("pandas")  # a pandas object means pandas is loaded
    index = None
    if pandas is not None and isinstance(data, (pandas.Series, pandas.DataFrame)):
        index = data.index
        _check_index(index, name)
        frame = data.to_frame() if isinstance(data, pandas.Series) else data
        bad = [str(c) for c, kind in frame.dtypes.items()
               if not (pandas.api.types.is_numeric_dtype(kind)
                       or pandas.api.types.is_bool_dtype(kind))]
        if bad:
            raise ValueError(f"{name} has non-numeric columns {bad}: encode them as numbers "
                             f"first (e.g. pd.get_dummies, or .cat.codes for categories)")
        one_d = isinstance(data, pandas.Series)
        data = frame.to_numpy(dtype=np.float64 if not _all_float32(frame) else np.float32,
                              na_value=np.nan)
    else:
        data = np.asarray(data)
        one_d = data.ndim == 1
        if data.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold numbers, got an array of dtype {data.dtype}")
        if data.dtype != np.float32:
            data = data.astype(np.float64)
    if data.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D (steps, features), got shape {data.shape}")
    if data.ndim == 1:
        data = data[:, None]
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {data.shape}")
    bad = ~np.isfinite(data)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        where = f"index {index[t]!r}" if index is not None else f"step {t}"
        raise ValueError(f"{name} has NaN or infinity (first at {where}, column {j}): fill "
                         f"the gaps before windowing, e.g. series.interpolate() or ffill(), "
                         f"or drop those steps")
    return data, one_d, index


def _all_float32(frame):
    return all(kind == np.float32 for kind in frame.dtypes)


def _check_index(index, name):
    if not index.is_unique:
        raise ValueError(f"{name}'s index repeats labels (e.g. {index[index.duplicated()][0]!r}): "
                         f"one row per time step; aggregate the repeats first, e.g. "
                         f"df.groupby(level=0).mean()")
    if not index.is_monotonic_increasing:
        raise ValueError(f"{name}'s index is not in increasing order: sort it first "
                         f"(df.sort_index())")
    pandas = sys.modules["pandas"]
    if isinstance(index, pandas.DatetimeIndex) and len(index) >= 3 and index.freq is None \
            and index.inferred_freq is None:
        gaps = np.diff(index.asi8)
        t = int(np.argmax(gaps != np.min(gaps)))
        raise ValueError(f"{name}'s DatetimeIndex has no regular frequency (from "
                         f"{index[t]} the next step is {index[t + 1]}, longer than the "
                         f"shortest step): windows would mix step lengths. Put it on a "
                         f"regular grid first, e.g. df.asfreq('D') and fill the new gaps "
                         f"(interpolate() or ffill())")


def _covariate(data, name, n_steps, index):
    """A covariate as a 2-D float array aligned with the series, or None."""
    if data is None:
        return None
    values, _, own_index = _as_table(data, name)
    if len(values) != n_steps:
        raise ValueError(f"{name} has {len(values)} steps, the series {n_steps}: give one "
                         f"row per step of the series, in the same order")
    if index is not None and own_index is not None and not own_index.equals(index):
        raise ValueError(f"{name}'s index differs from the series': align it first, e.g. "
                         f"{name}.reindex(series.index)")
    return values


def _result_dtype(*arrays):
    given = [a for a in arrays if a is not None]
    return np.float32 if all(a.dtype == np.float32 for a in given) else np.float64
