"""The kernel layer (lstm_fast.layers.LSTM) computes what the NumPy reference does.

Oracle: :class:`lstm_fast.reference.LSTM` run in float64 on the very same
parameters and inputs (float32 values cast exactly to float64), so the oracle
carries no float32 rounding of its own.

Metric: :func:`_helpers.normwise_error`, ``max|kernel - oracle| / max|oracle|``
per array (the largest absolute deviation in units of the array's largest
entry). Bounds: 1e-5 for float32 kernels, 1e-12 for float64 kernels, for the
outputs Y, h_n, c_n and every gradient.

Parameters are drawn from uniform(-s, s) with s = min(1, 2 / sqrt(H)): twice
torch's default range, so the gates saturate, but W_hh stays contractive
enough that over T = 50 steps the recurrence is well conditioned. (With
s = 1 and H = 130 the dynamics are chaotic: the float32 NumPy reference
itself then differs from the float64 one by ~1e-1, and float64 by ~1e-10.)
"""

import itertools

import numpy as np
import pytest

from _helpers import (
    OUTPUT_KEYS,
    RESULT_KEYS,
    make_problem,
    normwise_error,
    run_layer,
    run_reference64,
)

TOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["f32", "f64"]

# Awkward sizes on purpose: 1s, odd sizes, one past a SIMD width / GEMM block.
B_VALUES = (1, 3, 33)
T_VALUES = (1, 2, 50)
D_VALUES = (1, 7)
H_VALUES = (1, 3, 17, 64, 65, 130)
ALL_SHAPES = list(itertools.product(B_VALUES, T_VALUES, D_VALUES, H_VALUES))
# A cross-section used for the variants (every B, T, D and H value appears).
SOME_SHAPES = [(1, 1, 1, 1), (3, 2, 7, 3), (33, 50, 1, 17), (3, 50, 7, 65), (33, 2, 7, 130),
               (1, 50, 1, 64)]


def problem(B, T, D, H, **kwargs):
    """:func:`_helpers.make_problem` with the well-conditioned weight scale."""
    return make_problem(B, T, D, H, weight_scale=min(1.0, 2.0 / np.sqrt(H)), **kwargs)


def shape_id(shape):
    return "B{}-T{}-D{}-H{}".format(*shape)


def assert_matches_reference(result, oracle, dtype, keys=RESULT_KEYS):
    tol = TOL[dtype]
    errors = {k: normwise_error(result[k], oracle[k]) for k in keys}
    bad = {k: f"{e:.2e}" for k, e in errors.items() if not e <= tol}
    assert not bad, f"normwise error above {tol:g}: {bad}"
    for k in keys:
        assert result[k].dtype == dtype, k


def seed_of(shape):
    return int(np.ravel_multi_index(
        (B_VALUES.index(shape[0]), T_VALUES.index(shape[1]), D_VALUES.index(shape[2]),
         H_VALUES.index(shape[3])),
        (3, 3, 2, 6),
    ))


# ---------------------------------------------------------------- full product


