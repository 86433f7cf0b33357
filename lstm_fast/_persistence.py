"""Saving a fitted estimator without pickle, and loading it back safely.

The file is a :func:`numpy.savez` archive: a ``metadata`` entry (JSON text:
the format version, the class, the constructor parameters, the fitted
attributes and an ``extra`` mapping of the class's own), the flat ``params``
buffer of the network, and a classifier's ``classes_``. A quantized
estimator's file (format 2) has, instead of ``params``, the head's
``coef`` and ``intercept`` and each layer's reduced arrays (int8 or
bfloat16 bits, row scales, float32 biases), and its ``precision``. This module is the
whole schema: what :func:`save` writes and what :func:`load` accepts.

:func:`load` reads a file it must not trust: its own reader of the archive
takes no pickle, no compressed entry, no .npy header or member larger than the
metadata implies, and checks every key, type and value of the metadata
before anything of the size it declares is allocated.
"""

import io
import json
import os
import zipfile
from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._network import RecurrentNetwork
from ._quantize import PRECISIONS, ReducedWeights
from ._version import __version__

#: Major version of the save() format; load() refuses another major version.
#: 1.1: a regressor's loss, huber_delta and quantile (files of 1.0 have none:
#: they load as squared error).
FORMAT_VERSION = "1.1"
#: The format of a quantized estimator (``est.quantize``): 1.1's metadata
#: and a "precision" entry; instead of ``params``, the head (``coef``,
#: ``intercept``) and each layer's reduced arrays. A major version of its
#: own, so that an lstm-fast that cannot read them says so.
REDUCED_FORMAT_VERSION = "2.0"
#: Major versions load() reads.
_MAJORS = ("1", "2")
#: Start of every error message of load().
_LOAD_ERROR = "cannot load"
_DTYPE_NAMES = ("float32", "float64")
_FITTED_KEYS = frozenset({"n_iter_", "t_", "loss_curve_", "best_loss_", "validation_scores_",
                          "best_validation_score_", "n_features_in_", "n_outputs_"})
#: Fitted attributes that files written before they existed lack (what load
#: sets instead: see _from_metadata).
_OPTIONAL_FITTED_KEYS = frozenset({"learning_rates_"})
#: Bounds on what load() reads of the metadata and of the class labels.
_MAX_METADATA_BYTES = 64 << 20
_MAX_CLASSES_BYTES = 64 << 20
#: Bound on a .npy header (numpy's own default).
_MAX_HEADER_BYTES = 10000


# ------------------------------------------------------------------ writing


def save(estimator, path):
    """Write a fitted estimator: arrays + JSON metadata, no pickle.

    Parameters
    ----------
    estimator : LSTMRegressor or LSTMClassifier
        Fitted.
    path : str, path-like or file-like
        Destination, written with :func:`numpy.savez`: like it, ``.npz`` is
        appended to a name that does not end with it.

    Returns
    -------
    path : str or file-like
        What was written: the name with ``.npz`` as a str, or the given
        file-like object. :func:`load` given the same `path` finds it.

    Raises
    ------
    NotFittedError
        If `estimator` is not fitted.
    ValueError
        For class labels that are neither numbers nor strings.
    """
    check_is_fitted(estimator)
    params = {k: v for k, v in estimator.get_params(deep=False).items()}
    # dtype as a name, and whether it was given as a type (np.float32) or a string.
    params["dtype"] = [np.dtype(params["dtype"]).name, isinstance(params["dtype"], type)]
    params["hidden_layer_sizes"] = list(estimator._hidden_sizes())
    if not isinstance(params["random_state"], (type(None), Integral)):
        params["random_state"] = None
    if "quantile" in params:
        params["quantile"] = _quantile_to_json(params["quantile"])
        params["huber_delta"] = float(params["huber_delta"])
    for name in ("dropout", "recurrent_dropout"):
        params[name] = float(params[name])
    if isinstance(params.get("class_weight"), dict):
        # JSON keys are strings: the labels keep their type as [label, weight] pairs.
        params["class_weight"] = [[_json_label(k, "class_weight"), float(v)]
                                  for k, v in params["class_weight"].items()]
    fitted = {
        "n_iter_": int(estimator.n_iter_), "t_": int(estimator.t_),
        "loss_curve_": [float(v) for v in estimator.loss_curve_],
        "learning_rates_": [float(v) for v in estimator.learning_rates_],
        "best_loss_": None if estimator.best_loss_ is None else float(estimator.best_loss_),
        "validation_scores_": (None if estimator.validation_scores_ is None
                               else [float(v) for v in estimator.validation_scores_]),
        "best_validation_score_": (None if estimator.best_validation_score_ is None
                                   else float(estimator.best_validation_score_)),
        "n_features_in_": int(estimator.n_features_in_),
        "n_outputs_": int(estimator.n_outputs_),
    }
    extra, class_arrays = _class_part(estimator)
    network = estimator.network_
    meta = {
        "format": "lstm-fast-estimator", "format_version": FORMAT_VERSION,
        "package_version": __version__, "class": type(estimator).__name__,
        "params": params, "fitted": fitted, "extra": extra,
    }
    if network.precision is None:
        arrays = {"params": network.params}
    else:
        meta.update(format_version=REDUCED_FORMAT_VERSION, precision=network.precision)
        arrays = {"coef": network.coef, "intercept": network.intercept}
        for i, directions in enumerate(network.reduced()):
            for d, weights in enumerate(directions):
                arrays.update({_reduced_name(i, d, key): value
                               for key, value in weights.arrays().items()})
    arrays.update(class_arrays)
    path = _npz_name(path)
    np.savez(path, metadata=np.array(json.dumps(meta)), **arrays)
    return path


