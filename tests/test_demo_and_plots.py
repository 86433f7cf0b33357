"""`lstm-fast demo` end to end (quick mode), the README's copy of its
output, and the plots it draws."""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

from lstm_fast import LSTMRegressor, plot  # noqa: E402
from lstm_fast._inspect import GradientFlow  # noqa: E402

FILES = ("loss_curves.png", "lstm_gates.png", "gradient_flow.png")
README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
HAS_TORCH = importlib.util.find_spec("torch") is not None
TORCH_INSTALL = "pip install torch --index-url https://download.pytorch.org/whl/cpu"

# Run with an import of torch failing as on a machine without it (a finder
# that raises: a None in sys.modules would break scipy's checks), or with a
# broken install.
NO_TORCH = 'ModuleNotFoundError(f"No module named {name!r}", name=name)'
BROKEN_TORCH = 'OSError("libtorch_cpu.so: cannot open shared object file")'
RUN_WITHOUT_TORCH = """
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise {error}

sys.meta_path.insert(0, NoTorch())
from lstm_fast.__main__ import main
sys.exit(main())
"""


def demo(*args, cwd, torch_fails=None):
    command = ([sys.executable, "-c", RUN_WITHOUT_TORCH.format(error=torch_fails)]
               if torch_fails else [sys.executable, "-m", "lstm_fast"])
    return subprocess.run([*command, "demo", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def assert_real_picture(path):
    """A PNG that opens, of a sensible size, that is not a blank canvas."""
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    """One quick run in a fresh folder, default --out (as the README's)."""
    cwd = tmp_path_factory.mktemp("demo")
    proc = demo("--quick", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, proc


def test_demo_runs_and_writes_every_picture(quick_demo):
    cwd, proc = quick_demo
    for name in ("LSTM", "RNN", "test MSE", "NumPy reference"):
        assert name in proc.stdout
    for name in FILES:
        assert f"lstm-fast-demo/{name}" in proc.stdout
        assert_real_picture(cwd / "lstm-fast-demo" / name)
    assert "lstm-fast-demo/explain.html" in proc.stdout
    assert (cwd / "lstm-fast-demo" / "explain.html").stat().st_size


def timing_line(stdout, name):
    lines = [line for line in stdout.splitlines() if line.strip().startswith(name)]
    assert len(lines) == 1, stdout
    return lines[0]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_demo_times_the_same_step_in_torch(quick_demo):
    import torch

    line = timing_line(quick_demo[1].stdout, "PyTorch")
    match = re.search(r"PyTorch (\S+) +([\d.]+) ms +lstm_fast is ([\d.]+)x (faster|slower) "
                      r"\(same weights; gradients agree to ([\d.e+-]+)\)", line)
    assert match, line
    assert match[1] == torch.__version__
    fast = float(re.search(r"([\d.]+) ms", timing_line(quick_demo[1].stdout, "lstm_fast"))[1])
    ratio = float(match[2]) / fast
    shown = float(match[3]) if match[4] == "faster" else 1 / float(match[3])
    assert shown == pytest.approx(ratio, rel=0.1, abs=0.06)
    assert float(match[5]) < 1e-4  # the two libraries computed the same gradients


@pytest.mark.parametrize("torch_fails, says", [
    (NO_TORCH, ["not installed", TORCH_INSTALL, "docs/install.md"]),
    (BROKEN_TORCH, ["installed but fails to import: OSError: libtorch_cpu.so"]),
])
def test_demo_without_a_working_torch_says_so_and_goes_on(tmp_path, torch_fails, says):
    proc = demo("--quick", "--samples", "100", "--out", tmp_path / "out", cwd=tmp_path,
                torch_fails=torch_fails)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    line = timing_line(proc.stdout, "PyTorch")
    for text in says:
        assert text in line, line
    assert "NumPy reference" in proc.stdout and "gradient_flow.png" in proc.stdout


def shape_of(line):
    """A line with its numbers (and which of two timings wins) replaced and
    its spaces collapsed (columns widen with the numbers): what must match,
    not the timings."""
    line = re.sub(r"\d+(\.\d+)?(e[+-]?\d+)?", "#", line)
    return " ".join(re.sub(r"#x (faster|slower)", "#x faster/slower", line).split())


def readme_demo_block():
    text = README.read_text()
    section = text[text.index("lstm-fast demo"):]
    block = re.search(r"```\n(model .*?)```", section, re.S)
    assert block, "the README's demo section shows no output block"
    return block[1].splitlines()


def test_readme_shows_what_the_demo_prints(quick_demo):
    shown = [shape_of(line) for line in readme_demo_block()]
    printed = [shape_of(line) for line in quick_demo[1].stdout.splitlines()]
    printed = printed[printed.index(shown[0]):]
    if not HAS_TORCH:  # the README's run had torch; this one prints the hint instead
        keep = [not line.strip().startswith("PyTorch") for line in shown]
        shown = [line for line, k in zip(shown, keep) if k]
        printed = [line for line in printed if not line.strip().startswith("PyTorch")]
    assert printed == shown


def test_readme_quotes_the_demo_numbers_it_explains():
    block = "\n".join(readme_demo_block())
    mse = {m[1]: float(m[2]) for m in re.finditer(r"^(LSTM|RNN) +([\d.]+)", block, re.M)}
    assert mse["LSTM"] < 0.01 < 0.15 < mse["RNN"]  # the point of the demo


def test_quick_keeps_the_options_given(tmp_path):
    proc = demo("--quick", "--samples", "120", "--out", tmp_path / "out", cwd=tmp_path,
                torch_fails=NO_TORCH)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "120 sequences of 20 steps" in proc.stdout
    assert "Fitting the LSTM: LSTMRegressor(cell='lstm'), 32 units, 2 epochs" in proc.stdout
    assert "Fitting the RNN: LSTMRegressor(cell='rnn'), 32 units, 2 epochs" in proc.stdout


@pytest.mark.parametrize("out, message", [
    ("a_file/pictures", "cannot create the folder"),
    ("a_file", "is a file; expected a folder"),
])
def test_demo_refuses_an_out_folder_before_fitting(tmp_path, out, message):
    (tmp_path / "a_file").write_text("")
    proc = demo("--out", out, cwd=tmp_path)
    assert proc.returncode == 2 and "Fitting" not in proc.stdout, proc.stdout
    assert proc.stderr.count("\n") == 1 and "argument --out:" in proc.stderr, proc.stderr
    assert message in proc.stderr


@pytest.mark.parametrize("args, argument", [
    (["--hidden", "100000"], "argument --hidden: too large for this machine"),
    (["--samples", "2000000000"], "argument --samples/--steps: too large for this machine"),
])
def test_demo_says_which_option_is_too_large(tmp_path, args, argument):
    proc = demo("--quick", *args, "--out", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and argument in proc.stderr, proc.stderr


def test_demo_refuses_a_folder_it_cannot_write(tmp_path, monkeypatch, capsys):
    from lstm_fast.__main__ import main

    # As a user without write permission (root may write in any folder).
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert main(["demo", "--out", str(tmp_path / "locked")]) == 2
    err = capsys.readouterr().err
    assert "argument --out: cannot write in the folder" in err and "Fitting" not in err


def test_demo_help_explains_the_options(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lstm_fast", "demo", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--out" in proc.stdout and "adding problem" in proc.stdout
    assert "PyTorch" in proc.stdout and "default: 5000" in proc.stdout


# ------------------------------------------------------------------- plots


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


def test_plot_gates_draws_the_inputs_on_top(models):
    ests, X, _ = models
    fig = plot.plot_gates(ests["lstm"].inspect(X[:3]), sample=2, X=X[:3],
                          feature_names=["value", "marker"])
    top = [ax for ax in fig.axes if ax.images][0]
    assert top.get_title(loc="left") == "input x"
    assert [t.get_text() for t in top.get_yticklabels()] == ["value", "marker"]
    np.testing.assert_allclose(top.images[0].get_array(), X[2].T)  # sequence 2's inputs
    default = plot.plot_gates(ests["gru"].inspect(X[:1]), X=X[:1])
    assert [t.get_text() for t in default.axes[0].get_yticklabels()] == ["x[0]", "x[1]"]


@pytest.mark.parametrize("kwargs, message", [
    ({"X": np.zeros((1, 5, 2))}, "at least 12 steps"),
    ({"X": np.zeros((1, 12, 2)), "feature_names": ["a"]}, "1 names for 2 input features"),
    ({"X": np.zeros((0, 12, 2))}, "no sequence 0"),
])
def test_plot_gates_refuses_inputs_that_do_not_match(models, kwargs, message):
    ests, X, _ = models
    with pytest.raises(ValueError, match=message):
        plot.plot_gates(ests["lstm"].inspect(X[:1]), **kwargs)


def legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_plot_gradient_flow_puts_several_models_on_one_log_axis(models, tmp_path):
    ests, X, y = models
    flows = {name.upper(): est.gradient_flow(X, y) for name, est in ests.items()}
    fig = plot.plot_gradient_flow(flows, cell_state=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert len(legend(ax)) == 4  # three h curves, the LSTM's c
    # The last cell state acts only through h: zero by definition, left out, said so.
    assert "the last c_t acts only through h_t" in legend(ax)[1]
    assert len(ax.get_lines()[1].get_xdata()) == X.shape[1] - 1
    fig.savefig(tmp_path / "flow.png")
    assert_real_picture(tmp_path / "flow.png")


def test_plot_gradient_flow_draws_an_underflow_at_a_floor(tmp_path):
    h = np.array([0.0, 0.0, 1e-30, 1e-10, 1e-2])
    fig = plot.plot_gradient_flow({"RNN": GradientFlow([h], None, 0.1),
                                   "LSTM": GradientFlow([np.full(5, 1e-3)], None, 0.1)})
    ax = fig.axes[0]
    assert "exactly 0 (underflow): drawn at this floor" in legend(ax)
    floor = ax.get_lines()[-1].get_ydata()[0]
    assert 0 < floor < 1e-30
    crosses = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(crosses) == 1
    np.testing.assert_array_equal(crosses[0].get_ydata()[:2], [floor, floor])
    assert np.isnan(crosses[0].get_ydata()[2:]).all()
    fig.savefig(tmp_path / "flow.png")
    assert_real_picture(tmp_path / "flow.png")
    no_zero = plot.plot_gradient_flow({"LSTM": GradientFlow([np.full(5, 1e-3)], None, 0.1)})
    assert legend(no_zero.axes[0]) == ["LSTM: |dLoss/dh_t|"]


def test_plot_gradient_flow_shows_a_curve_of_one_step():
    """Two steps: the cell state's curve is one point, drawn as a dot."""
    flow = GradientFlow([np.array([2e-2, 4e-2])], [np.array([3e-2, 0.0])], 0.1)
    ax = plot.plot_gradient_flow({"LSTM": flow}, cell_state=True).axes[0]
    c_line = ax.get_lines()[1]
    assert list(c_line.get_ydata()) == [3e-2] and c_line.get_marker() == "."
    assert all(tick == int(tick) for tick in ax.get_xticks())


def test_plot_loss_curve_has_one_line_per_estimator(models):
    ests, _, _ = models
    fig = plot.plot_loss_curve(*ests.values())
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3
    assert ax.get_xlabel() == "epoch"
    # scikit-learn's squared_error loss is half the MSE (plus the L2 term): said so.
    assert ax.get_ylabel() == "training half the mean squared error + L2 penalty (log scale)"


def test_plot_loss_curve_as_mse_with_a_baseline():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((40, 6, 1)), rng.standard_normal(40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LSTMRegressor((4,), alpha=0.0, max_iter=3, random_state=0).fit(X, y)
    fig = plot.plot_loss_curve(est, mse=True, baseline=1.0, baseline_label="predict the mean")
    ax = fig.axes[0]
    curve, base = ax.get_lines()
    np.testing.assert_allclose(curve.get_ydata(), 2 * np.asarray(est.loss_curve_))
    assert base.get_ydata()[0] == 1.0 and "predict the mean" in legend(ax)
    assert ax.get_ylabel() == "training mean squared error (log scale)"
    with pytest.raises(ValueError, match="loss='absolute_error': use mse=False"):
        plot.plot_loss_curve(est.set_params(loss="absolute_error"), mse=True)
    with pytest.raises(ValueError, match="2 labels for 1 estimators"):
        plot.plot_loss_curve(est, labels=["a", "b"])
