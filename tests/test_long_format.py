"""lstm_fast.from_long_format: a table of (id, time) rows into NaN-padded sequences."""

import numpy as np
import pytest

import lstm_fast
from lstm_fast._sequences import as_sequences
from lstm_fast.datasets import from_long_format

pd = pytest.importorskip("pandas")


def shuffled_table():
    """Three sensors with 4, 2 and 3 readings, rows in random order."""
    rows = []
    for sensor, n in (("s2", 2), ("s10", 3), ("s1", 4)):
        for t in range(n):
            rows.append({"sensor": sensor, "temp": 10 * int(sensor[1:]) + t, "on": t % 2 == 0,
                         "when": pd.Timestamp("2024-01-01") + pd.Timedelta(hours=t)})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_rows_become_time_ordered_sequences_with_nan_padding():
    X, ids, lengths = from_long_format(shuffled_table(), "sensor", "when")
    np.testing.assert_array_equal(ids, ["s1", "s10", "s2"])  # sorted, as groupby does
    np.testing.assert_array_equal(lengths, [4, 3, 2])
    assert X.shape == (3, 4, 2) and X.dtype == np.float64
    np.testing.assert_array_equal(X[0, :, 0], [10, 11, 12, 13])
    np.testing.assert_array_equal(X[1, :3, 0], [100, 101, 102])
    np.testing.assert_array_equal(X[2, :2], [[20, 1], [21, 0]])  # the bool feature as 0/1
    assert np.isnan(X[1, 3:]).all() and np.isnan(X[2, 2:]).all()
    # The estimators read the padding back as these lengths.
    _, read = as_sequences(X, np.float64)
    np.testing.assert_array_equal(read, lengths)


def test_feature_columns_are_chosen_and_ordered():
    df = shuffled_table()
    X, _, _ = from_long_format(df, "sensor", "when", feature_cols=["on", "temp"],
                               dtype=np.float32)
    assert X.dtype == np.float32 and X.shape[2] == 2
    np.testing.assert_array_equal(X[0, :, 1], [10, 11, 12, 13])
    X, _, _ = from_long_format(df, "sensor", "when", feature_cols="temp")
    assert X.shape == (3, 4, 1)


def test_numeric_times_and_ids_and_tz_aware_times_sort():
    df = pd.DataFrame({"id": [2, 1, 2, 1], "t": [5.0, 0.5, -1.0, 0.25], "x": [1., 2., 3., 4.]})
    X, ids, _ = from_long_format(df, "id", "t")
    np.testing.assert_array_equal(ids, [1, 2])
    np.testing.assert_array_equal(X[:, :, 0], [[4, 2], [3, 1]])
    df["t"] = pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-01", "2024-01-03"]) \
        .tz_localize("Europe/Paris")
    X, _, _ = from_long_format(df, "id", "t")
    np.testing.assert_array_equal(X[:, :, 0], [[2, 4], [3, 1]])


def test_sequences_feed_an_estimator_and_are_exported_at_the_top():
    assert lstm_fast.from_long_format is from_long_format
    assert "from_long_format" in lstm_fast.__all__
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.repeat(np.arange(30), 6), "t": np.tile(np.arange(6), 30),
                       "x": rng.standard_normal(180)})
    df = df[~((df["id"] % 3 == 0) & (df["t"] > 3))]  # every 3rd id is shorter
    X, ids, lengths = from_long_format(df, "id", "t")
    np.testing.assert_array_equal(lengths, np.where(ids % 3 == 0, 4, 6))
    y = np.array([df.loc[df["id"] == i, "x"].sum() for i in ids])
    est = lstm_fast.LSTMRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with pytest.warns(Warning):  # 2 epochs: a ConvergenceWarning, on purpose
        est.fit(X, y)
    assert est.predict(X).shape == (30,)


@pytest.mark.parametrize("change, kwargs, match", [
    (lambda df: df, {"id_col": "station"}, "id_col='station' is not a column.*sensor"),
    (lambda df: df, {"time_col": "date"}, "time_col='date' is not a column"),
    (lambda df: df, {"feature_cols": ["temp", "pressure"]}, "\\['pressure'\\] are not columns"),
    (lambda df: df, {"feature_cols": []}, "feature_cols is empty"),
    (lambda df: df, {"feature_cols": ["temp", "when"]}, "the id or time column"),
    (lambda df: df.assign(kind="a"), {}, "\\['kind'\\] are not numeric.*get_dummies"),
    (lambda df: df[["sensor", "when"]], {}, "no column besides"),
    (lambda df: df.iloc[:0], {}, "no rows"),
    (lambda df: pd.concat([df, df.iloc[[3]]]), {}, "appears in more than one row.*groupby"),
    (lambda df: df.assign(temp=df["temp"].where(df.index != 4)), {},
     "'temp' is NaN or infinite at sensor=.*ffill"),
    (lambda df: df.assign(temp=df["temp"].where(df.index != 4, np.inf)), {}, "NaN or infinite"),
    (lambda df: df.assign(sensor=df["sensor"].where(df.index != 2)), {},
     "'sensor' is missing.*row 2"),
    (lambda df: df.assign(sensor=[1 if i % 2 else pd.Timestamp(0) for i in range(len(df))]),
     {}, "ids in 'sensor' are of types that do not sort.*astype\\(str\\)"),
    (lambda df: df.assign(when=[i if i % 2 else pd.Timestamp(0) for i in range(len(df))]),
     {}, "'when' do not sort together.*to_datetime"),
], ids=["id", "time", "feature", "no-feature", "clash", "text", "only-keys", "empty",
        "duplicate", "nan", "inf", "missing-id", "mixed-ids", "mixed-times"])
def test_bad_tables_are_refused_with_what_to_do(change, kwargs, match):
    args = {"id_col": "sensor", "time_col": "when", **kwargs}
    with pytest.raises(ValueError, match=match):
        from_long_format(change(shuffled_table()), **args)


def test_a_non_dataframe_is_refused():
    with pytest.raises(ValueError, match="pandas DataFrame"):
        from_long_format(np.zeros((3, 3)), "a", "b")
    with pytest.raises(ValueError, match="dtype"):
        from_long_format(shuffled_table(), "sensor", "when", dtype=np.int64)


def test_the_estimators_point_a_long_table_to_from_long_format():
    est = lstm_fast.LSTMRegressor(max_iter=1)
    with pytest.raises(ValueError, match="from_long_format\\(df, id_col, time_col\\)"):
        est.fit(shuffled_table()[["temp"]], np.zeros(9))
