"""`lstm-fast demo` end to end (quick mode), and the plots it draws."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

from lstm_fast import LSTMRegressor, plot  # noqa: E402

FILES = ("loss_curves.png", "lstm_gates.png", "gradient_flow.png")


def assert_real_picture(path):
    """A PNG that opens, of a sensible size, that is not a blank canvas."""
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05


def test_demo_runs_and_writes_every_picture(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "lstm_fast", "demo", "--quick",
                           "--out", str(out)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("LSTM", "RNN", "test MSE", "NumPy reference"):
        assert name in proc.stdout
    for name in FILES:
        assert str(out / name) in proc.stdout
        assert_real_picture(out / name)
    assert str(out / "explain.html") in proc.stdout and (out / "explain.html").stat().st_size


def test_demo_help_explains_the_options(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lstm_fast", "demo", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--out" in proc.stdout and "adding problem" in proc.stdout


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 12, 2))
    y = X[:, :, 0].sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {cell: LSTMRegressor((6,), cell=cell, max_iter=3, random_state=0).fit(X, y)
                for cell in ("lstm", "gru", "rnn")}, X, y


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_plot_gates_draws_one_panel_per_gate_and_state(models, cell, tmp_path):
    ests, X, _ = models
    fig = plot.plot_gates(ests[cell].inspect(X[:2]), sample=1)
    panels = {"lstm": 6, "gru": 4, "rnn": 1}[cell]
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == panels
    assert all(ax.get_xlabel() or ax.get_ylabel() for ax in images)
    fig.savefig(tmp_path / "gates.png")
    assert_real_picture(tmp_path / "gates.png")


def test_plot_gradient_flow_puts_several_models_on_one_log_axis(models, tmp_path):
    ests, X, y = models
    flows = {name.upper(): est.gradient_flow(X, y) for name, est in ests.items()}
    fig = plot.plot_gradient_flow(flows, cell_state=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert len(ax.get_legend().get_texts()) == 4  # three h curves, the LSTM's c
    fig.savefig(tmp_path / "flow.png")
    assert_real_picture(tmp_path / "flow.png")


def test_plot_loss_curve_has_one_line_per_estimator(models):
    ests, _, _ = models
    fig = plot.plot_loss_curve(*ests.values())
    assert len(fig.axes[0].get_lines()) == 3
    assert fig.axes[0].get_xlabel() == "epoch"
