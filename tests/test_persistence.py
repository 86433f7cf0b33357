"""est.save / Estimator.load: exact round trips for every dtype, cell,
direction, output and estimator; damaged or crafted files (truncated,
bit-flipped, wrong shapes or dtypes, huge declared sizes, unknown versions,
missing keys, object arrays and pickles) are refused with a ValueError, never
run code and never allocate what they declare before checking it."""

import io
import json
import os
import pickle
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from lstm_fast import LSTMClassifier, LSTMRegressor


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny fits stop at max_iter
        yield


def data(n=24, T=5, D=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, D))
    return X, X[:, :, 0].cumsum(axis=1)


def fitted(Estimator=LSTMRegressor, output="last", **params):
    X, Y = data()
    if Estimator is LSTMClassifier:
        y = np.where(Y > 0, "up", "down")
    else:
        y = Y
    if output == "last":
        y = y[:, -1]
    params = dict(dict(hidden_layer_sizes=(4, 3), max_iter=2, random_state=0), **params)
    return Estimator(output=output, **params).fit(X, y), X


ROUND_TRIPS = [
    (Estimator, cell, bidirectional, output, dtype)
    for Estimator in (LSTMRegressor, LSTMClassifier)
    for cell in ("lstm", "gru", "rnn")
    for bidirectional in (False, True)
    for output, dtype in (("last", np.float32), ("sequence", np.float64))
]