def _reduced_name(layer, direction, key):
    """The entry of a quantized estimator's file that holds `key` of
    ``ReducedWeights.arrays()`` for this layer and direction."""
    return f"layer{layer}{('', '_reverse')[direction]}_{key}"


def _npz_name(path):
    """The name numpy.savez writes to for `path` (".npz" appended unless
    there), as a str; a file-like object as given."""
    if hasattr(path, "write"):
        return path
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def _class_part(estimator):
    """What only one class writes: (the metadata's "extra", arrays besides
    the parameters). A regressor: whether predict squeezes its one output;
    a classifier: its labels, as an array of their own dtype."""
    if not estimator._is_classifier:
        q = estimator._fitted_quantile
        return {"y_squeeze": bool(estimator._y_squeeze), "loss": estimator._fitted_loss,
                "quantile": list(q) if isinstance(q, tuple) else q}, {}
    if estimator.classes_.dtype.kind not in "biufU":
        raise ValueError(f"save() supports numeric or string class labels; these are "
                         f"of dtype {estimator.classes_.dtype}: use pickle or joblib instead")
    return {}, {"classes_": estimator.classes_}


def _quantile_to_json(quantile):
    """The quantile parameter as JSON: null, a number, or its levels with
    the kind of sequence they came in (so that get_params compares equal
    after load)."""
    if quantile is None or isinstance(quantile, Real):
        return None if quantile is None else float(quantile)
    kind = "tuple" if isinstance(quantile, tuple) else \
        "ndarray" if isinstance(quantile, np.ndarray) else "list"
    return {"levels": [float(v) for v in np.asarray(quantile, dtype=float).ravel()],
            "type": kind}


def _quantile_from_json(value):
    """Inverse of :func:`_quantile_to_json` (ValueError for anything else)."""
    if value is None or _is_number(value):
        return value
    if isinstance(value, dict) and set(value) == {"levels", "type"} \
            and value["type"] in ("tuple", "list", "ndarray") \
            and isinstance(value["levels"], list) and value["levels"] \
            and all(_is_number(v) for v in value["levels"]):
        kind = {"tuple": tuple, "list": list, "ndarray": np.array}[value["type"]]
        return kind(value["levels"])
    raise ValueError(f"quantile must be null, a number or {{\"levels\": [numbers], "
                     f"\"type\": \"tuple\", \"list\" or \"ndarray\"}}, got {value!r}")


# ------------------------------------------------------------------ reading


