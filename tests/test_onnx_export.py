"""ONNX export (est.to_onnx, layer.to_onnx): ONNX Runtime gives what predict gives.

Every exported graph is run by onnxruntime on a NaN-padded batch of mixed
lengths (one sequence of the full length, one of a single step) and
compared with predict / predict_proba / forward on the same array: every
cell, stacked and bidirectional layers, output="last" and "sequence",
multi-output regression, each regression loss's output, the classifier's
labels (of several types) and probabilities. Agreement is normwise,
``max|onnx - predict| / max|predict| <= 1e-5`` (two float32 implementations
of the same arithmetic in different orders; NaN where predict has NaN).

onnxruntime runs LSTM, GRU and RNN nodes in float32 only (its CPU kernels
refuse double): the float64 graphs are checked with onnx's checker, and the
test expects onnxruntime's refusal; should a release add the kernels, the
same test compares the outputs to 1e-12 instead.

Also: the file (its opset, the full check, every supported opset run),
a fresh process without lstm-fast, onnxruntime's int8 quantization of the
graph, the errors for bad input, and the README's and docs/deploying.md's
code as written.

onnx and onnxruntime are in the test extra; without them the tests skip
(but the one that checks the ImportError to_onnx raises without onnx).
"""

import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from _helpers import EXAMPLE_BLOCK, read_doc, run_and_compare
from lstm_fast import LSTMClassifier, LSTMRegressor, layers

RTOL = 1e-5
N, T, D = 24, 9, 3


def _onnx():
    return pytest.importorskip("onnx")


def _ort():
    _onnx()
    return pytest.importorskip("onnxruntime")


def mixed_batch(dtype=np.float32, n=N, steps=T, features=D, seed=0, longest=None):
    """A NaN-padded batch: random lengths in [1, longest], one sequence of
    each extreme (the longest is `steps` unless given)."""
    rng = np.random.default_rng(seed)
    longest = steps if longest is None else longest
    X = rng.standard_normal((n, steps, features)).astype(dtype)
    lengths = rng.integers(1, longest + 1, n)
    lengths[0], lengths[1] = longest, 1
    for i, length in enumerate(lengths):
        X[i, length:] = np.nan
    return X, lengths


def run(model, X):
    """The graph checked (full check) and run by onnxruntime on X."""
    onnx, ort = _onnx(), _ort()
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})


