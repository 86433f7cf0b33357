"""The reduced-precision benchmark's peers (torch, onnxruntime) agree with
lstm_fast's float32 output within each precision's tolerance, say why when
they cannot run, and the benchmark returns well-formed rows. No timing is
checked: the machine is shared."""

import importlib.util
import sys

import numpy as np
import pytest

from lstm_fast import get_num_threads
from lstm_fast._precision_benchmark import OURS, format_table, run_precision_benchmark
from lstm_fast._precision_peers import PEERS, layer_weights, make_layer, peer_runners

CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
#: Largest |Y - Y_lstm_fast_float32| each runner may show on a small shape.
TOLERANCE = {"lstm_fast int8": 5e-2, "lstm_fast bfloat16": 3e-2,
             "torch float32": 1e-5, "torch bfloat16": 3e-2, "torch qint8": 5e-2,
             "onnxruntime float32": 1e-5, "onnxruntime int8": 5e-2,
             "torch float32 train": 1e-5, "torch bfloat16 train": 3e-2}
#: The module each peer needs.
NEEDS = {name: "torch" if name.startswith("torch") else "onnxruntime" for name in PEERS}
INSTALLED = {module for module in ("torch", "onnxruntime", "onnx")
             if importlib.util.find_spec(module) is not None}


def _torch_threads():
    if "torch" not in INSTALLED:
        return None
    import torch

    return torch.get_num_threads()


@pytest.fixture(autouse=True)
def torch_threads():
    """Restore torch's process-wide thread count, which the runners set."""
    saved = _torch_threads()
    yield
    if saved is not None:
        sys.modules["torch"].set_num_threads(saved)


def _problem(cell, B=4, T=12, D=3, H=16):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((B, T, D)).astype(np.float32)
    dY = rng.standard_normal((B, T, H)).astype(np.float32)
    layer = make_layer(cell, D, H, random_state=0)
    return layer, X, dY


@pytest.mark.parametrize("cell", CELLS)
def test_peers_agree_with_our_float32(cell):
    if not INSTALLED & {"torch", "onnxruntime"}:
        pytest.skip("neither torch nor onnxruntime is installed")
    layer, X, dY = _problem(cell)
    reference = layer.forward(X)[0]
    runners, skipped = peer_runners(cell, layer_weights(layer), X, 1, dY)
    assert set(runners) | set(skipped) == set(PEERS) and not set(runners) & set(skipped)
    for name, run in runners.items():
        Y = run()
        assert Y.dtype == np.float32 and Y.shape == reference.shape, name
        assert np.abs(Y - reference).max() <= TOLERANCE[name], name
        np.testing.assert_array_equal(run(), Y, err_msg=f"{name}: a second call differs")
    # Every runner but the int8 ones is built for every cell where its
    # library is installed.
    for name, reason in skipped.items():
        assert name in ("torch qint8", "onnxruntime int8") \
            or reason.endswith("is not installed"), (name, reason)
    if INSTALLED >= {"torch", "onnxruntime", "onnx"}:
        assert runners.keys() >= set(PEERS) - {"torch qint8", "onnxruntime int8"}
        if cell == "lstm":
            assert not skipped, skipped


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu"])
def test_torch_has_no_quantized_rnn(cell):
    pytest.importorskip("torch")
    layer, X, _ = _problem(cell)
    _, skipped = peer_runners(cell, layer_weights(layer), X, 1)
    assert "quantize_dynamic" in skipped["torch qint8"] and "RNN" in skipped["torch qint8"]


@pytest.mark.parametrize("module", ["torch", "onnxruntime"])
def test_missing_library_skips_with_a_reason(module, monkeypatch):
    # None in sys.modules makes `import module` raise ImportError, as
    # where it is not installed.
    monkeypatch.setitem(sys.modules, module, None)
    layer, X, _ = _problem("lstm")
    runners, skipped = peer_runners("lstm", layer_weights(layer), X, 1)
    missing = {name for name in PEERS if NEEDS[name] == module}
    assert missing <= set(skipped) and not missing & set(runners)
    for name in missing:  # onnxruntime's runners check for onnx first
        assert skipped[name] in (f"{module} is not installed", "onnx is not installed")


def test_skip_reasons_are_one_line():
    layer, X, _ = _problem("rnn_relu")
    _, skipped = peer_runners("rnn_relu", layer_weights(layer), X, 1)
    assert skipped
    assert all(reason and "\n" not in reason for reason in skipped.values())


def test_unknown_cell_is_an_error():
    with pytest.raises(ValueError, match="cell must be one of"):
        peer_runners("lstm_peephole", {}, np.zeros((1, 1, 1), np.float32), 1)


def test_benchmark_rows():
    saved, torch_saved = get_num_threads(), _torch_threads()
    rows = run_precision_benchmark([(2, 5, 3, 4)], cells=("lstm", "rnn_relu"), threads=1,
                                   rounds=2, settle_s=0.0)
    assert (get_num_threads(), _torch_threads()) == (saved, torch_saved)
    names = [*OURS, *PEERS]
    assert [(r["cell"], r["runner"]) for r in rows] == \
        [(cell, name) for cell in ("lstm", "rnn_relu") for name in names]
    for r in rows:
        assert r["shape"] == "2,5,3,4" and r["dims"] == (2, 5, 3, 4) and r["threads"] == 1
        assert r["mode"] == ("train" if r["runner"].endswith(" train") else "forward")
        if r["skipped"] is None:
            assert 0 < r["median_ms"] <= r["p90_ms"]
            assert 0 <= r["max_abs_error"] <= TOLERANCE.get(r["runner"], 1e-5)
        else:
            assert r["median_ms"] is r["p90_ms"] is r["max_abs_error"] is None
    table = format_table(rows)
    assert len(table.splitlines()) == 2 + len(rows)
    assert all(name in table for name in names)