@pytest.mark.parametrize("Estimator, cell, bidirectional, output, dtype", ROUND_TRIPS)
def test_round_trip_is_exact(Estimator, cell, bidirectional, output, dtype, tmp_path):
    est, X = fitted(Estimator, output, cell=cell, bidirectional=bidirectional, dtype=dtype)
    path = tmp_path / "model.npz"
    est.save(path)
    twin = Estimator.load(path)
    np.testing.assert_array_equal(twin.network_.params, est.network_.params)
    assert twin.network_.params.dtype == np.dtype(dtype)
    assert twin.get_params() == est.get_params()
    for name in ("n_iter_", "t_", "loss_curve_", "best_loss_", "n_features_in_",
                 "n_outputs_"):
        assert getattr(twin, name) == getattr(est, name), name
    if Estimator is LSTMClassifier:
        np.testing.assert_array_equal(twin.classes_, est.classes_)
        np.testing.assert_array_equal(twin.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(twin.predict(X), est.predict(X))


def test_round_trip_through_a_file_object():
    est, X = fitted()
    buffer = io.BytesIO()
    est.save(buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(LSTMRegressor.load(buffer).predict(X), est.predict(X))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(bytes of a saved classifier, its predictions on X, X)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a two-epoch fit stops at max_iter
        est, X = fitted(LSTMClassifier, "last", dtype=np.float64)
    path = tmp_path_factory.mktemp("saved") / "model.npz"
    est.save(path)
    return path.read_bytes(), est.predict_proba(X), X


def load_bytes(raw, Estimator=LSTMClassifier):
    return Estimator.load(io.BytesIO(raw))


def test_every_truncation_is_refused(saved):
    raw, _, _ = saved
    # Every length at the start and end, where the headers are, and a
    # stride through the rest.
    cuts = sorted(set(range(0, 300)) | set(range(len(raw) - 300, len(raw)))
                  | set(range(0, len(raw), 7)))
    for cut in cuts:
        with pytest.raises(ValueError):
            load_bytes(raw[:cut])


@pytest.mark.slow
def test_bit_flips_are_refused_or_change_nothing(saved, long_run):
    """A flipped bit anywhere: load raises ValueError, or (a flip in a part
    of the zip that holds no data, e.g. a timestamp) loads the same model."""
    raw, proba, X = saved
    rng = np.random.default_rng(0)
    n_cases = 20000 if long_run else 1500
    positions = rng.integers(0, len(raw) * 8, n_cases)
    refused = 0
    for bit in positions:
        damaged = bytearray(raw)
        damaged[bit // 8] ^= 1 << (bit % 8)
        try:
            est = load_bytes(bytes(damaged))
        except ValueError:
            refused += 1
            continue
        np.testing.assert_array_equal(est.predict_proba(X), proba,
                                      err_msg=f"bit {bit} changed the model silently")
    print(f"{n_cases} bit flips: {refused} refused, {n_cases - refused} harmless")
    assert refused > n_cases // 2


def test_random_bytes_and_garbage_zips_are_refused():
    rng = np.random.default_rng(1)
    for size in (0, 1, 4, 22, 100, 5000):
        with pytest.raises(ValueError):
            load_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("metadata.npy", b"not an npy file")
    with pytest.raises(ValueError):
        load_bytes(buffer.getvalue())


def members(raw):
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        return {name[:-4]: z.read(name) for name in z.namelist()}


def npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=allow_pickle)
    return buffer.getvalue()


def rezip(parts, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as z:
        for name, content in parts.items():
            z.writestr(name + ".npy", content)
    return buffer.getvalue()


def meta_of(raw):
    return json.loads(str(np.lib.format.read_array(io.BytesIO(members(raw)["metadata"]))))


def with_meta(raw, change):
    parts = members(raw)
    meta = meta_of(raw)
    change(meta)
    parts["metadata"] = npy(np.array(json.dumps(meta)))
    return rezip(parts)


def _set(path, value):
    def change(meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return change


CRAFTED_META = {
    "unknown major version": (_set(["format_version"], "3.0"), "format version 3.0"),
    "quantized format, no precision": (_set(["format_version"], "2.0"), "needs a precision"),
    "float format with a precision": (_set(["precision"], "int8"), "has no precision"),
    "not our format": (_set(["format"], "something-else"), "not a saved lstm-fast"),
    "other class": (_set(["class"], "LSTMRegressor"), "LSTMRegressor.load"),
    "missing params": (_set(["params"], KeyError), "damaged"),
    "missing fitted key": (_set(["fitted", "n_outputs_"], KeyError), "damaged"),
    "extra fitted key": (_set(["fitted", "predict"], 1), "damaged"),
    "unknown parameter": (_set(["params", "evil"], 1), "damaged"),
    "dtype not a float": (_set(["params", "dtype"], ["load", True]), "damaged"),
    "hidden size 10**9": (_set(["params", "hidden_layer_sizes"], [10**9]), "damaged"),
    "hidden size 0": (_set(["params", "hidden_layer_sizes"], [0]), "damaged"),
    "hidden sizes as text": (_set(["params", "hidden_layer_sizes"], "64"), "damaged"),
    "n_features 10**12": (_set(["fitted", "n_features_in_"], 10**12), "damaged"),
    "n_outputs a bool": (_set(["fitted", "n_outputs_"], True), "damaged"),
    "n_outputs wrong": (_set(["fitted", "n_outputs_"], 3), "damaged"),
    "negative n_iter": (_set(["fitted", "n_iter_"], -1), "damaged"),
    "loss curve of text": (_set(["fitted", "loss_curve_"], ["a"]), "damaged"),
    "NaN learning rate": (_set(["params", "learning_rate_init"], float("nan")), "damaged"),
    "unknown cell": (_set(["params", "cell"], "lstm2"), "damaged"),
    "extra metadata": (_set(["extra"], {"y_squeeze": True}), "damaged"),
    "metadata a list": (lambda meta: meta.clear(), "not a saved lstm-fast"),
}


@pytest.mark.parametrize("case", list(CRAFTED_META))
def test_crafted_metadata_is_refused_with_a_value_error(saved, case):
    raw, _, _ = saved
    change, message = CRAFTED_META[case]
    with pytest.raises(ValueError, match=message):
        load_bytes(with_meta(raw, change))


def _params(raw, change):
    parts = members(raw)
    params = np.lib.format.read_array(io.BytesIO(parts["params"]))
    parts["params"] = change(params)
    return rezip(parts)


def _header_only(shape, dtype="<f8"):
    """A .npy header declaring `shape` with (almost) no data after it."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\0" * 64


CRAFTED_ARRAYS = {
    "params float32": lambda raw: _params(raw, lambda p: npy(p.astype(np.float32))),
    "params int64": lambda raw: _params(raw, lambda p: npy(p.astype(np.int64))),
    "params too short": lambda raw: _params(raw, lambda p: npy(p[:-1])),
    "params 2-D": lambda raw: _params(raw, lambda p: npy(p[:, None])),
    "params with NaN": lambda raw: _params(raw, lambda p: npy(np.where(p == p[0], np.nan, p))),
    "params with inf": lambda raw: _params(raw, lambda p: npy(np.full_like(p, np.inf))),
    "params Fortran 2-D": lambda raw: _params(raw, lambda p: npy(np.asfortranarray(
        np.stack([p, p], axis=1)))),
    "params declare 10**12 values": lambda raw: _params(raw, lambda p: _header_only((10**12,))),
    "params declare their own size, no data": lambda raw: _params(
        raw, lambda p: _header_only(p.shape)),
    "params as an object array (pickle)": lambda raw: _params(
        raw, lambda p: npy(np.array([p, "x"], dtype=object), allow_pickle=True)),
    "classes_ missing": lambda raw: rezip({k: v for k, v in members(raw).items()
                                           if k != "classes_"}),
    "classes_ unsorted": lambda raw: rezip(dict(members(raw),
                                                classes_=npy(np.array(["up", "down"])))),
    "classes_ repeated": lambda raw: rezip(dict(members(raw),
                                                classes_=npy(np.array(["up", "up"])))),
    "classes_ objects": lambda raw: rezip(dict(members(raw), classes_=npy(
        np.array([b"a", 1], dtype=object), allow_pickle=True))),
    "metadata as an object array": lambda raw: rezip(dict(members(raw), metadata=npy(
        np.array([{"format": "lstm-fast-estimator"}], dtype=object), allow_pickle=True))),
    "metadata numbers": lambda raw: rezip(dict(members(raw), metadata=npy(np.zeros(3)))),
    "metadata not JSON": lambda raw: rezip(dict(members(raw), metadata=npy(np.array("{")))),
    "metadata nested 100000 deep": lambda raw: rezip(dict(members(raw), metadata=npy(
        np.array("[" * 100000 + "]" * 100000)))),
    "compressed members": lambda raw: rezip(members(raw), zipfile.ZIP_DEFLATED),
}


@pytest.mark.parametrize("case", list(CRAFTED_ARRAYS))
def test_crafted_arrays_are_refused_without_allocating_what_they_declare(saved, case):
    raw, _, _ = saved
    crafted = CRAFTED_ARRAYS[case](raw)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="damaged|not a saved"):
            load_bytes(crafted)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(crafted) + (8 << 20), peak


def test_a_pickle_in_the_file_is_never_run(tmp_path, saved):
    raw, _, _ = saved
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = np.empty(1, dtype=object)
    evil[0] = Payload()
    for name in ("params", "metadata", "classes_"):
        crafted = rezip(dict(members(raw), **{name: npy(evil, allow_pickle=True)}))
        with pytest.raises(ValueError):
            load_bytes(crafted)
        pickled = rezip(dict(members(raw), **{name: pickle.dumps(Payload())}))
        with pytest.raises(ValueError):
            load_bytes(pickled)
    assert not marker.exists()


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        LSTMRegressor.load(tmp_path / "nothing.npz")


@pytest.mark.slow
def test_loader_fuzz_random_truncations_and_flips_over_many_seeds(long_run):
    """Random edits (truncations, flipped bits, overwritten and inserted
    byte runs) of saved regressors and classifiers of every cell: always a
    ValueError or the unchanged model."""
    n_seeds = 400 if long_run else 40
    edits_per_seed = 25
    outcomes = {"refused": 0, "same": 0}
    for seed in range(n_seeds):
        rng = np.random.default_rng(seed)
        Estimator = (LSTMRegressor, LSTMClassifier)[seed % 2]
        cell = ("lstm", "gru", "rnn")[seed % 3]
        est, X = fitted(Estimator, ("last", "sequence")[seed // 2 % 2], cell=cell,
                        hidden_layer_sizes=(3,), max_iter=1, random_state=seed)
        buffer = io.BytesIO()
        est.save(buffer)
        raw = buffer.getvalue()
        expected = est.predict(X)
        for _ in range(edits_per_seed):
            damaged = bytearray(raw)
            kind = rng.integers(4)
            if kind == 0:
                damaged = damaged[:rng.integers(len(raw))]
            elif kind == 1:
                for bit in rng.integers(0, len(raw) * 8, rng.integers(1, 4)):
                    damaged[bit // 8] ^= 1 << (bit % 8)
            elif kind == 2:
                at = rng.integers(len(raw))
                damaged[at:at + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
            else:
                at = rng.integers(len(raw))
                damaged[at:at] = rng.integers(0, 256, rng.integers(1, 9),
                                              dtype=np.uint8).tobytes()
            try:
                twin = Estimator.load(io.BytesIO(bytes(damaged)))
            except ValueError:
                outcomes["refused"] += 1
                continue
            outcomes["same"] += 1
            np.testing.assert_array_equal(twin.predict(X), expected)
    print(f"loader fuzz: {n_seeds * edits_per_seed} damaged files: {outcomes}")
