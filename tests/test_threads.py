"""Thread count: how it is set, and that it never changes a result.

The kernels are designed so that the result does not depend on the number of
OpenMP threads at all, so 1 and N threads are compared bit for bit (stricter
than merely agreeing to float rounding).
Every test restores the thread count it found.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import lstm_fast
import lstm_fast._core as core
from _helpers import RESULT_KEYS, make_problem, run_layer, run_on_isa

threadpoolctl = pytest.importorskip("threadpoolctl")

DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["f32", "f64"]
# (B, T, D, H): the design's "small" and "stream" shapes, an awkward one, one
# large enough that every GEMM is split between threads, and one with so few
# rows that threads split each step's columns instead.
SHAPES = [(32, 50, 8, 64), (1, 200, 4, 64), (33, 7, 7, 130), (64, 20, 32, 256),
          (3, 30, 5, 200)]


def shape_id(shape):
    return "B{}-T{}-D{}-H{}".format(*shape)


@pytest.fixture(autouse=True)
def restore_thread_count():
    before = lstm_fast.get_num_threads()
    yield
    lstm_fast.set_num_threads(before)


def problem(shape, dtype):
    B, T, D, H = shape
    return make_problem(B, T, D, H, dtype=dtype, seed=B + T + D + H,
                        weight_scale=min(1.0, 2.0 / np.sqrt(H)))


def run_with_threads(n, layer, data, upstream):
    lstm_fast.set_num_threads(n)
    assert lstm_fast.get_num_threads() == n
    return run_layer(layer, data, upstream)


def assert_bit_identical(got, expected, what):
    differ = [k for k in RESULT_KEYS if not np.array_equal(got[k], expected[k])]
    assert not differ, f"{what}: not bit-identical: {differ}"


@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_one_and_several_threads_give_bit_identical_results(dtype, shape, n_threads):
    layer, data, upstream = problem(shape, dtype)
    one = run_with_threads(1, layer, data, upstream)
    several = run_with_threads(n_threads, layer, data, upstream)
    assert_bit_identical(several, one, f"1 vs {n_threads} threads")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_repeated_calls_with_the_same_inputs_are_bit_identical(dtype):
    layer, data, upstream = problem((33, 7, 7, 130), dtype)
    lstm_fast.set_num_threads(2)
    first = run_layer(layer, data, upstream)
    for _ in range(3):
        assert_bit_identical(run_layer(layer, data, upstream), first, "repeated call")


def test_set_num_threads_is_what_get_num_threads_reports():
    for n in (1, 3, 2, 1):
        lstm_fast.set_num_threads(n)
        assert lstm_fast.get_num_threads() == n


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_set_num_threads_rejects_non_positive_integers(bad):
    before = lstm_fast.get_num_threads()
    with pytest.raises(ValueError, match="number of threads"):
        lstm_fast.set_num_threads(bad)
    assert lstm_fast.get_num_threads() == before


def test_threadpool_limits_sets_the_kernel_thread_count_and_restores_it():
    lstm_fast.set_num_threads(2)
    with threadpoolctl.threadpool_limits(1):
        assert lstm_fast.get_num_threads() == 1
    assert lstm_fast.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert lstm_fast.get_num_threads() == 1
    assert lstm_fast.get_num_threads() == 2


def test_threadpoolctl_sees_the_kernels_openmp_runtime():
    openmp = [info for info in threadpoolctl.threadpool_info() if info["user_api"] == "openmp"]
    assert openmp, "threadpoolctl finds no OpenMP runtime in this process"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_results_under_threadpool_limits_one_equal_two_threads(dtype):
    layer, data, upstream = problem((32, 50, 8, 64), dtype)
    two = run_with_threads(2, layer, data, upstream)
    with threadpoolctl.threadpool_limits(1):
        assert lstm_fast.get_num_threads() == 1
        limited = run_layer(layer, data, upstream)
    assert_bit_identical(limited, two, "threadpool_limits(1) vs 2 threads")


def assert_concurrent_calls_equal_sequential(problems):
    """Each problem run alone, then all three times over from four Python
    threads at once (two kernel threads each): the same bits."""
    lstm_fast.set_num_threads(2)
    sequential = [run_layer(*p) for p in problems]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda p: run_layer(*p), problems * 3))
    for i, result in enumerate(concurrent):
        assert_bit_identical(result, sequential[i % len(problems)], f"concurrent call {i}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_concurrent_calls_from_python_threads_equal_sequential_calls(dtype):
    # The kernels release the GIL; each call must use only its own workspace.
    assert_concurrent_calls_equal_sequential(
        [make_problem(16, 30, 5, 33 + i, dtype=dtype, seed=i, weight_scale=0.3)
         for i in range(4)])


# With few rows and large weights, threads split each step's columns instead
# of its rows (the LSTM forward's unit blocks, every cell's backward panels)
# and exchange h_t or dh_t at every step; block and panel widths differ per
# ISA, so every path runs 1, 2 and 3 threads: inference with and without
# lengths, both directions, and a training forward with its backward.
FEW_ROWS_CHILD = r"""
import sys, numpy as np
import lstm_fast, lstm_fast._core as core
from lstm_fast.layers import GRU, LSTM, RNN
out = {"isa": np.array(core.isa_active())}
rng = np.random.default_rng(5)
for cls, B, T, D, H in ((LSTM, 1, 25, 4, 256), (LSTM, 4, 12, 9, 150), (GRU, 1, 15, 4, 256),
                        (RNN, 2, 10, 70, 300)):
    for dtype in (np.float32, np.float64):
        X = rng.standard_normal((B, T, D)).astype(dtype)
        lengths = rng.integers(1, T + 1, B)
        for bidirectional in (False, True):
            layer = cls(D, H, dtype=dtype, bidirectional=bidirectional, random_state=2)
            for n in (1, 2, 3):
                lstm_fast.set_num_threads(n)
                key = f"{cls.__name__}/{np.dtype(dtype).name}/{bidirectional}/{n}"
                out[key + "/Y"] = layer.forward(X)[0]
                out[key + "/Y_lengths"] = layer.forward(X, lengths=lengths)[0]
                Y, *_, cache = layer.forward(X, lengths=lengths, training=True)
                grads = layer.backward(cache, dY=np.cos(Y), state_gradients=True)
                out.update({f"{key}/grad_{k}": v for k, v in grads.items()})
np.savez(sys.argv[1], **out)
"""


@pytest.mark.parametrize("isa", core.isas_supported())
def test_threads_splitting_columns_give_bit_identical_results_on_every_isa(isa, tmp_path):
    out = run_on_isa(FEW_ROWS_CHILD, tmp_path / "out.npz", isa)
    assert str(out.pop("isa")) == isa
    one = {k: v for k, v in out.items() if k.split("/")[3] == "1"}
    assert len(one) >= 4 * 2 * 2 * 3
    for key, expected in one.items():
        for n in ("2", "3"):
            parts = key.split("/")
            parts[3] = n
            np.testing.assert_array_equal(out["/".join(parts)], expected,
                                          err_msg=f"{isa}, {n} threads: {key}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_few_rows_calls_from_python_threads_at_once_equal_sequential_calls(dtype):
    # Four calls at once, two kernel threads each, on fewer cores: threads
    # splitting columns then wait at their per-step barriers for descheduled
    # peers, go solo mid-call and hold later splits (thread_split.h: split_step_end).
    # Whichever way each call goes, its results are the sequential ones.
    assert_concurrent_calls_equal_sequential(
        [make_problem(1 + i % 3, 20, 5, 200 + 8 * i, dtype=dtype, seed=i, weight_scale=0.1)
         for i in range(4)])
