"""Kernel benchmarks (pytest-benchmark): lstm_fast vs the NumPy reference.

    pytest bench/ --benchmark-group-by=param:cell,param:shape,param:mode

CI runs this file with --benchmark-disable (each case once, as a smoke test).
For a table with ratios measured side by side, run `lstm-fast bench`.
"""

import numpy as np
import pytest

from lstm_fast import layers, reference
from lstm_fast._benchmark import CELLS, MODES, SHAPES, forward_flops, make_problem

IMPLEMENTATIONS = {"lstm_fast": layers, "reference": reference}


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("cell", list(CELLS))
def test_layer(benchmark, cell, shape, mode, impl):
    B, T, D, H = SHAPES[shape]
    X, dY = make_problem(shape)
    layer = getattr(IMPLEMENTATIONS[impl], CELLS[cell])(D, H, dtype=np.float32, random_state=0)
    benchmark.extra_info["gflop"] = (forward_flops(B, T, D, H, layer.gates)
                                     * (3 if mode == "train" else 1) / 1e9)
    if impl == "reference" and shape == "large":
        benchmark.pedantic(MODES[mode], args=(layer, X, dY), rounds=3, iterations=1)
    else:
        benchmark(MODES[mode], layer, X, dY)