def assert_close(got, want, rtol=RTOL):
    """Normwise agreement, NaN at the same places."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    real = ~np.isnan(want)
    scale = np.max(np.abs(want[real]))
    error = np.max(np.abs(got[real] - want[real])) / scale
    assert error <= rtol, f"normwise error {error:.3g} > {rtol}"


def fit(cls, X, y, **params):
    clean = np.nan_to_num(X, nan=0.0)  # fit on full-length sequences: quick
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(max_iter=2, random_state=0, **params).fit(clean, y)


def targets(X, output, n_outputs=None, positive=False):
    clean = np.nan_to_num(X, nan=0.0)
    y = np.cumsum(clean[:, :, 0], axis=1) if output == "sequence" else clean.sum(axis=(1, 2))
    if n_outputs:
        y = np.stack([y * (k + 1) for k in range(n_outputs)], axis=-1)
    return np.abs(y) + 0.1 if positive else y


def op_types(model):
    return [node.op_type for node in model.graph.node]


# ------------------------------------------------------------------ regressor


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("hidden", [(6,), (5, 4)])
def test_regressor_graph_predicts_what_predict_does(cell, bidirectional, output, hidden):
    X, _ = mixed_batch()
    est = fit(LSTMRegressor, X, targets(X, output), hidden_layer_sizes=hidden, cell=cell,
              bidirectional=bidirectional, output=output)
    model = est.to_onnx()
    kind = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[cell]
    assert op_types(model).count(kind) == len(hidden)  # one ONNX node per layer
    nodes = [n for n in model.graph.node if n.op_type == kind]
    direction = {a.name: a.s for a in nodes[0].attribute}["direction"]
    assert direction == (b"bidirectional" if bidirectional else b"forward")
    assert {"sequence_lens"} <= {i for n in nodes for i in n.input}
    (got,) = run(model, X)
    want = est.predict(X)
    assert_close(got, want)
    if output == "sequence":
        assert np.isnan(got[1, 1:]).all() and not np.isnan(got[0]).any()


@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("loss,quantile,n_outputs", [
    ("squared_error", None, 3),
    ("absolute_error", None, None),
    ("huber", None, 2),
    ("poisson", None, None),
    ("poisson", None, 2),
    ("quantile", 0.3, None),
    ("quantile", [0.1, 0.5, 0.9], None),
    ("quantile", [0.05, 0.95], 2),
])
def test_every_loss_exports_its_predictions(loss, quantile, n_outputs, output):
    X, _ = mixed_batch(seed=1)
    est = fit(LSTMRegressor, X, targets(X, output, n_outputs, positive=True),
              hidden_layer_sizes=(6,), output=output, loss=loss, quantile=quantile)
    # Larger head weights than two epochs give: the exp and softplus of the
    # outputs then work far from zero too (large increments, saturation).
    est.network_.coef *= 4
    (got,) = run(est.to_onnx(), X)
    want = est.predict(X)
    assert got.shape == want.shape
    assert_close(got, want)
    if loss == "poisson":
        assert "Exp" in op_types(est.to_onnx()) and (got[~np.isnan(got)] > 0).all()
    if isinstance(quantile, list):
        assert (np.diff(got, axis=-1)[~np.isnan(got[..., 1:])] >= 0).all()


def test_quantile_head_is_exact_for_large_raw_outputs():
    # softplus of a large raw output is the output itself (no overflow to inf).
    X, _ = mixed_batch(seed=2)
    est = fit(LSTMRegressor, X, targets(X, "last"), hidden_layer_sizes=(4,),
              loss="quantile", quantile=[0.1, 0.9])
    est.network_.intercept[:] = [0.0, 200.0]
    (got,) = run(est.to_onnx(), X)
    assert np.isfinite(got).all()
    assert_close(got, est.predict(X))


# ----------------------------------------------------------------- classifier


@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog", "emu"]),
    np.array([3, 7]),
    np.array([-1.0, 0.0, 2.0, 9.0]),
    np.array([False, True]),
    np.array(["x", "yy"], dtype=object),
])
@pytest.mark.parametrize("cell,bidirectional", [("lstm", False), ("gru", True)])
def test_classifier_graph_gives_labels_and_probabilities(labels, output, cell,
                                                         bidirectional):
    X, _ = mixed_batch(seed=3)
    rng = np.random.default_rng(0)
    y = labels[rng.integers(0, len(labels), (N, T) if output == "sequence" else N)]
    est = fit(LSTMClassifier, X, y, hidden_layer_sizes=(6, 5), cell=cell,
              bidirectional=bidirectional, output=output)
    model = est.to_onnx()
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    label, proba = run(model, X)
    assert_close(proba, est.predict_proba(X))
    np.testing.assert_array_equal(label, est.predict(X))


def test_classifier_sequence_steps_past_the_longest_sequence():
    # A batch whose sequences all end before its last step: predict_proba
    # gives those steps a uniform distribution, the graph too.
    X, _ = mixed_batch(seed=4, longest=T - 3)
    y = np.random.default_rng(1).integers(0, 3, (N, T))
    est = fit(LSTMClassifier, X, y, hidden_layer_sizes=(5,), output="sequence")
    label, proba = run(est.to_onnx(), X)
    want = est.predict_proba(X)
    np.testing.assert_allclose(want[:, -3:], 1 / 3)
    assert_close(proba, want)
    np.testing.assert_array_equal(label, est.predict(X))


# ------------------------------------------------------- lengths and shapes


def test_one_graph_runs_any_batch_and_length():
    onnx, ort = _onnx(), _ort()
    X, _ = mixed_batch()
    est = fit(LSTMRegressor, X, targets(X, "sequence"), hidden_layer_sizes=(5,),
              output="sequence", bidirectional=True)
    model = est.to_onnx()
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", "T", D]
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    for n, steps in [(1, 1), (1, 30), (7, 4), (50, 17)]:
        Xb, _ = mixed_batch(n=max(n, 2), steps=steps, seed=n + steps)
        Xb = Xb[:n]
        (got,) = session.run(None, {"X": Xb})
        assert_close(got, est.predict(Xb))
    # No padding at all: the lengths are T.
    Xf = np.random.default_rng(5).standard_normal((6, 11, D)).astype(np.float32)
    assert_close(session.run(None, {"X": Xf})[0], est.predict(Xf))


def test_last_output_reads_each_sequences_own_last_step():
    # The same sequence alone and padded with NaN steps in a batch: one answer.
    X, lengths = mixed_batch(seed=6)
    est = fit(LSTMRegressor, X, targets(X, "last"), hidden_layer_sizes=(5,),
              bidirectional=True)
    (got,) = run(est.to_onnx(), X)
    for i in (1, 2, 3):
        (alone,) = run(est.to_onnx(), np.ascontiguousarray(X[i:i + 1, :lengths[i]]))
        np.testing.assert_allclose(alone[0], got[i], rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------- layers


@pytest.mark.parametrize("make", [
    lambda bi: layers.LSTM(D, 5, random_state=0, bidirectional=bi),
    lambda bi: layers.GRU(D, 5, random_state=0, bidirectional=bi),
    lambda bi: layers.RNN(D, 5, random_state=0, bidirectional=bi),
    lambda bi: layers.RNN(D, 5, nonlinearity="relu", random_state=0, bidirectional=bi),
], ids=["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layer_graph_computes_forward(make, bidirectional):
    layer = make(bidirectional)
    X, lengths = mixed_batch(seed=7)
    got = run(layer.to_onnx(), X)
    Y, state = layer.forward(np.nan_to_num(X, nan=0.0), lengths=lengths)
    states = state if isinstance(state, tuple) else (state,)
    assert len(got) == 1 + len(states)
    for g, w in zip(got, (Y,) + states):
        assert_close(g, w)
    assert (got[0][1, 1:] == 0).all()  # zero at padded steps, as forward


# ------------------------------------------------------------- the model file


def test_model_states_its_opset_and_passes_the_full_check():
    onnx = _onnx()
    X, _ = mixed_batch()
    est = fit(LSTMRegressor, X, targets(X, "last"), hidden_layer_sizes=(4,))
    model = est.to_onnx()
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 14)]
    assert model.ir_version == 7  # the oldest IR version that carries opset 14
    assert model.producer_name == "lstm-fast"
    onnx.checker.check_model(model, full_check=True)


@pytest.mark.parametrize("opset", [14, 17, 18, 21, "newest"])
def test_every_supported_opset_runs(opset):
    onnx, ort = _onnx(), _ort()
    opset = onnx.defs.onnx_opset_version() if opset == "newest" else opset
    X, _ = mixed_batch()
    y = np.random.default_rng(0).integers(0, 3, (N, T))
    est = fit(LSTMClassifier, X, y, hidden_layer_sizes=(4,), output="sequence",
              bidirectional=True)
    model = est.to_onnx(opset=opset)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    onnx.checker.check_model(model, full_check=True)
    try:
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # an onnx newer than the onnxruntime
        if re.search(r"opset|IR version", str(exc), re.I):
            pytest.skip(f"onnxruntime {ort.__version__} cannot run opset {opset}: {exc}")
        raise
    label, proba = session.run(None, {"X": X})
    assert_close(proba, est.predict_proba(X))
    np.testing.assert_array_equal(label, est.predict(X))


def test_to_onnx_writes_the_file(tmp_path):
    onnx = _onnx()
    X, _ = mixed_batch()
    est = fit(LSTMRegressor, X, targets(X, "last"), hidden_layer_sizes=(4,))
    model = est.to_onnx(tmp_path / "model.onnx")
    assert onnx.load(str(tmp_path / "model.onnx")) == model
    layer_model = layers.GRU(D, 3, random_state=0).to_onnx(str(tmp_path / "gru.onnx"))
    assert onnx.load(str(tmp_path / "gru.onnx")) == layer_model


_FRESH = textwrap.dedent("""
    import sys
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    X = np.load(sys.argv[2])
    outputs = session.run(None, {"X": X})
    np.savez(sys.argv[3], *outputs)
    leaked = [m for m, module in sys.modules.items() if module is not None
              and m.split(".")[0] in ("lstm_fast", "sklearn", "onnx")]
    assert not leaked, leaked
