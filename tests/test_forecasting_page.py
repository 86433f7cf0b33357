"""docs/forecasting.md and the README's forecasting table tell the truth.

The page's ``python`` blocks run in order as one script and print exactly
the output shown after each (no model is trained in them). The results
table of examples/daily_forecast.py appears on the page and in the README;
both must be the same table, with the claim they make (the network beats
the seasonal-naive forecast). Under ``LSTM_FAST_TEST_PROFILE=long`` the
example runs at full size and must print that table: the baselines exactly
(they involve no training), the network to a tolerance (another CPU runs
other kernels, whose float32 rounding changes the epochs of training).
"""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC, README = ROOT / "docs" / "forecasting.md", ROOT / "README.md"
EXAMPLE = ROOT / "examples" / "daily_forecast.py"
ROW = re.compile(r"^\| (LSTMRegressor|naive|seasonal naive) \| ([\d.]+) \| ([\d.]+) \|$", re.M)


def read(path):
    if not path.exists():
        pytest.skip(f"{path} is not beside the tests (installed without the source tree)")
    return path.read_text(encoding="utf-8")


def results_table(text):
    rows = {name: (float(mae), float(rmse)) for name, mae, rmse in ROW.findall(text)}
    assert sorted(rows) == ["LSTMRegressor", "naive", "seasonal naive"], rows
    return rows


def test_the_forecasting_page_runs_and_prints_what_it_shows(tmp_path):
    pytest.importorskip("pandas")
    blocks = re.findall(r"```python\n(.*?)```\n```\n(.*?)```", read(DOC), flags=re.S)
    assert len(blocks) == 3, "docs/forecasting.md: each python block followed by its output"
    script = tmp_path / "forecasting_page.py"
    script.write_text("\n".join(code for code, _ in blocks), encoding="utf-8")
    # Run from tmp_path: the installed package, never the source tree's.
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "".join(out for _, out in blocks)


def test_the_readme_shows_the_pages_results_and_the_claim_holds():
    page, readme = results_table(read(DOC)), results_table(read(README))
    assert readme == page
    assert page["LSTMRegressor"][0] < page["seasonal naive"][0] < page["naive"][0]
    assert page["LSTMRegressor"][1] < page["seasonal naive"][1]


@pytest.mark.slow
def test_the_example_prints_the_table_of_the_page(long_run, tmp_path):
    if not long_run:
        pytest.skip("the full example (tens of seconds): LSTM_FAST_TEST_PROFILE=long; its "
                    "--quick mode runs in tests/test_examples.py")
    pytest.importorskip("pandas")
    shown = results_table(read(DOC))
    result = subprocess.run([sys.executable, str(EXAMPLE), "--plot", ""], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = results_table(result.stdout)
    for name in ("naive", "seasonal naive"):
        assert printed[name] == shown[name]
    for got, want in zip(printed["LSTMRegressor"], shown["LSTMRegressor"]):
        assert abs(got - want) <= 0.15 * want, (printed, shown)
    assert printed["LSTMRegressor"][0] < printed["seasonal naive"][0]
