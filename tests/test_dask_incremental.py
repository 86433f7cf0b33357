"""Data bigger than memory: dask-ml's Incremental and ParallelPostFit on 3-D
dask arrays of sequences (lstm_fast.dask), on a dask.distributed cluster.

- ``Incremental.fit`` must give, bit for bit, the model that the same
  ``partial_fit`` calls made by hand on the same blocks in the same order
  give (the model travels between the worker processes by pickle, blocks
  are chunked as the user chunked them);
- ``ParallelPostFit.predict`` / ``predict_proba`` / ``predict_log_proba``
  on the cluster must equal the in-memory predictions exactly, for every
  output shape (1-D, several outputs, one per step, probabilities per
  step);
- dask-ml's own wrappers still fail on a 3-D X, in the way lstm_fast.dask's
  docstring says (if these tests fail, dask-ml has changed and the adapter
  may be smaller now);
- the README's "Data bigger than memory" section and docs/cluster.md's
  section of the same name run and print what they show.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from _helpers import EXAMPLE_BLOCK, REPO_ROOT, read_doc, run_and_compare
from lstm_fast import LSTMClassifier, LSTMRegressor

da = pytest.importorskip("dask.array")
wrappers = pytest.importorskip("dask_ml.wrappers")
distributed = pytest.importorskip("distributed")
lf_dask = pytest.importorskip("lstm_fast.dask")


def sequences(n=60, steps=7, features=3, seed=0, dtype=np.float64):
    """Mixed lengths: every third sequence ends early (NaN padding)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, steps, features)).astype(dtype)
    X[::3, steps - 2:] = np.nan
    return X


def per_step(X):
    return np.cumsum(np.nan_to_num(X[:, :, 0]), axis=1)


def blocks(chunks):
    """(start, stop) of each block along axis 0."""
    stops = np.cumsum(chunks)
    return list(zip(stops - np.array(chunks), stops))


def by_hand(est, X, y, chunks, order, **fit_kwargs):
    for i in order:
        start, stop = blocks(chunks)[i]
        est.partial_fit(X[start:stop], y[start:stop], **fit_kwargs)
    return est


# ------------------------------------------------------------------ fit

