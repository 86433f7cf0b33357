"""Sequences as the estimators take them, turned into what the network takes.

The estimators accept a 3-D array, a 2-D array of univariate series, trailing
NaN steps as padding, or a list of sequences of different lengths (and, for
``output="sequence"``, targets in the same forms). This module checks those
inputs and turns them into one zero-padded C-contiguous array, the lengths of
its sequences and the mask of their real steps; every error message about
the shape or the values of X names the sample and the step at fault.
"""

import sys
import warnings
from numbers import Number

import numpy as np
from sklearn.utils.validation import check_array

from ._layer_base import check_memory


def as_sequences(X, dtype, name="X"):
    """Validate X and turn it into a zero-padded (n, T, D) array + lengths.

    Parameters
    ----------
    X : array-like or list of arrays
        A 3-D array (n_samples, n_timesteps, n_features), a 2-D array (a
        batch of univariate series), trailing-NaN padding in either, or a
        list of 2-D (T_i, D) / 1-D (T_i,) arrays of different lengths.
    dtype : {np.float32, np.float64}
        Floating-point type of the result.
    name : str, default="X"
        What the error messages call the input.

    Returns
    -------
    X : ndarray, shape (n, T, D), C-contiguous, `dtype`; 0 at padded steps
    lengths : ndarray of int64, shape (n,), or None when no sequence is padded

    Raises
    ------
    ValueError
        For a pandas DataFrame (a table of observations x features, not a
        batch of series), an empty input, infinity, values beyond `dtype`'s
        range, or NaN anywhere but in whole trailing steps.
    MemoryError
        Before the copy is made, if it cannot fit in memory.
    """
    _refuse_table(X, name)
    if is_ragged_list(X):
        X = _pad_list(X, dtype, name)
    if isinstance(X, np.ndarray):
        # The copy below and the masks of the checks, before any of them is
        # made (a zero-stride view of an absurd shape costs nothing till then).
        check_memory(X.size * (np.dtype(dtype).itemsize + 2),
                     f"a {np.dtype(dtype).name} copy of {name} with shape {X.shape}",
                     "predict in smaller chunks, or fit on fewer or shorter sequences")
    given = X
    with np.errstate(over="ignore"):  # values beyond dtype's range: an error below
        X = check_array(X, dtype=dtype, allow_nd=True, ensure_all_finite=False,
                        ensure_min_features=1, input_name=name, copy=True)
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise ValueError(
            f"{name} must be 3-D (n_samples, n_timesteps, n_features), 2-D "
            f"(n_samples, n_timesteps) or a list of 2-D arrays; got {X.ndim}-D "
            f"with shape {X.shape}"
        )
    n, T, D = X.shape
    if n == 0 or T == 0 or D == 0:
        raise ValueError(f"{name} is empty: shape {X.shape}; every dimension must be >= 1")
    if np.isinf(X).any():
        if not np.isinf(np.asarray(given, dtype=np.float64)).any():
            raise ValueError(f"{name} has values beyond the range of {np.dtype(dtype).name} "
                             f"(|x| > {np.finfo(dtype).max:.3g}): scale {name}, or use "
                             f"dtype=np.float64")
        raise ValueError(f"{name} contains infinity; only finite values (and trailing "
                         f"NaN padding) are allowed")
    nan = np.isnan(X)
    if not nan.any():
        return np.ascontiguousarray(X), None
    step_nan = nan.any(axis=2)
    step_pad = nan.all(axis=2)
    partial = np.argwhere(step_nan & ~step_pad)
    if len(partial):
        i, t = partial[0]
        raise ValueError(
            f"{name} has NaN in some but not all features of sample {i} at step {t}; "
            f"NaN marks padding only when a whole step is NaN"
        )
    # Length = index after the last step that is not all-NaN.
    real = ~step_pad
    lengths = T - np.argmax(real[:, ::-1], axis=1)
    lengths[~real.any(axis=1)] = 0
    empty = np.flatnonzero(lengths == 0)
    if len(empty):
        raise ValueError(f"sample {empty[0]} of {name} is all NaN: an empty sequence")
    inside = step_pad & (np.arange(T) < lengths[:, None])
    if inside.any():
        i, t = np.argwhere(inside)[0]
        raise ValueError(
            f"{name} contains NaN inside sequence {i} at step {t} (its length is "
            f"{lengths[i]}); NaN is allowed only as trailing padding"
        )
    X[nan] = 0
    lengths = lengths.astype(np.int64)
    return np.ascontiguousarray(X), (None if np.all(lengths == T) else lengths)


def _refuse_table(X, name):
    """Raise ValueError if X is a pandas DataFrame.

    A 2-D array is a batch of univariate series (rows are sequences, columns
    are time steps); a DataFrame is almost always the other way round, rows
    of observations and columns of features, and reading it as 2-D would
    silently train on len(df) sequences of len(df.columns) steps. pandas is
    looked up in sys.modules, never imported: if it is not loaded, X cannot
    be a DataFrame.
    """
    pandas = sys.modules.get("pandas")
    if pandas is None or not isinstance(X, pandas.DataFrame):
        return
    columns = ", ".join(repr(str(c)) for c in list(X.columns)[:5])
    more = ", ..." if X.shape[1] > 5 else ""
    raise ValueError(
        f"{name} is a pandas DataFrame of shape {X.shape} (columns {columns}{more}): a "
        f"table of observations x features, not a batch of sequences. Turn it into "
        f"sequences of shape (n_sequences, n_timesteps, n_features) first: windows to "
        f"forecast from, with X, y = lstm_fast.datasets.sliding_window(df.to_numpy(), "
        f"window=...) (y: the row after each window; pick a column with y[:, j]), "
        f"the whole table as one long sequence with df.to_numpy()[None], or, for a long "
        f"table with one row per (id, time), one sequence per id with "
        f"lstm_fast.from_long_format(df, id_col, time_col)"
    )


