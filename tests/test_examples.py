"""Every script in examples/ runs (in its --quick mode) and reports what it
promises."""

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
EXPECTED = {
    "forecast_series.py": ["MAE LSTM forecast", "MAE naive forecast"],
    "anomaly_detection.py": ["anomalies injected", "precision", "recall"],
    "char_language_model.py": ["next-character accuracy", "generated:", "Beautiful is "],
    "quantile_forecast.py": ["90% interval coverage", "mean width",
                             "levels never cross: True"],
    "daily_forecast.py": ["| LSTMRegressor |", "| naive |", "| seasonal naive |",
                          "MAE by days ahead, seasonal naive:", "plot: daily_forecast.png"],
    "quantized_inference.py": ["classifier: which period", "forecaster: tomorrow's value",
                               "| float32 |", "| int8 |", "| bfloat16 |"],
    "dropout_overfitting.py": ["no dropout:", "dropout 0.3:", "validation MSE",
                               "dropout changes the final validation MSE by",
                               "plot: dropout_overfitting.png"],
}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_in_quick_mode(script, tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--quick"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for text in EXPECTED[script]:
        assert text in proc.stdout, (text, proc.stdout)


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)
