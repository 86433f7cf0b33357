"""GridSearchCV(n_jobs=...) over LSTMRegressor: outer processes vs inner threads.

Each candidate fit runs the OpenMP kernels, which by default use every core.
With ``GridSearchCV(n_jobs=2)`` joblib's loky backend starts two worker
processes and sets their OpenMP (and BLAS) thread count to
cpu_count // n_jobs, so on 2 cores each fit runs on one thread and the two
fits run side by side: no oversubscription. This benchmark measures that
against n_jobs=1 (one fit at a time on all cores), and, as the control, the
oversubscribed cases: every worker's fits insisting on 2 threads
(``LSTMRegressor(n_jobs=2)`` inside ``GridSearchCV(n_jobs=2)``: 4 busy
threads on 2 cores), and joblib's threading backend, whose threads get
OpenMP's default thread count (all cores) each, because an OpenMP thread
count is a per-thread setting that only process-based backends reset.

    python bench/test_gridsearch_threads.py       # the table (medians)
    pytest bench/test_gridsearch_threads.py       # pytest-benchmark

CI runs this file with --benchmark-disable (each case once) as a smoke test.
"""

import os
import statistics
import time
import warnings

import numpy as np
import pytest

N, T, D = 512, 40, 4
GRID = {"hidden_layer_sizes": [(32,), (64,)], "learning_rate_init": [3e-3, 1e-2]}
CV, EPOCHS = 3, 4

# (label, GridSearchCV n_jobs, estimator n_jobs, joblib backend)
CASES = [
    ("n_jobs=1 (1 process x all cores)", 1, None, "loky"),
    ("n_jobs=2 (2 processes x cores/2)", 2, None, "loky"),
    ("n_jobs=2, estimator n_jobs=2 (oversubscribed)", 2, 2, "loky"),
    ("n_jobs=2, threading backend (oversubscribed)", 2, None, "threading"),
    ("n_jobs=2, threading backend, estimator n_jobs=1", 2, 1, "threading"),
]


def make_problem(n=N, seed=0):
    """X ~ N(0, 1); y is a scaled running sum of the first feature."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, D)).astype(np.float32)
    y = X[:, :, 0].sum(axis=1) / np.sqrt(T)
    return X, y


def make_search(search_jobs, estimator_jobs=None, epochs=EPOCHS):
    """The grid search every case runs: 4 candidates x 3 folds = 12 fits."""
    from sklearn.model_selection import GridSearchCV

    from lstm_fast import LSTMRegressor

    est = LSTMRegressor(max_iter=epochs, batch_size=64, n_iter_no_change=np.inf,
                        random_state=0, n_jobs=estimator_jobs)
    return GridSearchCV(est, GRID, cv=CV, n_jobs=search_jobs)


def run_search(search_jobs, estimator_jobs=None, X=None, y=None, epochs=EPOCHS,
               backend="loky"):
    """Fit one grid search; (seconds, mean test scores)."""
    from joblib import parallel_config

    if X is None:
        X, y = make_problem()
    search = make_search(search_jobs, estimator_jobs, epochs)
    start = time.perf_counter()
    with warnings.catch_warnings(), parallel_config(backend=backend):
        warnings.simplefilter("ignore")  # max_iter reached, as intended
        search.fit(X, y)
    return time.perf_counter() - start, search.cv_results_["mean_test_score"]


def worker_threads(n_jobs=2, backend="loky"):
    """The kernels' thread counts inside joblib's workers."""
    from joblib import Parallel, delayed

    import lstm_fast

    return sorted(set(Parallel(n_jobs=n_jobs, backend=backend)(
        delayed(lstm_fast.get_num_threads)() for _ in range(2 * n_jobs))))


@pytest.mark.parametrize("label, search_jobs, estimator_jobs, backend", CASES,
                         ids=["search1", "search2", "search2-estimator2", "threading2",
                              "threading2-estimator1"])
def test_gridsearch(benchmark, label, search_jobs, estimator_jobs, backend):
    X, y = make_problem(n=96)
    seconds, scores = benchmark(run_search, search_jobs, estimator_jobs, X, y, 1, backend)
    assert np.isfinite(scores).all()


def main(repeats=3):
    import lstm_fast

    X, y = make_problem()
    print(f"GridSearchCV over LSTMRegressor: {len(GRID['hidden_layer_sizes']) * 2} candidates "
          f"x {CV} folds, N={N} T={T} D={D}, {EPOCHS} epochs; {os.cpu_count()} CPUs, "
          f"kernels default to {lstm_fast.get_num_threads()} threads")
    print(f"kernel threads inside joblib workers of n_jobs=2: loky {worker_threads(2)}, "
          f"threading {worker_threads(2, 'threading')}; load average {os.getloadavg()[0]:.1f}")
    run_search(2, None, X, y, 1)  # start the loky workers once (reused below)
    results = {}
    times = {label: [] for label, *_ in CASES}
    # Rounds over all cases, so that a change in the machine's load hits
    # every case alike.
    for _ in range(repeats):
        for label, search_jobs, estimator_jobs, backend in CASES:
            seconds, scores = run_search(search_jobs, estimator_jobs, X, y, EPOCHS, backend)
            times[label].append(seconds)
            results[label] = scores
    results = {label: (statistics.median(t), min(t), max(t), results[label])
               for label, t in times.items()}
    base = results[CASES[0][0]][0]
    print(f"\n| case | median s | min s | max s | vs n_jobs=1 |\n|---|---:|---:|---:|---:|")
    for label, (med, lo, hi, _) in results.items():
        print(f"| {label} | {med:.2f} | {lo:.2f} | {hi:.2f} | {base / med:.2f}x |")
    same = all(np.array_equal(results[CASES[0][0]][3], r[3]) for r in results.values())
    print(f"\nmean test scores identical across cases: {same}; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
