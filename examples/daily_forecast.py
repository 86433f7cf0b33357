"""Forecast daily demand 7 days ahead from its past, the temperature and the
calendar, and compare with the naive and seasonal-naive forecasts.

    python examples/daily_forecast.py [--quick] [--plot PATH]

The series is synthetic but shaped like real demand (electricity, a shop's
sales): a trend, a weekly pattern, more demand in hot and cold weather,
holidays that look like Sundays, and noise that lingers for days. The
temperature is known only up to the forecast day (a past covariate); the
day of the week and the holidays are known for the days ahead too (future
covariates). `sliding_window` turns the dated pandas tables into one
example per day: 28 days of history, the 7 calendar days ahead, and the
next 7 days' demand as targets, each with its date. The model is an
LSTMRegressor with a GRU cell, which beats the LSTM cell on these three
training years (`--cell lstm` to see it; docs/forecasting.md has both).
"""

import argparse
import warnings

import numpy as np
import pandas as pd

from lstm_fast import LSTMRegressor
from lstm_fast.datasets import sliding_window

WINDOW, HORIZON = 28, 7
MODEL = "LSTMRegressor"  # the row of the results table
HOLIDAYS = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]


def make_data(n_days, seed=0):
    """A DataFrame indexed by date: demand, temperature, holiday (0/1)."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2021-01-01", periods=n_days, freq="D")
    t = np.arange(n_days)
    weather = np.zeros(n_days)
    for i in range(1, n_days):
        weather[i] = 0.8 * weather[i - 1] + rng.normal(0, 1.8)
    temp = 12 + 10 * np.sin(2 * np.pi * (days.day_of_year.to_numpy() - 110) / 365.25) + weather
    holiday = np.array([(d.month, d.day) in HOLIDAYS for d in days], dtype=float)
    weekly = np.array([1.0, 1.02, 1.03, 1.05, 1.1, 0.8, 0.62])[days.day_of_week]
    weekly = np.where(holiday == 1, 0.62, weekly)  # a holiday is a Sunday
    noise = np.zeros(n_days)
    for i in range(1, n_days):
        noise[i] = 0.6 * noise[i - 1] + rng.normal(0, 0.03)
    base = 200 + 0.03 * t + 4 * np.maximum(temp - 18, 0) + 2.5 * np.maximum(8 - temp, 0)
    demand = base * weekly * (1 + noise)
    return pd.DataFrame({"demand": demand, "temperature": temp, "holiday": holiday},
                        index=pd.Index(days, name="date"))


def calendar(index, holiday):
    """Known in advance: the day of the week (one column per day) and holidays."""
    dow = pd.get_dummies(index.day_of_week, prefix="dow").astype(float)
    dow.index = index
    return dow.assign(holiday=holiday)


def windows(df, mean, std):
    """(X, y, target dates) from a dated table, scaled with the training statistics."""
    scaled = (df[["demand", "temperature"]] - mean) / std
    return sliding_window(scaled["demand"], WINDOW, horizon=range(1, HORIZON + 1),
                          past_covariates=scaled["temperature"],
                          future_covariates=calendar(df.index, df["holiday"]),
                          return_index=True)


def baselines(df, dates):
    """Naive (the last observed value, for every day ahead) and seasonal naive
    (the value 7 days before each target) for targets at `dates` (n, 7)."""
    demand = df["demand"]
    origin = dates[:, :1] - np.timedelta64(1, "D")
    naive = demand.loc[origin.ravel()].to_numpy()[:, None].repeat(HORIZON, axis=1)
    seasonal = demand.loc[(dates - np.timedelta64(7, "D")).ravel()].to_numpy()
    return naive, seasonal.reshape(dates.shape)


def errors(forecast, truth):
    return np.mean(np.abs(forecast - truth)), np.sqrt(np.mean((forecast - truth) ** 2))


def plot(df, dates, forecasts, per_step, path, cell):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7.5),
                                      gridspec_kw={"height_ratios": [3, 2]})
    labels = {MODEL: f"{MODEL} ({cell.upper()} cell)", "naive": "naive",
              "seasonal naive": "seasonal naive"}
    styles = {MODEL: ("tab:blue", "-", 2.0), "naive": ("0.55", ":", 1.4),
              "seasonal naive": ("tab:orange", "--", 1.4)}
    for day in df.index[df.index.day_of_week >= 5]:  # weekends, where demand dips
        top.axvspan(day - pd.Timedelta(hours=12), day + pd.Timedelta(hours=12),
                    color="0.93", lw=0, zorder=0)
    top.plot(df.index, df["demand"], color="black", lw=1.2, marker=".", ms=4,
             label="observed demand")
    # One forecast every 7th day, each a separate line over its 7 days:
    # together they tile the period without overlapping.
    for name, values in forecasts.items():
        color, ls, lw = styles[name]
        for k, (when, pred) in enumerate(zip(dates, values)):
            top.plot(when, pred, color=color, ls=ls, lw=lw,
                     label=f"{labels[name]} forecast" if k == 0 else None)
    for when in dates[:, 0]:
        top.axvline(when - np.timedelta64(12, "h"), color="0.6", lw=0.8, ls="-", zorder=1)
    holidays = df.index[df["holiday"] == 1]
    top.plot(holidays, df.loc[holidays, "demand"] - 8, "^", color="tab:red", ms=8,
             label="holiday (known ahead)")
    top.set_xlim(df.index[0] - pd.Timedelta(days=1), df.index[-1] + pd.Timedelta(days=1))
    low, high = df["demand"].min(), df["demand"].max()
    top.set_ylim(low - 0.1 * (high - low), high + 0.3 * (high - low))  # room for the legend
    top.set_ylabel("demand")
    years = sorted({df.index[0].year, df.index[-1].year})
    top.set_xlabel("date (" + " to ".join(map(str, years)) + ")")
    top.set_title("7-day-ahead forecasts on held-out days: one made every 7 days "
                  "(vertical lines), weekends shaded", fontsize=11)
    top.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
    top.xaxis.set_major_formatter(mdates.DateFormatter("Mon\n%d %b"))
    top.legend(loc="upper center", fontsize=8, ncol=5, framealpha=0.95)
    steps = np.arange(1, HORIZON + 1)
    for name in (MODEL, "seasonal naive"):
        color, ls, _ = styles[name]
        bottom.plot(steps, per_step[name], color=color, ls=ls, marker="o", label=labels[name])
    bottom.set_xlabel("days ahead")
    bottom.set_ylabel("MAE, all test days")
    bottom.set_xticks(steps)
    bottom.set_ylim(0, 1.25 * max(per_step["seasonal naive"].max(), per_step[MODEL].max()))
    naive = per_step["naive"]
    bottom.set_title(f"Error by forecast step (naive forecast, off the scale: MAE "
                     f"{naive.min():.0f} to {naive.max():.0f})", fontsize=10)
    bottom.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(quick=False, plot_path="daily_forecast.png", cell="gru"):
    df = make_data(400 if quick else 4 * 365)
    split = df.index[int(0.75 * len(df))]  # train on the first 3 years, test on the last
    train = df[df.index < split]
    mean = train[["demand", "temperature"]].mean()  # scale on the training period only
    std = train[["demand", "temperature"]].std()
    X, y, dates = windows(df, mean, std)
    # Each example belongs to the period of all its targets: training, the
    # last 13 weeks of the training years for early stopping, or the test
    # year. (An input window may start in an earlier period: at forecast
    # time the past is known.)
    val_start = split - pd.Timedelta(weeks=13)
    is_fit = dates[:, -1] < val_start
    is_val = (dates[:, 0] >= val_start) & (dates[:, -1] < split)
    is_test = dates[:, 0] >= split
    est = LSTMRegressor(hidden_layer_sizes=(48,), cell=cell, learning_rate_init=3e-3,
                        batch_size=64, max_iter=2 if quick else 80, early_stopping=True,
                        n_iter_no_change=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter may be reached in quick mode
        est.fit(X[is_fit], y[is_fit], X_val=X[is_val], y_val=y[is_val])
    forecast = est.predict(X[is_test]) * std["demand"] + mean["demand"]
    truth = y[is_test] * std["demand"] + mean["demand"]
    naive, seasonal = baselines(df, dates[is_test])
    forecasts = {MODEL: forecast, "naive": naive, "seasonal naive": seasonal}
    print(f"LSTMRegressor(cell={cell!r}): X {X.shape} = (days, {WINDOW} past + {HORIZON} "
          f"ahead, features), y {y.shape}")
    print(f"trained on {is_fit.sum()} forecast days from {train.index[0]:%Y-%m-%d}, "
          f"validated on {is_val.sum()} up to {train.index[-1]:%Y-%m-%d}: "
          f"{est.n_iter_} epochs")
    print(f"test: {is_test.sum()} forecast days from "
          f"{pd.Timestamp(dates[is_test][0, 0]):%Y-%m-%d}, each of the next {HORIZON} days")
    print()
    print("| forecast | MAE | RMSE |")
    print("|---|---:|---:|")
    for name, values in forecasts.items():
        mae, rmse = errors(values, truth)
        print(f"| {name} | {mae:.2f} | {rmse:.2f} |")
    print()
    per_step = {name: np.mean(np.abs(v - truth), axis=0) for name, v in forecasts.items()}
    for name, mae in per_step.items():
        print(f"MAE by days ahead, {name}: " + " ".join(f"{m:.1f}" for m in mae))
    mae = {name: errors(v, truth)[0] for name, v in forecasts.items()}
    change = 1 - mae[MODEL] / mae["seasonal naive"]
    print(f"{MODEL} vs seasonal naive: MAE {100 * abs(change):.1f}% "
          f"{'lower' if change >= 0 else 'higher'}")
    if plot_path:
        try:
            # The forecasts made every 7th day of the last 8 weeks, with the
            # two weeks before them.
            rows = np.arange(is_test.sum())[::-1][::HORIZON][:8][::-1]
            test_dates = dates[is_test]
            shown = df.loc[test_dates[rows[0], 0] - np.timedelta64(14, "D"):
                           test_dates[rows[-1], -1]]
            plot(shown, test_dates[rows], {name: v[rows] for name, v in forecasts.items()},
                 per_step, plot_path, cell)
            print(f"plot: {plot_path}")
        except ImportError:
            print("plot: skipped (pip install matplotlib)")
    return mae


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, a few epochs")
    parser.add_argument("--plot", default="daily_forecast.png",
                        help="where to save the plot ('' for none)")
    parser.add_argument("--cell", default="gru", choices=["gru", "lstm", "rnn"],
                        help="the recurrent cell (docs/forecasting.md compares them)")
    args = parser.parse_args()
    main(args.quick, args.plot, args.cell)
