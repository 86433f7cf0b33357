"""Coverage-guided fuzzing (atheris / libFuzzer) of the Python API.

Each input picks one target and builds its arguments from the fuzzer's
bytes:

* ``layer``: a kernel layer (any cell, direction, dtype) run forward and
  backward on fuzzed shapes, lengths, initial states and values (NaN,
  infinities, huge, tiny and subnormal numbers included);
* ``estimator``: fit / predict / stream of a small LSTMRegressor or
  LSTMClassifier on fuzzed data and parameters;
* ``load``: Estimator.load on a saved model with fuzzed edits (or on raw
  fuzzed bytes).

A clear ValueError or TypeError is an accepted answer; any other exception,
a crash, a hang (libFuzzer's -timeout), NaN parameters after a fit or a
loaded model that differs from the saved one is a finding.

Run it from outside the source tree (so that the installed, compiled
package is imported), for example for about a minute::

    pip install atheris
    python tools/fuzz_python.py -max_total_time=60 -timeout=20

libFuzzer options (``-runs=N``, ``-jobs=N``, a corpus directory, ...) pass
through; a crashing input is written to ``crash-*`` and replays with
``python tools/fuzz_python.py crash-<hash>``.
"""

import io
import sys
import warnings

import atheris

import numpy as np
import sklearn.model_selection  # noqa: F401  (imported by fit; not worth instrumenting)

# Coverage of lstm_fast's own code only: instrumenting numpy, scikit-learn
# and scipy as well takes minutes and guides the fuzzer nowhere useful.
with atheris.instrument_imports(include=["lstm_fast"]):
    import lstm_fast._estimators  # noqa: F401  (the estimators are imported lazily)
    from lstm_fast import LSTMClassifier, LSTMRegressor, layers

ACCEPTED = (ValueError, TypeError)
SPECIALS = (np.nan, np.inf, -np.inf, 1e30, -1e30, 1e-42, 1e300, 0.0)


def floats(fdp, n, dtype):
    """n values: mostly from the fuzzer's bytes, some special."""
    values = np.array([fdp.ConsumeRegularFloat() for _ in range(n)], dtype=np.float64)
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        if n:
            values[fdp.ConsumeIntInRange(0, n - 1)] = SPECIALS[fdp.ConsumeIntInRange(0, 7)]
    with np.errstate(over="ignore"):
        return values.astype(dtype)


def fuzz_layer(fdp):
    cell = fdp.PickValueInList(["LSTM", "GRU", "RNN"])
    dtype = fdp.PickValueInList([np.float32, np.float64])
    B, T, D, H = (fdp.ConsumeIntInRange(0, 4), fdp.ConsumeIntInRange(0, 6),
                  fdp.ConsumeIntInRange(1, 4), fdp.ConsumeIntInRange(1, 20))
    kwargs = {"nonlinearity": fdp.PickValueInList(["tanh", "relu"])} if cell == "RNN" else {}
    layer = getattr(layers, cell)(D, H, dtype=dtype, random_state=0,
                                  bidirectional=fdp.ConsumeBool(), **kwargs)
    X = floats(fdp, B * T * D, dtype).reshape(B, T, D)
    if fdp.ConsumeBool():
        X = np.asfortranarray(X)
    lengths = None
    if fdp.ConsumeBool():
        lengths = np.array([fdp.ConsumeIntInRange(-1, T + 1) for _ in range(B)])
    state_shape = (2, B, H) if layer.bidirectional else (B, H)
    h0 = floats(fdp, int(np.prod(state_shape)), dtype).reshape(state_shape) \
        if fdp.ConsumeBool() else None
    try:
        with np.errstate(all="ignore"):
            result = layer.forward(X, h0, lengths=lengths, training=True)
            layer.backward(result[-1], dY=np.ones_like(result[0]))
    except ACCEPTED:
        return
    Y = result[0]
    assert Y.shape == (B, T, layer.directions * H)
    if np.all(np.isfinite(X)) and (h0 is None or np.all(np.isfinite(h0))) \
            and kwargs.get("nonlinearity") != "relu":
        assert np.all(np.isfinite(Y)), "finite input gave a non-finite output"


