"""threadpoolctl finds and controls the OpenMP runtime of OUR kernels.

A process that uses lstm-fast with scikit-learn usually holds two or three
OpenMP runtimes (scikit-learn's wheel vendors its own libgomp; the system's
libgomp, or the copy auditwheel vendored into our wheel, serves the
kernels). ``threadpool_limits`` must reach the one ``_core`` is linked to:
these tests identify that library from the module itself, then check that
limiting exactly it sets the kernels' thread count, and that the kernels
then really run on one OS thread.
"""

import ctypes
import ctypes.util
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lstm_fast
from lstm_fast import _core

threadpoolctl = pytest.importorskip("threadpoolctl")
sklearn = pytest.importorskip("sklearn")  # loads its own vendored libgomp too


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def kernel_openmp_library():
    """Path of the OpenMP runtime that ``lstm_fast._core`` is linked to.

    ``dlsym`` on the module's own handle searches the module and then its
    dependencies, so it returns the ``omp_get_max_threads`` that the
    module's DT_NEEDED libgomp (or libomp) provides; ``dladdr`` names the
    file it came from.

    Returns
    -------
    str
        The real path of that library.
    """
    module = ctypes.CDLL(_core.__file__)  # already loaded: the same handle
    address = ctypes.cast(module.omp_get_max_threads, ctypes.c_void_p)
    libdl = ctypes.CDLL(ctypes.util.find_library("dl") or ctypes.util.find_library("c"))
    info = _DlInfo()
    if not libdl.dladdr(address, ctypes.byref(info)):
        pytest.fail("dladdr could not name the library of omp_get_max_threads")
    return os.path.realpath(info.dli_fname.decode())


@pytest.fixture(autouse=True)
def restore_thread_count():
    before = lstm_fast.get_num_threads()
    yield
    lstm_fast.set_num_threads(before)


@pytest.fixture(scope="module")
def ours():
    if not sys.platform.startswith("linux"):
        pytest.skip("the library lookup uses dladdr on ELF (Linux)")
    if not _core.openmp_version():
        pytest.skip("this build has no OpenMP")
    return kernel_openmp_library()


def openmp_pools():
    return [info for info in threadpoolctl.threadpool_info() if info["user_api"] == "openmp"]


def test_threadpool_info_lists_our_openmp_runtime(ours):
    paths = [os.path.realpath(info["filepath"]) for info in openmp_pools()]
    assert ours in paths, f"threadpool_info() lacks {ours}; it lists {paths}"
    # ...and show_config() names it among the runtimes it prints.
    printed = re.findall(r"\(([^()]+)\)", lstm_fast._config.config()["openmp_runtime"])
    assert ours in [os.path.realpath(p) for p in printed], printed


def test_limiting_exactly_our_pool_sets_the_kernel_threads(ours):
    lstm_fast.set_num_threads(2)
    controller = threadpoolctl.ThreadpoolController()
    mine = [c for c in controller.lib_controllers
            if c.user_api == "openmp" and os.path.realpath(c.filepath) == ours]
    assert len(mine) == 1
    with controller.select(filepath=mine[0].filepath).limit(limits=1):
        assert lstm_fast.get_num_threads() == 1
        info = [i for i in threadpoolctl.threadpool_info()
                if os.path.realpath(i["filepath"]) == ours]
        assert info[0]["num_threads"] == 1
    assert lstm_fast.get_num_threads() == 2


def test_other_openmp_pools_do_not_set_the_kernel_threads(ours):
    # Limiting scikit-learn's (or any other) libgomp must leave ours alone:
    # it is a separate runtime with its own thread count.
    others = [i for i in openmp_pools() if os.path.realpath(i["filepath"]) != ours]
    if not others:
        pytest.skip("only one OpenMP runtime is loaded")
    lstm_fast.set_num_threads(2)
    controller = threadpoolctl.ThreadpoolController()
    for info in others:
        with controller.select(filepath=info["filepath"]).limit(limits=1):
            assert lstm_fast.get_num_threads() == 2, info["filepath"]


# In a fresh process (no OpenMP pool started yet), with scikit-learn's
# libgomp loaded as well: count the OS threads of the process before and
# after a kernel call large enough to be split between threads. libgomp
# keeps its worker threads alive after a parallel region, so the count
# afterwards shows how many threads the kernels used.
_CHILD = textwrap.dedent("""
    import os, sys
    import numpy as np
    import sklearn.utils  # scikit-learn's own libgomp
    from threadpoolctl import threadpool_limits
    import lstm_fast
    from lstm_fast.layers import LSTM

    def os_threads():
        return len(os.listdir("/proc/self/task"))

    layer = LSTM(32, 256, random_state=0)
    X = np.random.default_rng(0).standard_normal((64, 20, 32)).astype(np.float32)
    lstm_fast.set_num_threads(2)
    before = os_threads()
    if sys.argv[1] == "limited":
        with threadpool_limits(1):
            reported = lstm_fast.get_num_threads()
            Y = layer.forward(X)[0]
    else:
        reported = lstm_fast.get_num_threads()
        Y = layer.forward(X)[0]
    np.save(sys.argv[2], Y)
    print(reported, os_threads() - before)
""")


def _run_child(mode, tmp_path):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT", "LSTM_FAST_ISA"):
        env.pop(var, None)
    out = tmp_path / f"{mode}.npy"
    result = subprocess.run([sys.executable, "-c", _CHILD, mode, str(out)], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    reported, new_threads = map(int, result.stdout.split())
    return reported, new_threads, np.load(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_threadpool_limits_one_runs_the_kernels_on_one_thread(ours, tmp_path):
    reported, new_threads, limited = _run_child("limited", tmp_path)
    assert reported == 1
    assert new_threads == 0, f"the kernels started {new_threads} threads under threadpool_limits(1)"
    # The control: unlimited, the same call does start a second thread (so
    # the count above can see one), and computes the same numbers.
    reported, new_threads, free = _run_child("free", tmp_path)
    assert reported == 2
    assert new_threads == 1, f"expected one OpenMP worker thread with 2 threads, got {new_threads}"
    np.testing.assert_array_equal(limited, free)
