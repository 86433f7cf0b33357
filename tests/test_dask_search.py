"""Hyper-parameter search on a dask.distributed cluster, through joblib.

The "Scaling out to a cluster" recipe is run as written: its code block is
extracted from docs/cluster.md and executed as a script (a
``LocalCluster`` of 2 worker processes on the loopback interface), and its
search must find the same best parameters and the same scores as the same
search run locally. The estimators travel to the workers by pickle, so the
pickles are checked too: small (parameters and optimizer state, no scratch
buffers or caches) and usable on a worker.
"""

import pathlib
import pickle
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from lstm_fast import LSTMClassifier, LSTMRegressor

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "cluster.md"
SECTION = "# Scaling out to a cluster"


def cluster_recipe_code():
    """The first ``python`` code block of the cluster page's recipe and the
    output block shown after it."""
    if not DOC.exists():
        pytest.skip(f"{DOC} is not beside the tests (installed without the source tree)")
    text = DOC.read_text(encoding="utf-8")
    assert SECTION in text, f"docs/cluster.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```\n```\n(.*?)```", section, flags=re.S)
    assert blocks, f"no python code block followed by its output in docs/cluster.md's {SECTION!r}"
    return blocks[0]


# Appended to the recipe's code when the test runs it: hands the fitted
# search's results back (only in the main process; the workers import the
# script too).
_REPORT = textwrap.dedent("""
    if __name__ == "__main__":
        import pickle as _pickle, sys as _sys
        with open(_sys.argv[1], "wb") as _f:
            _pickle.dump({"best_params": search.best_params_,
                          "best_score": search.best_score_,
                          "params": search.cv_results_["params"],
                          "scores": search.cv_results_["mean_test_score"],
                          "worker_threads": worker_threads}, _f)
""")


def test_documented_grid_search_on_a_dask_cluster_equals_the_local_search(tmp_path):
    pytest.importorskip("distributed")
    code, shown = cluster_recipe_code()
    script = tmp_path / "cluster_recipe.py"
    script.write_text(code + _REPORT, encoding="utf-8")
    out = tmp_path / "result.pkl"
    # Run from tmp_path: the installed package, never the source tree's.
    result = subprocess.run([sys.executable, str(script), str(out)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    remote = pickle.loads(out.read_bytes())
    # The output is the one the page shows (the score to float rounding:
    # another CPU runs other kernels).
    printed, shown = result.stdout.splitlines(), shown.splitlines()
    assert printed[0] == shown[0]
    best = re.compile(r"best: (.*) R\^2 (\S+)$")
    (params, score), (shown_params, shown_score) = (best.match(printed[1]).groups(),
                                                    best.match(shown[1]).groups())
    assert params == shown_params == str(remote["best_params"])
    assert abs(float(score) - float(shown_score)) < 5e-3
    # The workers really ran the kernels, each on one thread (dask sets
    # OMP_NUM_THREADS=1 in its worker processes: no oversubscription).
    assert remote["worker_threads"] == [1], remote["worker_threads"]

    # The same search, locally and sequentially, from the recipe's own objects.
    namespace = {"__name__": "cluster_recipe"}
    exec(compile(code, str(script), "exec"), namespace)  # defines X, y, search; no cluster
    local = clone(namespace["search"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached, as in the recipe
        local.fit(namespace["X"], namespace["y"])
    assert remote["params"] == local.cv_results_["params"]
    # Every fit is deterministic and independent of the thread count.
    np.testing.assert_array_equal(remote["scores"], local.cv_results_["mean_test_score"])
    assert remote["best_params"] == local.best_params_
    assert remote["best_score"] == local.best_score_


def _fitted(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, y)


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((64, 12, 3)).astype(np.float32)
    return X, X[:, :, 0].sum(axis=1)


@pytest.mark.parametrize("make", [
    lambda: LSTMRegressor((32,), max_iter=2, random_state=0),
    lambda: LSTMRegressor((16, 8), cell="gru", bidirectional=True, max_iter=2, random_state=0),
    lambda: LSTMRegressor((16,), output="sequence", dtype=np.float64, max_iter=2,
                          random_state=0),
    lambda: LSTMClassifier((16,), cell="rnn", max_iter=2, random_state=0),
], ids=["lstm", "gru-bidirectional", "sequence-f64", "rnn-classifier"])
def test_pickle_holds_parameters_and_optimizer_state_only(make):
    X, y = _problem()
    if make().output == "sequence":
        y = np.cumsum(X[:, :, 0], axis=1)
    if isinstance(make(), LSTMClassifier):
        y = y > 0
    assert len(pickle.dumps(make())) < 2048  # unfitted: the hyper-parameters
    est = _fitted(make(), X, y)
    fitted = len(pickle.dumps(est))
    # Use it every way that allocates scratch memory or caches...
    est.predict(X)
    est.score(X, y)
    est.inspect(X[:2])
    if not est.bidirectional:
        est.stream().step(X[0, 0])
    # ...and the pickle is still what it was: the flat parameter buffer and
    # Adam's two moment buffers of the same size (kept, as MLPRegressor keeps
    # them, so that partial_fit continues where fit stopped), nothing else
    # of the data's size.
    n = est.network_.params.nbytes
    assert len(pickle.dumps(est)) == fitted
    assert fitted <= 3 * n + 8192, f"pickle of {fitted} bytes for {n} bytes of parameters"
    clone_ = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone_.predict(X), est.predict(X))


def test_fitted_estimator_unpickles_and_predicts_on_a_worker(client):
    X, y = _problem(1)
    est = _fitted(LSTMRegressor((16,), max_iter=3, random_state=0), X, y)
    workers = list(client.scheduler_info()["workers"])
    assert len(workers) == 2
    for worker in workers:  # each worker process unpickles its own copy
        remote = client.submit(lambda e, x: e.predict(x), est, X, workers=[worker],
                               pure=False).result()
        np.testing.assert_array_equal(remote, est.predict(X))
    # Fitting on a worker gives the same model as fitting here.
    remote_fit = client.submit(_fitted, LSTMRegressor((16,), max_iter=3, random_state=0),
                               X, y, pure=False).result()
    np.testing.assert_array_equal(remote_fit.network_.params, est.network_.params)
