"""`lstm-fast bench` and the comparison layers it times: the other
libraries' layers must compute what ours computes, or the ratios mean
nothing."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from lstm_fast import _compare, layers
from lstm_fast._benchmark import forward_flops, mode_flops

LAYERS = [(layers.LSTM, {}), (layers.GRU, {}), (layers.RNN, {}),
          (layers.RNN, {"nonlinearity": "relu"})]


def _ids(case):
    return case[0].__name__ + "".join(f"-{v}" for v in case[1].values())


@pytest.fixture
def X():
    return np.random.default_rng(0).standard_normal((5, 7, 3)).astype(np.float32)


@pytest.mark.parametrize("case", LAYERS, ids=_ids)
def test_onnx_graph_computes_the_layer(case, X):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    cls, kwargs = case
    layer = cls(3, 6, random_state=1, **kwargs)
    session = ort.InferenceSession(_compare.onnx_model(layer).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    (Y,) = session.run(None, {"X": np.ascontiguousarray(X.transpose(1, 0, 2))})
    np.testing.assert_allclose(Y[:, 0].transpose(1, 0, 2), layer.forward(X)[0],
                               rtol=1e-5, atol=1e-6)


def test_onnx_graph_declares_the_ir_version_of_its_opset():
    # Not the installed onnx's newest IR version: onnxruntime releases lag
    # onnx's, and refuse a model whose IR version is newer than they know.
    onnx = pytest.importorskip("onnx")
    model = _compare.onnx_model(layers.LSTM(3, 6, random_state=1))
    assert model.ir_version == 7
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 14)]
    onnx.checker.check_model(model)


@pytest.mark.parametrize("case", LAYERS, ids=_ids)
def test_keras_layer_computes_the_layer(case, X):
    pytest.importorskip("tensorflow")
    cls, kwargs = case
    layer = cls(3, 6, random_state=1, **kwargs)
    forward = _compare.keras_stepper(layer, "forward", X, X, 1)
    np.testing.assert_allclose(np.asarray(forward()), layer.forward(X)[0], rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("library", list(_compare.STEPPERS))
@pytest.mark.parametrize("mode", ["forward", "train"])
def test_steppers_run_or_say_they_cannot(library, mode, X):
    if not _compare.available(library):
        pytest.skip(f"{library} is not installed")
    layer = layers.LSTM(3, 6, random_state=1)
    step = _compare.STEPPERS[library](layer, mode, X, np.ones((5, 7, 6), np.float32), 1)
    if library == "onnxruntime" and mode == "train":
        assert step is None  # inference only
    else:
        step()


def test_bench_command_writes_table_json_and_chart(tmp_path):
    pytest.importorskip("matplotlib")
    out = subprocess.run(
        [sys.executable, "-m", "lstm_fast", "bench", "--shapes", "small", "--modes", "forward",
         "--cells", "lstm", "gru", "--repeat", "1", "--compare", "torch,nosuchlib",
         "--json", str(tmp_path / "b.json"), "--plot", str(tmp_path / "b.png")],
        capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and "unknown library 'nosuchlib'" in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "lstm_fast", "bench", "--shapes", "small", "--modes", "forward",
         "train", "--cells", "lstm", "gru", "--repeat", "1", "--dtypes",
         "--json", str(tmp_path / "b.json"), "--plot", str(tmp_path / "b.png")],
        capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "| lstm | small (32,50,8,64) | forward |" in out.stdout
    assert "float64 against float32" in out.stdout
    report = json.loads((tmp_path / "b.json").read_text())
    assert [(r["cell"], r["mode"]) for r in report["rows"]] == [
        ("lstm", "forward"), ("lstm", "train"), ("gru", "forward"), ("gru", "train")]
    assert all(r["fast_ms"] > 0 and r["reference_ms"] > 0 for r in report["rows"])
    for r in report["rows"]:
        flops = mode_flops(r["mode"], 32, 50, 8, 64, {"lstm": 4, "gru": 3}[r["cell"]])
        assert r["gflops"] == pytest.approx(flops / r["fast_ms"] / 1e6)
    assert report["numpy_sgemm_gflops"] > 0 and report["dtypes"][0]["ratio"] > 0
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_threads_times_each_count_against_one_thread(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lstm_fast", "bench", "--shapes", "small", "--modes", "forward",
         "--repeat", "1", "--no-reference", "--threads", "2", "3", "--json",
         str(tmp_path / "b.json")],
        capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    rows = report["threads"]
    assert [(r["shape"], r["mode"], r["threads"]) for r in rows] == [
        ("small", "forward", 2), ("small", "forward", 3)]
    # One one-thread measurement serves every count of a shape and mode.
    assert rows[0]["one_thread_ms"] == rows[1]["one_thread_ms"] > 0
    assert all(r["speedup"] == pytest.approx(r["one_thread_ms"] / r["threads_ms"]) for r in rows)


def test_bench_precision_times_int8_and_bfloat16_beside_the_peers(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lstm_fast", "bench", "--shapes", "small", "--modes", "forward",
         "--repeat", "1", "--no-reference", "--cells", "gru", "--precision", "--json",
         str(tmp_path / "b.json")],
        capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "reduced precision" in out.stdout and "| gru | small (32,50,8,64) |" in out.stdout
    rows = json.loads((tmp_path / "b.json").read_text())["precision"]
    ours = {r["runner"]: r for r in rows if r["runner"].startswith("lstm_fast")}
    assert set(ours) == {"lstm_fast float32", "lstm_fast int8", "lstm_fast bfloat16",
                         "lstm_fast float32 train"}
    assert ours["lstm_fast float32"]["max_abs_error"] == 0
    assert 0 < ours["lstm_fast int8"]["max_abs_error"] < 5e-2
    assert 0 < ours["lstm_fast bfloat16"]["max_abs_error"] < 3e-2
    # Peers that cannot quantize a GRU say so rather than vanish.
    assert all(r["median_ms"] is not None or r["skipped"] for r in rows)


@pytest.mark.parametrize("count", ["0", "-2", "two"])
def test_bench_threads_refuses_a_count_that_is_not_a_positive_integer(count, tmp_path):
    out = subprocess.run([sys.executable, "-m", "lstm_fast", "bench", "--threads", count],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and "--threads" in out.stderr, out.stderr


def test_bench_fit_with_dropout_times_each_library_with_and_without(tmp_path):
    # A smoke test of the table's content, not of its speed: 128 sequences,
    # one epoch, one round.
    out = subprocess.run(
        [sys.executable, "-m", "lstm_fast", "bench", "--shapes", "small", "--modes", "forward",
         "--repeat", "1", "--no-reference", "--compare", "torch", "--fit", "--dropout", "0.2",
         "--recurrent-dropout", "0.3", "--fit-samples", "128", "--fit-epochs", "1",
         "--fit-rounds", "1", "--fit-threads", "1", "--json", str(tmp_path / "b.json")],
        capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert ("fit (N=128, T=64, D=8, H=64, batch 64, Adam; 1 epochs timed, median of 1 "
            "alternating rounds, 1 threads)") in out.stdout
    rows = json.loads((tmp_path / "b.json").read_text())["fit_dropout"]
    by = {(r["implementation"].split()[0], r["dropout"]): r for r in rows}
    with_, without = by["lstm_fast", "0.2 / 0.3"], by["lstm_fast", "none"]
    assert with_["vs_lstm_fast"] == 1.0
    assert without["vs_lstm_fast"] == pytest.approx(
        without["s_per_epoch"] / with_["s_per_epoch"])
    # Same seed, same data: only the dropout masks tell the two fits apart.
    assert with_["train_mse"] != without["train_mse"]
    assert all(np.isfinite(r["train_mse"]) and r["s_per_epoch"] > 0 for r in rows)
    if _compare.available("torch"):
        # torch trains without dropout, and the table says so.
        torch_rows = [r for r in rows if r["implementation"].startswith("torch")]
        assert [r["dropout"] for r in torch_rows] == [
            "none (no dropout within one nn.LSTM layer)"]
        assert "torch.nn.LSTM's dropout acts only between stacked layers" in out.stdout


def test_fit_dropout_benchmark_runs_keras_with_and_without_dropout():
    pytest.importorskip("tensorflow")
    from lstm_fast._fit_benchmark import run_dropout

    rows = run_dropout(("keras",), 0.2, 0.2, epochs=1, n=64, rounds=1)
    assert [(r["implementation"].split()[0], r["dropout"]) for r in rows] == [
        ("lstm_fast", "0.2 / 0.2"), ("lstm_fast", "none"), ("keras", "0.2 / 0.2"),
        ("keras", "none")]


@pytest.mark.parametrize("argv, message", [
    (["--dropout", "0.2"], "--dropout: applies to the training table: add --fit"),
    (["--fit-epochs", "1"], "--fit-epochs: applies to the training table: add --fit"),
    (["--fit-threads", "1"], "--fit-threads: applies to the training table: add --fit"),
    (["--fit", "--dropout", "1"], "--dropout: must be a number in [0, 1), got '1'"),
    (["--fit", "--dropout", "x"], "--dropout: must be a number in [0, 1), got 'x'"),
    (["--fit", "--dropout", "0"], "--dropout: the rates are all 0"),
    (["--fit", "--fit-samples", "10"], "--fit-samples: must be at least the batch size 64"),
])
def test_bench_fit_refuses_bad_dropout_and_sizes(argv, message, tmp_path):
    out = subprocess.run([sys.executable, "-m", "lstm_fast", "bench", *argv],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr


@pytest.mark.parametrize("kwargs, message", [
    ({"dropout": 0.0, "recurrent_dropout": 0.0}, "both 0"),
    ({"dropout": 1.0}, "dropout must be in [0, 1)"),
    ({"n": 10}, "n must be at least the batch size 64"),
    ({"epochs": 0}, "epochs must be a positive integer"),
])
def test_run_dropout_refuses_bad_arguments(kwargs, message):
    from lstm_fast._fit_benchmark import run_dropout

    with pytest.raises(ValueError, match=re.escape(message)):
        run_dropout((), **kwargs)


def test_train_flops_add_the_backward_products_to_the_forward():
    B, T, D, H, G = 3, 4, 5, 6, 4
    forward = 2 * B * T * G * H * (D + H)  # x_t W_ih^T and h_{t-1} W_hh^T
    dh = 2 * B * T * G * H * H  # dZ_t W_hh, carried to step t - 1
    weights = 2 * B * T * G * H * (D + H)  # dZ^T [x, h_{t-1}]
    assert forward_flops(B, T, D, H, G) == mode_flops("forward", B, T, D, H, G) == forward
    assert mode_flops("train", B, T, D, H, G) == forward + dh + weights
