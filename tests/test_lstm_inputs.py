"""What the kernel layer (lstm_fast.layers.LSTM) accepts, rejects and survives.

* Extreme values stay finite and equal the float64 NumPy reference.
* Wrong shapes, lengths and dtypes raise ValueError / TypeError naming the
  offending argument.
* Non-contiguous arrays, other numeric dtypes and read-only arrays are
  accepted and give the same result as the plain C-contiguous arrays.
* Training caches: one backward each, and only with the layer that made them.
* The low-level bridge ``lstm_fast._core.forward`` rejects arrays it cannot
  hand to C (never crashes).
* ``lstm_fast.show_config()`` and ``python -m lstm_fast info``.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import lstm_fast
import lstm_fast._core as core
from _helpers import (
    GRAD_KEYS,
    RESULT_KEYS,
    FastLSTM,
    ReferenceLSTM,
    make_problem,
    run_layer,
    run_reference64,
)

DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["f32", "f64"]


def assert_results_equal(got, expected, keys=RESULT_KEYS):
    for k in keys:
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)


# ========================================================== extreme values

# name -> (X builder, weight scale or None for torch's 1/sqrt(H), c0 scale).
# "ill": pre-activations are ~1e3..1e6 in size, so float32 rounds them by
# ~eps32 * 1e4 ~ 1e-3 absolute; where they nearly cancel, gates (and hence
# outputs and gradients) legitimately differ from float64 by that much (the
# float32 NumPy reference differs from the float64 one by up to ~1e-2 too).
XB, XT, XD = 4, 6, 5  # shape of the extreme problems
EXTREMES = {
    "x=+1e4": (lambda rng: np.full((XB, XT, XD), 1e4), None, 1.0, "ill"),
    "x=-1e4": (lambda rng: np.full((XB, XT, XD), -1e4), None, 1.0, "ill"),
    "x=+-1e4": (lambda rng: np.where(rng.random((XB, XT, XD)) < 0.5, -1e4, 1e4),
                None, 1.0, "ill"),
    "x=0": (lambda rng: np.zeros((XB, XT, XD)), None, 1.0, "well"),
    "T=1": (lambda rng: rng.standard_normal((XB, 1, XD)), None, 1.0, "well"),
    "weights=1e3": (lambda rng: rng.standard_normal((XB, XT, XD)), 1e3, 1.0, "ill"),
    "weights=1e6": (lambda rng: rng.standard_normal((XB, XT, XD)), 1e6, 1.0, "ill"),
    "c0=1e4": (lambda rng: rng.standard_normal((XB, XT, XD)), None, 1e4, "well"),
}
# Bounds on scaled_error (below), per dtype and conditioning.
EXTREME_TOL = {(np.float32, "well"): 1e-5, (np.float32, "ill"): 1e-2,
               (np.float64, "well"): 1e-12, (np.float64, "ill"): 1e-9}


def scaled_error(value, oracle):
    """max|value - oracle| / max(1, max|oracle|): absolute error for arrays of
    size <= 1 (gates, h, most gradients here), relative for larger ones."""
    value = np.asarray(value, dtype=np.float64)
    oracle = np.asarray(oracle, dtype=np.float64)
    return float(np.max(np.abs(value - oracle)) / max(1.0, float(np.max(np.abs(oracle)))))


def extreme_problem(case, dtype, H):
    make_x, weight_scale, c0_scale, _ = EXTREMES[case]
    rng = np.random.default_rng(H)
    X = make_x(rng)
    layer, data, upstream = make_problem(
        X.shape[0], X.shape[1], X.shape[2], H, dtype=dtype, seed=H,
        weight_scale=weight_scale if weight_scale else 1 / np.sqrt(H),
    )
    data["X"] = X.astype(dtype)
    data["c0"] = (data["c0"] * c0_scale).astype(dtype)
    return layer, data, upstream


@pytest.mark.parametrize("H", [1, 17, 65])
@pytest.mark.parametrize("case", list(EXTREMES))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_extreme_inputs_give_finite_results_without_warnings(dtype, case, H):
    layer, data, upstream = extreme_problem(case, dtype, H)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            result = run_layer(layer, data, upstream)
    for k in RESULT_KEYS:
        assert np.all(np.isfinite(result[k])), k
    assert np.all(np.abs(result["Y"]) <= 1) and np.all(np.abs(result["h_n"]) <= 1)


@pytest.mark.parametrize("H", [1, 17, 65])
@pytest.mark.parametrize("case", list(EXTREMES))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_extreme_inputs_match_float64_reference(dtype, case, H):
    layer, data, upstream = extreme_problem(case, dtype, H)
    result = run_layer(layer, data, upstream)
    with np.errstate(all="ignore"):
        oracle = run_reference64(layer, data, upstream)
    tol = EXTREME_TOL[dtype, EXTREMES[case][3]]
    errors = {k: scaled_error(result[k], oracle[k]) for k in RESULT_KEYS}
    bad = {k: f"{e:.2e}" for k, e in errors.items() if not e <= tol}
    assert not bad, f"scaled error above {tol:g}: {bad}"


# ======================================================= rejected inputs

GOOD_SHAPE = (2, 5, 3)  # B, T, D of the default arguments below; H = 4


def small_layer(dtype=np.float32):
    return FastLSTM(3, 4, dtype=dtype, random_state=0)


def forward_args(**overrides):
    args = {"X": np.zeros(GOOD_SHAPE, np.float32)}
    args.update(overrides)
    return args


BAD_SHAPES = {
    "X 2-D": ("X", {"X": np.zeros((2, 5))}),
    "X 4-D": ("X", {"X": np.zeros((2, 5, 3, 1))}),
    "X wrong D": ("X", {"X": np.zeros((2, 5, 4))}),
    "X no samples": ("X", {"X": np.zeros((0, 5, 3))}),
    "X no steps": ("X", {"X": np.zeros((2, 0, 3))}),
    "h0 wrong H": ("h0", {"h0": np.zeros((2, 5))}),
    "h0 wrong B": ("h0", {"h0": np.zeros((3, 4))}),
    "h0 1-D": ("h0", {"h0": np.zeros(4)}),
    "c0 3-D": ("c0", {"c0": np.zeros((2, 4, 1))}),
    "lengths wrong B": ("lengths", {"lengths": np.array([5])}),
    "lengths 2-D": ("lengths", {"lengths": np.array([[5, 5]])}),
    "lengths scalar": ("lengths", {"lengths": 5}),
    "lengths zero": ("lengths", {"lengths": np.array([0, 5])}),
    "lengths negative": ("lengths", {"lengths": np.array([-1, 5])}),
    "lengths above T": ("lengths", {"lengths": np.array([6, 5])}),
    "lengths huge uint64": ("lengths", {"lengths": np.array([2**63 + 1, 5], np.uint64)}),
    "lengths float": ("lengths", {"lengths": np.array([1.5, 2.0])}),
    "lengths integral float": ("lengths", {"lengths": np.array([2.0, 3.0])}),
    "lengths bool": ("lengths", {"lengths": np.array([True, True])}),
    "lengths strings": ("lengths", {"lengths": np.array(["5", "5"])}),
}


@pytest.mark.parametrize("case", list(BAD_SHAPES))
def test_wrong_shapes_and_lengths_raise_value_error_naming_the_argument(case):
    name, overrides = BAD_SHAPES[case]
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        small_layer().forward(**forward_args(**overrides))


NON_NUMERIC = {
    "X strings": ("X", {"X": np.full(GOOD_SHAPE, "a")}),
    "X nested list of strings": ("X", {"X": [[["a"] * 3] * 5] * 2}),
    "X object": ("X", {"X": np.zeros(GOOD_SHAPE, dtype=object)}),
    "X complex": ("X", {"X": np.zeros(GOOD_SHAPE, dtype=complex)}),
    "X None": ("X", {"X": None}),
    "h0 strings": ("h0", {"h0": np.full((2, 4), "x")}),
    "h0 object": ("h0", {"h0": np.zeros((2, 4), dtype=object)}),
    "c0 complex": ("c0", {"c0": np.zeros((2, 4), dtype=np.complex64)}),
}


@pytest.mark.parametrize("case", list(NON_NUMERIC))
def test_non_numeric_inputs_raise_type_error_naming_the_argument(case):
    name, overrides = NON_NUMERIC[case]
    with pytest.raises(TypeError, match=rf"\b{name}\b"):
        small_layer().forward(**forward_args(**overrides))


BAD_UPSTREAM = {
    "dY wrong H": ("dY", np.zeros((2, 5, 5)), ValueError),
    "dY 2-D": ("dY", np.zeros((2, 5)), ValueError),
    "dh_n wrong H": ("dh_n", np.zeros((2, 5)), ValueError),
    "dc_n 1-D": ("dc_n", np.zeros(4), ValueError),
    "dY strings": ("dY", np.full((2, 5, 4), "a"), TypeError),
    "dh_n complex": ("dh_n", np.zeros((2, 4), dtype=complex), TypeError),
}


@pytest.mark.parametrize("case", list(BAD_UPSTREAM))
def test_bad_upstream_gradients_raise_naming_the_argument(case):
    name, value, error = BAD_UPSTREAM[case]
    layer = small_layer()
    _, _, cache = layer.forward(**forward_args(), training=True)
    with pytest.raises(error, match=rf"\b{name}\b"):
        layer.backward(cache, **{name: value})


# ======================================================= accepted inputs


def strided(array, how):
    """The same values as `array`, in a non-C-contiguous array."""
    if how == "fortran" and array.ndim > 1:
        out = np.asfortranarray(array)
    elif how in ("fortran", "every-other"):
        big = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
        big[..., ::2] = array
        out = big[..., ::2]
    elif how == "reversed":
        out = np.ascontiguousarray(array[::-1])[::-1]
    else:
        raise ValueError(how)
    np.testing.assert_array_equal(out, array)
    assert not out.flags.c_contiguous
    return out


@pytest.mark.parametrize("how", ["fortran", "every-other", "reversed"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_non_contiguous_inputs_give_the_same_results(dtype, how):
    layer, data, upstream = make_problem(5, 7, 3, 9, dtype=dtype, seed=1)
    expected = run_layer(layer, data, upstream)
    data = {k: strided(v, how) for k, v in data.items()}
    upstream = {k: strided(v, how) for k, v in upstream.items()}
    assert_results_equal(run_layer(layer, data, upstream), expected)


def test_time_major_view_as_input_gives_the_same_results():
    layer, data, upstream = make_problem(5, 7, 3, 9, dtype=np.float32, seed=2)
    expected = run_layer(layer, data, upstream)
    time_major = np.ascontiguousarray(data["X"].transpose(1, 0, 2))
    got = run_layer(layer, dict(data, X=time_major.transpose(1, 0, 2)), upstream)
    assert_results_equal(got, expected)


@pytest.mark.parametrize("source", [np.float64, "list", np.float16, np.int64, np.bool_])
def test_other_numeric_inputs_are_converted_to_the_layer_dtype(source):
    """Any real numeric array (or nested list) is accepted and gives exactly
    the result of the same values given as float32."""
    layer, data, upstream = make_problem(4, 6, 3, 7, dtype=np.float32, seed=3)
    arrays = {**data, **upstream}
    if source in (np.float64, "list"):  # every float32 value is exact in these
        names = [k for k in arrays if k != "lengths"]
    else:  # only X, with values exact in the narrower type
        names = ["X"]
        rng = np.random.default_rng(0)
        low = 0 if source is np.bool_ else -3
        arrays["X"] = rng.integers(low, 2 if low == 0 else 4,
                                   size=arrays["X"].shape).astype(np.float32)
    converted = dict(arrays)
    for k in names:
        converted[k] = arrays[k].tolist() if source == "list" else arrays[k].astype(source)
    expected = run_layer(layer, {k: arrays[k] for k in data}, upstream)
    got = run_layer(layer, {k: converted[k] for k in data},
                    {k: converted[k] for k in upstream})
    for k in RESULT_KEYS:
        assert got[k].dtype == np.float32, k
    assert_results_equal(got, expected)


@pytest.mark.parametrize("kind", [np.int32, np.uint8, np.int64, "list", "tuple", "strided"])
def test_lengths_of_any_integer_type_give_the_same_results(kind):
    layer, data, upstream = make_problem(4, 6, 3, 7, dtype=np.float32, seed=4,
                                         lengths=(6, 2, 5, 1))
    expected = run_layer(layer, data, upstream)
    lengths = data["lengths"]
    if kind == "list":
        lengths = lengths.tolist()
    elif kind == "tuple":
        lengths = tuple(lengths.tolist())
    elif kind == "strided":
        lengths = np.repeat(lengths, 2)[::2]
    else:
        lengths = lengths.astype(kind)
    assert_results_equal(run_layer(layer, dict(data, lengths=lengths), upstream), expected)


def test_read_only_inputs_are_accepted():
    layer, data, upstream = make_problem(4, 6, 3, 7, dtype=np.float32, seed=5)
    expected = run_layer(layer, data, upstream)
    for array in (*data.values(), *upstream.values()):
        array.setflags(write=False)
    assert_results_equal(run_layer(layer, data, upstream), expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_inputs_are_not_modified(dtype):
    layer, data, upstream = make_problem(4, 6, 3, 7, dtype=dtype, seed=6)
    params = {k: getattr(layer, k).copy() for k in ("weight_ih", "weight_hh", "bias_ih",
                                                     "bias_hh")}
    before = {k: v.copy() for k, v in {**data, **upstream}.items()}
    run_layer(layer, data, upstream)
    for k, v in {**data, **upstream}.items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    for k, v in params.items():
        np.testing.assert_array_equal(getattr(layer, k), v, err_msg=k)


def test_parameters_assigned_as_non_contiguous_or_float64_arrays_are_used():
    layer, data, upstream = make_problem(4, 6, 3, 7, dtype=np.float32, seed=7)
    expected = run_layer(layer, data, upstream)
    layer.weight_ih = np.asfortranarray(layer.weight_ih)
    layer.weight_hh = layer.weight_hh.astype(np.float64)
    layer.bias_ih = np.repeat(layer.bias_ih, 2)[::2]
    layer.bias_hh = layer.bias_hh.tolist()
    assert_results_equal(run_layer(layer, data, upstream), expected)


# ================================================================== caches


def training_cache(layer, seed=0):
    X = np.random.default_rng(seed).standard_normal((2, 5, layer.input_size))
    return layer.forward(X, training=True)[2]


def test_cache_serves_exactly_one_backward():
    layer = small_layer()
    cache = training_cache(layer)
    layer.backward(cache)
    with pytest.raises(RuntimeError, match="already used"):
        layer.backward(cache)


@pytest.mark.parametrize("other", ["same-config layer", "reference layer", "None", "tuple"])
def test_cache_not_made_by_this_layer_raises_type_error(other):
    layer = small_layer()
    if other == "same-config layer":
        cache = training_cache(small_layer())
    elif other == "reference layer":
        ref = ReferenceLSTM(3, 4, random_state=0)
        cache = ref.forward(np.zeros(GOOD_SHAPE), training=True)[2]
    else:
        cache = None if other == "None" else (1, 2)
    with pytest.raises(TypeError, match="cache"):
        layer.backward(cache)


@pytest.mark.parametrize("position", ["perm", "batch_sizes", "offsets"])
def test_tampered_cache_index_raises_value_error(position):
    layer = small_layer()
    cache = training_cache(layer)
    B, T = 2, 5
    cache.index[{"perm": 0, "batch_sizes": B + 1, "offsets": B + T + 2}[position]] = 10**9
    with pytest.raises(ValueError, match="cache_index"):
        layer.backward(cache)


def test_backward_rejected_for_bad_arguments_does_not_use_up_the_cache():
    layer, data, upstream = make_problem(3, 4, 3, 4, dtype=np.float32, seed=8)
    expected = run_layer(layer, data, upstream)
    _, _, cache = layer.forward(data["X"], data["h0"], data["c0"], data["lengths"],
                                training=True)
    with pytest.raises(ValueError):
        layer.backward(cache, dY=np.zeros((3, 4, 5)))
    grads = layer.backward(cache, **upstream)
    for k in GRAD_KEYS:
        np.testing.assert_array_equal(grads[k], expected["grad_" + k], err_msg=k)


def test_caches_of_two_forwards_are_independent():
    layer, data1, up1 = make_problem(3, 4, 3, 4, dtype=np.float64, seed=9)
    _, data2, up2 = make_problem(3, 4, 3, 4, dtype=np.float64, seed=10)
    expected1, expected2 = run_layer(layer, data1, up1), run_layer(layer, data2, up2)
    cache1 = layer.forward(data1["X"], data1["h0"], data1["c0"], data1["lengths"],
                           training=True)[2]
    cache2 = layer.forward(data2["X"], data2["h0"], data2["c0"], data2["lengths"],
                           training=True)[2]
    grads2 = layer.backward(cache2, **up2)  # the later cache first
    grads1 = layer.backward(cache1, **up1)
    for k in GRAD_KEYS:
        np.testing.assert_array_equal(grads1[k], expected1["grad_" + k], err_msg=k)
        np.testing.assert_array_equal(grads2[k], expected2["grad_" + k], err_msg=k)


# ======================================================= low-level bridge

B0, T0, D0, H0 = 2, 5, 3, 4


def core_args(dtype=np.float32, **overrides):
    """Valid arguments of lstm_fast._core.forward, with some replaced."""
    layer = FastLSTM(D0, H0, dtype=dtype, random_state=0)
    args = {
        "X": np.random.default_rng(0).standard_normal((B0, T0, D0)).astype(dtype),
        "w_ih": layer.weight_ih, "w_hh": layer.weight_hh,
        "b_ih": layer.bias_ih, "b_hh": layer.bias_hh,
        "h0": None, "c0": None, "lengths": None,
        "Y": np.empty((B0, T0, H0), dtype), "h_n": np.empty((B0, H0), dtype),
        "c_n": np.empty((B0, H0), dtype),
    }
    args.update(overrides)
    return args


def core_forward(args):
    core.forward("lstm", args["X"], args["w_ih"], args["w_hh"], args["b_ih"], args["b_hh"],
                 args["h0"], args["c0"], args["lengths"], args["Y"], args["h_n"], args["c_n"])


def test_core_forward_with_valid_arrays_matches_the_layer():
    args = core_args(np.float64)
    core_forward(args)
    layer = FastLSTM(D0, H0, dtype=np.float64, random_state=0)
    Y, (h_n, c_n) = layer.forward(args["X"])
    np.testing.assert_array_equal(args["Y"], Y)
    np.testing.assert_array_equal(args["h_n"], h_n)
    np.testing.assert_array_equal(args["c_n"], c_n)


def _f32(shape):
    return np.zeros(shape, np.float32)


CORE_BAD = {
    "X Fortran order": (ValueError, "X", lambda a: {"X": np.asfortranarray(a["X"])}),
    "X strided": (ValueError, "X", lambda a: {"X": np.repeat(a["X"], 2, axis=2)[:, :, ::2]}),
    "X float64, weights float32": (TypeError, "weight_ih",
                                   lambda a: {"X": a["X"].astype(np.float64)}),
    "X int64": (TypeError, "dtype", lambda a: {"X": a["X"].astype(np.int64)}),
    "weight_ih float64": (TypeError, "weight_ih",
                          lambda a: {"w_ih": a["w_ih"].astype(np.float64)}),
    "weight_hh Fortran order": (ValueError, "weight_hh",
                                lambda a: {"w_hh": np.asfortranarray(a["w_hh"])}),
    "weight_ih transposed": (ValueError, "weight_ih",
                             lambda a: {"w_ih": np.ascontiguousarray(a["w_ih"].T)}),
    "weight_ih list": (TypeError, "weight_ih", lambda a: {"w_ih": a["w_ih"].tolist()}),
    "bias_ih too short": (ValueError, "bias_ih", lambda a: {"b_ih": a["b_ih"][:8].copy()}),
    "h0 float64": (TypeError, "h0", lambda a: {"h0": np.zeros((B0, H0))}),
    "h0 non-contiguous": (ValueError, "h0", lambda a: {"h0": _f32((H0, B0)).T}),
    "lengths int32": (TypeError, "lengths", lambda a: {"lengths": np.array([5, 3], np.int32)}),
    "lengths above T": (ValueError, "", lambda a: {"lengths": np.array([9, 3])}),
    "lengths zero": (ValueError, "", lambda a: {"lengths": np.array([0, 3])}),
    "Y non-contiguous": (ValueError, "Y",
                         lambda a: {"Y": _f32((B0, H0, T0)).transpose(0, 2, 1)}),
    "Y broadcast": (ValueError, "Y",
                    lambda a: {"Y": np.broadcast_to(_f32(1), (B0, T0, H0))}),
    # Wider rows are allowed (a direction writes its columns of a wider Y).
    "Y too narrow": (ValueError, "Y", lambda a: {"Y": _f32((B0, T0, H0 - 1))}),
    "Y wrong steps": (ValueError, "Y", lambda a: {"Y": _f32((B0, T0 + 1, H0))}),
    "Y float64": (TypeError, "Y", lambda a: {"Y": np.empty((B0, T0, H0))}),
    "c_n wrong shape": (ValueError, "c_n", lambda a: {"c_n": _f32((B0 + 1, H0))}),
}


@pytest.mark.parametrize("case", list(CORE_BAD))
def test_core_forward_rejects_arrays_it_cannot_pass_to_c(case):
    error, name, change = CORE_BAD[case]
    args = core_args()
    args.update(change(args))
    with pytest.raises(error, match=rf"\b{name}\b" if name else None):
        core_forward(args)


@pytest.mark.parametrize(
    "name",
    [
        "X",
        "h_n",
        "w_hh",
        "Y",
    ],
)
def test_core_forward_rejects_non_arrays_with_type_error_naming_them(name):
    args = core_args()
    args[name] = args[name].tolist()
    label = {"w_hh": "weight_hh"}.get(name, name)
    with pytest.raises(TypeError, match=rf"\b{label}\b"):
        core_forward(args)


def test_core_forward_rejects_a_read_only_output_array():
    Y = np.zeros((B0, T0, H0), np.float32)
    Y.setflags(write=False)
    args = core_args(Y=Y)
    with pytest.raises(ValueError, match=r"\bY\b"):
        core_forward(args)
    assert not np.any(Y)


def test_core_forward_with_a_read_only_memmap_output_does_not_crash(tmp_path):
    code = (
        "import numpy as np, lstm_fast._core as core\n"
        "from lstm_fast.layers import LSTM\n"
        "layer = LSTM(3, 4, random_state=0)\n"
        "np.save('y.npy', np.zeros((2, 5, 4), np.float32))\n"
        "Y = np.load('y.npy', mmap_mode='r')\n"
        "try:\n"
        "    core.forward('lstm', np.zeros((2, 5, 3), np.float32), layer.weight_ih,\n"
        "                 layer.weight_hh, layer.bias_ih, layer.bias_hh, None, None, None,\n"
        "                 Y, np.empty((2, 4), np.float32), np.empty((2, 4), np.float32))\n"
        "except ValueError as e:\n"
        "    print('ValueError', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, f"returncode {proc.returncode}: {proc.stderr}"
    assert proc.stdout.startswith("ValueError"), proc.stdout


def test_core_backward_rejects_a_wrong_dtype_gradient_array():
    layer = FastLSTM(D0, H0, random_state=0)
    X = np.zeros((B0, T0, D0), np.float32)
    _, _, cache = layer.forward(X, training=True)
    grads = [np.empty((4 * H0, D0), np.float64),  # wrong dtype
             np.empty((4 * H0, H0), np.float32), np.empty(4 * H0, np.float32),
             np.empty(4 * H0, np.float32), np.empty((B0, T0, D0), np.float32),
             np.empty((B0, H0), np.float32), np.empty((B0, H0), np.float32)]
    with pytest.raises(TypeError, match="grad weight_ih"):
        core.backward("lstm", X.shape, layer.weight_ih, layer.weight_hh, layer.bias_ih,
                      layer.bias_hh, cache.buffer, cache.index, None, None, None, *grads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_caches_start_on_a_cache_line(dtype):
    """The kernels write a cache's gate activations with aligned
    non-temporal stores; from an unaligned buffer they would silently fall
    back to cached ones. Fresh buffers and the spare a spent cache leaves."""
    layer = FastLSTM(D0, H0, dtype=dtype, bidirectional=True, random_state=0)
    X = np.zeros((B0, T0, D0), dtype)
    for _ in range(3):
        Y, *_, cache = layer.forward(X, training=True)
        assert [b.ctypes.data % 64 for b in cache.buffers] == [0, 0]
        layer.backward(cache, dY=np.ones_like(Y))


# ============================================================ configuration


def test_show_config_prints_the_active_isa(capsys):
    lstm_fast.show_config()
    out = capsys.readouterr().out
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip()
             for line in out.splitlines() if ":" in line}
    assert lines.get("isa") == core.isa_active()
    assert lines.get("version") == lstm_fast.__version__
    assert "threads" in lines


def test_python_m_lstm_fast_info_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lstm_fast", "info"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("isa:") for line in proc.stdout.splitlines()), proc.stdout



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_in_a_sequence_propagates_to_its_outputs_only(dtype):
    """NaN is never hidden (as in torch): the sample that has it gets NaN from
    that step on, the other samples are unaffected."""
    layer = FastLSTM(3, 4, dtype=dtype, random_state=0)
    X = np.random.default_rng(0).standard_normal((2, 5, 3))
    clean, _ = layer.forward(X)
    X[1, 2, 0] = np.nan
    Y, (h_n, c_n) = layer.forward(X)
    assert np.isnan(Y[1, 2:]).all() and np.isnan(h_n[1]).all() and np.isnan(c_n[1]).all()
    assert not np.isnan(Y[1, :2]).any()
    np.testing.assert_array_equal(Y[0], clean[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_infinite_pre_activations_saturate_the_gates(dtype, sign):
    """x = +-inf with positive input weights drives every gate to its limit:
    i = f = o = 1, g = 1 (or all 0 and g = -1): finite states, no NaN."""
    layer = FastLSTM(1, 3, dtype=dtype, random_state=0)
    layer.weight_ih = np.abs(layer.weight_ih) + 0.1
    X = np.full((2, 4, 1), sign * np.inf)
    Y, (h_n, c_n) = layer.forward(X)
    assert np.isfinite(Y).all() and np.isfinite(c_n).all()
    if sign > 0:  # c grows by i*g = 1 per step, h = tanh(c)
        np.testing.assert_allclose(c_n, 4.0)
        np.testing.assert_allclose(h_n, np.tanh(4.0), rtol=1e-6)
    else:         # i = f = o = 0 (to within the smallest normal number): c, h stay 0
        np.testing.assert_allclose(c_n, 0.0, atol=1e-30)
        np.testing.assert_allclose(Y, 0.0, atol=1e-30)
