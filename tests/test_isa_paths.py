"""Every kernel variant (ISA path) computes the same LSTM, and a bad
``LSTM_FAST_ISA`` request warns and falls back instead of crashing.

The ISA is chosen once, at import, so each path runs in its own Python
subprocess with ``LSTM_FAST_ISA`` set. The subprocess loads a fixed problem
from an .npz file, runs forward + backward for float32 and float64 and saves
every output and gradient, and the ISA it ended up using, to another .npz.

Metric: :func:`_helpers.normwise_error`, ``max|a - b| / max|b|`` per array;
bounds 1e-5 (float32) and 1e-12 (float64), between paths and against the
float64 NumPy reference.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import lstm_fast._core as core
from _helpers import RESULT_KEYS, make_problem, normwise_error, run_reference64

ISAS = ("generic", "avx2", "avx512")
DTYPES = ("float32", "float64")
TOL = {"float32": 1e-5, "float64": 1e-12}
# B, T, D, H with H one past the float32 and float64 vector widths.
SHAPE = (5, 9, 7, 17)

CHILD = r"""
import sys
import numpy as np
import lstm_fast
import lstm_fast._core as core
from lstm_fast.layers import LSTM

problem = np.load(sys.argv[1])
results = {"isa": np.array(core.isa_active())}
for dtype in ("float32", "float64"):
    p = {k[len(dtype) + 1:]: problem[k] for k in problem.files if k.startswith(dtype + "/")}
    H, D = p["weight_hh"].shape[1], p["weight_ih"].shape[1]
    layer = LSTM(D, H, dtype=dtype)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        setattr(layer, name, p[name])
    Y, (h_n, c_n), cache = layer.forward(p["X"], p["h0"], p["c0"], p["lengths"],
                                         training=True)
    grads = layer.backward(cache, p["dY"], p["dh_n"], p["dc_n"])
    results.update({dtype + "/Y": Y, dtype + "/h_n": h_n, dtype + "/c_n": c_n})
    results.update({dtype + "/grad_" + k: v for k, v in grads.items()})
np.savez(sys.argv[2], **results)
"""


def problems():
    """The fixed problem, one per dtype: (layer, data, upstream)."""
    return {dtype: make_problem(*SHAPE, dtype=np.dtype(dtype), seed=123, weight_scale=0.5)
            for dtype in DTYPES}


def run_child(directory, isa):
    """Run CHILD with LSTM_FAST_ISA=isa (None: unset) in `directory`.

    Returns (completed process, results dict or None if no output was saved).
    """
    problem_file = directory / "problem.npz"
    if not problem_file.exists():
        arrays = {}
        for dtype, (layer, data, upstream) in problems().items():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                arrays[f"{dtype}/{name}"] = getattr(layer, name)
            for name, value in {**data, **upstream}.items():
                arrays[f"{dtype}/{name}"] = value
        np.savez(problem_file, **arrays)
    out_file = directory / f"out-{isa!s}.npz"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "LSTM_FAST_ISA")}
    if isa is not None:
        env["LSTM_FAST_ISA"] = isa
    # cwd is the temporary directory, so the installed package is imported.
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(problem_file), str(out_file)],
        cwd=directory, env=env, capture_output=True, text=True, timeout=120,
    )
    results = None
    if out_file.exists():
        with np.load(out_file) as saved:
            results = {k: saved[k] for k in saved.files}
    return proc, results


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    """run_child, memoised per requested ISA for the whole module."""
    directory = tmp_path_factory.mktemp("isa")
    memo = {}

    def get(isa):
        if isa not in memo:
            memo[isa] = run_child(directory, isa)
        return memo[isa]

    return get


@pytest.fixture(scope="module")
def references():
    """Float64 NumPy reference results, one per dtype of the problem."""
    return {dtype: run_reference64(*problem) for dtype, problem in problems().items()}


def require(isa):
    if isa not in core.isas_supported():
        pytest.skip(f"ISA {isa!r} is not supported here (supported: {core.isas_supported()})")


def assert_close(got, expected, dtype, what):
    bad = {}
    for k in RESULT_KEYS:
        assert got[f"{dtype}/{k}"].dtype == np.dtype(dtype), k
        err = normwise_error(got[f"{dtype}/{k}"], expected[k])
        if not err <= TOL[dtype]:
            bad[k] = f"{err:.2e}"
    assert not bad, f"{what}: normwise error above {TOL[dtype]:g}: {bad}"


# ----------------------------------------------------------------- each path


@pytest.mark.parametrize("isa", ISAS)
def test_requested_isa_is_active_without_warning(child, isa):
    require(isa)
    proc, results = child(isa)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    assert str(results["isa"]) == isa


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_isa_path_matches_float64_reference(child, references, dtype, isa):
    require(isa)
    proc, results = child(isa)
    assert proc.returncode == 0, proc.stderr
    expected = {k: references[dtype][k] for k in RESULT_KEYS}
    assert_close(results, expected, dtype, f"{isa} vs reference")


@pytest.mark.parametrize("isa", [isa for isa in ISAS if isa != "generic"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_isa_path_agrees_with_generic_path(child, dtype, isa):
    require("generic")
    require(isa)
    generic = child("generic")[1]
    proc, results = child(isa)
    assert proc.returncode == 0, proc.stderr
    expected = {k: generic[f"{dtype}/{k}"] for k in RESULT_KEYS}
    assert_close(results, expected, dtype, f"{isa} vs generic")


def test_unset_variable_uses_the_best_supported_isa(child):
    proc, results = child(None)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    assert str(results["isa"]) == core.isas_supported()[-1]


def test_empty_variable_is_the_same_as_unset(child):
    proc, results = child("")
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    assert str(results["isa"]) == str(child(None)[1]["isa"])


# ---------------------------------------------------------- unusable requests


@pytest.mark.parametrize("name", ["sse9", "avx1024", "generic,avx2", "neon"])
def test_unknown_isa_name_warns_and_falls_back(child, references, name):
    proc, results = child(name)
    assert proc.returncode == 0, proc.stderr  # never SIGILL, never an exception
    assert "RuntimeWarning" in proc.stderr, proc.stderr
    assert f"LSTM_FAST_ISA={name!r} cannot be used" in proc.stderr, proc.stderr
    assert "it is not one of generic, avx2, avx512" in proc.stderr, proc.stderr
    default = str(child(None)[1]["isa"])
    assert str(results["isa"]) == default
    assert f"Using the {default!r} kernels instead" in proc.stderr, proc.stderr
    for dtype in DTYPES:
        assert_close(results, references[dtype], dtype, f"fallback from {name!r}")


@pytest.mark.parametrize("isa", [isa for isa in ISAS if isa != "generic"])
def test_isa_this_cpu_or_build_lacks_warns_and_falls_back(child, isa):
    if isa in core.isas_supported():
        pytest.skip(f"{isa!r} is supported here: cannot test the unsupported-ISA path "
                    f"(cpuid cannot be faked)")
    proc, results = child(isa)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeWarning" in proc.stderr, proc.stderr
    assert f"LSTM_FAST_ISA={isa!r} cannot be used" in proc.stderr, proc.stderr
    reason = ("this CPU does not support it" if isa in core.isas_compiled()
              else "this build of lstm-fast does not include it")
    assert reason in proc.stderr, proc.stderr
    assert str(results["isa"]) in core.isas_supported()
