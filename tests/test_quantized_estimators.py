"""Quantized estimators: ``est.quantize("int8" | "bfloat16")`` is an
inference copy that predicts near the float32 model, streams what it
predicts, saves its reduced arrays (a smaller file, loaded bit for bit),
pickles, and refuses whatever needs the float32 model, changing nothing.

The int8 products give the same bits with and without VNNI: a subprocess
with ``LSTM_FAST_DOT=none`` (read at import) loads the saved models and
predicts on the portable path.
"""

import copy
import io
import json
import os
import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from _helpers import EXAMPLE_BLOCK, read_doc, run_and_compare
from lstm_fast import LSTMClassifier, LSTMRegressor

PRECISIONS = ("int8", "bfloat16")
CELLS = ("lstm", "gru", "rnn")
KINDS = {"regressor": LSTMRegressor, "classifier": LSTMClassifier}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached: these fits are short
        yield


def data(n=240, T=10, D=3, seed=0):
    """Sequences and a target that a small network learns in a few epochs:
    the running sum of the first feature."""
    X = np.random.default_rng(seed).standard_normal((n, T, D)).astype(np.float32)
    return X, np.cumsum(X[:, :, 0], axis=1) / np.sqrt(T)


def targets(kind, y, output):
    y = y if output == "sequence" else y[:, -1]
    return (y > 0).astype(int) if kind == "classifier" else y


def fit(kind, cell="lstm", output="last", **params):
    X, y = data()
    params = {"hidden_layer_sizes": (16,), "max_iter": 25, "learning_rate_init": 0.01,
              "random_state": 0, **params}
    return KINDS[kind](cell=cell, output=output, **params).fit(X, targets(kind, y, output))


_FITTED = {}


def fitted(kind, cell="lstm", output="last"):
    """A float32 estimator fitted once per module (tests must not change it:
    they check it against a copy where they could)."""
    key = (kind, cell, output)
    if key not in _FITTED:
        _FITTED[key] = fit(kind, cell, output)
    return _FITTED[key]


def state(est):
    """Everything an estimator holds, as comparable values."""
    out = {}
    for key, value in est.__dict__.items():
        if key == "network_":
            out["params"] = value.params.copy()
            out["precision"] = value.precision
            out["layers"] = [copy.deepcopy(getattr(layer, "_reduced", None))
                             for layer in value.layers]
            out["ids"] = [id(layer) for layer in value.layers]
        elif key not in ("_optimizer", "_random_state"):
            out[key] = copy.deepcopy(value)
    return out


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if key == "layers":
            for la, lb in zip(a[key], b[key]):
                if la is not None:
                    for wa, wb in zip(la, lb):
                        for name in type(wa).__slots__:
                            np.testing.assert_array_equal(getattr(wa, name), getattr(wb, name))
        else:
            np.testing.assert_array_equal(np.asarray(a[key], dtype=object),
                                          np.asarray(b[key], dtype=object), err_msg=key)


def outputs(est, X):
    """What the estimator predicts, bit for bit: predictions and, for a
    classifier, probabilities."""
    if hasattr(est, "classes_"):
        return est.predict(X), est.predict_proba(X)
    return (est.predict(X),)


# ---------------------------------------------------------------- accuracy


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", KINDS)
def test_quantized_predictions_are_close_to_float32(kind, cell, precision):
    est = fitted(kind, cell)
    X, y = data(120, seed=1)
    y = targets(kind, y, "last")
    q = est.quantize(precision)
    assert (q.precision_, est.precision_) == (precision, "float32")
    assert type(q) is type(est) and q.get_params() == est.get_params()
    assert est.score(X, y) > 0.8  # a model worth quantizing
    assert abs(q.score(X, y) - est.score(X, y)) <= 0.01
    if kind == "regressor":
        assert np.abs(q.predict(X) - est.predict(X)).max() <= 0.05 * np.abs(y).max()
    else:
        assert np.abs(q.predict_proba(X) - est.predict_proba(X)).max() <= 0.05
        np.testing.assert_array_equal(q.predict_log_proba(X), np.log(q.predict_proba(X)))