def load(cls, path):
    """Read an estimator written by :func:`save`, checking every entry.

    Parameters
    ----------
    cls : type
        LSTMRegressor or LSTMClassifier: the class the file must hold.
    path : str, path-like or file-like
        The file, or what was given to :func:`save`: a name that is not a
        file is tried with ``.npz`` appended, where :func:`save` (as
        :func:`numpy.savez`) wrote it.

    Returns
    -------
    estimator : instance of `cls`

    Raises
    ------
    ValueError
        If the file is damaged, not an lstm-fast estimator, of another
        class, or of an incompatible (major) format version; every message
        starts with "cannot load".
    OSError
        If the file cannot be opened (FileNotFoundError if neither `path`
        nor `path` + ".npz" exists).
    """
    path = _existing_name(path)
    try:
        with zipfile.ZipFile(path) as archive:
            meta = _read_metadata(archive, path)
            est = _from_metadata(cls, meta, archive, path)
    except (OSError, ValueError, KeyError, TypeError, EOFError, RecursionError,
            zipfile.BadZipFile, NotImplementedError) as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        if isinstance(exc, ValueError) and str(exc).startswith(_LOAD_ERROR):
            raise
        if isinstance(exc, KeyError):
            exc = f"missing entry {exc}"
        raise ValueError(f"{_LOAD_ERROR} {path!r} as a saved lstm-fast estimator: the "
                         f"file is damaged or of another kind ({exc})") from exc
    return est


def _existing_name(path):
    """`path` if it names a file (or is file-like), else `path` + ".npz" if
    that does: save("model") wrote model.npz. Otherwise `path` as given, so
    that opening it raises the usual FileNotFoundError for the given name."""
    if hasattr(path, "read") or not isinstance(path, (str, os.PathLike)):
        return path
    name = os.fspath(path)
    if not isinstance(name, str) or os.path.isfile(name) or name.endswith(".npz"):
        return path
    return name + ".npz" if os.path.isfile(name + ".npz") else path


