"""lstm_fast.datasets: the adding problem, sine forecasting, sliding windows."""

import numpy as np
import pytest

from lstm_fast.datasets import make_adding_problem, make_sine_forecast, sliding_window


def test_adding_problem_marks_one_step_in_each_half_and_sums_them():
    X, y = make_adding_problem(500, 20, random_state=0)
    assert X.shape == (500, 20, 2) and y.shape == (500,)
    markers = X[:, :, 1]
    assert (markers.sum(axis=1) == 2).all()
    assert (markers[:, :10].sum(axis=1) == 1).all()
    np.testing.assert_allclose(y, (X[:, :, 0] * markers).sum(axis=1))
    # Always predicting 1 scores about 1/6: the baseline a model must beat.
    assert abs(np.mean((y - 1) ** 2) - 1 / 6) < 0.02


def test_adding_problem_is_reproducible_and_needs_two_steps():
    a, b = make_adding_problem(5, 4, random_state=3), make_adding_problem(5, 4, random_state=3)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="at least 2"):
        make_adding_problem(5, 1)


def test_sine_forecast_target_continues_the_wave():
    X, y = make_sine_forecast(50, 30, noise=0.0, random_state=0)
    assert X.shape == (50, 30, 1) and y.shape == (50,)
    assert np.abs(y).max() <= 1.5 and np.abs(np.diff(X[:, :, 0], axis=1)).max() < 1.0


def test_sliding_window_of_a_1d_series():
    X, y = sliding_window(np.arange(10.0), window=3, horizon=2)
    assert X.shape == (6, 3, 1) and y.shape == (6,)
    np.testing.assert_array_equal(X[0, :, 0], [0, 1, 2])
    assert y[0] == 4 and y[-1] == 9


def test_sliding_window_of_a_2d_series_keeps_the_features():
    series = np.arange(20.0).reshape(10, 2)
    X, y = sliding_window(series, window=4)
    assert X.shape == (6, 4, 2) and y.shape == (6, 2)
    np.testing.assert_array_equal(X[1], series[1:5])
    np.testing.assert_array_equal(y[1], series[5])


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 0}, "window"), ({"window": 3, "horizon": 0}, "horizon"),
    ({"window": 9, "horizon": 2}, "too short"),
])
def test_sliding_window_rejects_impossible_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sliding_window(np.arange(10.0), **kwargs)


# --- sliding_window: multi-step targets, stride, covariates, pandas ---------------------

