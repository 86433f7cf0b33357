"""Kernel benchmarks (pytest-benchmark): lstm_fast against the NumPy
reference and, when installed (the ``compare`` extra), the same layer with the
same weights in torch, onnxruntime (inference) and Keras.

    pytest bench/ --benchmark-group-by=param:cell,param:shape,param:mode

CI runs this file with --benchmark-disable (each case once, as a smoke test).
For one table with ratios measured side by side, run `lstm-fast bench
--compare torch onnxruntime keras`.
"""

import numpy as np
import pytest

from lstm_fast import _compare, get_num_threads, layers, reference
from lstm_fast._benchmark import CELLS, MODES, SHAPES, make_problem, mode_flops

IMPLEMENTATIONS = ["lstm_fast", "reference", *_compare.STEPPERS]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("cell", list(CELLS))
def test_layer(benchmark, cell, shape, mode, impl):
    B, T, D, H = SHAPES[shape]
    X, dY = make_problem(shape)
    module = reference if impl == "reference" else layers
    layer = getattr(module, CELLS[cell])(D, H, dtype=np.float32, random_state=0)
    benchmark.extra_info["gflop"] = mode_flops(mode, B, T, D, H, layer.gates) / 1e9
    if impl in _compare.STEPPERS:
        if not _compare.available(impl):
            pytest.skip(f"{impl} is not installed")
        step = _compare.STEPPERS[impl](layer, mode, X, dY, get_num_threads())
        if step is None:
            pytest.skip(f"{impl} has no {mode} mode")
        benchmark(step)
    elif impl == "reference" and shape == "large":
        benchmark.pedantic(MODES[mode], args=(layer, X, dY), rounds=3, iterations=1)
    else:
        benchmark(MODES[mode], layer, X, dY)