""")


@pytest.mark.parametrize("cls", [LSTMRegressor, LSTMClassifier])
def test_saved_model_exported_runs_in_a_fresh_process_without_lstm_fast(cls, tmp_path):
    _ort()
    X, _ = mixed_batch(seed=8)
    if cls is LSTMRegressor:
        y = targets(X, "sequence", 2)
    else:
        y = np.array(["lo", "mid", "hi"])[np.random.default_rng(2).integers(0, 3, (N, T))]
    est = fit(cls, X, y, hidden_layer_sizes=(6, 4), output="sequence", bidirectional=True)
    # The model saved and loaded back (no pickle), then exported.
    loaded = cls.load(est.save(tmp_path / "model"))
    loaded.to_onnx(tmp_path / "model.onnx")
    np.save(tmp_path / "X.npy", X)
    script = tmp_path / "fresh.py"
    script.write_text(_FRESH, encoding="utf-8")
    # -I: no user site, no current directory on sys.path; lstm_fast blocked
    # outright, so that a stray import would fail rather than pass.
    proc = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.modules['lstm_fast'] = None; sys.argv = sys.argv[1:]; "
         "exec(open(sys.argv[0]).read())", str(script), str(tmp_path / "model.onnx"),
         str(tmp_path / "X.npy"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = np.load(tmp_path / "out.npz", allow_pickle=True)
    if cls is LSTMRegressor:
        assert_close(outputs["arr_0"], est.predict(X))
    else:
        np.testing.assert_array_equal(outputs["arr_0"], est.predict(X))
        assert_close(outputs["arr_1"], est.predict_proba(X))


# ---------------------------------------------------------------------- int8


@pytest.mark.parametrize("output", ["last", "sequence"])
def test_int8_quantized_graph_runs_near_the_float_one(output, tmp_path):
    # onnxruntime's dynamic quantization turns the LSTM nodes into its
    # DynamicQuantizeLSTM (int8 weights) and the MatMuls into integer ones;
    # the lengths and the padding must survive it exactly. reduce_range:
    # 7-bit weights, which x86 CPUs without VNNI need (docs/deploying.md).
    _ort()
    quantization = pytest.importorskip("onnxruntime.quantization")
    import onnx
    import onnxruntime as ort

    X, _ = mixed_batch(seed=9, n=64)
    est = fit(LSTMRegressor, X, targets(X, output, 2), hidden_layer_sizes=(16, 8),
              bidirectional=True, output=output)
    est.to_onnx(tmp_path / "model.onnx")
    quantization.quantize_dynamic(str(tmp_path / "model.onnx"), str(tmp_path / "int8.onnx"),
                                  reduce_range=True)
    kinds = op_types(onnx.load(str(tmp_path / "int8.onnx")))
    assert kinds.count("DynamicQuantizeLSTM") == 2 and "LSTM" not in kinds
    session = ort.InferenceSession(str(tmp_path / "int8.onnx"),
                                   providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"X": X})
    want = est.predict(X)
    assert_close(got, want, rtol=0.1)  # int8 weights: errors of a few percent


# ------------------------------------------------------------------- float64


@pytest.mark.parametrize("cls", [LSTMRegressor, LSTMClassifier])
def test_float64_graph_is_valid_and_onnxruntime_refusal_is_stated(cls):
    onnx, ort = _onnx(), _ort()
    X, _ = mixed_batch(dtype=np.float64)
    y = targets(X, "last") if cls is LSTMRegressor else (targets(X, "last") > 0)
    est = fit(cls, X, y, hidden_layer_sizes=(5,), bidirectional=True, dtype=np.float64)
    with pytest.warns(UserWarning, match="float32 only"):
        model = est.to_onnx()
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    try:
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        got = session.run(None, {"X": X})
    except Exception as exc:
        # What the warning says: no double kernel of the recurrent nodes.
        assert re.search(r"double|NOT_IMPLEMENTED", str(exc)), exc
        return
    # An onnxruntime with double kernels: then they must agree to 1e-12.
    want = est.predict(X) if cls is LSTMRegressor else est.predict_proba(X)
    assert_close(got[-1], want, rtol=1e-12)


# ---------------------------------------------------------------- bad input


def test_unfitted_estimator_is_refused():
    for est in (LSTMRegressor(), LSTMClassifier()):
        with pytest.raises(NotFittedError):
            est.to_onnx()


@pytest.mark.parametrize("opset,match", [
    (13, r"opset 13 is not supported.*14 to"),
    (10_000, r"opset 10000 is not supported"),
    ("14", r"opset must be an integer"),
    (True, r"opset must be an integer"),
])
def test_unsupported_opset_is_named(opset, match):
    _onnx()
    X, _ = mixed_batch()
    est = fit(LSTMRegressor, X, targets(X, "last"), hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match=match):
        est.to_onnx(opset=opset)
    with pytest.raises(ValueError, match=match):
        layers.LSTM(D, 3).to_onnx(opset=opset)


def test_labels_onnx_cannot_hold_are_named():
    # ONNX's strings are UTF-8: a label with a lone surrogate (what
    # os.fsdecode makes of undecodable bytes) has no ONNX form.
    _onnx()
    X, _ = mixed_batch()
    y = np.array(["ok", "bad\udc80"])[np.arange(N) % 2]
    est = fit(LSTMClassifier, X, y, hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match=r"cannot express the label 'bad\\udc80'.*UTF-8"):
        est.to_onnx()


def test_model_beyond_one_protobuf_needs_a_path_and_gets_external_data(tmp_path,
                                                                       monkeypatch):
    # The 2 GiB limit of one protobuf, lowered so that a small model is over it.
    from lstm_fast import _onnx as onnx_export

    monkeypatch.setattr(onnx_export, "PROTOBUF_LIMIT", 2**20 + 100)
    onnx, ort = _onnx(), _ort()
    X, _ = mixed_batch()
    est = fit(LSTMRegressor, X, targets(X, "last"), hidden_layer_sizes=(40,))
    with pytest.raises(ValueError, match=r"more than the 2 GiB.*pass a path"):
        est.to_onnx()
    path = tmp_path / "big.onnx"
    est.to_onnx(path)
    # The recurrent weights moved there (the head's few bytes may stay inline).
    network = est.network_
    recurrent_bytes = network.params.nbytes - network.coef.nbytes - network.intercept.nbytes
    assert (tmp_path / "big.onnx.data").stat().st_size >= recurrent_bytes
    onnx.checker.check_model(str(path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert_close(session.run(None, {"X": X})[0], est.predict(X))


def test_without_onnx_the_error_says_what_to_install(tmp_path):
    # sys.modules["onnx"] = None makes `import onnx` raise ImportError.
    code = textwrap.dedent("""
        import sys
        sys.modules["onnx"] = None
        import numpy as np
        from lstm_fast import LSTMRegressor, layers
        X = np.random.default_rng(0).standard_normal((8, 4, 2))
        est = LSTMRegressor((3,), max_iter=1).fit(X, X.sum(axis=(1, 2)))
        for obj in (est, layers.GRU(2, 3)):
            try:
                obj.to_onnx()
            except ImportError as exc:
                assert "pip install onnx" in str(exc), exc
            else:
                raise AssertionError("no ImportError")
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