def test_sliding_window_multi_step_targets_and_stride_by_hand():
    X, y = sliding_window(np.arange(10.0), window=3, horizon=range(1, 3), stride=2)
    np.testing.assert_array_equal(X[:, :, 0], [[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    np.testing.assert_array_equal(y, [[3, 4], [5, 6], [7, 8]])
    # Steps need not be contiguous: the 1st and the 3rd after the window.
    X, y = sliding_window(np.arange(10.0), window=3, horizon=[1, 3])
    assert X.shape == (5, 3, 1) and y.shape == (5, 2)
    np.testing.assert_array_equal(y[0], [3, 5])
    np.testing.assert_array_equal(y[-1], [7, 9])


def test_sliding_window_multi_step_of_several_targets_keeps_a_target_axis():
    series = np.arange(24.0).reshape(12, 2)
    X, y = sliding_window(series, window=4, horizon=range(1, 4), stride=3)
    # (12 - 4 - 3) // 3 + 1 = 2 windows, starting at steps 0 and 3
    assert X.shape == (2, 4, 2) and y.shape == (2, 3, 2)
    np.testing.assert_array_equal(X[1], series[3:7])
    np.testing.assert_array_equal(y[1], series[7:10])


@pytest.mark.parametrize("n_steps, window, reach, stride", [
    (10, 3, 1, 1), (10, 3, 2, 3), (11, 3, 2, 3), (50, 7, 7, 7), (8, 7, 1, 5),
])
def test_sliding_window_counts_windows_for_any_stride(n_steps, window, reach, stride):
    X, y, where = sliding_window(np.arange(float(n_steps)), window, range(1, reach + 1),
                                 stride=stride, return_index=True)
    assert len(X) == (n_steps - window - reach) // stride + 1
    np.testing.assert_array_equal(X[:, 0, 0], np.arange(len(X)) * stride)
    assert where[-1, -1] <= n_steps - 1  # the last target is inside the series
    np.testing.assert_array_equal(where, y)  # a NumPy series: index = positions


def test_sliding_window_past_and_future_covariates_by_hand():
    y_series = np.arange(8.0)
    past = 100 + np.arange(8.0)
    future = np.stack([200 + np.arange(8.0), 300 + np.arange(8.0)], axis=1)
    X, y = sliding_window(y_series, window=3, horizon=range(1, 3), past_covariates=past,
                          future_covariates=future)
    assert X.shape == (4, 5, 5) and y.shape == (4, 2)
    # window steps 1, 2, 3 then forecast steps 4, 5: series, past, 2 future, flag
    np.testing.assert_array_equal(X[1], [[1, 101, 201, 301, 0],
                                         [2, 102, 202, 302, 0],
                                         [3, 103, 203, 303, 0],
                                         [0, 0, 204, 304, 1],
                                         [0, 0, 205, 305, 1]])
    np.testing.assert_array_equal(y[1], [4, 5])
    # Past covariates only: no extra steps, one more feature.
    X, y = sliding_window(y_series, window=3, past_covariates=past)
    np.testing.assert_array_equal(X[0], [[0, 100], [1, 101], [2, 102]])
    assert y.shape == (5,) and y[0] == 3
    # An int horizon with future covariates: all the steps up to it are appended.
    X, y = sliding_window(y_series, window=3, horizon=2, future_covariates=future[:, 0])
    assert X.shape == (4, 5, 3) and y.shape == (4,) and y[0] == 4
    np.testing.assert_array_equal(X[0, :, 1], [200, 201, 202, 203, 204])


@pytest.mark.parametrize("horizon", [1, 3, range(1, 5), [2, 4]])
def test_sliding_window_never_puts_a_future_value_into_x(horizon):
    """Each value carries its step number: no series or past-covariate value
    in X[i] may come from a step at or after y[i]'s first step, and changing
    the series after a window's end leaves that window's X unchanged."""
    n, window = 40, 6
    steps = np.arange(float(n))
    series = np.stack([steps, -steps], axis=1)
    past = steps + 0.5
    future = steps + 0.25
    kw = dict(window=window, horizon=horizon, stride=2, past_covariates=past,
              future_covariates=future, return_index=True)
    X, y, where = sliding_window(series, **kw)
    observed = X[:, :window, :3]
    first_target = where if np.ndim(where) == 1 else where[:, 0]
    assert (observed[:, :, 0].max(axis=1) < first_target).all()
    assert (observed[:, :, 2].max(axis=1) < first_target).all()
    assert (X[:, window:, :3] == 0).all()  # unknown at the forecast steps
    for i in range(len(X)):
        end = 2 * i + window  # the first step after window i
        changed = series.copy()
        changed[end:] += 1000.0
        changed_past = past.copy()
        changed_past[end:] -= 1000.0
        X2, y2, _ = sliding_window(changed, **{**kw, "past_covariates": changed_past})
        np.testing.assert_array_equal(X2[i], X[i])
        assert not np.array_equal(y2[i], y[i])


def test_sliding_window_carries_a_pandas_date_index():
    pd = pytest.importorskip("pandas")
    days = pd.date_range("2024-03-01", periods=20, freq="D")
    sales = pd.Series(np.arange(20.0) * 2, index=days, name="sales")
    weather = pd.DataFrame({"temp": np.arange(20.0), "rain": np.ones(20)}, index=days)
    calendar = pd.DataFrame({"dow": days.day_of_week}, index=days)  # int64: numeric
    X, y, when = sliding_window(sales, window=5, horizon=range(1, 4), stride=2,
                                past_covariates=weather, future_covariates=calendar,
                                return_index=True)
    assert X.shape == (7, 8, 5) and y.shape == (7, 3) and when.shape == (7, 3)
    assert when.dtype.kind == "M"
    np.testing.assert_array_equal(when[0], days[5:8].to_numpy())
    np.testing.assert_array_equal(y[0], sales[days[5:8]].to_numpy())
    # The forecast of window i back on the date axis.
    back = pd.Series(y[3], index=when[3])
    np.testing.assert_array_equal(back.to_numpy(), sales.loc[back.index].to_numpy())
    np.testing.assert_array_equal(X[0, :, 3], days.day_of_week[:8])
    # A one-column DataFrame is 2-D, as a NumPy (n, 1) array is.
    X, y = sliding_window(sales.to_frame(), window=5)
    assert y.shape == (15, 1)


def test_sliding_window_keeps_float32_and_converts_integers():
    X, y = sliding_window(np.arange(10, dtype=np.float32), window=3, horizon=range(1, 3))
    assert X.dtype == y.dtype == np.float32
    X, y = sliding_window(np.arange(10), window=3)
    assert X.dtype == y.dtype == np.float64 and y[0] == 3.0


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 3, "horizon": []}, "empty"),
    ({"window": 3, "horizon": [2, 1]}, "increasing"),
    ({"window": 3, "horizon": [1, 1]}, "increasing"),
    ({"window": 3, "horizon": [0, 1]}, "horizon"),
    ({"window": 3, "horizon": 1.5}, "horizon"),
    ({"window": 3, "horizon": True}, "horizon"),
    ({"window": 3, "stride": 0}, "stride"),
    ({"window": 3, "horizon": range(1, 9)}, "at least window \\+ max\\(horizon\\) = 11"),
    ({"window": 3, "past_covariates": np.ones(9)}, "past_covariates has 9 steps"),
    ({"window": 3, "future_covariates": np.ones((10, 2, 2))}, "1-D or 2-D"),
    ({"window": 3, "future_covariates": np.array(["a"] * 10)}, "numbers"),
])
def test_sliding_window_rejects_bad_requests_with_a_hint(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sliding_window(np.arange(10.0), **kwargs)


def test_sliding_window_rejects_gaps_and_nan():
    series = np.arange(10.0)
    series[4] = np.nan
    with pytest.raises(ValueError, match="step 4.*interpolate"):
        sliding_window(series, window=3)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        sliding_window(np.ones((5, 2, 2)), window=2)


def test_sliding_window_rejects_pandas_input_it_cannot_window():
    pd = pytest.importorskip("pandas")
    days = pd.date_range("2024-01-01", periods=10, freq="D")
    s = pd.Series(np.arange(10.0), index=days)
    with pytest.raises(ValueError, match="increasing order.*sort_index"):
        sliding_window(s[::-1], window=3)
    with pytest.raises(ValueError, match="repeats labels"):
        sliding_window(pd.Series(np.arange(10.0), index=days[[0] * 2 + list(range(2, 10))]),
                       window=3)
    with pytest.raises(ValueError, match="no regular frequency.*asfreq"):
        sliding_window(s.drop(days[4]), window=3)
    with pytest.raises(ValueError, match="index differs.*reindex"):
        shifted = pd.Series(np.ones(10), index=days + pd.Timedelta(days=1))
        sliding_window(s, window=3, past_covariates=shifted)
    with pytest.raises(ValueError, match="non-numeric columns \\['kind'\\]"):
        sliding_window(s, window=3, future_covariates=pd.DataFrame({"kind": ["x"] * 10},
                                                                    index=days))
    with pytest.raises(ValueError, match="index Timestamp\\('2024-01-03"):
        sliding_window(s.where(s != 2.0), window=3)


def test_docstring_examples_of_sliding_window_and_from_long_format_run():
    pytest.importorskip("pandas")
    import doctest

    from lstm_fast import _long_format, _windows

    for module in (_windows, _long_format):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__