def _from_metadata(cls, meta, archive, path):
    """The estimator the checked metadata and arrays describe."""
    def fail(message, damaged=True):
        return ValueError(f"{_LOAD_ERROR} {path!r}{', the file is damaged' * damaged}: "
                          f"{message}")

    if not isinstance(meta, dict) or meta.get("format") != "lstm-fast-estimator":
        raise fail("it is not a saved lstm-fast estimator", damaged=False)
    version = str(meta.get("format_version", ""))
    major = version.split(".")[0]
    if major not in _MAJORS:
        raise fail(
            f"it has format version {version}, written by lstm-fast "
            f"{meta.get('package_version')}; this lstm-fast ({__version__}) reads "
            f"format {' and '.join(m + '.x' for m in _MAJORS)} only", damaged=False)
    # Format 2 is a quantized estimator's, and only its.
    precision = meta.get("precision")
    if major == "2" and precision not in PRECISIONS:
        raise fail(f"format version {version} (a quantized model's) needs a precision in "
                   f"{list(PRECISIONS)}, got {precision!r}")
    if major == "1" and precision is not None:
        raise fail(f"format version {version} holds float weights, it has no precision; "
                   f"got {precision!r}")
    if meta.get("class") != cls.__name__:
        raise fail(f"it holds a {meta.get('class')}, not a {cls.__name__}; load it with "
                   f"{meta.get('class')}.load", damaged=False)
    for key in ("params", "fitted", "extra"):
        if not isinstance(meta.get(key), dict):
            raise fail(f"metadata entry {key!r} is missing or not a mapping")

    params = dict(meta["params"])
    unknown = set(params) - set(cls._get_param_names())
    if unknown:
        raise fail(f"unknown parameters {sorted(unknown)}")
    dtype = params.get("dtype", ["float32", True])
    if not (isinstance(dtype, list) and len(dtype) == 2 and dtype[0] in _DTYPE_NAMES
            and isinstance(dtype[1], bool)):
        raise fail(f"dtype must be [\"float32\" or \"float64\", bool], got {dtype!r}")
    params["dtype"] = getattr(np, dtype[0]) if dtype[1] else dtype[0]
    sizes = params.get("hidden_layer_sizes")
    if not (isinstance(sizes, list) and sizes and all(_is_int(h, 1) for h in sizes)):
        raise fail(f"hidden_layer_sizes must be a list of positive integers, got {sizes!r}")
    params["hidden_layer_sizes"] = tuple(sizes)
    if params.get("random_state") is not None and not _is_int(params["random_state"], 0):
        raise fail(f"random_state must be null or an integer, got "
                   f"{params['random_state']!r}")
    if "quantile" in params:
        try:
            params["quantile"] = _quantile_from_json(params["quantile"])
        except ValueError as exc:
            raise fail(str(exc)) from None
    class_weight = params.get("class_weight")
    if isinstance(class_weight, list):
        if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], (str, int, float))
                   and _is_number(p[1]) for p in class_weight):
            raise fail("class_weight must be null, \"balanced\" or a list of "
                       "[label, weight] pairs")
        params["class_weight"] = {label: weight for label, weight in class_weight}
    est = cls(**params)
    est._validate_params()  # sklearn's checks: InvalidParameterError, a ValueError
    if not cls._is_classifier:
        est._head(warn=False)  # the quantile levels' checks

    fitted = dict(meta["fitted"])
    if not _FITTED_KEYS <= set(fitted) <= _FITTED_KEYS | _OPTIONAL_FITTED_KEYS:
        raise fail(f"fitted attributes must be {sorted(_FITTED_KEYS)} and optionally "
                   f"{sorted(_OPTIONAL_FITTED_KEYS)}, got {sorted(fitted)}")
    for key in ("n_iter_", "t_"):
        if not _is_int(fitted[key], 0):
            raise fail(f"{key} must be a non-negative integer, got {fitted[key]!r}")
    for key in ("n_features_in_", "n_outputs_"):
        if not _is_int(fitted[key], 1):
            raise fail(f"{key} must be a positive integer, got {fitted[key]!r}")
    for key in ("loss_curve_", "validation_scores_"):
        value = fitted[key]
        if not (isinstance(value, list) and all(_is_number(v) for v in value)
                or value is None and key == "validation_scores_"):
            raise fail(f"{key} must be a list of numbers, got {type(value).__name__}")
    for key in ("best_loss_", "best_validation_score_"):
        if fitted[key] is not None and not _is_number(fitted[key]):
            raise fail(f"{key} must be a number or null, got {fitted[key]!r}")
    # Saved before the learning-rate schedules: the rate of each epoch is
    # unknown (it was constant, but learning_rate_init may have changed
    # between warm starts).
    rates = fitted.setdefault("learning_rates_", [float("nan")] * len(fitted["loss_curve_"]))
    if not (isinstance(rates, list) and all(_is_number(v) for v in rates)
            and len(rates) == len(fitted["loss_curve_"])):
        raise fail(f"learning_rates_ must be a list of numbers, one per entry of "
                   f"loss_curve_, got {rates!r:.80}")

    # What the class saved (a regressor's head: its width per output).
    class_attrs = _class_attributes(cls, meta["extra"], fitted["n_outputs_"])
    head_width = fitted["n_outputs_"] * _head_columns(class_attrs.get("_fitted_quantile"))
    # The parameter buffer: its size follows from the metadata, and is
    # compared with the file's before the network is built.
    n_params = RecurrentNetwork.count_parameters(
        est.cell, fitted["n_features_in_"], est._hidden_sizes(), head_width,
        est.bidirectional)
    if precision is None:
        flat = _read_array(archive, "params", est._dtype().kind, est._dtype().itemsize,
                           (n_params,), path)
        if not np.all(np.isfinite(flat)):
            raise fail("the parameters hold NaN or infinity (no fit leaves them so)")
    elif est._dtype() != np.float32:
        raise fail(f"a {precision} model is a float32 one, the file says dtype "
                   f"{est._dtype().name}")
    classes = _read_classes(archive, fitted["n_outputs_"], path) if cls._is_classifier \
        else None
    network = RecurrentNetwork(est.cell, fitted["n_features_in_"], est._hidden_sizes(),
                               head_width, est.output, est._dtype(), est.bidirectional)
    if precision is None:
        network.params[...] = flat
    else:
        _read_reduced(archive, network, precision, path)
    for key, value in fitted.items():
        setattr(est, key, list(value) if isinstance(value, list) else value)
    if cls._is_classifier:
        class_attrs["classes_"] = classes
    for key, value in class_attrs.items():
        setattr(est, key, value)
    est.network_ = network
    est._no_improvement_count = 0
    return est


