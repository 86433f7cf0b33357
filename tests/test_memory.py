"""Repeated calls do not grow the process's memory: 1,000 fits, predictions,
streams and interrupted fits of a small model (200 of the slower ones in
the default, bounded run; 1,000 with LSTM_FAST_TEST_PROFILE=long) each leave
the resident set size (RSS) where it was, to within allocator noise.

The model is small but its per-call buffers are not (a training cache is
~0.25 MB), so leaking any of them once per call would add 50 MB or more.
"""

import gc
import os
import sys
import warnings

import numpy as np
import pytest

from lstm_fast import LSTMClassifier, LSTMRegressor, layers

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                 reason="reads RSS from /proc")]

#: Growth allowed over the calls: allocator and interpreter noise (a leak of
#: one training cache per call would be 50 MB or more).
NOISE = 16 << 20


def rss():
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def n_slow(long_run):
    """Calls of the slower kinds (fits): 1,000 in the long run."""
    return 1000 if long_run else 200


def growth(call, n, warmup=20):
    """RSS after n calls minus RSS after `warmup` calls (caches, arenas and
    lazily imported modules settle during the warm-up)."""
    for _ in range(warmup):
        call()
    gc.collect()
    before = rss()
    for _ in range(n):
        call()
    gc.collect()
    after = rss()
    print(f"{call.__name__}: RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB "
          f"over {n} calls")
    return after - before


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one-epoch fits stop at max_iter
        yield


def data(cell_seed=0):
    rng = np.random.default_rng(cell_seed)
    X = rng.standard_normal((32, 20, 3))
    return X, X[:, :, 0].sum(axis=1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_repeated_fits_do_not_grow_memory(cell, n_slow):
    X, y = data()

    def fit():
        LSTMRegressor((16,), cell=cell, max_iter=1, random_state=0).fit(X, y)

    assert growth(fit, n_slow) < NOISE


def test_repeated_predictions_and_partial_fits_do_not_grow_memory(n_slow):
    X, y = data()
    clf = LSTMClassifier((16,), bidirectional=True, max_iter=1, random_state=0).fit(X, y > 0)
    reg = LSTMRegressor((16,), output="sequence", max_iter=1, random_state=0)
    reg.fit(X, X[:, :, 1])

    def predict():
        clf.predict_proba(X)
        reg.predict(X)
        reg.partial_fit(X, X[:, :, 1])

    assert growth(predict, n_slow) < NOISE


def test_repeated_streams_do_not_grow_memory():
    X, _ = data()
    est = LSTMRegressor((16,), output="sequence", max_iter=1, random_state=0)
    est.fit(X, X[:, :, 1])

    def stream():
        s = est.stream(n_streams=4)
        for t in range(10):
            s.step(X[:4, t])
        s.reset()

    assert growth(stream, 1000) < NOISE


def test_repeated_layer_training_steps_do_not_grow_memory(n_slow):
    layer = layers.LSTM(3, 16, bidirectional=True, random_state=0)
    X = data()[0].astype(np.float32)
    dY = np.ones((32, 20, 32), np.float32)

    def step():
        _, _, cache = layer.forward(X, training=True)
        layer.backward(cache, dY=dY)
        _, _, spent = layer.forward(X, training=True)  # a cache never used by backward
        del spent

    assert growth(step, n_slow) < NOISE


def test_interrupted_fits_do_not_grow_memory(monkeypatch, n_slow):
    X, y = data()
    count = {"n": 0}
    original = LSTMRegressor._backprop

    def interrupt_sometimes(self, *args, **kwargs):
        count["n"] += 1
        if count["n"] % 3 == 0:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LSTMRegressor, "_backprop", interrupt_sometimes)

    def interrupted_fit():
        try:
            LSTMRegressor((16,), max_iter=5, batch_size=16, random_state=0).fit(X, y)
        except KeyboardInterrupt:
            pass

    assert growth(interrupted_fit, n_slow) < NOISE
    assert sys.getrefcount(X) < 10  # no interrupted fit kept a reference to its data
