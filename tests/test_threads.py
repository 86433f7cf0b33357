"""Thread count: how it is set, and that it never changes a result.

The kernels are designed so that the result does not depend on the number of
OpenMP threads at all, so 1 and N threads are compared bit for bit (stricter
than DESIGN.md's "agree to float rounding").
Every test restores the thread count it found.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import lstm_fast
from _helpers import RESULT_KEYS, make_problem, run_layer

threadpoolctl = pytest.importorskip("threadpoolctl")

DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["f32", "f64"]
# (B, T, D, H): the design's "small" and "stream" shapes, an awkward one, and
# one large enough that every GEMM is split between threads.
SHAPES = [(32, 50, 8, 64), (1, 200, 4, 64), (33, 7, 7, 130), (64, 20, 32, 256)]


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


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_concurrent_calls_from_python_threads_equal_sequential_calls(dtype):
    # The kernels release the GIL; each call must use only its own workspace.
    lstm_fast.set_num_threads(2)
    problems = [make_problem(16, 30, 5, 33 + i, dtype=dtype, seed=i, weight_scale=0.3)
                for i in range(4)]
    sequential = [run_layer(*p) for p in problems]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda p: run_layer(*p), problems * 3))
    for i, result in enumerate(concurrent):
        assert_bit_identical(result, sequential[i % 4], f"concurrent call {i}")
