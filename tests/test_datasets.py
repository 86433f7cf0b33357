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