def is_ragged_list(seqs):
    """Whether `seqs` is a list of sequences that cannot be one regular array.

    Parameters
    ----------
    seqs : object
        What the caller passed as X (or as y for ``output="sequence"``).

    Returns
    -------
    bool
        True for a non-empty list or tuple whose items differ in length;
        such input is padded here, and predict answers it with a list.
    """
    if not (isinstance(seqs, (list, tuple)) and len(seqs) > 0):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.asarray(seqs)
    except ValueError:
        return True
    return False


def _pad_list(seqs, dtype, name):
    """NaN-padded (n, T_max, D) array from a list of (T_i, D) or (T_i,) arrays."""
    arrays = []
    for i, seq in enumerate(seqs):
        seq = check_array(seq, dtype=dtype, ensure_2d=False, ensure_all_finite=False,
                          input_name=f"{name}[{i}]")
        if seq.ndim == 1:
            seq = seq[:, None]
        if seq.ndim != 2:
            raise ValueError(f"{name}[{i}] must be a 2-D (n_timesteps, n_features) or "
                             f"1-D array, got {seq.ndim}-D")
        if seq.shape[0] == 0:
            raise ValueError(f"{name}[{i}] is an empty sequence")
        if arrays and seq.shape[1] != arrays[0].shape[1]:
            raise ValueError(f"{name}[{i}] has {seq.shape[1]} features, but {name}[0] "
                             f"has {arrays[0].shape[1]}; all sequences need the same "
                             f"number of features")
        arrays.append(seq)
    T = max(a.shape[0] for a in arrays)
    out = np.full((len(arrays), T, arrays[0].shape[1]), np.nan, dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, :a.shape[0]] = a
    return out


def step_mask(lengths, n, T):
    """Which steps of a padded batch are real.

    Parameters
    ----------
    lengths : ndarray of int64, shape (n,), or None
        As :func:`as_sequences` returns them; None: no sequence is padded.
    n, T : int
        Sequences and steps of the padded batch.

    Returns
    -------
    mask : ndarray of bool, shape (n, T)
        True at real steps, False at padding.
    """
    if lengths is None:
        return np.ones((n, T), dtype=bool)
    return np.arange(T) < lengths[:, None]


def pad_targets(y, T):
    """Per-step targets given as a list of different lengths, as one array.

    Parameters
    ----------
    y : array-like or list of arrays
        Targets of ``output="sequence"``: one per step of each sequence.
    T : int
        Steps of the padded X.

    Returns
    -------
    y : ndarray or the given `y`
        A list of different lengths becomes an (n, T[, n_outputs]) array,
        float with NaN at padded steps for numeric targets, object with None
        there for labels; anything else is returned as given.
    """
    if is_ragged_list(y):
        arrays = [np.asarray(a) for a in y]
        kind_numeric = all(a.dtype.kind in "biuf" for a in arrays)
        tail = arrays[0].shape[1:]
        out = np.full((len(arrays), T) + tail, np.nan if kind_numeric else None,
                      dtype=float if kind_numeric else object)
        for i, a in enumerate(arrays):
            out[i, :len(a)] = a
        return out
    return y


def unpad(values, lengths):
    """The sequences of a padded batch, each without its padding.

    Parameters
    ----------
    values : ndarray, shape (n, T, ...)
        Per-step values of a padded batch (predictions, labels).
    lengths : ndarray of int64, shape (n,)

    Returns
    -------
    list of ndarray
        ``values[i, :lengths[i]]`` for each sequence i: what predict returns
        for a list of sequences of different lengths.
    """
    return [values[i, :lengths[i]] for i in range(len(values))]


def as_sample_weight(sample_weight, n, name="sample_weight"):
    """Validate per-sequence weights, as scikit-learn's estimators take them.

    Parameters
    ----------
    sample_weight : array-like of shape (n,), a number, or None
        One non-negative finite weight per sequence; a number weighs every
        sequence alike.
    n : int
        Sequences of the X the weights go with.
    name : str, default="sample_weight"
        What the error messages call the input.

    Returns
    -------
    ndarray of float64, shape (n,), or None when `sample_weight` is None

    Raises
    ------
    ValueError
        For a shape other than (n,), NaN or infinity, a negative weight, or
        weights that are all zero (nothing would be learned).
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, Number) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n, sample_weight, dtype=np.float64)
    try:
        w = check_array(sample_weight, ensure_2d=False, dtype=np.float64,
                        ensure_all_finite=False, input_name=name, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers of shape ({n},): {exc}") \
            from exc
    if w.ndim != 1 or len(w) != n:
        raise ValueError(f"{name} must have shape ({n},), one weight per sequence of "
                         f"X; got shape {w.shape}")
    bad = ~np.isfinite(w)
    if bad.any():
        raise ValueError(f"{name} contains NaN or infinity (at sequence "
                         f"{np.flatnonzero(bad)[0]})")
    if (w < 0).any():
        raise ValueError(f"{name} contains a negative weight ({w[w < 0][0]} at sequence "
                         f"{np.flatnonzero(w < 0)[0]}); weights must be >= 0")
    if not w.any():
        raise ValueError(f"{name} is zero for every sequence: sample weights must "
                         f"contain at least one non-zero number")
    return w