# ------------------------------------------------- the README and docs page

def _run_and_compare(code, shown, tmp_path):
    """The decimals come from a trained model: another CPU rounds 30 epochs
    of float32 otherwise, hence 0.05."""
    run_and_compare(code, shown, tmp_path, tolerance=0.05, timeout=300)


def test_readme_deploying_section_runs_and_prints_what_it_shows(tmp_path):
    _ort()
    section = read_doc("README.md").split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    blocks = EXAMPLE_BLOCK.findall(section)
    assert len(blocks) == 1, "README's Deploying: one python block and its output"
    _run_and_compare(*blocks[0], tmp_path)


def test_deploying_page_runs_and_prints_what_it_shows(tmp_path):
    _ort()
    pytest.importorskip("skl2onnx")
    # The ONNX sections; the last one (quantized estimators, no ONNX) is
    # run by tests/test_quantized_estimators.py.
    page = read_doc("docs/deploying.md").split("\n## Smaller and faster models", 1)[0]
    blocks = EXAMPLE_BLOCK.findall(page)
    assert len(blocks) == 5, "docs/deploying.md: each python block followed by its output"
    # One script, in order: the second block loads the file the first wrote.
    _run_and_compare("\n".join(c for c, _ in blocks), "".join(o for _, o in blocks),
                     tmp_path)
