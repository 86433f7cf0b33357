"""skl2onnx converters (lstm_fast.onnx_converters): whole pipelines to ONNX.

A pipeline of SequenceTransformer(<a 2-D scaler>) and an estimator,
converted by ``skl2onnx.to_onnx`` after ``onnx_converters.register()``,
run by onnxruntime on a NaN-padded batch of mixed lengths, gives what the
pipeline's predict / predict_proba give (normwise within 1e-5, as in
test_onnx_export.py), with skl2onnx's output conventions (ZipMap or not).
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from lstm_fast import LSTMClassifier, LSTMRegressor
from lstm_fast.preprocessing import SequenceTransformer

pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

N, T, D = 40, 8, 3


@pytest.fixture(scope="module", autouse=True)
def registered():
    from lstm_fast import onnx_converters

    onnx_converters.register()


def mixed_batch(seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((N, T, D)) * [1, 10, 100] + [0, 5, -50]).astype(np.float32)
    lengths = rng.integers(1, T + 1, N)
    lengths[0], lengths[1] = T, 1
    for i, n in enumerate(lengths):
        X[i, n:] = np.nan
    return X


def convert_and_run(pipe, X, options=None):
    import onnx
    import onnxruntime as ort
    from skl2onnx.common.data_types import FloatTensorType

    model = skl2onnx.to_onnx(pipe, initial_types=[("X", FloatTensorType([None, None, D]))],
                             target_opset=14, options=options)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return model, session.run(None, {"X": X})


def assert_close(got, want, rtol=1e-5):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    real = ~np.isnan(want)
    error = np.max(np.abs(got[real] - want[real])) / np.max(np.abs(want[real]))
    assert error <= rtol, f"normwise error {error:.3g} > {rtol}"


def fitted(pipe, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipe.fit(X, y)


@pytest.mark.parametrize("scaler", [StandardScaler(), MinMaxScaler(), RobustScaler()])
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_scaler_and_regressor_pipeline(scaler, output):
    X = mixed_batch()
    clean = np.nan_to_num(X)
    y = clean[:, :, 1].cumsum(axis=1) if output == "sequence" else clean.sum(axis=(1, 2))
    y = np.stack([y, -y], axis=-1)
    pipe = fitted(make_pipeline(SequenceTransformer(scaler),
                                LSTMRegressor((6, 4), bidirectional=True, output=output,
                                              max_iter=2, random_state=0)), X, y)
    model, (got,) = convert_and_run(pipe, X)
    assert [o.name for o in model.graph.output] == ["variable"]
    assert_close(got, pipe.predict(X))


@pytest.mark.parametrize("inner", [StandardScaler(), SimpleImputer()],
                         ids=["scaler", "imputer"])
def test_sequence_transformer_alone_keeps_the_padding(inner):
    # An imputer would fill the padded steps' NaN: the graph, as transform,
    # puts NaN back there.
    X = mixed_batch(1)
    st = SequenceTransformer(inner).fit(X)
    _, (got,) = convert_and_run(make_pipeline(st), X)
    assert_close(got, st.transform(X))


@pytest.mark.parametrize("labels", [np.array(["a", "b", "c"]), np.array([2, 5, 9])])
def test_classifier_pipeline_with_and_without_zipmap(labels):
    X = mixed_batch(2)
    y = labels[np.random.default_rng(0).integers(0, 3, N)]
    pipe = fitted(make_pipeline(SequenceTransformer(StandardScaler()),
                                LSTMClassifier((5,), cell="gru", max_iter=2,
                                               random_state=0)), X, y)
    clf = pipe[-1]
    _, (label, proba) = convert_and_run(pipe, X, options={id(clf): {"zipmap": False}})
    np.testing.assert_array_equal(label, pipe.predict(X))
    assert_close(proba, pipe.predict_proba(X))
    # skl2onnx's default: the probabilities as one {label: probability} per row.
    _, (label, dicts) = convert_and_run(pipe, X)
    np.testing.assert_array_equal(label, pipe.predict(X))
    assert_close([[row[c] for c in clf.classes_.tolist()] for row in dicts],
                 pipe.predict_proba(X))


def test_sequence_classifier_needs_zipmap_off():
    X = mixed_batch(3)
    y = np.random.default_rng(0).integers(0, 2, (N, T))
    pipe = fitted(make_pipeline(SequenceTransformer(StandardScaler()),
                                LSTMClassifier((4,), output="sequence", max_iter=2,
                                               random_state=0)), X, y)
    clf = pipe[-1]
    with pytest.raises(ValueError, match=r"zipmap': False"):
        convert_and_run(pipe, X)
    _, (label, proba) = convert_and_run(pipe, X, options={id(clf): {"zipmap": False}})
    np.testing.assert_array_equal(label, pipe.predict(X))
    assert_close(proba, pipe.predict_proba(X))


def test_without_skl2onnx_register_says_what_to_install(tmp_path):
    import subprocess
    import sys

    code = ("import sys; sys.modules['skl2onnx'] = None\n"
            "from lstm_fast import onnx_converters\n"
            "try:\n    onnx_converters.register()\n"
            "except ImportError as exc:\n    assert 'pip install skl2onnx' in str(exc)\n"
            "    print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]