def _read_reduced(archive, network, precision, path):
    """Fill the float32 `network` built for a quantized estimator's file
    with its head and make its layers the file's reduced ones."""
    for name in ("coef", "intercept"):
        target = getattr(network, name)
        value = _read_array(archive, name, "f", 4, target.shape, path)
        if not np.all(np.isfinite(value)):
            raise _damaged(path, f"the head's {name} holds NaN or infinity")
        target[...] = value
    weights = np.dtype(np.int8 if precision == "int8" else np.uint16)
    reduced = []
    for i, layer in enumerate(network.layers):
        directions = []
        for d, suffix in enumerate(layer._suffixes()):
            shapes = {"w_ih": getattr(layer, "weight_ih" + suffix).shape,
                      "w_hh": getattr(layer, "weight_hh" + suffix).shape}
            rows = (shapes["w_ih"][0],)
            shapes.update(b_ih=rows, b_hh=rows)
            if precision == "int8":
                shapes.update(scale_ih=rows, scale_hh=rows)
            arrays = {}
            for key, shape in shapes.items():
                dtype = weights if key.startswith("w_") else np.dtype(np.float32)
                arrays[key] = _read_array(archive, _reduced_name(i, d, key), dtype.kind,
                                          dtype.itemsize, shape, path)
            if not all(np.all(np.isfinite(arrays[k])) for k in ("b_ih", "b_hh")):
                raise _damaged(path, f"layer {i}'s biases hold NaN or infinity")
            try:
                directions.append(ReducedWeights.from_arrays(precision, arrays))
            except ValueError as exc:
                raise _damaged(path, f"layer {i}: {exc}") from None
        reduced.append(directions)
    try:
        with np.errstate(over="ignore"):  # refused just below instead
            network.use_reduced(precision, reduced)
    except ValueError as exc:  # weights beyond float32 (huge scales)
        raise _damaged(path, f"the {precision} weights: {exc}") from None


def _class_attributes(cls, extra, n_outputs):
    """The attributes that :func:`_class_part` saved in the metadata's
    "extra" (but a classifier's labels), checked (ValueError, naming it)."""
    if cls._is_classifier:
        if extra:
            raise ValueError(f"a classifier's extra metadata is empty, got "
                             f"{extra!r}")
        return {}
    squeeze = extra.get("y_squeeze")
    # Format 1.0 wrote y_squeeze alone: a squared-error regressor.
    loss = extra.get("loss", "squared_error")
    quantile = extra.get("quantile")
    if set(extra) not in ({"y_squeeze"}, {"y_squeeze", "loss", "quantile"}) \
            or not isinstance(squeeze, bool) or (squeeze and n_outputs != 1):
        raise ValueError(f"extra metadata must be {{\"y_squeeze\": bool (true only for "
                         f"one output), \"loss\": str, \"quantile\": levels}}, got "
                         f"{extra!r}")
    if loss not in cls._parameter_constraints["loss"][0].options:
        raise ValueError(f"extra metadata's loss must be one of the regressor's, got "
                         f"{loss!r}")
    if isinstance(quantile, list):
        levels = quantile
    elif quantile is None:
        levels = []
    else:
        levels = [quantile]
    if (quantile is None) != (loss != "quantile") or quantile == [] \
            or not all(_is_number(v) and 0 < v < 1 for v in levels) \
            or any(b <= a for a, b in zip(levels, levels[1:])):
        raise ValueError(f"extra metadata's quantile must be null (loss other than "
                         f"'quantile'), a level or increasing levels in (0, 1), got "
                         f"{quantile!r} with loss {loss!r}")
    return {"_y_squeeze": squeeze, "_fitted_loss": loss,
            "_fitted_quantile": tuple(float(v) for v in quantile)
            if isinstance(quantile, list) else quantile}


def _head_columns(quantile):
    """Head columns per output: one per level of a sequence of quantiles."""
    return len(quantile) if isinstance(quantile, tuple) else 1


# ---------------------------------------------------- the archive's entries


def _damaged(path, message):
    return ValueError(f"{_LOAD_ERROR} {path!r}, the file is damaged: {message}")


def _json_label(label, name):
    """A class label as JSON keeps it: a Python number or str."""
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, bool) or not isinstance(label, (str, int, float)):
        raise ValueError(f"save() supports numeric or string labels in {name}; got "
                         f"{label!r}: use pickle or joblib instead")
    return label


