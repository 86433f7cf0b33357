"""from_long_format: a table of (id, time) rows into padded sequences.

Data often comes as one row per observation: a sensor id, a timestamp and
the readings. The estimators take one sequence per id, as a 3-D array
with NaN after each sequence's end (``_sequences.py``). pandas is imported
only here, when the function is called: the package does not depend on it.
"""

import numpy as np


def from_long_format(df, id_col, time_col, feature_cols=None, *, dtype=np.float64):
    """Sequences from a long table: one per id, its rows in time order.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per (id, time) pair: an id column, a time column (dates,
        timestamps or numbers: anything that sorts) and numeric feature
        columns. Rows may come in any order.
    id_col : str
        The column naming the sequence each row belongs to.
    time_col : str
        The column that orders the rows of a sequence. Only the order is
        used: the steps of a sequence are its rows, gaps are not filled.
    feature_cols : list of str, default=None
        The columns that become the features, in this order; None: every
        column but `id_col` and `time_col`, in the table's order.
    dtype : {np.float64, np.float32}, default=np.float64
        Floating-point type of X.

    Returns
    -------
    X : ndarray of shape (n_ids, max_length, n_features)
        ``X[i, t]`` is the t-th row, in time order, of the sequence
        ``ids[i]``; steps after a sequence's end are NaN, the padding the
        estimators read as "no step" (so X goes to ``fit`` as it is).
    ids : ndarray of shape (n_ids,)
        The id of each sequence of X, sorted (``labels.loc[ids]`` puts a
        table of per-id targets in the same order).
    lengths : ndarray of int64, shape (n_ids,)
        The number of rows of each sequence.

    Raises
    ------
    ValueError
        If `df` is not a DataFrame, a column is missing, `id_col` or
        `time_col` is among the features, a feature is not numeric, a
        feature holds NaN or infinity (NaN would read as padding), an id or
        a time is missing, an (id, time) pair appears twice, or the table
        is empty.

    Examples
    --------
    >>> import pandas as pd
    >>> from lstm_fast.datasets import from_long_format
    >>> df = pd.DataFrame({"sensor": ["b", "a", "a", "b", "a"],
    ...                    "t": [1, 2, 1, 2, 3],
    ...                    "temp": [20.0, 11.0, 10.0, 21.0, 12.0]})
    >>> X, ids, lengths = from_long_format(df, "sensor", "t")
    >>> X[:, :, 0]
    array([[10., 11., 12.],
           [20., 21., nan]])
    >>> ids, lengths
    (array(['a', 'b'], dtype=object), array([3, 2]))
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - a DataFrame means pandas is installed
        raise ValueError("from_long_format takes a pandas DataFrame; pandas is not "
                         "installed (pip install pandas)") from None
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame with one row per (id, time), got "
                         f"{type(df).__name__}; a NumPy table: pd.DataFrame(array, "
                         f"columns=[...]) first")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    features = _feature_columns(df, id_col, time_col, feature_cols)
    if len(df) == 0:
        raise ValueError("df has no rows: nothing to turn into sequences")
    for col in (id_col, time_col):
        missing = df[col].isna().to_numpy()
        if missing.any():
            raise ValueError(f"column {col!r} is missing (NaN/None) in row "
                             f"{df.index[np.argmax(missing)]!r}: drop those rows or fill "
                             f"them first")
    values = _feature_values(df, features, id_col, time_col)
    try:
        codes, ids = pd.factorize(df[id_col], sort=True)
    except TypeError:
        raise ValueError(f"the ids in {id_col!r} are of types that do not sort together "
                         f"(e.g. numbers and strings): make them one type, e.g. "
                         f"df[{id_col!r}].astype(str)") from None
    try:
        # Ranks of the times (ties share one), so that any sortable type
        # (tz-aware timestamps, strings) orders the rows.
        time_codes, time_values = pd.factorize(df[time_col], sort=True)
    except TypeError:
        raise ValueError(f"the values of {time_col!r} do not sort together (mixed "
                         f"types?): make them one type, e.g. pd.to_datetime(df[{time_col!r}])"
                         ) from None
    order = np.lexsort((time_codes, codes))  # by id, then by time within an id
    codes, time_codes, values = codes[order], time_codes[order], values[order]
    same = (codes[1:] == codes[:-1]) & (time_codes[1:] == time_codes[:-1])
    if same.any():
        k = np.argmax(same)
        raise ValueError(f"({id_col}={ids[codes[k]]!r}, {time_col}="
                         f"{time_values[time_codes[k]]!r}) appears in more than one row: "
                         f"one row per (id, time); aggregate the repeats first, e.g. "
                         f"df.groupby([{id_col!r}, {time_col!r}], as_index=False).mean()")
    lengths = np.bincount(codes, minlength=len(ids)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    step = np.arange(len(codes)) - first[codes]  # each row's position in its sequence
    X = np.full((len(ids), int(lengths.max()), len(features)), np.nan, dtype=dtype)
    X[codes, step] = values
    return X, np.asarray(ids), lengths


def _feature_columns(df, id_col, time_col, feature_cols):
    columns = list(df.columns)
    for role, col in (("id_col", id_col), ("time_col", time_col)):
        if col not in columns:
            raise ValueError(f"{role}={col!r} is not a column of df; its columns: "
                             f"{[str(c) for c in columns]}")
    if feature_cols is None:
        features = [c for c in columns if c not in (id_col, time_col)]
        if not features:
            raise ValueError(f"df has no column besides {id_col!r} and {time_col!r}: no "
                             f"features to make sequences of")
        return features
    if isinstance(feature_cols, str):
        feature_cols = [feature_cols]
    features = list(feature_cols)
    if not features:
        raise ValueError("feature_cols is empty: name at least one column, or pass None "
                         "for every column but the id and the time")
    missing = [c for c in features if c not in columns]
    if missing:
        raise ValueError(f"feature_cols {missing} are not columns of df; its columns: "
                         f"{[str(c) for c in columns]}")
    clash = [c for c in features if c in (id_col, time_col)]
    if clash:
        raise ValueError(f"feature_cols includes {clash}, the id or time column: to use "
                         f"the time as a feature, copy it to a numeric column of its own")
    return features


def _feature_values(df, features, id_col, time_col):
    import pandas as pd

    table = df[features]
    bad = [str(c) for c in features
           if not (pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]))]
    if bad:
        raise ValueError(f"feature columns {bad} are not numeric: encode them as numbers "
                         f"first (pd.get_dummies, or .cat.codes for categories), or leave "
                         f"them out with feature_cols=[...]")
    values = table.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        r, j = np.argwhere(bad)[0]
        raise ValueError(
            f"feature {str(features[j])!r} is NaN or infinite at {id_col}="
            f"{df[id_col].iloc[r]!r}, {time_col}={df[time_col].iloc[r]!r}: NaN in X marks "
            f"the padding after a sequence's end, so a missing value must be filled first, "
            f"e.g. df[cols] = df.groupby({id_col!r})[cols].ffill() (or interpolate()), or "
            f"its row dropped")
    return values