@pytest.mark.parametrize("shape", ALL_SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_forward_and_backward_match_reference_with_lengths_and_states(dtype, shape):
    B, T, D, H = shape
    layer, data, upstream = problem(B, T, D, H, dtype=dtype, seed=seed_of(shape))
    assert_matches_reference(run_layer(layer, data, upstream),
                             run_reference64(layer, data, upstream), dtype)


# -------------------------------------------------------------------- variants


@pytest.mark.parametrize("shape", SOME_SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_default_zero_states_and_full_lengths_match_reference(dtype, shape):
    B, T, D, H = shape
    layer, data, upstream = problem(B, T, D, H, dtype=dtype, seed=1, lengths=None,
                                         states=False)
    assert_matches_reference(run_layer(layer, data, upstream),
                             run_reference64(layer, data, upstream), dtype)


@pytest.mark.parametrize("shape", SOME_SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_inference_forward_matches_reference_and_training_forward(dtype, shape):
    B, T, D, H = shape
    layer, data, upstream = problem(B, T, D, H, dtype=dtype, seed=2)
    Y, (h_n, c_n) = layer.forward(data["X"], data["h0"], data["c0"], data["lengths"])
    inference = {"Y": Y, "h_n": h_n, "c_n": c_n}
    assert_matches_reference(inference, run_reference64(layer, data, upstream), dtype,
                             keys=OUTPUT_KEYS)
    training = run_layer(layer, data, upstream)
    for k in OUTPUT_KEYS:
        assert normwise_error(inference[k], training[k]) <= TOL[dtype], k


# Past the GEMM blocking of csrc/gemm/blocksizes.h: K > KC = 512 (D, H, 4H
# or the B*T rows of the weight gradients), M > MC = 96 (B), N = 4H > NC =
# 512 (float32 AVX-512); batches of many rows and of one.
BIG_SHAPES = [(7, 5, 300, 520), (100, 3, 257, 33), (2, 4, 513, 1), (1, 3, 1, 520),
              (97, 6, 40, 129)]


@pytest.mark.parametrize("shape", BIG_SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_shapes_past_the_gemm_block_sizes_match_reference(dtype, shape):
    B, T, D, H = shape
    layer, data, upstream = make_problem(B, T, D, H, dtype=dtype, seed=7,
                                         weight_scale=min(1.0, 2.0 / np.sqrt(max(D, H))))
    assert_matches_reference(run_layer(layer, data, upstream),
                             run_reference64(layer, data, upstream), dtype)


@pytest.mark.parametrize("given", ["h0", "c0"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_only_one_initial_state_given_matches_reference(dtype, given):
    layer, data, upstream = problem(5, 7, 3, 17, dtype=dtype, seed=8)
    data["c0" if given == "h0" else "h0"] = None
    assert_matches_reference(run_layer(layer, data, upstream),
                             run_reference64(layer, data, upstream), dtype)


LENGTH_PATTERNS = {
    "all-1": lambda B, T: np.ones(B, dtype=int),
    "all-T": lambda B, T: np.full(B, T),
    "descending": lambda B, T: np.arange(T, T - B, -1),
    "ascending": lambda B, T: np.arange(T - B + 1, T + 1),
    "one-T-rest-1": lambda B, T: np.r_[np.ones(B - 1, dtype=int), T],
    "repeated": lambda B, T: np.array([3, 7, 3, 9, 7, 3])[:B],
}


@pytest.mark.parametrize("pattern", list(LENGTH_PATTERNS))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_length_patterns_match_reference(dtype, pattern):
    B, T = 6, 9
    layer, data, upstream = problem(B, T, 3, 17, dtype=dtype, seed=9,
                                    lengths=LENGTH_PATTERNS[pattern](B, T))
    assert_matches_reference(run_layer(layer, data, upstream),
                             run_reference64(layer, data, upstream), dtype)


@pytest.mark.parametrize("which", ["dY", "dh_n", "dc_n"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_backward_with_a_single_upstream_gradient_matches_reference(dtype, which):
    layer, data, upstream = problem(5, 9, 7, 17, dtype=dtype, seed=3)
    # The kernel gets None for the other two; the oracle gets explicit zeros.
    only = {k: (v if k == which else None) for k, v in upstream.items()}
    zeros = {k: (v if k == which else np.zeros_like(v)) for k, v in upstream.items()}
    assert_matches_reference(run_layer(layer, data, only),
                             run_reference64(layer, data, zeros), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_lengths_all_equal_to_T_are_the_same_as_no_lengths(dtype):
    B, T = 6, 11
    layer, data, upstream = problem(B, T, 7, 65, dtype=dtype, seed=4, lengths=None)
    without = run_layer(layer, data, upstream)
    with_full = run_layer(layer, dict(data, lengths=np.full(B, T)), upstream)
    for k in RESULT_KEYS:
        assert normwise_error(with_full[k], without[k]) <= TOL[dtype], k


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_outputs_are_exactly_zero_after_each_samples_length(dtype):
    layer, data, upstream = problem(7, 13, 3, 17, dtype=dtype, seed=5)
    result = run_layer(layer, data, upstream)
    padded = np.arange(13)[None, :] >= data["lengths"][:, None]
    assert padded.any()
    assert not np.any(result["Y"][padded])
    assert not np.any(result["grad_X"][padded])
    assert np.all(np.any(result["Y"][~padded] != 0, axis=-1))


# ------------------------------------------------- lengths == truncated samples


@pytest.mark.parametrize(
    "shape", [(5, 9, 3, 17), (4, 50, 7, 65), (6, 2, 1, 3)], ids=shape_id
)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_lengths_equal_running_each_sample_alone_on_its_truncated_sequence(dtype, shape):
    """Sample b of a batch with lengths behaves as the batch of one
    X[b:b+1, :lengths[b]]: same outputs, final states and input/state
    gradients; the batch's parameter gradients are the sum over samples."""
    B, T, D, H = shape
    layer, data, upstream = problem(B, T, D, H, dtype=dtype, seed=6)
    batch = run_layer(layer, data, upstream)
    tol = TOL[dtype]
    param_sums = {k: 0.0 for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    for b, L in enumerate(data["lengths"]):
        alone_data = {"X": data["X"][b:b + 1, :L], "h0": data["h0"][b:b + 1],
                      "c0": data["c0"][b:b + 1], "lengths": None}
        alone_upstream = {"dY": upstream["dY"][b:b + 1, :L], "dh_n": upstream["dh_n"][b:b + 1],
                          "dc_n": upstream["dc_n"][b:b + 1]}
        alone = run_layer(layer, alone_data, alone_upstream)
        pairs = {
            "Y": (batch["Y"][b, :L], alone["Y"][0]),
            "h_n": (batch["h_n"][b], alone["h_n"][0]),
            "c_n": (batch["c_n"][b], alone["c_n"][0]),
            "grad_X": (batch["grad_X"][b, :L], alone["grad_X"][0]),
            "grad_h0": (batch["grad_h0"][b], alone["grad_h0"][0]),
            "grad_c0": (batch["grad_c0"][b], alone["grad_c0"][0]),
        }
        for k, (got, expected) in pairs.items():
            err = normwise_error(got, expected)
            assert err <= tol, f"sample {b} (length {L}), {k}: {err:.2e}"
        assert not np.any(batch["Y"][b, L:])
        assert not np.any(batch["grad_X"][b, L:])
        for k in param_sums:
            param_sums[k] = param_sums[k] + alone["grad_" + k].astype(np.float64)
    for k, total in param_sums.items():
        err = normwise_error(batch["grad_" + k], total)
        assert err <= tol, f"{k}: {err:.2e}"