@pytest.mark.parametrize("kind", KINDS)
def test_the_original_is_untouched(kind):
    est = fit(kind, max_iter=3)
    X, _ = data(20, seed=2)
    before, predicted = state(est), outputs(est, X)
    q = est.quantize("int8")
    outputs(q, X)
    assert_same_state(state(est), before)
    for a, b in zip(outputs(est, X), predicted):
        np.testing.assert_array_equal(a, b)
    assert not np.shares_memory(q.network_.params, est.network_.params)
    assert est.precision_ == "float32" and "quantize" not in repr(est)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_precision_shows_in_the_repr(precision):
    q = fitted("regressor").quantize(precision)
    assert repr(q).endswith(f".quantize({precision!r})")
    assert repr(q.network_.layers[0]).endswith(f"precision={precision!r})")


def test_multi_layer_bidirectional_and_sequence_models_quantize():
    X, y = data(60, seed=3)
    est = fit("regressor", hidden_layer_sizes=(8, 6), bidirectional=True, output="sequence",
              max_iter=3)
    for precision in PRECISIONS:
        q = est.quantize(precision)
        assert np.abs(q.predict(X) - est.predict(X)).max() <= 0.05 * np.abs(y).max()


def test_the_docstring_example_runs():
    import doctest

    from lstm_fast._estimators import _BaseRecurrent

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(_BaseRecurrent.quantize, "quantize", globs={}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------- refusals


def test_quantize_refuses_what_it_cannot_do():
    with pytest.raises(NotFittedError):
        LSTMRegressor().quantize("int8")
    est = fitted("regressor")
    with pytest.raises(ValueError, match=r"precision must be one of \['bfloat16', 'int8'\]"):
        est.quantize("int4")
    with pytest.raises(ValueError, match="already int8; quantize the float32 estimator"):
        est.quantize("int8").quantize("bfloat16")
    est64 = fit("regressor", dtype=np.float64, max_iter=1)
    with pytest.raises(ValueError, match="dtype=float64: fit it with dtype=np.float32"):
        est64.quantize("int8")
    assert est64.precision_ == "float64"
    with pytest.raises(AttributeError, match="not fitted"):
        LSTMClassifier().precision_


TRAINING = {
    "fit": lambda q, X, y: q.fit(X, y),
    "fit with warm_start": lambda q, X, y: q.set_params(warm_start=True).fit(X, y),
    "partial_fit": lambda q, X, y: q.partial_fit(X, y),
}


@pytest.mark.parametrize("call", TRAINING)
@pytest.mark.parametrize("kind", KINDS)
def test_training_a_quantized_estimator_is_refused_and_changes_nothing(kind, call):
    q = fitted(kind).quantize("int8")
    X, y = data(20, seed=4)
    y = targets(kind, y, "last")
    before, predicted = state(q), outputs(q, X)
    name = call.split()[0]
    with pytest.raises(ValueError, match=rf"{name}\(\) needs the float32 model: this "
                                         rf"{type(q).__name__} is an int8 copy for inference"
                                         r".*train the float32 estimator it came from.*"
                                         r"then quantize it again"):
        TRAINING[call](q, X, y)
    q.set_params(warm_start=False)
    assert_same_state(state(q), before)
    for a, b in zip(outputs(q, X), predicted):
        np.testing.assert_array_equal(a, b)


LOOKING_INSIDE = {
    "inspect": lambda q, X, y, tmp: q.inspect(X),
    "gradient_flow": lambda q, X, y, tmp: q.gradient_flow(X, y),
    "explain_html": lambda q, X, y, tmp: q.explain_html(X[0], str(tmp / "page.html")),
}


@pytest.mark.parametrize("what", LOOKING_INSIDE)
def test_looking_inside_needs_the_float32_model(what, tmp_path):
    q = fitted("regressor").quantize("bfloat16")
    X, y = data(5, seed=5)
    before = state(q)
    with pytest.raises(ValueError, match=rf"{what}\(\) needs the float32 model.*Call {what} "
                                         r"on the float32 estimator"):
        LOOKING_INSIDE[what](q, X, y[:, -1], tmp_path)
    assert_same_state(state(q), before)
    assert not (tmp_path / "page.html").exists()


def test_explain_html_refuses_a_quantized_model_to_compare_with(tmp_path):
    est = fitted("regressor")
    X, _ = data(2, seed=5)
    with pytest.raises(ValueError, match=r"explain_html\(\) needs the float32 model"):
        est.explain_html(X[0], str(tmp_path / "page.html"), compare=est.quantize("int8"))


def test_to_onnx_refuses_and_says_what_to_export():
    pytest.importorskip("onnx")
    q = fitted("classifier").quantize("int8")
    with pytest.raises(ValueError, match=r"to_onnx\(\) needs the float32 model.*Export the "
                                         r"float32 estimator it came from.*quantize_dynamic"):
        q.to_onnx()


def test_a_pipeline_with_a_quantized_estimator_does_not_convert_either():
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import make_pipeline

    from lstm_fast import onnx_converters

    onnx_converters.register()
    pipe = make_pipeline(fitted("regressor").quantize("bfloat16"))
    with pytest.raises(ValueError, match=r"to_onnx\(\) needs the float32 model"):
        skl2onnx.to_onnx(pipe, initial_types=[("X", FloatTensorType([None, None, 3]))],
                         target_opset=14)


def test_clone_is_an_unfitted_float32_estimator_that_trains():
    est = fitted("classifier")
    q = est.quantize("int8")
    fresh = clone(q)
    assert fresh.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        fresh.predict(data(2)[0])
    X, y = data(40, seed=6)
    assert fresh.set_params(max_iter=1).fit(X, targets("classifier", y, "last")) \
        .precision_ == "float32"


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cell", CELLS)
def test_a_stream_steps_through_what_predict_gives(cell, precision):
    q = fitted("regressor", cell, "sequence").quantize(precision)
    X, _ = data(3, seed=7)
    expected = q.predict(X)
    inputs, layer_outputs = X, []
    for layer in q.network_.layers:
        inputs = layer.forward(inputs)[0]
        layer_outputs.append(inputs)
    for i in range(3):
        s = q.stream()
        got = []
        for t in range(X.shape[1]):
            got.append(s.step(X[i, t]))
            # A stream step is the time loop's step: the states' bits.
            for state_, output in zip(s.state, layer_outputs):
                np.testing.assert_array_equal(state_[0][0], output[i, t])
        # The head in C, predict's in NumPy: float32 sums in another order,
        # as for float32 models (tests/test_streaming.py).
        np.testing.assert_allclose(got, expected[i], rtol=1e-5, atol=1e-5)


def test_a_classifier_streams_its_quantized_labels_and_probabilities():
    q = fitted("classifier", "gru", "sequence").quantize("int8")
    X, _ = data(4, seed=8)
    s = q.stream(n_streams=4)
    proba = np.stack([s.step_proba(X[:, t]) for t in range(X.shape[1])], axis=1)
    np.testing.assert_allclose(proba, q.predict_proba(X), rtol=1e-5, atol=1e-6)
    s.reset()
    labels = np.stack([s.step(X[:, t]) for t in range(X.shape[1])], axis=1)
    np.testing.assert_array_equal(labels, q.predict(X))


# -------------------------------------------------------------- persistence


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_give_the_same_bits_from_smaller_arrays(kind, cell, precision,
                                                              tmp_path):
    est = fitted(kind, cell)
    q = est.quantize(precision)
    path_float, path_q = est.save(tmp_path / "float"), q.save(tmp_path / "q")
    loaded = type(q).load(path_q)
    assert loaded.precision_ == precision and repr(loaded) == repr(q)
    X, _ = data(30, seed=9)
    for a, b in zip(outputs(loaded, X), outputs(q, X)):
        np.testing.assert_array_equal(a, b)
    # The arrays: a quarter (int8) or half (bfloat16) of the weights' bytes,
    # plus float32 biases, scales and head; the metadata is the same. (The
    # file: see the next test; each entry adds about 200 bytes of headers.)
    with np.load(path_q) as saved, np.load(path_float) as saved_float:
        assert "params" not in saved.files
        assert saved["layer0_w_hh"].dtype == (np.int8 if precision == "int8" else np.uint16)
        n_bytes = sum(saved[k].nbytes for k in saved.files if k not in ("metadata", "classes_"))
        assert n_bytes < 0.6 * saved_float["params"].nbytes
    with pytest.raises(ValueError, match="fit"):
        loaded.partial_fit(X, targets(kind, data(30, seed=9)[1], "last"))


@pytest.mark.parametrize("precision, ratio", [("int8", 0.45), ("bfloat16", 0.65)])
def test_the_file_is_smaller(precision, ratio, tmp_path):
    # A plain RNN of 128 units: the fewest weights a cell of that size has,
    # beside metadata and headers of about 7 kB.
    est = fit("regressor", "rnn", hidden_layer_sizes=(128,), max_iter=1)
    path_float = est.save(tmp_path / "float")
    path_q = est.quantize(precision).save(tmp_path / "q")
    assert os.path.getsize(path_q) < ratio * os.path.getsize(path_float)


def test_float_files_still_load_as_float32(tmp_path):
    est = fitted("regressor")
    loaded = LSTMRegressor.load(est.save(tmp_path / "model"))
    assert loaded.precision_ == "float32"
    with np.load(tmp_path / "model.npz") as saved:
        assert json.loads(str(saved["metadata"]))["format_version"] == "1.1"
    X, _ = data(10, seed=9)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_bidirectional_stacks_save_every_layer_and_direction(tmp_path):
    est = fit("regressor", hidden_layer_sizes=(8, 6), bidirectional=True, max_iter=2)
    q = est.quantize("int8")
    loaded = LSTMRegressor.load(q.save(tmp_path / "q"))
    X, _ = data(10, seed=10)
    np.testing.assert_array_equal(loaded.predict(X), q.predict(X))


def tampered(path, change):
    """The bytes of the saved file at `path` with its entries changed."""
    with np.load(path) as saved:
        arrays = {k: saved[k] for k in saved.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return io.BytesIO(buffer.getvalue())


def _meta(change):
    def apply(arrays):
        meta = json.loads(str(arrays["metadata"]))
        change(meta)
        arrays["metadata"] = np.array(json.dumps(meta))
    return apply


def _array(name, change):
    def apply(arrays):
        arrays[name] = change(arrays[name])
    return apply


TAMPERED = {
    "weights as int16": (_array("layer0_w_ih", lambda a: a.astype(np.int16)),
                         "entry 'layer0_w_ih' has shape .* dtype int16"),
    "weights as float32": (_array("layer0_w_hh", lambda a: a.astype(np.float32)),
                           "entry 'layer0_w_hh'"),
    "NaN scale": (_array("layer0_scale_ih", lambda a: np.where(a == a[0], np.nan, a)),
                  "int8 row scales must be finite and >= 0"),
    "negative scale": (_array("layer0_scale_hh", lambda a: -a),
                       "int8 row scales must be finite and >= 0"),
    "scale beyond float32": (_array("layer0_scale_hh", lambda a: np.full_like(a, 3e38)),
                             "must be finite"),
    "scales missing": (lambda arrays: arrays.pop("layer0_scale_ih"),
                       "no 'layer0_scale_ih' entry"),
    "NaN bias": (_array("layer0_b_hh", lambda a: a * np.nan), "biases hold NaN"),
    "NaN head": (_array("coef", lambda a: a * np.nan), "coef holds NaN"),
    "unknown precision": (_meta(lambda m: m.update(precision="int4")),
                          r"needs a precision in \['bfloat16', 'int8'\], got 'int4'"),
    "no precision": (_meta(lambda m: m.pop("precision")), "needs a precision"),
    "float64 model": (_meta(lambda m: m["params"].update(dtype=["float64", True])),
                      "a int8 model is a float32 one"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_a_tampered_quantized_file_is_refused_clearly(case, tmp_path):
    path = fitted("regressor").quantize("int8").save(tmp_path / "q")
    change, message = TAMPERED[case]
    with pytest.raises(ValueError, match=f"cannot load .*{message}"):
        LSTMRegressor.load(tampered(path, change))


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_pickles_and_copies_keep_the_reduced_weights(kind, precision, tmp_path):
    q = fitted(kind).quantize(precision)
    X, _ = data(20, seed=11)
    joblib.dump(q, tmp_path / "q.joblib")
    for other in (joblib.load(tmp_path / "q.joblib"), pickle.loads(pickle.dumps(q)),
                  copy.deepcopy(q)):
        assert other.precision_ == precision
        assert other.network_.layers[0]._reduced[0].w_hh.dtype == \
            q.network_.layers[0]._reduced[0].w_hh.dtype
        for a, b in zip(outputs(other, X), outputs(q, X)):
            np.testing.assert_array_equal(a, b)


def test_dask_predicts_with_the_reduced_weights_and_incremental_trains_a_clone(client):
    # The workers are other processes: the model reaches them by pickle.
    da = pytest.importorskip("dask.array")
    pytest.importorskip("dask_ml.wrappers")
    from lstm_fast.dask import Incremental, ParallelPostFit

    q = fitted("classifier").quantize("int8")
    X, y = data(40, seed=13)
    Xd = da.from_array(X, chunks=(10,) + X.shape[1:])
    np.testing.assert_array_equal(ParallelPostFit(q).predict_proba(Xd).compute(),
                                  q.predict_proba(X))
    # Incremental fits a clone (as dask-ml does): a float32 estimator.
    inc = Incremental(q.set_params(max_iter=1)).fit(Xd, targets("classifier", y, "last"),
                                                     classes=[0, 1])
    assert inc.estimator_.precision_ == "float32" and q.precision_ == "int8"


# ------------------------------------------------- with and without VNNI

CHILD = r"""
import sys
import numpy as np
import lstm_fast
from lstm_fast import _core, LSTMClassifier, LSTMRegressor

X = np.load(sys.argv[1])
out = {"dot": np.array(",".join(_core.dot_products_active()))}
for name in sys.argv[3:]:
    cls = LSTMClassifier if name.startswith("classifier") else LSTMRegressor
    est = cls.load(name + ".npz")
    out[name] = est.predict_proba(X) if cls is LSTMClassifier else est.predict(X)
np.savez(sys.argv[2], **out)
"""


def predict_in_child(directory, names, dot):
    """Load the models saved as `names` in `directory` in a new Python with
    LSTM_FAST_DOT=dot (None: unset) and return its predictions."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "LSTM_FAST_DOT")}
    if dot is not None:
        env["LSTM_FAST_DOT"] = dot
    out = directory / f"out-{dot}.npz"
    # cwd is the temporary directory, so the installed package is imported.
    proc = subprocess.run([sys.executable, "-c", CHILD, "X.npy", str(out), *names],
                          cwd=directory, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as saved:
        return {k: saved[k] for k in saved.files}


def test_int8_predictions_are_the_same_bits_with_and_without_dot_products(tmp_path):
    X, _ = data(50, seed=12)
    np.save(tmp_path / "X.npy", X)
    names, expected = [], {}
    for kind in KINDS:
        for cell in CELLS:
            for precision in PRECISIONS:
                name = f"{kind}-{cell}-{precision}"
                q = fitted(kind, cell).quantize(precision)
                q.save(tmp_path / name)
                names.append(name)
                expected[name] = q.predict_proba(X) if kind == "classifier" else q.predict(X)
    portable = predict_in_child(tmp_path, names, "none")
    assert str(portable["dot"]) == ""
    best = predict_in_child(tmp_path, names, None)
    for name in names:
        # This process uses every dot product the CPU has, as the unset child.
        np.testing.assert_array_equal(best[name], expected[name], err_msg=name)
        if "int8" in name:  # exact int32 sums: the same bits on every path
            np.testing.assert_array_equal(portable[name], expected[name], err_msg=name)
        else:  # float32 sums of bfloat16 products, in another order
            np.testing.assert_allclose(portable[name], expected[name], rtol=1e-5, atol=1e-5,
                                       err_msg=name)


# -------------------------------------------------------------------- docs

SECTION = "## Smaller and faster models: int8 and bfloat16"


def test_deploying_page_section_runs_and_prints_what_it_shows(tmp_path):
    text = read_doc("docs/deploying.md")
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = EXAMPLE_BLOCK.findall(section)
    assert len(blocks) == 1, "the section: one python block followed by its output"
    run_and_compare(*blocks[0], tmp_path, tolerance=0.05, timeout=300)