def _is_int(value, minimum):
    """An integer (not a bool) >= minimum."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_member(archive, name, max_bytes, path):
    """The raw bytes of member `name` of the zip (a .npy file), at most
    `max_bytes` of them; only uncompressed members, as np.savez writes, so
    that nothing read can be larger than the file itself."""
    try:
        info = archive.getinfo(name + ".npy")
    except KeyError:
        raise _damaged(path, f"the file has no {name!r} entry") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise _damaged(path, f"entry {name!r} is compressed; save() "
                             f"writes uncompressed entries")
    if info.flag_bits & 0x1:  # else zipfile raises RuntimeError (password required)
        raise _damaged(path, f"entry {name!r} is marked encrypted; save() writes "
                             f"plain entries")
    if info.file_size > max_bytes:
        raise _damaged(path, f"entry {name!r} declares {info.file_size} "
                             f"bytes, more than the {max_bytes} it can hold")
    with archive.open(info) as member:
        raw = member.read(max_bytes + 1)  # to its end: zipfile checks the CRC-32
    if len(raw) > max_bytes:
        raise _damaged(path, f"entry {name!r} is larger than declared")
    return raw


def _parse_npy(raw, name, path):
    """(header dtype, shape, offset of the data) of a .npy file in `raw`,
    refusing object arrays, structured dtypes and Fortran order."""
    buffer = io.BytesIO(raw)
    major, minor = np.lib.format.read_magic(buffer)
    if (major, minor) == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(
            buffer, max_header_size=_MAX_HEADER_BYTES)
    elif (major, minor) == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(
            buffer, max_header_size=_MAX_HEADER_BYTES)
    else:
        raise _damaged(path, f"entry {name!r} has .npy version "
                             f"{major}.{minor}")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or fortran:
        raise _damaged(path, f"entry {name!r} has dtype {dtype}"
                             f"{' in Fortran order' if fortran else ''}; save() writes plain "
                             f"numeric or string arrays only (and never pickles)")
    return dtype, shape, buffer.tell()


def _array_from(raw, dtype, shape, offset, name, path):
    """The array a .npy header of `raw` declares, refused unless the data
    after `offset` has exactly its size."""
    count = int(np.prod(shape, dtype=object))
    if len(raw) - offset != count * dtype.itemsize:
        raise _damaged(path, f"entry {name!r} holds "
                             f"{len(raw) - offset} bytes of data, its header declares "
                             f"{count * dtype.itemsize}")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(shape)


def _read_metadata(archive, path):
    """The JSON metadata of a saved estimator, as Python objects."""
    raw = _read_member(archive, "metadata", _MAX_METADATA_BYTES, path)
    dtype, shape, offset = _parse_npy(raw, "metadata", path)
    if dtype.kind != "U" or shape != ():
        raise _damaged(path, "the metadata is not a string")
    text = str(_array_from(raw, dtype, shape, offset, "metadata", path)[()])
    return json.loads(text)


def _read_array(archive, name, kind, itemsize, shape, path):
    """Entry `name`, which the metadata says has this shape and a numeric
    dtype of this kind and size (either byte order), in native byte order."""
    n_bytes = int(np.prod(shape, dtype=object)) * itemsize
    raw = _read_member(archive, name, n_bytes + _MAX_HEADER_BYTES + 16, path)
    dtype, got_shape, offset = _parse_npy(raw, name, path)
    if dtype.kind != kind or dtype.itemsize != itemsize or tuple(got_shape) != shape:
        raise _damaged(path, f"entry {name!r} has shape {got_shape} and "
                             f"dtype {dtype}; the metadata implies {shape} and "
                             f"{np.dtype(kind + str(itemsize))}")
    return _array_from(raw, dtype, shape, offset, name, path).astype(dtype.newbyteorder("="))


def _read_classes(archive, n_classes, path):
    """The sorted, distinct class labels of a saved classifier."""
    raw = _read_member(archive, "classes_", _MAX_CLASSES_BYTES, path)
    dtype, shape, offset = _parse_npy(raw, "classes_", path)
    if dtype.kind not in "biufU" or tuple(shape) != (n_classes,) or n_classes < 2:
        raise _damaged(path, f"classes_ has shape {shape} and dtype "
                             f"{dtype}; expected {n_classes} (>= 2) numeric or string labels")
    classes = _array_from(raw, dtype, shape, offset, "classes_", path)
    classes = classes.astype(dtype.newbyteorder("="))
    if dtype.kind == "f" and not np.all(np.isfinite(classes)):
        raise _damaged(path, "classes_ holds NaN or infinity")
    if not np.array_equal(np.unique(classes), classes):
        raise _damaged(path, "classes_ must be sorted and distinct, "
                             "as fit makes them")
    return classes