def fuzz_estimator(fdp):
    Estimator = fdp.PickValueInList([LSTMRegressor, LSTMClassifier])
    n, T, D = (fdp.ConsumeIntInRange(0, 8), fdp.ConsumeIntInRange(0, 5),
               fdp.ConsumeIntInRange(1, 3))
    X = floats(fdp, n * T * D, np.float64).reshape(n, T, D)
    output = fdp.PickValueInList(["last", "sequence"])
    shape = (n, T) if output == "sequence" else (n,)
    size = int(np.prod(shape))
    if Estimator is LSTMClassifier:
        y = np.array([fdp.ConsumeIntInRange(0, 2) for _ in range(size)]).reshape(shape)
    else:
        y = floats(fdp, size, np.float64).reshape(shape)
    est = Estimator(
        hidden_layer_sizes=(fdp.ConsumeIntInRange(1, 6),),
        cell=fdp.PickValueInList(["lstm", "gru", "rnn"]), output=output,
        bidirectional=fdp.ConsumeBool(), solver=fdp.PickValueInList(["adam", "sgd"]),
        learning_rate_init=fdp.PickValueInList([1e-3, 1.0, 1e6]),
        clip_norm=fdp.PickValueInList([None, 1.0]), max_iter=fdp.ConsumeIntInRange(1, 2),
        batch_size=fdp.PickValueInList(["auto", 1, 3]), random_state=0,
        dtype=fdp.PickValueInList([np.float32, np.float64]))
    try:
        est.fit(X, y)
    except ACCEPTED:
        return
    assert np.all(np.isfinite(est.network_.params)), "fit left non-finite parameters"
    try:
        out = est.predict(X)
    except ACCEPTED:
        return
    assert len(out) == n
    if output == "sequence" and not est.bidirectional:
        stream = est.stream()
        for t in range(T):
            try:
                stream.step(X[0, t])
            except ACCEPTED:
                break


_SAVED = {}


def saved_model(Estimator):
    """Bytes of a small saved model and its predictions (made once)."""
    if Estimator not in _SAVED:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((16, 4, 2))
        y = X.sum(axis=(1, 2))
        est = Estimator((3,), max_iter=1, random_state=0).fit(
            X, y if Estimator is LSTMRegressor else y > 0)
        buffer = io.BytesIO()
        est.save(buffer)
        _SAVED[Estimator] = (buffer.getvalue(), X, est.predict(X))
    return _SAVED[Estimator]


def fuzz_load(fdp):
    Estimator = fdp.PickValueInList([LSTMRegressor, LSTMClassifier])
    raw, X, expected = saved_model(Estimator)
    if fdp.ConsumeBool():
        data = bytearray(raw)
        for _ in range(fdp.ConsumeIntInRange(1, 4)):
            what = fdp.ConsumeIntInRange(0, 2)
            at = fdp.ConsumeIntInRange(0, max(len(data) - 1, 0))
            if what == 0:
                data = data[:at]
            elif what == 1 and data:
                data[at] ^= 1 << fdp.ConsumeIntInRange(0, 7)
            else:
                data[at:at] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16))
        data = bytes(data)
    else:
        data = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        est = Estimator.load(io.BytesIO(data))
    except ValueError:
        return
    assert np.array_equal(est.predict(X), expected), "a damaged file loaded as another model"


TARGETS = [fuzz_layer, fuzz_estimator, fuzz_load]


def test_one_input(data):
    fdp = atheris.FuzzedDataProvider(data)
    target = TARGETS[fdp.ConsumeIntInRange(0, len(TARGETS) - 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target(fdp)


def main():
    for Estimator in (LSTMRegressor, LSTMClassifier):  # imports and models made before timing
        saved_model(Estimator)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