CASES = {
    "regressor": (lambda: LSTMRegressor((8,), random_state=0),
                  lambda X: np.nansum(X[:, :, 0], axis=1), {}),
    "gru-bidirectional-f32": (
        lambda: LSTMRegressor((6, 4), cell="gru", bidirectional=True, dtype=np.float32,
                              random_state=1),
        lambda X: np.nansum(X, axis=(1, 2)), {}),
    "sequence-two-outputs": (
        lambda: LSTMRegressor((8,), output="sequence", random_state=0),
        lambda X: np.stack([per_step(X), -per_step(X)], axis=2), {}),
    "classifier-dropout": (
        lambda: LSTMClassifier((8,), cell="rnn", dropout=0.2, random_state=0),
        lambda X: np.array(["low", "mid", "high"])[
            np.digitize(np.nansum(X[:, :, 0], axis=1), [-1, 1])],
        {"classes": ["high", "low", "mid"]}),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffled", "in-order"])
def test_incremental_fit_equals_the_same_partial_fit_calls_by_hand(client, case, shuffle):
    make, target, fit_kwargs = CASES[case]
    X = sequences()
    y = target(X)
    chunks = (20, 15, 25)  # uneven: each block is a partial_fit of its own size
    # y chunked otherwise: it is rechunked to X's blocks.
    Xd = da.from_array(X, chunks=(chunks, 4, 3))  # and X split along the steps too
    yd = da.from_array(y, chunks=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning from dask-ml or dask
        model = lf_dask.Incremental(make(), shuffle_blocks=shuffle, random_state=7)
        model.fit(Xd, yd, **fit_kwargs)
        assert isinstance(model.estimator_, type(make()))
        # ...and partial_fit goes on from there, one more pass over the blocks.
        model.partial_fit(Xd, yd, **fit_kwargs)
    order = list(range(len(chunks)))
    if shuffle:
        check_random_state(7).shuffle(order)
        assert order != sorted(order)
    expected = by_hand(make(), X, y, chunks, order + order, **fit_kwargs)
    np.testing.assert_array_equal(model.estimator_.network_.params, expected.network_.params)
    assert model.estimator_.t_ == expected.t_  # the optimizer's steps: one per batch
    assert model.estimator_.n_iter_ == expected.n_iter_ == 2 * len(chunks)
    assert model.estimator_.loss_curve_ == expected.loss_curve_
    # The model's predictions, blockwise on the cluster, are the in-memory ones.
    np.testing.assert_array_equal(model.predict(Xd).compute(), expected.predict(X))


def test_incremental_takes_a_numpy_y_and_leaves_2d_x_to_dask_ml(client):
    X = sequences(40)
    y = np.nansum(X[:, :, 0], axis=1)
    model = lf_dask.Incremental(LSTMRegressor((4,), random_state=0), shuffle_blocks=False)
    model.fit(da.from_array(X, chunks=(10, 7, 3)), y)
    expected = by_hand(LSTMRegressor((4,), random_state=0), X, y, (10,) * 4, range(4))
    np.testing.assert_array_equal(model.estimator_.network_.params, expected.network_.params)
    # A 2-D dask X (univariate series) is dask-ml's case: its wrapper runs.
    X2 = np.nan_to_num(X[:, :, 0])
    model2 = lf_dask.Incremental(LSTMRegressor((4,), random_state=0), shuffle_blocks=False)
    model2.fit(da.from_array(X2, chunks=(10, 7)), da.from_array(y, chunks=10))
    expected2 = by_hand(LSTMRegressor((4,), random_state=0), X2, y, (10,) * 4, range(4))
    np.testing.assert_array_equal(model2.estimator_.network_.params,
                                  expected2.network_.params)


@pytest.mark.parametrize("kwargs, y, match", [
    ({"sample_weight": np.ones(40)}, "y", "sample_weight cannot be split"),
    ({}, None, "requires y"),
    ({}, "short", "X has 40 sequences but y has 39"),
])
def test_incremental_bad_input_is_named(kwargs, y, match):
    X = sequences(40)
    target = np.nansum(X[:, :, 0], axis=1)
    y = {"y": target, None: None, "short": target[:39]}[y]
    model = lf_dask.Incremental(LSTMRegressor((4,), random_state=0))
    with pytest.raises(ValueError, match=match):
        model.fit(da.from_array(X, chunks=(10, 7, 3)), y, **kwargs)


# -------------------------------------------------------------- predict

def _fitted(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


PREDICTORS = {
    "regressor-f32": (lambda: LSTMRegressor((8,), max_iter=3, dtype=np.float32,
                                            random_state=0),
                      lambda X: np.nansum(X[:, :, 0], axis=1)),
    "two-outputs": (lambda: LSTMRegressor((8,), cell="gru", max_iter=3, random_state=0),
                    lambda X: np.stack([np.nansum(X[:, :, 0], axis=1),
                                        np.nansum(X[:, :, 1], axis=1)], axis=1)),
    "quantiles": (lambda: LSTMRegressor((8,), loss="quantile", quantile=[0.1, 0.5, 0.9],
                                        max_iter=3, random_state=0),
                  lambda X: np.nansum(X[:, :, 0], axis=1)),
    "sequence": (lambda: LSTMRegressor((8,), output="sequence", max_iter=3, random_state=0),
                 per_step),
    "sequence-two-outputs": (
        lambda: LSTMRegressor((8,), output="sequence", bidirectional=True, max_iter=3,
                              random_state=0),
        lambda X: np.stack([per_step(X), -per_step(X)], axis=2)),
    "classifier": (lambda: LSTMClassifier((8,), max_iter=3, random_state=0),
                   lambda X: np.where(np.nansum(X[:, :, 0], axis=1) > 0, "up", "down")),
    "classifier-sequence": (
        lambda: LSTMClassifier((8,), output="sequence", max_iter=3, random_state=0),
        lambda X: np.digitize(per_step(X), [-1, 1])),
}


@pytest.mark.parametrize("case", sorted(PREDICTORS))
def test_parallel_post_fit_predicts_what_predict_does(client, case):
    make, target = PREDICTORS[case]
    X = sequences(90, seed=1)
    est = _fitted(make(), X, target(X))
    Xd = da.from_array(X, chunks=(30, 7, 3))
    wrapped = lf_dask.ParallelPostFit(est)
    methods = ["predict"] + (["predict_proba", "predict_log_proba"]
                             if hasattr(est, "predict_proba") else [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no metadata-guessing warning from dask-ml
        for method in methods:
            got = getattr(wrapped, method)(Xd)
            want = getattr(est, method)(X)
            assert isinstance(got, da.Array) and got.shape == want.shape
            assert got.dtype == want.dtype and got.chunks[0] == Xd.chunks[0]
            # Computed on the workers; equal, NaN at padded steps included.
            np.testing.assert_array_equal(client.compute(got).result(), want)
    # NumPy input: predicted at once, as dask-ml does.
    np.testing.assert_array_equal(wrapped.predict(X), est.predict(X))


def test_parallel_post_fit_rechunks_steps_and_features_and_keeps_given_meta(client):
    X = sequences(50, seed=2).astype(np.float32)
    est = _fitted(LSTMRegressor((4,), max_iter=2, random_state=0, dtype=np.float32), X,
                  np.nansum(X, axis=(1, 2)))
    Xd = da.from_array(X, chunks=(20, 3, 2))  # blocks of parts of sequences
    got = lf_dask.ParallelPostFit(est, predict_meta=np.empty(0, np.float32)).predict(Xd)
    assert got.chunks == ((20, 20, 10),)
    np.testing.assert_array_equal(got.compute(), est.predict(X))


# ------------------------------------------- dask-ml's own wrappers (why)

def test_dask_ml_wrappers_still_fail_on_3d_blocks():
    """What lstm_fast.dask adapts; if this fails, dask-ml has changed."""
    X = sequences(40)
    y = np.nansum(X[:, :, 0], axis=1)
    Xd, yd = da.from_array(X, chunks=(10, 7, 3)), da.from_array(y, chunks=10)
    # The key (name, i, 0) of a 2-D block reaches partial_fit as data.
    with pytest.raises(ValueError, match="could not convert string to float: 'array-"):
        wrappers.Incremental(LSTMRegressor((4,)), shuffle_blocks=False).fit(Xd, yd)
    # A 2-D y's block (name, i, 0) is read as (name, i): a tuple of two.
    X2, y2 = np.nan_to_num(X[:, :, 0]), np.stack([y, -y], axis=1)
    with pytest.raises(ValueError, match="X has 10 sequences, y has 2"):
        wrappers.Incremental(LSTMRegressor((4,)), shuffle_blocks=False).fit(
            da.from_array(X2, chunks=(10, 7)), da.from_array(y2, chunks=(10, 2)))
    est = _fitted(LSTMRegressor((4,), max_iter=2, random_state=0), X, y)
    # The metadata dummy (1, n_steps) is one univariate series.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="X has 1 features"):
            wrappers.ParallelPostFit(est).predict(Xd)
    # drop_axis=1 declares a 2-D output (the features' axis kept).
    declared = wrappers.ParallelPostFit(est, predict_meta=np.empty(0)).predict(Xd)
    assert declared.shape == (40, 3)
    with pytest.raises(IndexError):
        declared.compute(scheduler="sync")


def test_without_dask_ml_the_error_says_what_to_install():
    code = ("import sys; sys.modules['dask_ml'] = None\n"
            "import lstm_fast.dask\n"  # the module itself imports without it
            "try:\n"
            "    lstm_fast.dask.Incremental\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=REPO_ROOT.parent)
    assert proc.returncode == 0, proc.stderr
    assert 'pip install "dask[distributed]" dask-ml' in proc.stdout, proc.stdout
    assert "lstm_fast.dask.Incremental needs dask and dask-ml" in proc.stdout


# ------------------------------------------------------------------ docs

def _section(path, heading):
    text = read_doc(path)
    assert f"\n{heading}\n" in text, f"{path} has no {heading!r} section"
    blocks = EXAMPLE_BLOCK.findall(text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0])
    assert len(blocks) == 1, f"{path}'s {heading!r}: one python block and its output"
    return blocks[0]


def _run_and_compare(code, shown, tmp_path):
    """Decimals to 0.02: another CPU rounds a few epochs otherwise."""
    run_and_compare(code, shown, tmp_path, tolerance=0.02, timeout=240)


def test_readme_section_runs_and_prints_what_it_shows(tmp_path):
    _run_and_compare(*_section("README.md", "## Data bigger than memory"), tmp_path)


def test_cluster_page_section_runs_and_prints_what_it_shows(tmp_path):
    _run_and_compare(*_section("docs/cluster.md", "## Data bigger than memory"), tmp_path)
